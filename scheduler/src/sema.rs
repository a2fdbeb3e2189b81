//! Runtime semaphores and notify lists (Go's `runtime/sema.go`), the sleep
//! and wakeup primitives under gort's `sync` package.
//!
//! As Go's file header says, do not think of these as semaphores: think of
//! them as a way to implement sleep and wakeup such that every sleep is
//! paired with a single wakeup, even if, due to races, the wakeup happens
//! before the sleep.
//!
//! # Semaphores (`semacquire1` / `semrelease1`)
//!
//! A `Sema` is Go's `uint32` semaphore word plus the root of its waiters: a
//! count of waiters (`nwait`, read without the lock), a spin lock (Go's
//! runtime `mutex`, held for a few instructions) and a queue of `Sudog`s.
//!
//! * `semacquire1(s, lifo, reason)`: take a unit with a CAS loop if the
//!   count is positive (`cansemacquire`). Otherwise lock the root, count
//!   ourselves in `nwait`, retry once (a release may have raced), then
//!   queue a `Sudog` that lives on the waiter's own stack (at the tail, or
//!   at the front when `lifo`) and park with the root's lock as Go's
//!   `unlockf`: the M releases it only after the goroutine is off its
//!   stack, so a releaser never finds a half-parked waiter. On wakeup the
//!   waiter returns if it was handed a unit (`ticket`) or can take one;
//!   otherwise it queues again (`sync.Mutex` passes `lifo = true` for a
//!   waiter that was already woken once, so it goes back to the front).
//! * `semrelease1(s, handoff)`: add a unit; if nobody waits, done.
//!   Otherwise dequeue the front waiter under the lock, and after
//!   unlocking: when `handoff` is set and the unit can be taken back at
//!   once, give it to the waiter directly (`ticket = 1`), so no newcomer
//!   can steal it; ready the waiter (it goes to the releaser's `runnext`)
//!   and, after a handoff, `goyield()` so the waiter runs first (the
//!   releaser goes to the tail of its P's local queue). `sync.Mutex` uses
//!   handoff in starvation mode.
//!
//! Waiters park with the reason the caller gives: `semacquire` for every
//! user of this file in Go 1.19.
//!
//! Simulated differently from Go: one FIFO per semaphore object instead of
//! Go's 251-bucket table (`semtable`) of treaps keyed by the semaphore's
//! address. The order of wakeups is the same (FIFO per address, LIFO
//! insertion on request); only the lookup differs, and a `Sema` is
//! somewhat larger than a `uint32`. No mutex or block profiling.
//!
//! # Notify lists (`notifyListAdd` / `Wait` / `NotifyOne` / `NotifyAll`)
//!
//! `sync.Cond`'s ticket-based list: `wait` is the next ticket to hand out,
//! `notify` the next ticket to wake. `notify_list_add` takes a ticket (an
//! atomic increment, done before the Cond's lock is released, so a signal
//! sent after the unlock is never missed); `notify_list_wait(t)` returns at
//! once if ticket `t` was already notified, else queues and parks with
//! reason `sync.Cond.Wait`. `notify_list_notify_one` wakes the waiter
//! holding ticket `notify` (if it has queued yet; if not, it will see the
//! ticket already notified and not park) and advances `notify`;
//! `notify_list_notify_all` sets `notify = wait` and readies every queued
//! waiter in queue order. Ticket comparisons wrap (`less`).

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::g::{UnlockFn, WaitReason};
use crate::p::GPtr;
use crate::spinlock::{unlock_addr, SpinLock};

/// Go's `sudog` for a semaphore waiter: lives on the waiting goroutine's
/// stack for the duration of its `semacquire1`.
struct Sudog {
    g: GPtr,
    /// Set to 1 by a releaser that handed its unit to this waiter.
    ticket: AtomicU32,
}

