//! Channels (Go's `chan.go`): `hchan`, its wait queues of sudogs, send,
//! receive, close.
//!
//! An `HChan` is a lock, a ring buffer of `dataqsiz` slots, a `closed`
//! flag and two FIFO queues of waiting goroutines (`recvq`, `sendq`). A
//! goroutine that must wait describes itself with a `Sudog` that lives on
//! its own stack (it is parked, so the frame stays put) and points at the
//! value it sends or at the slot it receives into; it parks with an unlock
//! function that releases the channel lock only once it is off its stack
//! (Go's `unlockf`), so a waker never finds a half-parked goroutine.
//!
//! * send: nil channel blocks forever; closed panics (`send on closed
//!   channel`); a waiting receiver gets the value directly (written into
//!   its slot) and is readied into the sender's `runnext`; else a free
//!   buffer slot takes it; else the sender parks (`chan send`).
//! * receive: nil channel blocks forever; a waiting sender hands over its
//!   value (unbuffered), or, with a full buffer, the receiver takes the
//!   head and the sender's value goes to the tail; else the buffer's head;
//!   else closed gives the zero value with ok = false; else park
//!   (`chan receive`).
//! * close: nil or closed panics; every waiting receiver is woken with
//!   ok = false and every waiting sender is woken to panic.
//!
//! Waking a goroutine always writes the sudog (value, `success`) and the
//! G's `param` under the channel lock, then releases the lock, then calls
//! `goready`: after `goready` the woken goroutine may already run on
//! another P and its sudog frame may be gone.
//!
//! The race detector's annotations are Go's (race.md §3, `race.rs`):
//! `racereadpc` of the channel by a send, a write and release by close,
//! `racesync` for an unbuffered handoff and `racenotify` on the buffer
//! slot for a buffered one (slots are addresses of their own here, the
//! buffer having none).
//!
//! Simulated differently from Go: values live in a Rust `VecDeque`, not in
//! a heap-allocated `buf` (so the GC does not see pointers held in a
//! channel's buffer; channels of heap pointers root them through the
//! heap's explicit roots); there is no lock-free fast path for a failing
//! non-blocking operation (each operation takes the channel lock).

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use crate::g::{UnlockFn, WaitReason};
use crate::p::GPtr;
use crate::race::{self, RuntimeFn, SyncOp};
use crate::spinlock::{unlock_addr, SpinLock};

/// Go's `sudog`: a goroutine waiting on a channel, on its own stack.
#[derive(Debug)]
pub struct Sudog {
    pub(crate) g: GPtr,
    /// `*mut Option<T>`: the value to send, or the slot to receive into.
    pub(crate) elem: *mut (),
    next: *mut Sudog,
    prev: *mut Sudog,
    pub(crate) is_select: bool,
    /// True when woken by a completed operation, false when by close.
    pub(crate) success: bool,
}

impl Sudog {
    pub(crate) fn new(g: GPtr, elem: *mut (), is_select: bool) -> Sudog {
        Sudog {
            g,
            elem,
            next: std::ptr::null_mut(),
            prev: std::ptr::null_mut(),
            is_select,
            success: false,
        }
    }
}

/// Go's `waitq`: an intrusive FIFO of sudogs; guarded by the channel lock.
#[derive(Debug)]
pub(crate) struct WaitQ {
    first: *mut Sudog,
    last: *mut Sudog,
}

impl WaitQ {
    const fn new() -> WaitQ {
        WaitQ {
            first: std::ptr::null_mut(),
            last: std::ptr::null_mut(),
        }
    }

    /// # Safety
    /// Channel lock held; `sg` is a live sudog in no queue, and stays live
    /// until it is dequeued.
    pub(crate) unsafe fn enqueue(&mut self, sg: *mut Sudog) {
        // SAFETY: see the contract; queued sudogs are live.
        unsafe {
            (*sg).next = std::ptr::null_mut();
            (*sg).prev = self.last;
            if self.last.is_null() {
                self.first = sg;
            } else {
                (*self.last).next = sg;
            }
        }
        self.last = sg;
    }

