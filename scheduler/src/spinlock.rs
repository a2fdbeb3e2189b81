//! The small lock gort's runtime structures use (the global run queue,
//! semaphores, WaitGroup), in the role of Go's runtime `mutex`.
//!
//! Held for a handful of instructions, so waiting spins briefly and then
//! yields the OS thread (the holder's thread may have been descheduled).
//! A goroutine may hold one across a park: the parking primitive passes
//! `unlock_addr` as Go's `unlockf`, and the M releases the lock only once
//! the goroutine is off its stack. Never held across any other yield.

use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Default)]
pub struct SpinLock {
    locked: AtomicBool,
}

impl SpinLock {
    pub const fn new() -> SpinLock {
        SpinLock {
            locked: AtomicBool::new(false),
        }
    }

    #[inline]
    pub fn lock(&self) {
        if self
            .locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_slow();
        }
    }

    #[cold]
    fn lock_slow(&self) {
        let mut spins = 0u32;
        loop {
            while self.locked.load(Ordering::Relaxed) {
                spins += 1;
                if spins < 128 {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }

    #[inline]
    pub fn unlock(&self) {
        self.locked.store(false, Ordering::Release);
    }
}

/// An `UnlockFn` body releasing the `SpinLock` at address `arg`.
///
/// # Safety
/// `arg` is the address of a locked `SpinLock` that outlives the park.
pub(crate) unsafe fn unlock_addr(arg: usize) -> bool {
    // SAFETY: see the function contract.
    unsafe { &*(arg as *const SpinLock) }.unlock();
    true
}
