//! Go's `sync` and `sync/atomic` packages on gort's scheduler.
//!
//! Every blocking operation parks the goroutine (`gopark`/`goready`, through
//! the runtime semaphores of `sema.rs`); none blocks an OS thread. In
//! deterministic mode every operation is a scheduling point.
//!
//! Frames in this module are the `sync` package of goroutine dumps: the
//! traceback shows them (as Go shows `sync.(*Mutex).Lock`), while frames
//! elsewhere in gort are the runtime's and stay hidden, so function names
//! here mirror Go's (`lock_slow` for `lockSlow`, `runtime_semacquire` for
//! the linknamed `sync.runtime_Semacquire`).

pub mod waitgroup;

pub use waitgroup::WaitGroup;
