//! sync.WaitGroup on gopark/goready (Go's `sync/waitgroup.go`).
//!
//! A counter and a list of waiters behind a spin lock that is held only
//! for a few instructions, and released by the parking G's unlock
//! function after it is off its stack (Go's `unlockf` protocol), so `Done`
//! can never find a waiter that is not parked yet. Waiters show the wait
//! reason `semacquire`, as `WaitGroup.Wait` does in Go 1.19 dumps.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::g::{UnlockFn, WaitReason};
use crate::p::GPtr;
use crate::spinlock::{unlock_addr, SpinLock};

#[derive(Default)]
pub struct WaitGroup {
    counter: AtomicI64,
    lock: SpinLock,
    waiters: UnsafeCell<Vec<GPtr>>,
}

// SAFETY: `waiters` is only touched with `lock` held (acquire/release).
unsafe impl Sync for WaitGroup {}
// SAFETY: as above.
unsafe impl Send for WaitGroup {}

impl WaitGroup {
    pub fn new() -> WaitGroup {
        WaitGroup::default()
    }

    /// Go's `WaitGroup.Add`; panics like Go on a negative counter.
    pub fn add(&self, delta: i64) {
        crate::proc::preempt_point();
        let v = self.counter.fetch_add(delta, Ordering::SeqCst) + delta;
        if v < 0 {
            panic!("sync: negative WaitGroup counter");
        }
        if v > 0 {
            return;
        }
        self.lock.lock();
        // SAFETY: lock held.
        let ws = std::mem::take(unsafe { &mut *self.waiters.get() });
        self.lock.unlock();
        for w in ws {
            crate::proc::goready(w);
        }
    }

    pub fn done(&self) {
        self.add(-1)
    }

    /// Go's `WaitGroup.Wait`: blocks with reason `semacquire` until the
    /// counter is zero.
    #[track_caller]
    pub fn wait(&self) {
        crate::proc::preempt_point();
        if self.counter.load(Ordering::SeqCst) == 0 {
            return;
        }
        self.lock.lock();
        if self.counter.load(Ordering::SeqCst) == 0 {
            self.lock.unlock();
            return;
        }
        // SAFETY: lock held.
        unsafe { &mut *self.waiters.get() }.push(crate::proc::current());
        crate::proc::gopark(
            WaitReason::Semacquire,
            Some(UnlockFn {
                f: unlock_addr,
                arg: &self.lock as *const SpinLock as usize,
            }),
        );
    }
}