/// A runtime semaphore: Go's semaphore word and its `semaRoot`.
#[derive(Default)]
pub struct Sema {
    /// The semaphore's count (Go's `*addr`).
    count: AtomicU32,
    /// Number of queued waiters; read without the lock (Go's `nwait`).
    nwait: AtomicU32,
    lock: SpinLock,
    /// Waiters, front first; touched only with `lock` held. Each points to
    /// a `Sudog` on the stack of a goroutine parked in `semacquire1`.
    queue: UnsafeCell<VecDeque<NonNull<Sudog>>>,
}

// SAFETY: `queue` is only accessed with `lock` held (acquire/release
// ordering); the sudogs it points to belong to parked goroutines, whose
// stacks stay put until the goroutine is readied, after it was dequeued.
unsafe impl Sync for Sema {}
// SAFETY: as above.
unsafe impl Send for Sema {}

impl Sema {
    /// A semaphore holding `count` units.
    pub const fn new(count: u32) -> Sema {
        Sema {
            count: AtomicU32::new(count),
            nwait: AtomicU32::new(0),
            lock: SpinLock::new(),
            queue: UnsafeCell::new(VecDeque::new()),
        }
    }

    /// Go's `semacquire`: take one unit, parking (reason `semacquire`)
    /// until one is released.
    #[track_caller]
    pub fn acquire(&self) {
        crate::proc::preempt_point();
        semacquire1(self, false, WaitReason::Semacquire);
    }

    /// Go's `semrelease`: add a unit, waking the first waiter (it goes to
    /// the caller's runnext).
    pub fn release(&self) {
        crate::proc::preempt_point();
        semrelease1(self, false);
    }

    /// The units available now (for diagnostics and tests).
    pub fn count(&self) -> u32 {
        self.count.load(Ordering::SeqCst)
    }

    /// The goroutines queued now (Go's `nwait`).
    pub fn waiters(&self) -> u32 {
        self.nwait.load(Ordering::SeqCst)
    }
}

/// Go's `cansemacquire`: take a unit if there is one.
fn cansemacquire(s: &Sema) -> bool {
    let mut v = s.count.load(Ordering::SeqCst);
    loop {
        if v == 0 {
            return false;
        }
        match s
            .count
            .compare_exchange(v, v - 1, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => return true,
            Err(cur) => v = cur,
        }
    }
}

/// Go's `semacquire1`: take a unit of `s`, parking with `reason` until one
/// is released. A waiter queued with `lifo` goes to the front of the
/// queue.
#[track_caller]
pub(crate) fn semacquire1(s: &Sema, lifo: bool, reason: WaitReason) {
    if cansemacquire(s) {
        return;
    }
    let sg = Sudog {
        g: crate::proc::current(),
        ticket: AtomicU32::new(0),
    };
    loop {
        s.lock.lock();
        s.nwait.fetch_add(1, Ordering::SeqCst);
        // Add ourselves to nwait to disable the "easy case" in semrelease.
        if cansemacquire(s) {
            s.nwait.fetch_sub(1, Ordering::SeqCst);
            s.lock.unlock();
            break;
        }
        // Any semrelease after the cansemacquire knows we're waiting
        // (we set nwait above), so it will find us in the queue.
        // SAFETY: the lock is held.
        let q = unsafe { &mut *s.queue.get() };
        let me = NonNull::from(&sg);
        if lifo {
            q.push_front(me);
        } else {
            q.push_back(me);
        }
        crate::proc::park(
            reason,
            Some(UnlockFn {
                f: unlock_addr,
                arg: &s.lock as *const SpinLock as usize,
            }),
        );
        if sg.ticket.load(Ordering::Acquire) != 0 || cansemacquire(s) {
            break;
        }
    }
}

