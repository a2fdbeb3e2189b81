//! `sync.Mutex` (Go's `sync/mutex.go`), with Go 1.19's algorithm.
//!
//! The state word packs `MUTEX_LOCKED` (1), `MUTEX_WOKEN` (2: a woken or
//! spinning goroutine is about to try, so `unlock` need not wake another),
//! `MUTEX_STARVING` (4) and the number of waiters (`state >> 3`); a runtime
//! semaphore (`sema.rs`) parks the waiters.
//!
//! * `lock`: fast path, CAS 0 -> locked. Slow path (`lock_slow`): while the
//!   mutex is locked and not starving, spin a few times if
//!   `runtime_can_spin` allows (setting `MUTEX_WOKEN` so `unlock` does not
//!   wake anyone meanwhile); then CAS in the new state: take the lock if it
//!   is free and not starving, else count ourselves as a waiter and sleep
//!   on the semaphore. A woken waiter does not own the mutex: it competes
//!   with newly arriving goroutines and, if it loses, queues again at the
//!   **front** (`lifo`).
//! * Starvation: a waiter that has waited more than
//!   `STARVATION_THRESHOLD_NS` (1 ms, by `nanotime`: virtual time in
//!   deterministic mode) sets `MUTEX_STARVING`. Then `unlock` hands the
//!   mutex directly to the front waiter (semaphore handoff, the unlocker
//!   yields), newcomers queue at the tail without spinning, and the new
//!   owner fixes up the state (`MUTEX_LOCKED` set, one waiter less). It
//!   leaves starvation mode when it is the last waiter or waited less than
//!   1 ms.
//! * `unlock`: fast path, subtract `MUTEX_LOCKED`; if anything else is
//!   left, `unlock_slow`: a mutex that was not locked is
//!   `fatal error: sync: unlock of unlocked mutex`; in normal mode wake one
//!   waiter unless there are none or someone is already awake or holds
//!   the lock; in starvation mode hand off.
//! * `try_lock`: one CAS, never while locked or starving.
//!
//! In gort, every `lock`, `try_lock` and `unlock` is a safepoint (a
//! scheduling point in deterministic mode), and each atomic access to the
//! state word is one `step()`, so deterministic mode interleaves goroutines
//! inside the algorithm too, as two CPUs would. Spinning follows Go's
//! rules in both modes (see `runtime.rs`; in deterministic mode each spin
//! is a step, so the owner can run meanwhile).
//!
//! `Mutex` implements `Locker` with the same code as its inherent methods
//! (not a forwarding call), so a dump of a goroutine blocked through a
//! `Locker` (in `Cond::wait`) shows exactly Go's frames.

use std::sync::atomic::{AtomicI32, Ordering};

use super::runtime::{
    fatal, runtime_can_spin, runtime_do_spin, runtime_nanotime, runtime_semacquire_mutex,
    runtime_semrelease, throw,
};
use super::{keep_frame, Locker};
use crate::proc::{preempt_point, step};
use crate::sema::Sema;

/// The mutex is locked.
#[doc(hidden)]
pub const MUTEX_LOCKED: i32 = 1;
/// A goroutine was woken (or is spinning) and will try to take the lock.
#[doc(hidden)]
pub const MUTEX_WOKEN: i32 = 2;
/// The mutex is in starvation mode.
#[doc(hidden)]
pub const MUTEX_STARVING: i32 = 4;
/// The waiter count starts at this bit.
#[doc(hidden)]
pub const MUTEX_WAITER_SHIFT: u32 = 3;
/// Go's `starvationThresholdNs`: a waiter blocked longer than this switches
/// the mutex to starvation mode.
pub const STARVATION_THRESHOLD_NS: i64 = 1_000_000;

/// A mutual exclusion lock (Go's `sync.Mutex`). `Mutex::new()` (or the
/// default) is an unlocked mutex; it can be a `static`.
///
/// The n'th call to `unlock` synchronizes before the m'th call to `lock`
/// for any n < m. A locked Mutex is not associated with a particular
/// goroutine: one goroutine may lock it and another unlock it.
#[derive(Default)]
pub struct Mutex {
    state: AtomicI32,
    sema: Sema,
}

impl std::fmt::Debug for Mutex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mutex")
            .field("state", &self.state.load(Ordering::Relaxed))
            .finish()
    }
}