    /// Go's `dequeue`: the first sudog whose goroutine can still take it;
    /// a select whose other case already fired (`selectDone` taken) is
    /// skipped.
    fn dequeue(&mut self) -> Option<*mut Sudog> {
        loop {
            let sg = self.first;
            if sg.is_null() {
                return None;
            }
            // SAFETY: queued sudogs are live (their goroutines are parked
            // or about to remove them under this lock).
            unsafe {
                let next = (*sg).next;
                self.first = next;
                if next.is_null() {
                    self.last = std::ptr::null_mut();
                } else {
                    (*next).prev = std::ptr::null_mut();
                }
                (*sg).next = std::ptr::null_mut();
                if (*sg).is_select
                    && (*sg)
                        .g
                        .get()
                        .select_done
                        .compare_exchange(
                            0,
                            1,
                            std::sync::atomic::Ordering::AcqRel,
                            std::sync::atomic::Ordering::Acquire,
                        )
                        .is_err()
                {
                    continue;
                }
            }
            return Some(sg);
        }
    }

    /// Go's `dequeueSudoG`: unlinks `sg` if it is still queued.
    ///
    /// # Safety
    /// Channel lock held; `sg` was enqueued on this queue by its owner.
    pub(crate) unsafe fn remove(&mut self, sg: *mut Sudog) {
        // SAFETY: see the contract; neighbours in the queue are live.
        unsafe {
            let (prev, next) = ((*sg).prev, (*sg).next);
            if !prev.is_null() {
                if !next.is_null() {
                    (*prev).next = next;
                    (*next).prev = prev;
                } else {
                    (*prev).next = std::ptr::null_mut();
                    self.last = prev;
                }
            } else if !next.is_null() {
                (*next).prev = std::ptr::null_mut();
                self.first = next;
            } else if self.first == sg {
                self.first = std::ptr::null_mut();
                self.last = std::ptr::null_mut();
            }
            (*sg).next = std::ptr::null_mut();
            (*sg).prev = std::ptr::null_mut();
        }
    }

    fn is_empty(&self) -> bool {
        self.first.is_null()
    }
}

/// The channel state behind the lock.
pub(crate) struct ChanState<T> {
    /// The buffered values (`qcount` = its length).
    pub(crate) buf: VecDeque<T>,
    pub(crate) dataqsiz: usize,
    /// Go's ring indices, kept for the race detector (a buffered
    /// channel's happens-before edges go through slot `sendx`/`recvx`).
    pub(crate) sendx: usize,
    pub(crate) recvx: usize,
    pub(crate) closed: bool,
    pub(crate) recvq: WaitQ,
    pub(crate) sendq: WaitQ,
}

/// Go's `hchan`.
pub struct HChan<T> {
    pub(crate) lock: SpinLock,
    state: UnsafeCell<ChanState<T>>,
}

// SAFETY: `state` is only touched with `lock` held; values of T cross
// goroutines (threads), hence T: Send.
unsafe impl<T: Send> Sync for HChan<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for HChan<T> {}

/// What a send found while holding the lock.
pub(crate) enum SendTry<T> {
    /// Done; ready this goroutine after unlocking.
    Done(Option<GPtr>),
    /// Nowhere to put the value now.
    Full(T),
    /// The channel is closed.
    Closed,
}

/// What a receive found while holding the lock.
pub(crate) enum RecvTry<T> {
    /// A value (or `None` with the channel closed and drained); ready the
    /// goroutine after unlocking.
    Done(Option<T>, Option<GPtr>),
    Empty,
}

impl<T> Drop for HChan<T> {
    fn drop(&mut self) {
        // Go's racefree when the collector frees the hchan: the next object
        // at this address starts with no history.
        race::malloc(self.raceaddr(), 1);
    }
}