/// Go's `semrelease1`: add a unit to `s` and wake its front waiter. With
/// `handoff`, the unit goes straight to that waiter and the caller yields
/// to it.
pub(crate) fn semrelease1(s: &Sema, handoff: bool) {
    s.count.fetch_add(1, Ordering::SeqCst);
    // Easy case: no waiters? This check must happen after the add, to
    // avoid a missed wakeup (see the loop in semacquire1).
    if s.nwait.load(Ordering::SeqCst) == 0 {
        return;
    }
    // Harder case: search for a waiter and wake it.
    s.lock.lock();
    if s.nwait.load(Ordering::SeqCst) == 0 {
        // The count is already consumed by another goroutine, so no need
        // to wake up another goroutine.
        s.lock.unlock();
        return;
    }
    // SAFETY: the lock is held.
    let w = unsafe { &mut *s.queue.get() }.pop_front();
    if w.is_some() {
        s.nwait.fetch_sub(1, Ordering::SeqCst);
    }
    s.lock.unlock();
    if let Some(w) = w {
        // May yield, so the lock is released first. The sudog stays valid
        // until the waiter runs again, which is after `goready` below.
        // SAFETY: `w` was queued by a goroutine now parked in semacquire1
        // (it parked before the lock we took could be released); its stack
        // frame holding the sudog lives until it is readied.
        let sg = unsafe { w.as_ref() };
        let gp = sg.g;
        let ticket = handoff && cansemacquire(s);
        if ticket {
            sg.ticket.store(1, Ordering::Release);
        }
        // `sg` must not be touched after this: the waiter may run (and
        // return) at once on another P.
        crate::proc::ready_g(gp);
        if ticket {
            // Direct G handoff: let the waiter run now instead of
            // competing with us for the P.
            crate::proc::goyield();
        }
    }
}

/// A waiter of a notify list: the goroutine and its ticket.
struct NotifyWaiter {
    g: GPtr,
    ticket: u32,
}

/// Go's `notifyList`: the ticket-based wait list under `sync.Cond`.
#[derive(Default)]
pub struct NotifyList {
    /// The ticket of the next waiter (incremented outside the lock).
    wait: AtomicU32,
    /// The ticket of the next waiter to be notified (written with the lock
    /// held, read without it).
    notify: AtomicU32,
    lock: SpinLock,
    /// Parked waiters in arrival order; touched only with `lock` held.
    waiters: UnsafeCell<VecDeque<NotifyWaiter>>,
}

// SAFETY: `waiters` is only accessed with `lock` held.
unsafe impl Sync for NotifyList {}
// SAFETY: as above.
unsafe impl Send for NotifyList {}

impl NotifyList {
    pub const fn new() -> NotifyList {
        NotifyList {
            wait: AtomicU32::new(0),
            notify: AtomicU32::new(0),
            lock: SpinLock::new(),
            waiters: UnsafeCell::new(VecDeque::new()),
        }
    }
}

