//! The global run queue (Go's `sched.runq`): a FIFO of Gs linked through
//! their `schedlink` field, under its own small lock.
//!
//! Go keeps the global queue as an intrusive list under `sched.lock`;
//! gort does the same, with a spin lock held for a handful of instructions.
//! Every `Gosched` and every preemption goes through this queue, so its cost
//! is on the hot path: a crossbeam `Injector` (the first design) costs about
//! 34 ns per push+steal on this project's machines (two read-modify-writes
//! and a SeqCst fence on each side), this list about 14 ns (one RMW per
//! operation). The size is mirrored in an atomic so `findRunnable` and
//! schedtrace can read it without the lock, as Go reads `sched.runqsize`.

use std::cell::Cell;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::g::G;
use crate::p::GPtr;
use crate::spinlock::SpinLock;

pub struct GlobRunq {
    lock: SpinLock,
    head: Cell<*const G>,
    tail: Cell<*const G>,
    size: AtomicUsize,
}

// SAFETY: head, tail and the Gs' schedlink fields are only touched with
// `lock` held (acquire on lock, release on unlock).
unsafe impl Sync for GlobRunq {}
// SAFETY: as above.
unsafe impl Send for GlobRunq {}

impl Default for GlobRunq {
    fn default() -> Self {
        GlobRunq {
            lock: SpinLock::new(),
            head: Cell::new(ptr::null()),
            tail: Cell::new(ptr::null()),
            size: AtomicUsize::new(0),
        }
    }
}

impl GlobRunq {
    pub fn new() -> GlobRunq {
        GlobRunq::default()
    }

    #[inline]
    fn lock(&self) {
        self.lock.lock();
    }

    #[inline]
    fn unlock(&self) {
        self.lock.unlock();
    }

    /// Number of queued Gs (Go's `sched.runqsize`), read without the lock.
    #[inline]
    pub fn len(&self) -> usize {
        self.size.load(Ordering::Relaxed)
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Go's `globrunqput`: to the tail.
    pub fn push(&self, g: GPtr) {
        self.lock();
        // SAFETY: lock held; the queue owns `g` from now on.
        unsafe { self.push_locked(g) };
        // Only lock holders write the size, so no read-modify-write.
        self.size.store(self.len() + 1, Ordering::Relaxed);
        self.unlock();
    }

    /// Go's `globrunqputbatch`: several Gs, keeping their order.
    pub fn push_batch(&self, gs: &[GPtr]) {
        if gs.is_empty() {
            return;
        }
        self.lock();
        for &g in gs {
            // SAFETY: lock held.
            unsafe { self.push_locked(g) };
        }
        self.size.store(self.len() + gs.len(), Ordering::Relaxed);
        self.unlock();
    }

    /// Go's `globrunqputhead` for a batch: `gs` go to the head, in order
    /// (`gs[0]` runs first).
    pub fn push_head_batch(&self, gs: &[GPtr]) {
        if gs.is_empty() {
            return;
        }
        self.lock();
        for &g in gs.iter().rev() {
            let gp = g.get();
            gp.schedlink.set(self.head.get());
            if self.tail.get().is_null() {
                self.tail.set(gp);
            }
            self.head.set(gp);
        }
        self.size.store(self.len() + gs.len(), Ordering::Relaxed);
        self.unlock();
    }

    /// # Safety
    /// The lock is held and `g` is in no queue.
    unsafe fn push_locked(&self, g: GPtr) {
        let gp = g.get();
        gp.schedlink.set(ptr::null());
        let t = self.tail.get();
        if t.is_null() {
            self.head.set(gp);
        } else {
            // SAFETY: the tail is a queued G, alive for its runtime's life.
            unsafe { (*t).schedlink.set(gp) };
        }
        self.tail.set(gp);
    }

    /// `globrunqput(g)` followed at once by `globrunqget(p, 0)`, under one
    /// lock acquisition: returns the G to run; the rest of the batch goes to
    /// `local` in order.
    pub fn put_then_get(
        &self,
        g: GPtr,
        gomaxprocs: usize,
        mut local: impl FnMut(GPtr),
    ) -> Option<GPtr> {
        self.lock();
        // SAFETY: lock held.
        unsafe { self.push_locked(g) };
        let size = self.len() + 1;
        self.size.store(size, Ordering::Relaxed);
        let n = globrunq_batch(size, gomaxprocs, 0);
        let mut first = None;
        // SAFETY: lock held.
        unsafe {
            self.pop_n_locked(n, |x| {
                if first.is_none() {
                    first = Some(x);
                } else {
                    local(x);
                }
            })
        };
        self.unlock();
        first
    }

    /// Pops up to `n` Gs from the head, calling `f` on each in order.
    pub fn pop_n(&self, n: usize, f: impl FnMut(GPtr)) -> usize {
        if self.is_empty() || n == 0 {
            return 0;
        }
        self.lock();
        // SAFETY: lock held.
        let k = unsafe { self.pop_n_locked(n, f) };
        self.unlock();
        k
    }

    /// # Safety
    /// The lock is held.
    unsafe fn pop_n_locked(&self, n: usize, mut f: impl FnMut(GPtr)) -> usize {
        let mut k = 0;
        while k < n {
            let h = self.head.get();
            if h.is_null() {
                break;
            }
            // SAFETY: lock held; `h` is the queued head G.
            let next = unsafe { (*h).schedlink.get() };
            self.head.set(next);
            if next.is_null() {
                self.tail.set(ptr::null());
            }
            // SAFETY: as above.
            unsafe { (*h).schedlink.set(ptr::null()) };
            // SAFETY: queued Gs are non-null.
            f(GPtr(unsafe { ptr::NonNull::new_unchecked(h as *mut G) }));
            k += 1;
        }
        self.size.store(self.len() - k, Ordering::Relaxed);
        k
    }

    /// Pops the head G.
    pub fn pop(&self) -> Option<GPtr> {
        let mut out = None;
        self.pop_n(1, |g| out = Some(g));
        out
    }
}

/// How many Gs `globrunqget(p, max)` takes from a queue of `size`: a fair
/// share, `min(size, size/gomaxprocs + 1, max if > 0, 128)`.
#[inline]
pub fn globrunq_batch(size: usize, gomaxprocs: usize, max: usize) -> usize {
    // A 64-bit divide costs tens of cycles on this hot path; the common
    // GOMAXPROCS=1 case needs none.
    let mut n = if gomaxprocs == 1 {
        size
    } else {
        size.min(size / gomaxprocs + 1)
    };
    if max > 0 {
        n = n.min(max);
    }
    n.min(crate::p::RUNQ_SIZE / 2)
}