/// The runtime functions a channel's race accesses name.
static CHANSEND: RuntimeFn = RuntimeFn {
    name: "runtime.chansend",
    file: "src/runtime/chan.go",
    line: 160,
};
static CLOSECHAN: RuntimeFn = RuntimeFn {
    name: "runtime.closechan",
    file: "src/runtime/chan.go",
    line: 357,
};

impl<T> HChan<T> {
    /// Go's `c.raceaddr()`: the address the detector knows the channel by
    /// (its close is a write there, its sends reads).
    fn raceaddr(&self) -> usize {
        self as *const Self as usize
    }

    /// Go's `chanbuf(c, i)` as a sync object: buffer slot `i`; every slot
    /// is one object when the element has no size. gort's buffer is not
    /// at a fixed address, so the slots get addresses of their own above
    /// the user address space, where no Go memory lies.
    fn chanbuf(&self, i: usize) -> usize {
        let i = if std::mem::size_of::<T>() == 0 { 0 } else { i };
        self.raceaddr() | ((i % (1 << 16) + 1) << 47)
    }

    /// Go's `racenotify(c, idx, sg)`: the operation through slot `idx` by
    /// the current goroutine (`None`) or on behalf of a waiting one.
    fn racenotify(&self, idx: usize, other: Option<&crate::g::G>) {
        if !race::enabled() {
            return;
        }
        let qp = self.chanbuf(idx);
        let run = |op| match other {
            None => race::sync(op, qp),
            Some(g) => race::sync_for(g, op, qp),
        };
        if std::mem::size_of::<T>() == 0 {
            run(SyncOp::Acquire);
            run(SyncOp::Release);
        } else {
            run(SyncOp::ReleaseAcquire);
        }
    }

    /// Go's `racesync(c, sg)`: an unbuffered handoff orders both sides.
    fn racesync(&self, other: &crate::g::G) {
        if !race::enabled() {
            return;
        }
        let qp = self.chanbuf(0);
        race::sync(SyncOp::Release, qp);
        race::sync_for(other, SyncOp::Acquire, qp);
        race::sync_for(other, SyncOp::Release, qp);
        race::sync(SyncOp::Acquire, qp);
    }

