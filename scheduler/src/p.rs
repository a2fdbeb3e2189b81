//! The P: a processor's run queues and per-P caches (Go's `p`, and the
//! `runqput` / `runqget` / `runqsteal` / `globrunqget` family of proc.go).
//!
//! Each P has a one-slot `runnext` and a bounded local run queue of 256 Gs.
//! The local queue is a crossbeam-deque FIFO `Worker` owned by the M holding
//! the P; other Ps steal from it through its `Stealer`, taking half (rounded
//! up), as Go's `runqgrab` does. The 256 bound is enforced here: a put into a
//! full queue moves half of it plus the new G to the global queue
//! (`runqputslow`). `runnext` is an atomic pointer so a thief can take it
//! with a swap, as Go does with a CAS.
//!
//! Rules that come straight from Go 1.19 and that tests pin down:
//! - `newproc` and `goready` put the G in `runnext` (the previous occupant is
//!   kicked to the tail of the ring) so a new or woken G runs next and
//!   inherits the time slice;
//! - `runqget` takes `runnext` first (inheritTime = true), then the head;
//! - `globrunqget(p, max)` takes `min(len, len/gomaxprocs + 1, max, 128)`,
//!   runs the first and queues the rest locally.

use std::cell::UnsafeCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use crossbeam_deque::{Steal, Stealer, Worker};

use crate::globrunq::GlobRunq;

use crate::g::G;
use crate::m::M;

pub const P_IDLE: u32 = 0;
pub const P_RUNNING: u32 = 1;
pub const P_SYSCALL: u32 = 2;
pub const P_GCSTOP: u32 = 3;
pub const P_DEAD: u32 = 4;

/// Capacity of a P's local run queue, as in Go.
pub const RUNQ_SIZE: usize = 256;

/// A pointer to a G that can travel through the queues.
///
/// Outside this crate a GPtr is only a name for a goroutine: it comes from
/// `current()` and goes to `goready`, which checks it against the running
/// runtime's goroutines before touching it. It cannot be forged, nor
/// dereferenced, from another crate:
///
/// ```compile_fail
/// let gp = gort_scheduler::GPtr(std::ptr::NonNull::dangling()); // private field
/// ```
///
/// ```compile_fail
/// fn g_of(gp: gort_scheduler::GPtr) -> &'static gort_scheduler::G {
///     gp.get() // crate-private
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct GPtr(pub(crate) NonNull<G>);
// SAFETY: Gs are Sync/Send (see g.rs); a GPtr is an ownership token moved
// through the run queues.
unsafe impl Send for GPtr {}

impl GPtr {
    pub(crate) fn new(g: &G) -> GPtr {
        GPtr(NonNull::from(g))
    }
    /// Crate-private: every GPtr built inside this crate names a G of a
    /// runtime that is still running where it is used.
    /// The goroutine's id.
    ///
    /// # Safety
    /// The G must belong to a runtime that is still running (Gs are freed
    /// with their runtime), such as one from `allgs_snapshot`.
    pub unsafe fn goid(&self) -> u64 {
        self.get().goid()
    }

    pub(crate) fn get(&self) -> &'static G {
        // SAFETY: Gs live until their runtime's teardown, after every M and
        // the driver have stopped using them; inside this crate GPtrs only
        // travel through that runtime's queues and waiter lists.
        unsafe { &*self.0.as_ptr() }
    }
}

/// A pending timer: at `when`, call `f(arg)` on the scheduler.
#[derive(Clone, Copy, Debug)]
pub struct Timer {
    pub when: u64,
    pub seq: u64,
    pub f: fn(&crate::sched::Sched, &P, usize),
    pub arg: usize,
}
impl PartialEq for Timer {
    fn eq(&self, o: &Self) -> bool {
        (self.when, self.seq) == (o.when, o.seq)
    }
}
impl Eq for Timer {}
impl PartialOrd for Timer {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Timer {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.when, self.seq).cmp(&(o.when, o.seq))
    }
}

