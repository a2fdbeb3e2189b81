//! `select` (Go's `select.go`: `selectgo`).
//!
//! The cases are type-erased behind `SelectCase`, each holding its channel,
//! its value slot and its own `Sudog`. `selectgo` follows Go 1.19:
//!
//! 1. a random poll order (Go's `fastrandn` shuffle) and a lock order by
//!    channel address; lock every channel in lock order;
//! 2. pass 1: poll the cases in poll order; the first one that can proceed
//!    completes (so among ready cases each is chosen uniformly); with none
//!    ready and a `default`, unlock and take the default;
//! 3. pass 2: enqueue a sudog on every channel and park (`select`), with an
//!    unlock function that releases every lock once the goroutine is off
//!    its stack;
//! 4. woken by one case (its waker won the G's `selectDone`): lock every
//!    channel again, dequeue the sudogs of the other cases, and report the
//!    case whose sudog the waker put in the G's `param`.
//!
//! Nil channels are cases that never proceed. A select with no cases
//! blocks forever (`select (no cases)`).

use std::sync::atomic::Ordering;

use crate::chan::{block_forever, Chan, HChan, RecvTry, SendTry, Sudog};
use crate::g::{UnlockFn, WaitReason};
use crate::p::GPtr;
use crate::spinlock::SpinLock;

/// What polling a case found (locks held).
#[derive(Debug)]
pub enum Poll {
    NotReady,
    /// The case completed; ready this goroutine once every lock is released.
    Done(Option<GPtr>),
    /// A send case on a closed channel: panic once unlocked.
    SendClosed,
}

/// One case of a select, type-erased for `selectgo`.
///
/// # Safety
/// Implementations must keep `lock()` the lock of the channel that
/// `poll`/`enqueue`/`dequeue` touch, and `sudog()` stable while enqueued.
pub unsafe trait SelectCase {
    /// The channel's lock, or `None` for a nil channel.
    fn lock(&self) -> Option<&SpinLock>;
    /// Pass 1 (channel lock held): complete now if possible.
    fn poll(&mut self) -> Poll;
    /// Pass 2 (lock held): queue this case's sudog for goroutine `g`.
    fn enqueue(&mut self, g: GPtr);
    /// Pass 3 (lock held): unqueue the sudog if it is still queued.
    fn dequeue(&mut self);
    fn sudog(&mut self) -> *mut Sudog;
    /// This case fired while parked: `success` false means by close.
    fn fired(&mut self, success: bool);
    /// Marks the case as the chosen one.
    fn choose(&mut self);
    fn chosen(&self) -> bool;
    /// A send case woken by close (it must panic).
    fn send_closed(&self) -> bool {
        false
    }
}

/// `case v, ok := <-c`.
pub struct RecvCase<'a, T> {
    c: Option<&'a HChan<T>>,
    slot: Option<T>,
    sg: Sudog,
    chosen: bool,
}

impl<T> std::fmt::Debug for RecvCase<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvCase")
            .field("chosen", &self.chosen)
            .finish()
    }
}