    /// # Safety
    /// `lock` held by the caller.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn state(&self) -> &mut ChanState<T> {
        // SAFETY: the lock gives exclusive access.
        unsafe { &mut *self.state.get() }
    }

    /// The non-blocking half of `chansend` (lock held).
    ///
    /// # Safety
    /// `lock` held.
    pub(crate) unsafe fn try_send(&self, v: T) -> SendTry<T> {
        // SAFETY: lock held.
        let st = unsafe { self.state() };
        if st.closed {
            return SendTry::Closed;
        }
        if let Some(sg) = st.recvq.dequeue() {
            // SAFETY: a dequeued receiver's sudog is live until readied.
            let rg = unsafe { (*sg).g };
            if race::enabled() {
                if st.dataqsiz == 0 {
                    self.racesync(rg.get());
                } else {
                    // Go's send to a waiting receiver pretends to go
                    // through the buffer: both notify slot recvx.
                    self.racenotify(st.recvx, None);
                    self.racenotify(st.recvx, Some(rg.get()));
                }
            }
            if st.dataqsiz != 0 {
                st.recvx = (st.recvx + 1) % st.dataqsiz;
                st.sendx = st.recvx;
            }
            // SAFETY: a dequeued receiver's sudog is live until readied;
            // its elem is the `Option<T>` slot of a receive on this channel.
            let g = unsafe {
                *((*sg).elem as *mut Option<T>) = Some(v);
                (*sg).success = true;
                let g = (*sg).g;
                g.get().param.set(sg as usize);
                g
            };
            return SendTry::Done(Some(g));
        }
        if st.buf.len() < st.dataqsiz {
            self.racenotify(st.sendx, None);
            st.buf.push_back(v);
            st.sendx = (st.sendx + 1) % st.dataqsiz;
            return SendTry::Done(None);
        }
        SendTry::Full(v)
    }

    /// The non-blocking half of `chanrecv` (lock held).
    ///
    /// # Safety
    /// `lock` held.
    pub(crate) unsafe fn try_recv(&self) -> RecvTry<T> {
        // SAFETY: lock held.
        let st = unsafe { self.state() };
        if st.closed && st.buf.is_empty() {
            // The close happened before this receive.
            race::sync(SyncOp::Acquire, self.raceaddr());
            return RecvTry::Done(None, None);
        }
        if let Some(sg) = st.sendq.dequeue() {
            // SAFETY: a dequeued sender's sudog is live until readied; its
            // elem is the `Option<T>` holding the value it sends.
            let (sent, g) = unsafe {
                let sent = (*((*sg).elem as *mut Option<T>)).take();
                (*sg).success = true;
                let g = (*sg).g;
                g.get().param.set(sg as usize);
                (sent, g)
            };
            let v = if st.dataqsiz == 0 {
                self.racesync(g.get());
                sent
            } else {
                // The buffer is full: take its head, the sender's value
                // goes to the tail (the ring's slot recvx, then sendx =
                // recvx), both notifying slot recvx.
                self.racenotify(st.recvx, None);
                self.racenotify(st.recvx, Some(g.get()));
                let head = st.buf.pop_front();
                if let Some(sent) = sent {
                    st.buf.push_back(sent);
                }
                st.recvx = (st.recvx + 1) % st.dataqsiz;
                st.sendx = st.recvx;
                head
            };
            return RecvTry::Done(v, Some(g));
        }
        if let Some(v) = st.buf.pop_front() {
            self.racenotify(st.recvx, None);
            st.recvx = (st.recvx + 1) % st.dataqsiz;
            return RecvTry::Done(Some(v), None);
        }
        RecvTry::Empty
    }
}

/// Readies `w` (from goroutine `me`: into its P's runnext).
#[inline]
fn goready_opt(me: &crate::g::G, w: Option<GPtr>) {
    if let Some(w) = w {
        crate::proc::goready_on(me, w);
    }
}

/// Blocks the calling goroutine forever (Go's `gopark(nil, nil, reason)`
/// for nil channels and `select {}`).
#[track_caller]
pub(crate) fn block_forever(reason: WaitReason) -> ! {
    loop {
        crate::proc::park(reason, None);
    }
}

/// A Go channel: `make(chan T, cap)`, or the nil channel. Cloning copies
/// the reference (the same channel), as assigning a Go chan does.
pub struct Chan<T> {
    c: Option<Arc<HChan<T>>>,
}

impl<T> Clone for Chan<T> {
    fn clone(&self) -> Self {
        Chan { c: self.c.clone() }
    }
}

impl<T> PartialEq for Chan<T> {
    /// Go's `==` on channels: the same channel (or both nil).
    fn eq(&self, o: &Self) -> bool {
        match (&self.c, &o.c) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

impl<T> fmt::Debug for Chan<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.c {
            Some(c) => write!(f, "{:p}", Arc::as_ptr(c)),
            None => write!(f, "<nil>"),
        }
    }
}

impl<T: Send> Chan<T> {
    /// `make(chan T, cap)`; `cap` 0 makes an unbuffered channel.
    pub fn new(cap: usize) -> Chan<T> {
        Chan {
            c: Some(Arc::new(HChan {
                lock: SpinLock::new(),
                state: UnsafeCell::new(ChanState {
                    buf: VecDeque::with_capacity(cap),
                    dataqsiz: cap,
                    sendx: 0,
                    recvx: 0,
                    closed: false,
                    recvq: WaitQ::new(),
                    sendq: WaitQ::new(),
                }),
            })),
        }
    }

    /// The nil channel (`var c chan T`): every send and receive blocks
    /// forever, close panics.
    pub fn nil() -> Chan<T> {
        Chan { c: None }
    }

