//! The lock around the detector's state. Every instrumented access takes
//! it, and uncontended it must cost little: a compare-and-swap to take
//! it and a plain release store to give it back (std's `Mutex` also swaps
//! on unlock, to learn whether to wake a waiter, and checks for poisoning:
//! together most of an access's cost in the detector). Holders never
//! block or yield (the detector makes no scheduler calls), so a waiter
//! spins, yielding its thread after a while in case the holder's thread
//! was descheduled.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};

pub struct RaceLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through a `RaceGuard`, and at most one
// guard exists at a time (the `locked` flag, taken with Acquire and given
// back with Release, orders one holder's accesses before the next's).
unsafe impl<T: Send> Sync for RaceLock<T> {}
// SAFETY: as above; moving the lock moves the value.
unsafe impl<T: Send> Send for RaceLock<T> {}

impl<T> RaceLock<T> {
    pub fn new(value: T) -> RaceLock<T> {
        RaceLock {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    #[inline]
    pub fn lock(&self) -> RaceGuard<'_, T> {
        if self
            .locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_slow();
        }
        RaceGuard { lock: self }
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
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }
}

/// The held lock; dropping it (also while unwinding) gives it back.
pub struct RaceGuard<'a, T> {
    lock: &'a RaceLock<T>,
}

impl<T> Deref for RaceGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: this guard is the only one (see `Sync`), so no `&mut`
        // to the value exists elsewhere.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for RaceGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this borrow unique.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for RaceGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn threads_take_turns() {
        let l = Arc::new(RaceLock::new(0u64));
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        *l.lock() += 1;
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(*l.lock(), 40_000);
    }
}
