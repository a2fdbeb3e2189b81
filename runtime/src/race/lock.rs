//! The lock around the detector's state: the runtime's `SpinLock` (a
//! compare-and-swap to take it, a plain release store to give it back;
//! std's `Mutex` also swaps on unlock, to learn whether to wake a waiter,
//! and checks for poisoning: together most of an access's cost in the
//! detector) with the state it guards. Holders never block or yield (the
//! detector makes no scheduler calls), as `SpinLock` requires.

use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};

use gort_scheduler::spinlock::SpinLock;

pub struct RaceLock<T> {
    lock: SpinLock,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through a `RaceGuard`, and at most one
// guard exists at a time (the `SpinLock`, taken with Acquire and given back
// with Release, orders one holder's accesses before the next's).
unsafe impl<T: Send> Sync for RaceLock<T> {}
// SAFETY: as above; moving the lock moves the value.
unsafe impl<T: Send> Send for RaceLock<T> {}

impl<T> RaceLock<T> {
    pub fn new(value: T) -> RaceLock<T> {
        RaceLock {
            lock: SpinLock::new(),
            value: UnsafeCell::new(value),
        }
    }

    #[inline]
    pub fn lock(&self) -> RaceGuard<'_, T> {
        self.lock.lock();
        RaceGuard { lock: self }
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
        self.lock.lock.unlock();
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