    pub fn is_nil(&self) -> bool {
        self.c.is_none()
    }

    pub(crate) fn hchan(&self) -> Option<&HChan<T>> {
        self.c.as_deref()
    }

    /// `c <- v` (Go's `chansend1`).
    #[track_caller]
    pub fn send(&self, v: T) {
        let me = crate::proc::getg_safepoint("chan send");
        let Some(c) = self.hchan() else {
            block_forever(WaitReason::ChanSendNilChan);
        };
        race::read_pc(c.raceaddr(), &CHANSEND);
        c.lock.lock();
        // SAFETY: lock held.
        let v = match unsafe { c.try_send(v) } {
            SendTry::Done(w) => {
                c.lock.unlock();
                goready_opt(me, w);
                return;
            }
            SendTry::Closed => {
                c.lock.unlock();
                panic!("send on closed channel");
            }
            SendTry::Full(v) => v,
        };
        let mut slot = Some(v);
        let mut sg = Sudog::new(GPtr::new(me), &mut slot as *mut Option<T> as *mut (), false);
        // SAFETY: lock held; `sg` stays on this stack until a waker
        // dequeues it (or close does), which happens before we resume.
        unsafe { c.state().sendq.enqueue(&mut sg) };
        crate::proc::gopark_on(
            me,
            WaitReason::ChanSend,
            Some(UnlockFn {
                f: unlock_addr,
                arg: &c.lock as *const SpinLock as usize,
            }),
        );
        if !sg.success {
            // Woken by close.
            panic!("send on closed channel");
        }
    }

    /// `v, ok := <-c` (Go's `chanrecv2`): `Some(v)`, or `None` once the
    /// channel is closed and drained (Go's zero value with ok = false).
    #[track_caller]
    pub fn recv(&self) -> Option<T> {
        let me = crate::proc::getg_safepoint("chan receive");
        let Some(c) = self.hchan() else {
            block_forever(WaitReason::ChanReceiveNilChan);
        };
        c.lock.lock();
        // SAFETY: lock held.
        if let RecvTry::Done(v, w) = unsafe { c.try_recv() } {
            c.lock.unlock();
            goready_opt(me, w);
            return v;
        }
        let mut slot: Option<T> = None;
        let mut sg = Sudog::new(GPtr::new(me), &mut slot as *mut Option<T> as *mut (), false);
        // SAFETY: lock held; `sg` outlives its time in the queue (see send).
        unsafe { c.state().recvq.enqueue(&mut sg) };
        crate::proc::gopark_on(
            me,
            WaitReason::ChanReceive,
            Some(UnlockFn {
                f: unlock_addr,
                arg: &c.lock as *const SpinLock as usize,
            }),
        );
        // `success` false: woken by close, the slot holds no value.
        slot
    }

    /// `v, ok := <-c` with Go's zero value: `(v, true)`, or
    /// `(T::default(), false)` once closed and drained.
    #[track_caller]
    pub fn recv2(&self) -> (T, bool)
    where
        T: Default,
    {
        match self.recv() {
            Some(v) => (v, true),
            None => (T::default(), false),
        }
    }

    /// `close(c)`.
    #[track_caller]
    pub fn close(&self) {
        crate::proc::preempt_point();
        let Some(c) = self.hchan() else {
            panic!("close of nil channel");
        };
        // Go makes this write after the closed check, under the lock; here
        // it comes first, so that a halting report never leaves the lock
        // held (a second close panics either way).
        race::write_pc(c.raceaddr(), &CLOSECHAN);
        c.lock.lock();
        // SAFETY: lock held.
        let st = unsafe { c.state() };
        if st.closed {
            c.lock.unlock();
            panic!("close of closed channel");
        }
        race::sync(SyncOp::Release, c.raceaddr());
        st.closed = true;
        let mut woken: Vec<GPtr> = Vec::new();
        for q in [&mut st.recvq, &mut st.sendq] {
            while let Some(sg) = q.dequeue() {
                // SAFETY: dequeued sudogs are live until readied; a woken
                // receiver keeps its empty slot (the zero value).
                unsafe {
                    (*sg).success = false;
                    let g = (*sg).g;
                    // What the close did happens before the woken receive
                    // (or the send's panic).
                    race::sync_for(g.get(), SyncOp::Acquire, c.raceaddr());
                    g.get().param.set(sg as usize);
                    woken.push(g);
                }
            }
        }
        c.lock.unlock();
        for g in woken {
            crate::proc::ready_g(g);
        }
    }

