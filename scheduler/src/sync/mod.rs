//! Go's `sync` and `sync/atomic` packages on gort's scheduler: `Mutex`,
//! `RWMutex`, `WaitGroup`, `Once`, `Cond`, the `Locker` trait, and the
//! typed atomics of `sync::atomic`.
//!
//! Each type follows Go 1.19's algorithm (see each file's header); every
//! blocking operation parks the goroutine through the runtime semaphores
//! and notify lists of `sema.rs` (`gopark`/`goready`); none blocks an OS
//! thread. Every operation is a safepoint, and in deterministic mode a
//! scheduling point, and each atomic access inside the algorithms is one
//! `step()`, so goroutines on different Ps interleave inside them.
//! Misuse gives Go's texts: `fatal error: sync: unlock of unlocked mutex`
//! (unrecoverable, status 2), `panic: sync: negative WaitGroup counter`.
//!
//! Frames in this module are the `sync` package of goroutine dumps: the
//! traceback shows them (as Go shows `sync.(*Mutex).Lock`), while frames
//! elsewhere in gort are the runtime's and stay hidden, so function names
//! here mirror Go's (`lock_slow` for `lockSlow`, `runtime_semacquire` for
//! the linknamed `sync.runtime_Semacquire`, in `runtime.rs`), and each
//! blocking path is the same chain of calls as Go's.
//!
//! The race detector's annotations are made where Go's `sync` package
//! makes them (race.md §3, `race.rs`), and each lock also reports itself
//! held or released, for the detector's locksets.

pub mod atomic;
mod cond;
mod mutex;
mod once;
pub(crate) mod runtime;
mod rwmutex;
pub mod waitgroup;

pub use cond::Cond;
pub use mutex::{Mutex, STARVATION_THRESHOLD_NS};
#[doc(hidden)]
pub use mutex::{MUTEX_LOCKED, MUTEX_STARVING, MUTEX_WAITER_SHIFT, MUTEX_WOKEN};
pub use once::Once;
pub use rwmutex::{RLocker, RWMutex, RWMUTEX_MAX_READERS};
pub use waitgroup::WaitGroup;

/// Keeps the caller's frame on the stack while the call just before it
/// runs: a call in tail position may be compiled as a jump that replaces
/// the caller's frame (Go never does that), and a goroutine dump would
/// then miss a `sync` frame that Go shows (`sync.(*Mutex).Lock` above
/// `lockSlow`). A compiler fence after the call takes it out of tail
/// position at no run-time cost.
#[inline(always)]
fn keep_frame() {
    std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
}

/// Go's `sync.Locker`: an object that can be locked and unlocked. `Mutex`,
/// `RWMutex` (its write lock) and `RWMutex::rlocker()` implement it.
pub trait Locker {
    fn lock(&self);
    fn unlock(&self);
}