/// `lock`'s body, shared by the inherent method and the `Locker` impl so
/// both are one frame deep (Go's `(*Mutex).Lock`).
macro_rules! mutex_lock {
    ($m:expr) => {{
        let m: &Mutex = $m;
        preempt_point();
        // Fast path: grab unlocked mutex.
        step();
        if m.state
            .compare_exchange(0, MUTEX_LOCKED, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            crate::race::sync(crate::race::SyncOp::Acquire, m as *const Mutex as usize);
            crate::race::lock_held(
                m as *const Mutex as usize,
                &[m as *const Mutex as usize],
                true,
            );
            return;
        }
        // Slow path (outlined so that the fast path can be inlined).
        m.lock_slow();
        keep_frame();
    }};
}

/// `unlock`'s body, shared like `mutex_lock!`.
macro_rules! mutex_unlock {
    ($m:expr) => {{
        let m: &Mutex = $m;
        preempt_point();
        // Before the lock is dropped (Go's race.Release(m)).
        crate::race::lock_held(
            m as *const Mutex as usize,
            &[m as *const Mutex as usize],
            false,
        );
        crate::race::sync(crate::race::SyncOp::Release, m as *const Mutex as usize);
        // Fast path: drop lock bit.
        step();
        let new = m
            .state
            .fetch_sub(MUTEX_LOCKED, Ordering::SeqCst)
            .wrapping_sub(MUTEX_LOCKED);
        if new != 0 {
            // Outlined slow path to allow inlining the fast path.
            m.unlock_slow(new);
            keep_frame();
        }
    }};
}

impl Mutex {
    /// An unlocked mutex.
    pub const fn new() -> Mutex {
        Mutex {
            state: AtomicI32::new(0),
            sema: Sema::new(0),
        }
    }

    /// Go's `Lock`: locks the mutex, blocking (reason `semacquire`) until
    /// it is available. Inline, as Go inlines `Lock`'s fast path (a dump
    /// still shows it, as the inlined frame `sync.(*Mutex).Lock(...)`).
    #[track_caller]
    #[inline]
    pub fn lock(&self) {
        mutex_lock!(self)
    }

    /// Go's `TryLock`: locks the mutex if it is free and not promised to a
    /// starving waiter; reports whether it did.
    pub fn try_lock(&self) -> bool {
        preempt_point();
        step();
        let old = self.state.load(Ordering::SeqCst);
        if old & (MUTEX_LOCKED | MUTEX_STARVING) != 0 {
            return false;
        }
        // There may be a goroutine waiting for the mutex, but we are
        // running now and can try to grab the mutex before that goroutine
        // wakes up.
        step();
        if self
            .state
            .compare_exchange(old, old | MUTEX_LOCKED, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return false;
        }
        crate::race::sync(crate::race::SyncOp::Acquire, self as *const Mutex as usize);
        crate::race::lock_held(
            self as *const Mutex as usize,
            &[self as *const Mutex as usize],
            true,
        );
        true
    }