    /// `len(c)`: values buffered now (0 for nil).
    pub fn len(&self) -> usize {
        self.hchan().map_or(0, |c| {
            c.lock.lock();
            // SAFETY: lock held.
            let n = unsafe { c.state() }.buf.len();
            c.lock.unlock();
            n
        })
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `cap(c)` (0 for nil).
    pub fn cap(&self) -> usize {
        self.hchan().map_or(0, |c| {
            c.lock.lock();
            // SAFETY: lock held.
            let n = unsafe { c.state() }.dataqsiz;
            c.lock.unlock();
            n
        })
    }

    /// `for v := range c`: receives until the channel is closed and
    /// drained.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { c: self }
    }

    /// Whether both queues are empty (for tests of wakeup bookkeeping).
    #[doc(hidden)]
    pub fn no_waiters(&self) -> bool {
        self.hchan().is_none_or(|c| {
            c.lock.lock();
            // SAFETY: lock held.
            let st = unsafe { c.state() };
            let r = st.recvq.is_empty() && st.sendq.is_empty();
            c.lock.unlock();
            r
        })
    }
}

/// `for v := range c`.
#[derive(Debug)]
pub struct Iter<'a, T> {
    c: &'a Chan<T>,
}

impl<T: Send> Iterator for Iter<'_, T> {
    type Item = T;
    #[track_caller]
    fn next(&mut self) -> Option<T> {
        self.c.recv()
    }
}

impl<'a, T: Send> IntoIterator for &'a Chan<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

/// Go's `time.After(d)`: a channel that receives the time (the runtime's
/// `nanotime`, virtual in deterministic mode) once `d` has passed. As in
/// Go, the timer is not stopped when nobody receives; while it is pending
/// the program is not deadlocked.
#[track_caller]
pub fn after(d: std::time::Duration) -> Chan<u64> {
    let c = Chan::new(1);
    let g = crate::proc::must_getg("after");
    let sched = g.sched();
    let p = crate::sched::Sched::current_p(g);
    let when = sched
        .nanotime()
        .saturating_add(d.as_nanos().min(u64::MAX as u128) as u64);
    let hc = c.c.clone().expect("new channel");
    // Go's timer: racerelease at its start, acquired by the timer's
    // context before sendTime sends. Here the send runs on the M with no
    // goroutine, so the caller makes the send's release on the buffer
    // slot now (slot 0: the timer sends once, into an empty buffer); the
    // receive acquires it as it would the send's.
    hc.racenotify(0, None);
    let arg = Arc::into_raw(hc) as usize;
    sched.addtimer(p, when, send_time, arg);
    c
}

/// The timer function of `after` (Go's `sendTime`): a non-blocking send
/// of the current time, run on an M, not on a goroutine.
fn send_time(sched: &crate::sched::Sched, p: &crate::p::P, arg: usize) {
    // SAFETY: `arg` came from Arc::into_raw in `after`; the timer fires
    // once, so this takes that reference back exactly once.
    let c = unsafe { Arc::from_raw(arg as *const HChan<u64>) };
    c.lock.lock();
    // SAFETY: lock held.
    let r = unsafe { c.try_send(sched.nanotime()) };
    c.lock.unlock();
    if let SendTry::Done(Some(g)) = r {
        sched.ready(g, p, true);
    }
}
