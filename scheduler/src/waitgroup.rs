//! sync.WaitGroup on gopark/goready (Go's `sync/waitgroup.go`).
//!
//! A counter and a list of waiters behind a spin lock that is held only
//! for a few instructions, and released by the parking G's unlock
//! function after it is off its stack (Go's `unlockf` protocol), so `Done`
//! can never find a waiter that is not parked yet. Waiters show the wait
//! reason `semacquire`, as `WaitGroup.Wait` does in Go 1.19 dumps.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use crate::g::{UnlockFn, WaitReason};
use crate::p::GPtr;

#[derive(Default)]
pub struct WaitGroup {
    counter: AtomicI64,
    lock: AtomicBool,
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

    fn lock(&self) {
        while self
            .lock
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::hint::spin_loop();
        }
    }
    fn unlock(&self) {
        self.lock.store(false, Ordering::Release);
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
        self.lock();
        // SAFETY: lock held.
        let ws = std::mem::take(unsafe { &mut *self.waiters.get() });
        self.unlock();
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
        self.lock();
        if self.counter.load(Ordering::SeqCst) == 0 {
            self.unlock();
            return;
        }
        // SAFETY: lock held.
        unsafe { &mut *self.waiters.get() }.push(crate::proc::current());
        crate::proc::gopark(
            WaitReason::Semacquire,
            Some(UnlockFn {
                f: unlock_wg,
                arg: self as *const WaitGroup as usize,
            }),
        );
    }
}

/// # Safety
/// `arg` is the WaitGroup a G is parking on; it outlives the wait.
unsafe fn unlock_wg(arg: usize) -> bool {
    // SAFETY: see the contract.
    unsafe { &*(arg as *const WaitGroup) }.unlock();
    true
}
