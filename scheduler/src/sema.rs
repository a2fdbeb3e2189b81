//! A runtime semaphore (Go's `sema.go`: `semacquire` / `semrelease`), the
//! building block of gort's blocking primitives.
//!
//! A count plus a FIFO of parked goroutines, guarded by a spin lock held for
//! a few instructions. A goroutine that must wait enqueues itself and parks
//! with an unlock function that releases the lock only after it is off its
//! stack (Go's `unlockf`), so a releaser never finds a half-parked waiter.
//! Waiters show the wait reason `semacquire`, as in Go 1.19 dumps.
//! Simulated differently from Go: one FIFO per semaphore instead of Go's
//! 251-bucket table of treaps keyed by address (the order of wakeups is the
//! same: FIFO per address).

use std::cell::UnsafeCell;
use std::collections::VecDeque;

use crate::g::{UnlockFn, WaitReason};
use crate::p::GPtr;
use crate::spinlock::{unlock_addr, SpinLock};

#[derive(Default)]
pub struct Sema {
    lock: SpinLock,
    /// Count and waiters; touched only with `lock` held.
    inner: UnsafeCell<(u64, VecDeque<GPtr>)>,
}

// SAFETY: `inner` is only accessed with `lock` held (acquire/release).
unsafe impl Sync for Sema {}
// SAFETY: as above.
unsafe impl Send for Sema {}

impl Sema {
    pub fn new(count: u64) -> Sema {
        Sema {
            lock: SpinLock::new(),
            inner: UnsafeCell::new((count, VecDeque::new())),
        }
    }

    /// Go's `semacquire`: take one unit, parking until one is released.
    #[track_caller]
    pub fn acquire(&self) {
        crate::proc::preempt_point();
        self.lock.lock();
        // SAFETY: lock held.
        let inner = unsafe { &mut *self.inner.get() };
        if inner.0 > 0 {
            inner.0 -= 1;
            self.lock.unlock();
            return;
        }
        inner.1.push_back(crate::proc::current());
        crate::proc::gopark(
            WaitReason::Semacquire,
            Some(UnlockFn {
                f: unlock_addr,
                arg: &self.lock as *const SpinLock as usize,
            }),
        );
    }

    /// Go's `semrelease`: wake the first waiter (it goes to the caller's
    /// runnext), or add a unit.
    pub fn release(&self) {
        crate::proc::preempt_point();
        self.lock.lock();
        // SAFETY: lock held.
        let inner = unsafe { &mut *self.inner.get() };
        let w = inner.1.pop_front();
        if w.is_none() {
            inner.0 += 1;
        }
        self.lock.unlock();
        if let Some(w) = w {
            crate::proc::goready(w);
        }
    }
}