#[repr(align(128))]
pub struct P {
    pub id: usize,
    status: AtomicU32,
    /// Incremented on every non-inherited `execute` (sysmon watches it).
    pub(crate) schedtick: AtomicU32,
    /// The M that owns this P, or null.
    pub(crate) m: AtomicPtr<M>,
    /// The G running on this P, or null (Go reaches it as `p.m.curg`).
    pub(crate) curg: AtomicPtr<G>,
    runq: UnsafeCell<Worker<GPtr>>,
    stealer: Stealer<GPtr>,
    runnext: AtomicPtr<G>,
    /// Deterministic mode: the runnext G this P, as a thief, has already
    /// slept for (Go's `usleep(3)` in `runqgrab`), and whether it asked
    /// the driver for that sleep (`runqsteal`).
    pub(crate) runnext_slept: AtomicPtr<G>,
    pub(crate) runnext_sleep_req: AtomicBool,
    /// Dead Gs ready for reuse (Go's `p.gFree`); owner only.
    gfree: UnsafeCell<Vec<GPtr>>,
    gfreecnt: AtomicUsize,
    pub(crate) timers: Mutex<BinaryHeap<Reverse<Timer>>>,
    /// When the earliest timer fires, u64::MAX if none (Go's `timer0When`).
    pub(crate) timer0when: AtomicU64,
    /// sysmon's record: schedtick and when it last changed (Go's `sysmontick`).
    pub(crate) sysmon_tick: AtomicU32,
    pub(crate) sysmon_when: AtomicU64,
}

// SAFETY: the UnsafeCell fields (runq worker, gfree) are touched only by the
// M that owns the P (p.m), and ownership of a P passes between Ms only under
// the scheduler lock (pidle list) or the stop-the-world protocol, which order
// the accesses; everything read by other threads is atomic or behind a Mutex.
unsafe impl Sync for P {}
// SAFETY: as above.
unsafe impl Send for P {}

impl P {
    pub fn new(id: usize) -> P {
        let w = Worker::new_fifo();
        let stealer = w.stealer();
        P {
            id,
            status: AtomicU32::new(P_IDLE),
            schedtick: AtomicU32::new(0),
            m: AtomicPtr::new(std::ptr::null_mut()),
            curg: AtomicPtr::new(std::ptr::null_mut()),
            runq: UnsafeCell::new(w),
            stealer,
            runnext: AtomicPtr::new(std::ptr::null_mut()),
            runnext_slept: AtomicPtr::new(std::ptr::null_mut()),
            runnext_sleep_req: AtomicBool::new(false),
            gfree: UnsafeCell::new(Vec::new()),
            gfreecnt: AtomicUsize::new(0),
            timers: Mutex::new(BinaryHeap::new()),
            timer0when: AtomicU64::new(u64::MAX),
            sysmon_tick: AtomicU32::new(0),
            sysmon_when: AtomicU64::new(0),
        }
    }

    pub fn status(&self) -> u32 {
        self.status.load(Ordering::Acquire)
    }
    pub(crate) fn set_status(&self, s: u32) {
        self.status.store(s, Ordering::Release)
    }
    pub fn schedtick(&self) -> u32 {
        self.schedtick.load(Ordering::Relaxed)
    }

    #[allow(clippy::mut_from_ref)]
    fn worker(&self) -> &Worker<GPtr> {
        // SAFETY: only the owner of the P calls this (see the Sync impl).
        unsafe { &*self.runq.get() }
    }

    /// Length of the local ring (runnext not counted), as schedtrace shows it.
    pub fn runqsize(&self) -> usize {
        self.stealer.len()
    }
    pub fn has_runnext(&self) -> bool {
        !self.runnext.load(Ordering::Acquire).is_null()
    }
    /// `runqempty` as the P's owner sees it: no fence (the stealer-side
    /// check below issues a SeqCst fence, which costs as much as the rest of
    /// a Gosched).
    #[inline]
    pub(crate) fn runq_empty_owner(&self) -> bool {
        self.worker().is_empty() && !self.has_runnext()
    }

    /// Go's `runqempty`, from any thread.
    pub fn runq_empty(&self) -> bool {
        self.stealer.is_empty() && !self.has_runnext()
    }
    pub fn gfreecnt(&self) -> usize {
        self.gfreecnt.load(Ordering::Relaxed)
    }
    pub fn timerslen(&self) -> usize {
        self.timers.lock().unwrap().len()
    }