impl<'a, T: Send> RecvCase<'a, T> {
    pub fn new(c: &'a Chan<T>) -> RecvCase<'a, T> {
        RecvCase {
            c: c.hchan(),
            slot: None,
            sg: Sudog::new(
                GPtr(std::ptr::NonNull::dangling()),
                std::ptr::null_mut(),
                true,
            ),
            chosen: false,
        }
    }

    /// The received value: `Some(v)`, or `None` when the channel was
    /// closed (Go's ok = false).
    pub fn take(&mut self) -> Option<T> {
        self.slot.take()
    }
}

// SAFETY: `lock` is the lock of `c`, the only channel touched; `sg` is a
// field, stable while the case (on the selecting goroutine's stack) is
// borrowed by selectgo.
unsafe impl<T: Send> SelectCase for RecvCase<'_, T> {
    fn lock(&self) -> Option<&SpinLock> {
        self.c.map(|c| &c.lock)
    }
    fn poll(&mut self) -> Poll {
        let Some(c) = self.c else {
            return Poll::NotReady;
        };
        // SAFETY: selectgo holds this channel's lock.
        match unsafe { c.try_recv() } {
            RecvTry::Done(v, g) => {
                self.slot = v;
                Poll::Done(g)
            }
            RecvTry::Empty => Poll::NotReady,
        }
    }
    fn enqueue(&mut self, g: GPtr) {
        let c = self.c.expect("enqueue on a nil channel");
        self.sg = Sudog::new(g, &mut self.slot as *mut Option<T> as *mut (), true);
        // SAFETY: lock held; the sudog is a field of this case, which
        // outlives the select's park.
        unsafe { c.state().recvq.enqueue(&mut self.sg) };
    }
    fn dequeue(&mut self) {
        if let Some(c) = self.c {
            // SAFETY: lock held; the sudog was enqueued on this queue.
            unsafe { c.state().recvq.remove(&mut self.sg) };
        }
    }
    fn sudog(&mut self) -> *mut Sudog {
        &mut self.sg
    }
    fn fired(&mut self, _success: bool) {
        // The sender wrote the slot; close left it empty (ok = false).
    }
    fn choose(&mut self) {
        self.chosen = true;
    }
    fn chosen(&self) -> bool {
        self.chosen
    }
}

/// `case c <- v`.
pub struct SendCase<'a, T> {
    c: Option<&'a HChan<T>>,
    value: Option<T>,
    sg: Sudog,
    chosen: bool,
    closed: bool,
}

impl<T> std::fmt::Debug for SendCase<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendCase")
            .field("chosen", &self.chosen)
            .finish()
    }
}

impl<'a, T: Send> SendCase<'a, T> {
    pub fn new(c: &'a Chan<T>, v: T) -> SendCase<'a, T> {
        SendCase {
            c: c.hchan(),
            value: Some(v),
            sg: Sudog::new(
                GPtr(std::ptr::NonNull::dangling()),
                std::ptr::null_mut(),
                true,
            ),
            chosen: false,
            closed: false,
        }
    }
}

// SAFETY: as for RecvCase.
unsafe impl<T: Send> SelectCase for SendCase<'_, T> {
    fn lock(&self) -> Option<&SpinLock> {
        self.c.map(|c| &c.lock)
    }
    fn poll(&mut self) -> Poll {
        let Some(c) = self.c else {
            return Poll::NotReady;
        };
        let v = self.value.take().expect("send case polled twice");
        // SAFETY: selectgo holds this channel's lock.
        match unsafe { c.try_send(v) } {
            SendTry::Done(g) => Poll::Done(g),
            SendTry::Full(v) => {
                self.value = Some(v);
                Poll::NotReady
            }
            SendTry::Closed => Poll::SendClosed,
        }
    }
    fn enqueue(&mut self, g: GPtr) {
        let c = self.c.expect("enqueue on a nil channel");
        self.sg = Sudog::new(g, &mut self.value as *mut Option<T> as *mut (), true);
        // SAFETY: lock held; the sudog is a field of this case, which
        // outlives the select's park.
        unsafe { c.state().sendq.enqueue(&mut self.sg) };
    }
    fn dequeue(&mut self) {
        if let Some(c) = self.c {
            // SAFETY: lock held; the sudog was enqueued on this queue.
            unsafe { c.state().sendq.remove(&mut self.sg) };
        }
    }
    fn sudog(&mut self) -> *mut Sudog {
        &mut self.sg
    }
    fn fired(&mut self, success: bool) {
        self.closed = !success;
    }
    fn send_closed(&self) -> bool {
        self.closed
    }
    fn choose(&mut self) {
        self.chosen = true;
    }
    fn chosen(&self) -> bool {
        self.chosen
    }
}

/// The distinct locks of `cases` in address order (Go's `lockorder`).
fn lock_order(cases: &[&mut dyn SelectCase]) -> Vec<*const SpinLock> {
    let mut locks: Vec<*const SpinLock> = cases
        .iter()
        .filter_map(|c| c.lock().map(|l| l as *const SpinLock))
        .collect();
    locks.sort_unstable();
    locks.dedup();
    locks
}