/// Go's `less`: `a < b`, with wrap-around of the ticket counters.
fn less(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// Go's `notifyListAdd`: take the next ticket.
pub(crate) fn notify_list_add(l: &NotifyList) -> u32 {
    l.wait.fetch_add(1, Ordering::SeqCst)
}

/// Go's `notifyListWait`: park (reason `sync.Cond.Wait`) until ticket `t`
/// is notified; returns at once if it already was.
#[track_caller]
pub(crate) fn notify_list_wait(l: &NotifyList, t: u32) {
    l.lock.lock();
    // Return right away if this ticket has already been notified.
    if less(t, l.notify.load(Ordering::SeqCst)) {
        l.lock.unlock();
        return;
    }
    // SAFETY: the lock is held.
    unsafe { &mut *l.waiters.get() }.push_back(NotifyWaiter {
        g: crate::proc::current(),
        ticket: t,
    });
    crate::proc::park(
        WaitReason::SyncCondWait,
        Some(UnlockFn {
            f: unlock_addr,
            arg: &l.lock as *const SpinLock as usize,
        }),
    );
}

/// Go's `notifyListNotifyAll`: wake every waiter.
pub(crate) fn notify_list_notify_all(l: &NotifyList) {
    // Fast path: no new waiters since the last notification.
    if l.wait.load(Ordering::SeqCst) == l.notify.load(Ordering::SeqCst) {
        return;
    }
    // Pull the list out and update notify under the lock; ready the
    // waiters outside it.
    l.lock.lock();
    // SAFETY: the lock is held.
    let ws = std::mem::take(unsafe { &mut *l.waiters.get() });
    l.notify
        .store(l.wait.load(Ordering::SeqCst), Ordering::SeqCst);
    l.lock.unlock();
    for w in ws {
        crate::proc::ready_g(w.g);
    }
}

/// Go's `notifyListNotifyOne`: wake the oldest waiter not yet notified.
pub(crate) fn notify_list_notify_one(l: &NotifyList) {
    // Fast path: no new waiters since the last notification.
    if l.wait.load(Ordering::SeqCst) == l.notify.load(Ordering::SeqCst) {
        return;
    }
    l.lock.lock();
    // Re-check under the lock.
    let t = l.notify.load(Ordering::SeqCst);
    if t == l.wait.load(Ordering::SeqCst) {
        l.lock.unlock();
        return;
    }
    // Update the next notify ticket number.
    l.notify.store(t.wrapping_add(1), Ordering::SeqCst);
    // Find the goroutine holding ticket t, if it has queued yet. If not,
    // it will find its ticket notified in notify_list_wait and not park.
    // SAFETY: the lock is held.
    let ws = unsafe { &mut *l.waiters.get() };
    let w = ws
        .iter()
        .position(|w| w.ticket == t)
        .and_then(|i| ws.remove(i));
    l.lock.unlock();
    if let Some(w) = w {
        crate::proc::ready_g(w.g);
    }
}

/// Goroutines parked until a counter reaches a value (Go's
/// `work.sweepWaiters`, where `runtime.GC` waits for a collection cycle to
/// end): `wait_for(n)` parks until `advance` has published a count of at
/// least `n`, and returns at once if it already has.
pub struct WaitList {
    /// The published count (written with `lock` held).
    count: std::sync::atomic::AtomicU64,
    lock: SpinLock,
    /// Parked waiters and the count each waits for; touched only with
    /// `lock` held.
    waiters: UnsafeCell<Vec<(GPtr, u64)>>,
}

impl Default for WaitList {
    fn default() -> Self {
        WaitList::new()
    }
}

// SAFETY: `waiters` is only accessed with `lock` held.
unsafe impl Sync for WaitList {}
// SAFETY: as above.
unsafe impl Send for WaitList {}

impl WaitList {
    pub const fn new() -> WaitList {
        WaitList {
            count: std::sync::atomic::AtomicU64::new(0),
            lock: SpinLock::new(),
            waiters: UnsafeCell::new(Vec::new()),
        }
    }

    /// The published count.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }

    /// Parks the calling goroutine (with `reason`) until the count is at
    /// least `n`.
    #[track_caller]
    pub fn wait_for(&self, n: u64, reason: WaitReason) {
        loop {
            self.lock.lock();
            if self.count.load(Ordering::SeqCst) >= n {
                self.lock.unlock();
                return;
            }
            // SAFETY: the lock is held.
            unsafe { &mut *self.waiters.get() }.push((crate::proc::current(), n));
            crate::proc::park(
                reason,
                Some(UnlockFn {
                    f: unlock_addr,
                    arg: &self.lock as *const SpinLock as usize,
                }),
            );
        }
    }

    /// Publishes `n` and readies every waiter it satisfies.
    pub fn advance(&self, n: u64) {
        self.lock.lock();
        self.count.fetch_max(n, Ordering::SeqCst);
        // SAFETY: the lock is held.
        let ws = unsafe { &mut *self.waiters.get() };
        let mut ready = Vec::new();
        ws.retain(|&(g, want)| {
            if want <= n {
                ready.push(g);
                false
            } else {
                true
            }
        });
        self.lock.unlock();
        for g in ready {
            crate::proc::ready_g(g);
        }
    }
}