    #[inline(never)]
    #[track_caller]
    fn lock_slow(&self) {
        let mut wait_start_time: i64 = 0;
        let mut starving = false;
        let mut awoke = false;
        let mut iter = 0;
        step();
        let mut old = self.state.load(Ordering::SeqCst);
        loop {
            // Don't spin in starvation mode, ownership is handed off to
            // waiters so we won't be able to acquire the mutex anyway.
            if old & (MUTEX_LOCKED | MUTEX_STARVING) == MUTEX_LOCKED && runtime_can_spin(iter) {
                // Active spinning makes sense. Try to set the woken flag to
                // inform Unlock to not wake other blocked goroutines.
                if !awoke && old & MUTEX_WOKEN == 0 && old >> MUTEX_WAITER_SHIFT != 0 {
                    step();
                    if self
                        .state
                        .compare_exchange(
                            old,
                            old | MUTEX_WOKEN,
                            Ordering::SeqCst,
                            Ordering::SeqCst,
                        )
                        .is_ok()
                    {
                        awoke = true;
                    }
                }
                runtime_do_spin();
                iter += 1;
                step();
                old = self.state.load(Ordering::SeqCst);
                continue;
            }
            let mut new = old;
            // Don't try to acquire a starving mutex: new arriving
            // goroutines must queue.
            if old & MUTEX_STARVING == 0 {
                new |= MUTEX_LOCKED;
            }
            if old & (MUTEX_LOCKED | MUTEX_STARVING) != 0 {
                new = new.wrapping_add(1 << MUTEX_WAITER_SHIFT);
            }
            // The current goroutine switches the mutex to starvation mode.
            // But if the mutex is currently unlocked, don't do the switch:
            // Unlock expects that a starving mutex has waiters, which will
            // not be true in this case.
            if starving && old & MUTEX_LOCKED != 0 {
                new |= MUTEX_STARVING;
            }
            if awoke {
                // The goroutine has been woken from sleep, so we need to
                // reset the flag in either case.
                if new & MUTEX_WOKEN == 0 {
                    throw("sync: inconsistent mutex state");
                }
                new &= !MUTEX_WOKEN;
            }
            step();
            match self
                .state
                .compare_exchange(old, new, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => {
                    if old & (MUTEX_LOCKED | MUTEX_STARVING) == 0 {
                        break; // locked the mutex with CAS
                    }
                    // If we were already waiting before, queue at the front
                    // of the queue.
                    let queue_lifo = wait_start_time != 0;
                    if wait_start_time == 0 {
                        wait_start_time = runtime_nanotime();
                    }
                    runtime_semacquire_mutex(&self.sema, queue_lifo, 1);
                    starving =
                        starving || runtime_nanotime() - wait_start_time > STARVATION_THRESHOLD_NS;
                    step();
                    old = self.state.load(Ordering::SeqCst);
                    if old & MUTEX_STARVING != 0 {
                        // This goroutine was woken and the mutex is in
                        // starvation mode: ownership was handed off to us,
                        // but the state is inconsistent: MUTEX_LOCKED is
                        // not set and we are still counted as a waiter.
                        // Fix that.
                        if old & (MUTEX_LOCKED | MUTEX_WOKEN) != 0 || old >> MUTEX_WAITER_SHIFT == 0
                        {
                            throw("sync: inconsistent mutex state");
                        }
                        let mut delta = MUTEX_LOCKED - (1 << MUTEX_WAITER_SHIFT);
                        if !starving || old >> MUTEX_WAITER_SHIFT == 1 {
                            // Exit starvation mode. Critical to do it here
                            // and consider wait time: starvation mode is so
                            // inefficient that two goroutines can go
                            // lock-step infinitely once they switch the
                            // mutex to starvation mode.
                            delta -= MUTEX_STARVING;
                        }
                        step();
                        self.state.fetch_add(delta, Ordering::SeqCst);
                        break;
                    }
                    awoke = true;
                    iter = 0;
                }
                Err(_) => {
                    step();
                    old = self.state.load(Ordering::SeqCst);
                }
            }
        }
        crate::race::sync(crate::race::SyncOp::Acquire, self as *const Mutex as usize);
        crate::race::lock_held(
            self as *const Mutex as usize,
            &[self as *const Mutex as usize],
            true,
        );
    }

    /// Go's `Unlock`: unlocks the mutex. Unlocking a mutex that is not
    /// locked is `fatal error: sync: unlock of unlocked mutex`. Inline,
    /// like Go's `Unlock` fast path.
    #[track_caller]
    #[inline]
    pub fn unlock(&self) {
        mutex_unlock!(self)
    }

    #[inline(never)]
    #[track_caller]
    fn unlock_slow(&self, new: i32) {
        if new.wrapping_add(MUTEX_LOCKED) & MUTEX_LOCKED == 0 {
            fatal("sync: unlock of unlocked mutex");
        }
        if new & MUTEX_STARVING == 0 {
            let mut old = new;
            loop {
                // If there are no waiters or a goroutine has already been
                // woken or grabbed the lock, no need to wake anyone. In
                // starvation mode ownership is directly handed off from the
                // unlocking goroutine to the next waiter. We are not part
                // of this chain, since we did not observe MUTEX_STARVING
                // when we unlocked the mutex above. So get off the way.
                if old >> MUTEX_WAITER_SHIFT == 0
                    || old & (MUTEX_LOCKED | MUTEX_WOKEN | MUTEX_STARVING) != 0
                {
                    return;
                }
                // Grab the right to wake someone.
                let new = (old - (1 << MUTEX_WAITER_SHIFT)) | MUTEX_WOKEN;
                step();
                if self
                    .state
                    .compare_exchange(old, new, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
                {
                    runtime_semrelease(&self.sema, false, 1);
                    keep_frame();
                    return;
                }
                step();
                old = self.state.load(Ordering::SeqCst);
            }
        } else {
            // Starving mode: hand off mutex ownership to the next waiter,
            // and yield our time slice so that the next waiter can start to
            // run immediately. MUTEX_LOCKED is not set; the waiter will set
            // it after wakeup. But the mutex is still considered locked
            // while MUTEX_STARVING is set, so newcomers won't acquire it.
            runtime_semrelease(&self.sema, true, 1);
            keep_frame();
        }
    }

    /// The raw state word (locked, woken and starving bits, waiters << 3),
    /// for tests and diagnostics.
    #[doc(hidden)]
    pub fn state(&self) -> i32 {
        self.state.load(Ordering::SeqCst)
    }
}

impl Locker for Mutex {
    #[track_caller]
    fn lock(&self) {
        mutex_lock!(self)
    }

    #[track_caller]
    fn unlock(&self) {
        mutex_unlock!(self)
    }
}