fn sellock(locks: &[*const SpinLock]) {
    for &l in locks {
        // SAFETY: the locks belong to channels the cases borrow.
        unsafe { (*l).lock() };
    }
}

fn selunlock(locks: &[*const SpinLock]) {
    for &l in locks.iter().rev() {
        // SAFETY: as above; each was locked by sellock.
        unsafe { (*l).unlock() };
    }
}

/// The select's unlock function: releases every lock (Go's
/// `selparkcommit`), after the goroutine is off its stack.
///
/// # Safety
/// `arg` points to the `Vec` of locks on the parking goroutine's stack.
unsafe fn selparkcommit(arg: usize) -> bool {
    // SAFETY: see the contract; the goroutine is parked, the Vec unchanged.
    let locks = unsafe { &*(arg as *const Vec<*const SpinLock>) };
    selunlock(locks);
    true
}

/// Go's `selectgo`: runs one of `cases` and returns true, or, with
/// `block` false and no case ready, returns false (the `default` case).
/// The chosen case is marked (`SelectCase::chosen`). Panics like Go for a
/// send on a closed channel.
#[track_caller]
pub fn selectgo(cases: &mut [&mut dyn SelectCase], block: bool) -> bool {
    crate::proc::preempt_point();
    let g = crate::proc::must_getg("select");
    if cases.iter().all(|c| c.lock().is_none()) {
        if !block {
            return false;
        }
        let reason = if cases.is_empty() {
            WaitReason::SelectNoCases
        } else {
            WaitReason::Select
        };
        block_forever(reason);
    }
    // Poll order: a uniform random permutation (Fisher-Yates on the M's
    // fastrand; deterministic mode's Ms are seeded, so a seed replays it).
    let n = cases.len();
    let mut order: Vec<usize> = (0..n).collect();
    {
        // SAFETY: a running G's m is its current M.
        let m = unsafe { &*g.m.load(Ordering::Acquire) };
        for i in (1..n).rev() {
            let j = (m.fastrand() as u64 * (i as u64 + 1)) >> 32;
            order.swap(i, j as usize);
        }
    }
    let locks = lock_order(cases);
    sellock(&locks);

    // Pass 1: the first ready case in poll order.
    for &i in &order {
        match cases[i].poll() {
            Poll::NotReady => continue,
            Poll::Done(w) => {
                selunlock(&locks);
                cases[i].choose();
                if let Some(w) = w {
                    crate::proc::ready_g(w);
                }
                return true;
            }
            Poll::SendClosed => {
                selunlock(&locks);
                panic!("send on closed channel");
            }
        }
    }
    if !block {
        selunlock(&locks);
        return false;
    }

    // Pass 2: wait on every channel.
    let me = GPtr::new(g);
    g.param.set(0);
    for c in cases.iter_mut() {
        if c.lock().is_some() {
            c.enqueue(me);
        }
    }
    crate::proc::park(
        WaitReason::Select,
        Some(UnlockFn {
            f: selparkcommit,
            arg: &locks as *const Vec<*const SpinLock> as usize,
        }),
    );

    // Pass 3: woken by one case; take our sudogs off the other channels.
    sellock(&locks);
    g.select_done.store(0, Ordering::Release);
    let fired = g.param.replace(0) as *mut Sudog;
    let mut winner = None;
    for (i, c) in cases.iter_mut().enumerate() {
        if c.lock().is_none() {
            continue;
        }
        if c.sudog() == fired {
            winner = Some(i);
        } else {
            c.dequeue();
        }
    }
    selunlock(&locks);
    let i = winner.expect("gort: select woken by no case");
    // SAFETY: the winning sudog is our own case's field.
    let success = unsafe { (*fired).success };
    cases[i].fired(success);
    cases[i].choose();
    if !success && cases[i].send_closed() {
        panic!("send on closed channel");
    }
    true
}

/// Blocks forever: `select {}`.
#[track_caller]
pub fn block() -> ! {
    crate::proc::preempt_point();
    block_forever(WaitReason::SelectNoCases)
}
