//! `sync.WaitGroup` (Go's `sync/waitgroup.go`), with Go 1.19's algorithm.
//!
//! One 64-bit state word: the counter in the high 32 bits, the number of
//! waiters in the low 32, plus a runtime semaphore the waiters sleep on.
//!
//! * `add(delta)`: add `delta << 32` atomically. A negative counter panics
//!   (`sync: negative WaitGroup counter`); a positive `delta` that lifts
//!   the counter from zero while waiters are counted means `add` raced
//!   with `wait` (`sync: WaitGroup misuse: Add called concurrently with
//!   Wait`). When the counter reaches zero with waiters, nobody can change
//!   the state any more (new `add`s would be that misuse, new `wait`s
//!   return at once), so after one more consistency check the word is
//!   reset to 0 and the semaphore released once per waiter.
//! * `wait`: if the counter is 0, return; else CAS the waiter count up and
//!   sleep on the semaphore (reason `semacquire`). On wakeup the state must
//!   already be 0 again, or the group was reused (a new `add`) before this
//!   `wait` returned: `sync: WaitGroup is reused before previous Wait has
//!   returned`.
//! * `done` is `add(-1)`.
//!
//! The panics are Rust panics, which gort reports as Go's `panic:`. A
//! WaitGroup can be reused once every `wait` of the previous round has
//! returned. Every operation is a safepoint (a scheduling point in
//! deterministic mode) and each atomic access one `step()`.
//!
//! Race detector (race.md §3): `add` with a negative delta (so `done`)
//! release-merges the group; a returning `wait` acquires it; `add` from
//! counter 0 reads the semaphore and the first waiter writes it (so an
//! `add` racing with `wait` shows up as a data race).

use std::sync::atomic::{AtomicU64, Ordering};

use super::keep_frame;
use super::runtime::{runtime_semacquire, runtime_semrelease};
use crate::proc::{preempt_point, step};
use crate::sema::Sema;

/// Waits for a collection of goroutines to finish (Go's `sync.WaitGroup`).
/// The main goroutine calls `add` to set the number of goroutines to wait
/// for; each of them calls `done` when finished; `wait` blocks until all
/// have. `WaitGroup::new()` (or the default) is an empty group.
#[derive(Default)]
pub struct WaitGroup {
    /// Counter (high 32 bits) and waiter count (low 32 bits).
    state: AtomicU64,
    sema: Sema,
}

impl std::fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state.load(Ordering::Relaxed);
        f.debug_struct("WaitGroup")
            .field("counter", &((s >> 32) as i32))
            .field("waiters", &(s as u32))
            .finish()
    }
}

impl WaitGroup {
    /// An empty group (counter 0).
    pub const fn new() -> WaitGroup {
        WaitGroup {
            state: AtomicU64::new(0),
            sema: Sema::new(0),
        }
    }

    /// Go's `Add`: adds `delta` (which may be negative) to the counter.
    /// When it reaches zero, every goroutine blocked in `wait` is released.
    ///
    /// # Panics
    /// If the counter goes negative (`sync: negative WaitGroup counter`),
    /// or on Go's detected misuse (`sync: WaitGroup misuse: Add called
    /// concurrently with Wait`).
    #[track_caller]
    pub fn add(&self, delta: i64) {
        preempt_point();
        if delta < 0 {
            // Synchronize decrements with Wait.
            crate::race::sync(
                crate::race::SyncOp::ReleaseMerge,
                self as *const Self as usize,
            );
        }
        step();
        let d = (delta as u64) << 32;
        let state = self.state.fetch_add(d, Ordering::SeqCst).wrapping_add(d);
        let v = (state >> 32) as i32;
        let w = state as u32;
        if delta > 0 && v as i64 == delta {
            // The first increment must be synchronized with Wait: Go
            // models it as a read of the semaphore, which a concurrent
            // first Wait writes.
            crate::race::read(&self.sema as *const _ as usize, 4);
        }
        if v < 0 {
            panic!("sync: negative WaitGroup counter");
        }
        if w != 0 && delta > 0 && v == delta as i32 {
            panic!("sync: WaitGroup misuse: Add called concurrently with Wait");
        }
        if v > 0 || w == 0 {
            return;
        }
        // This goroutine has set the counter to 0 when waiters > 0. Now
        // there can't be concurrent mutations of the state: Adds must not
        // happen concurrently with Wait, and Wait does not increment the
        // waiters if it sees counter == 0. Still do a cheap sanity check
        // to detect WaitGroup misuse.
        step();
        if self.state.load(Ordering::SeqCst) != state {
            panic!("sync: WaitGroup misuse: Add called concurrently with Wait");
        }
        // Reset the waiters count to 0.
        step();
        self.state.store(0, Ordering::SeqCst);
        for _ in 0..w {
            runtime_semrelease(&self.sema, false, 0);
        }
    }

    /// Go's `Done`: decrements the counter by one.
    #[track_caller]
    pub fn done(&self) {
        self.add(-1);
        keep_frame();
    }

    /// Go's `Wait`: blocks (reason `semacquire`) until the counter is zero.
    ///
    /// # Panics
    /// `sync: WaitGroup is reused before previous Wait has returned` if
    /// `add` started a new round before this `wait` was released.
    #[track_caller]
    pub fn wait(&self) {
        preempt_point();
        loop {
            step();
            let state = self.state.load(Ordering::SeqCst);
            let v = (state >> 32) as i32;
            if v == 0 {
                // Counter is 0, no need to wait.
                crate::race::sync(crate::race::SyncOp::Acquire, self as *const Self as usize);
                return;
            }
            // Increment waiters count.
            step();
            if self
                .state
                .compare_exchange(state, state + 1, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                if state as u32 == 0 {
                    // The first waiter: the write Go pairs with Add's read.
                    crate::race::write(&self.sema as *const _ as usize, 4);
                }
                runtime_semacquire(&self.sema);
                step();
                if self.state.load(Ordering::SeqCst) != 0 {
                    panic!("sync: WaitGroup is reused before previous Wait has returned");
                }
                crate::race::sync(crate::race::SyncOp::Acquire, self as *const Self as usize);
                return;
            }
        }
    }

    /// The counter now (for tests and diagnostics).
    #[doc(hidden)]
    pub fn counter(&self) -> i32 {
        (self.state.load(Ordering::SeqCst) >> 32) as i32
    }
}
