//! `sync.Once` (Go's `sync/once.go`): run a function exactly once.
//!
//! A `done` flag and a `Mutex`. `do` checks `done` with an atomic load (the
//! fast path once `f` has run); otherwise `do_slow` takes the mutex,
//! re-checks `done`, runs `f` and only then sets `done`, so every `do` that
//! returns has seen `f` complete: a concurrent caller blocks on the mutex
//! until `f` returns (a plain CAS on `done` would let it return before `f`
//! finished).
//!
//! Go sets `done` and unlocks in deferred calls, so a panicking `f` still
//! counts as done and releases the mutex before the panic goes on. gort
//! does the same by catching the panic inside `do_slow`, storing `done`,
//! unlocking, and resuming the unwind with the same payload (Go's deferred
//! calls); `goexit` from `f` is handled alike. Catching first, instead of
//! unlocking in a destructor during unwinding, keeps a goroutine from
//! switching (and possibly changing OS thread) in the middle of an
//! unwind.
//!
//! Race detector (race.md §3): the synchronisation is the atomic `done`
//! (store: release, load: acquire) and the mutex.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, Ordering};

use super::{keep_frame, Mutex};
use crate::proc::{preempt_point, step};

/// An object that performs exactly one action (Go's `sync.Once`).
/// `Once::new()` (or the default) has not run it yet; it can be a
/// `static`.
#[derive(Debug, Default)]
pub struct Once {
    /// Whether the action has been performed. First in the struct, as in
    /// Go, where that makes the hot-path load cheapest.
    done: AtomicU32,
    m: Mutex,
}

impl Once {
    pub const fn new() -> Once {
        Once {
            done: AtomicU32::new(0),
            m: Mutex::new(),
        }
    }

    /// Go's `Do`: calls `f` if and only if `do` is being called for the
    /// first time for this `Once`. No call returns until the one call to
    /// `f` has returned. If `f` panics, `do` considers it returned: later
    /// calls return without calling `f`.
    ///
    /// (`do` is a Rust keyword: call it as `once.r#do(|| ...)`.)
    #[track_caller]
    pub fn r#do<F: FnOnce()>(&self, f: F) {
        preempt_point();
        step();
        crate::race::atomic(&self.done as *const _ as usize, 4, true, false);
        if self.done.load(Ordering::SeqCst) == 0 {
            // Outlined slow path to allow inlining of the fast path.
            self.do_slow(f);
            keep_frame();
        }
    }

    #[inline(never)]
    #[track_caller]
    fn do_slow<F: FnOnce()>(&self, f: F) {
        // The `sync` package's own lock: edges as in Go, but not a lock of
        // the program's for the detector's locksets.
        {
            let _sync = crate::race::RuntimeGuard::enter_sync_pkg();
            self.m.lock();
        }
        let mut result = Ok(());
        step();
        if self.done.load(Ordering::Relaxed) == 0 {
            result = catch_unwind(AssertUnwindSafe(f));
            // Go: defer atomic.StoreUint32(&o.done, 1)
            step();
            crate::race::atomic(&self.done as *const _ as usize, 4, false, true);
            self.done.store(1, Ordering::SeqCst);
        }
        // Go: defer o.m.Unlock()
        {
            let _sync = crate::race::RuntimeGuard::enter_sync_pkg();
            self.m.unlock();
        }
        if let Err(payload) = result {
            resume_unwind(payload);
        }
    }

    /// Whether the action has been performed (for tests and diagnostics).
    #[doc(hidden)]
    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::SeqCst) != 0
    }
}