    /// Go's `runqput`: owner only. `next` puts g in runnext and kicks the
    /// old runnext to the tail of the ring.
    #[inline]
    pub(crate) fn runqput(&self, g: GPtr, next: bool, global: &GlobRunq) {
        let mut g = g;
        if next {
            // Only the owner stores a non-null runnext; thieves only swap
            // it to null. So an empty runnext stays empty until our store,
            // and a plain release store suffices (no locked instruction on
            // the channel hand-off path); a full one must be swapped, as a
            // thief may take it meanwhile.
            if self.runnext.load(Ordering::Relaxed).is_null() {
                self.runnext.store(g.0.as_ptr(), Ordering::Release);
                return;
            }
            let old = self.runnext.swap(g.0.as_ptr(), Ordering::AcqRel);
            match NonNull::new(old) {
                None => return,
                Some(old) => g = GPtr(old),
            }
        }
        self.runqput_ring(g, global);
    }

    /// `runqput`'s ring half, out of line.
    #[inline(never)]
    fn runqput_ring(&self, g: GPtr, global: &GlobRunq) {
        let w = self.worker();
        if w.len() < RUNQ_SIZE {
            w.push(g);
            return;
        }
        self.runqputslow(g, global);
    }

    /// `runqput(g, false)` when the caller knows the ring has room (a
    /// `globrunqget` batch into an empty ring): no runnext, no bound check.
    #[inline]
    pub(crate) fn runqput_room(&self, g: GPtr) {
        debug_assert!(self.worker().len() < RUNQ_SIZE);
        self.worker().push(g);
    }

    /// Go's `runqputslow`: the ring is full; move half of it and g to the
    /// global queue in one batch, oldest first.
    fn runqputslow(&self, g: GPtr, global: &GlobRunq) {
        let w = self.worker();
        let mut batch = Vec::with_capacity(RUNQ_SIZE / 2 + 1);
        for _ in 0..RUNQ_SIZE / 2 {
            match w.pop() {
                Some(x) => batch.push(x),
                None => break,
            }
        }
        batch.push(g);
        global.push_batch(&batch);
    }

    /// Go's `runqget`: runnext first (inheritTime = true), then the head.
    pub(crate) fn runqget(&self) -> Option<(GPtr, bool)> {
        if !self.runnext.load(Ordering::Relaxed).is_null() {
            let next = self.runnext.swap(std::ptr::null_mut(), Ordering::AcqRel);
            if let Some(n) = NonNull::new(next) {
                return Some((GPtr(n), true));
            }
        }
        self.worker().pop().map(|g| (g, false))
    }

    /// Go's `runqsteal`: take half of `victim`'s ring into ours and return
    /// one of the stolen Gs; with `steal_runnext`, an empty ring gives up
    /// its runnext.
    ///
    /// A running victim's runnext is taken only after Go's `usleep(3)`
    /// (`runqgrab`: its P is likely about to run that G itself). In
    /// parallel mode the thief sleeps here, as Go's M does; in
    /// deterministic mode (`det`) it asks the driver for the sleep
    /// (`runnext_sleep_req`, None returned) and takes the G on its next
    /// turn if it is still there (Go's CAS on the same `next`).
    pub(crate) fn runqsteal(&self, victim: &P, steal_runnext: bool, det: bool) -> Option<GPtr> {
        loop {
            match victim
                .stealer
                .steal_batch_with_limit_and_pop(self.worker(), RUNQ_SIZE / 2)
            {
                Steal::Success(g) => return Some(g),
                Steal::Retry => continue,
                Steal::Empty => break,
            }
        }
        if steal_runnext {
            let next = victim.runnext.load(Ordering::Acquire);
            if next.is_null() {
                return None;
            }
            if victim.status() == P_RUNNING {
                if det {
                    if self.runnext_slept.load(Ordering::Relaxed) != next {
                        self.runnext_slept.store(next, Ordering::Relaxed);
                        self.runnext_sleep_req.store(true, Ordering::Relaxed);
                        return None;
                    }
                } else {
                    std::thread::sleep(std::time::Duration::from_micros(3));
                }
            }
            // Go's `pp.runnext.cas(next, 0)`: gone (its P ran it, or a newer
            // `go` replaced it) means nothing is stolen this time.
            return victim
                .runnext
                .compare_exchange(
                    next,
                    std::ptr::null_mut(),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .ok()
                .and_then(NonNull::new)
                .map(GPtr);
        }
        None
    }

    /// Go's `globrunqget`: take a fair share of the global queue.
    pub(crate) fn globrunqget(
        &self,
        global: &GlobRunq,
        gomaxprocs: usize,
        max: usize,
    ) -> Option<GPtr> {
        let size = global.len();
        if size == 0 {
            return None;
        }
        let n = crate::globrunq::globrunq_batch(size, gomaxprocs, max);
        let mut first = None;
        let w = self.worker();
        global.pop_n(n, |g| {
            if first.is_none() {
                first = Some(g);
            } else {
                w.push(g);
            }
        });
        first
    }

    /// Go's `gfput`: keep a dead G (and its stack) for reuse; past 64, move
    /// Gs to the global list until 32 remain.
    pub(crate) fn gfput(&self, g: GPtr, global: &Mutex<Vec<GPtr>>) {
        // SAFETY: owner only (see the Sync impl).
        let list = unsafe { &mut *self.gfree.get() };
        list.push(g);
        if list.len() >= 64 {
            let mut gl = global.lock().unwrap();
            while list.len() > 32 {
                gl.push(list.pop().unwrap());
            }
        }
        self.gfreecnt.store(list.len(), Ordering::Relaxed);
    }

    /// Go's `gfget`: a dead G from this P, refilled from the global list.
    pub(crate) fn gfget(&self, global: &Mutex<Vec<GPtr>>) -> Option<GPtr> {
        // SAFETY: owner only (see the Sync impl).
        let list = unsafe { &mut *self.gfree.get() };
        if list.is_empty() {
            let mut gl = global.lock().unwrap();
            while list.len() < 32 {
                match gl.pop() {
                    Some(g) => list.push(g),
                    None => break,
                }
            }
        }
        let g = list.pop();
        self.gfreecnt.store(list.len(), Ordering::Relaxed);
        g
    }

    /// Moves this P's dead-G cache to the global list (the P is destroyed).
    pub(crate) fn gfpurge(&self, global: &Mutex<Vec<GPtr>>) {
        // SAFETY: owner only (see the Sync impl): the world is stopped.
        let list = unsafe { &mut *self.gfree.get() };
        global.lock().unwrap().append(list);
        self.gfreecnt.store(0, Ordering::Relaxed);
    }

    /// Takes every timer off this P (to move them to another).
    pub(crate) fn take_all_timers(&self) -> Vec<Timer> {
        let mut h = self.timers.lock().unwrap();
        let v: Vec<Timer> = std::mem::take(&mut *h).into_iter().map(|t| t.0).collect();
        self.timer0when.store(u64::MAX, Ordering::Release);
        v
    }

    /// Drains every G still queued on this P, runnext first, then the ring
    /// oldest first: the order they would have run in.
    pub(crate) fn drain(&self) -> Vec<GPtr> {
        let mut v = Vec::new();
        if let Some((g, _)) = self.runqget() {
            v.push(g);
        }
        while let Some(g) = self.worker().pop() {
            v.push(g);
        }
        v
    }

    /// Adds a timer (Go's `addtimer` on this P).
    pub(crate) fn addtimer(&self, t: Timer) {
        let mut h = self.timers.lock().unwrap();
        h.push(Reverse(t));
        self.timer0when
            .store(h.peek().map_or(u64::MAX, |t| t.0.when), Ordering::Release);
    }

    /// Pops the timers due at `now` (Go's `runtimer` loop in `checkTimers`).
    pub(crate) fn take_due_timers(&self, now: u64, out: &mut Vec<Timer>) {
        if self.timer0when.load(Ordering::Acquire) > now {
            return;
        }
        let mut h = self.timers.lock().unwrap();
        while let Some(t) = h.peek() {
            if t.0.when > now {
                break;
            }
            out.push(h.pop().unwrap().0);
        }
        self.timer0when
            .store(h.peek().map_or(u64::MAX, |t| t.0.when), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distinct G records for queue tests (never run).
    fn gs(n: usize) -> Vec<GPtr> {
        (0..n)
            .map(|i| {
                let g: &'static G = Box::leak(G::new(std::ptr::null()));
                g.set_goid(i as u64 + 1);
                GPtr::new(g)
            })
            .collect()
    }
    fn ids(v: &[GPtr]) -> Vec<u64> {
        v.iter().map(|g| g.get().goid()).collect()
    }

    #[test]
    fn runnext_takes_priority_and_kicks_old_to_tail() {
        let p = P::new(0);
        let global = GlobRunq::new();
        let g = gs(3);
        p.runqput(g[0], true, &global);
        p.runqput(g[1], true, &global);
        p.runqput(g[2], true, &global);
        // runnext = 3; ring = [1, 2]
        let mut order = Vec::new();
        let mut inherits = Vec::new();
        while let Some((x, inherit)) = p.runqget() {
            order.push(x);
            inherits.push(inherit);
        }
        assert_eq!(ids(&order), vec![3, 1, 2]);
        assert_eq!(inherits, vec![true, false, false]);
        assert!(global.is_empty());
    }

    #[test]
    fn full_ring_moves_half_plus_one_to_global() {
        let p = P::new(0);
        let global = GlobRunq::new();
        let g = gs(RUNQ_SIZE + 1);
        for &x in &g[..RUNQ_SIZE] {
            p.runqput(x, false, &global);
        }
        assert_eq!(p.runqsize(), RUNQ_SIZE);
        assert!(global.is_empty());
        p.runqput(g[RUNQ_SIZE], false, &global);
        // runqputslow: the oldest 128 plus the new G go global, in order.
        assert_eq!(global.len(), RUNQ_SIZE / 2 + 1);
        assert_eq!(p.runqsize(), RUNQ_SIZE / 2);
        let first = global.pop().unwrap();
        assert_eq!(first.get().goid(), 1);
        let (next_local, _) = p.runqget().unwrap();
        assert_eq!(next_local.get().goid(), RUNQ_SIZE as u64 / 2 + 1);
    }

    #[test]
    fn steal_takes_half_rounded_up_and_runnext_only_when_allowed() {
        let victim = P::new(0);
        let thief = P::new(1);
        let global = GlobRunq::new();
        let g = gs(8);
        for &x in &g[..7] {
            victim.runqput(x, false, &global);
        }
        victim.runqput(g[7], true, &global);
        let got = thief.runqsteal(&victim, false, false).unwrap();
        // 7 in the ring: the thief takes 4 (one returned, three queued).
        assert_eq!(thief.runqsize(), 3);
        assert_eq!(victim.runqsize(), 3);
        assert_eq!(got.get().goid(), 1);
        // Drain the victim's ring; runnext stays unless stealing it is allowed.
        while victim.runqsize() > 0 {
            thief.runqsteal(&victim, false, false).unwrap();
        }
        assert!(thief.runqsteal(&victim, false, false).is_none());
        assert!(victim.has_runnext());
        let rn = thief.runqsteal(&victim, true, false).unwrap();
        assert_eq!(rn.get().goid(), 8);
        assert!(!victim.has_runnext());
    }

    #[test]
    fn globrunqget_takes_a_fair_share() {
        let p = P::new(0);
        let global = GlobRunq::new();
        for x in gs(10) {
            global.push(x);
        }
        // gomaxprocs = 4: n = min(10, 10/4 + 1) = 3: one to run, two queued.
        let first = p.globrunqget(&global, 4, 0).unwrap();
        assert_eq!(first.get().goid(), 1);
        assert_eq!(p.runqsize(), 2);
        assert_eq!(global.len(), 7);
        // max = 1 (the 1-in-61 fairness check) takes exactly one.
        let one = p.globrunqget(&global, 4, 1).unwrap();
        assert_eq!(one.get().goid(), 4);
        assert_eq!(p.runqsize(), 2);
    }
}
