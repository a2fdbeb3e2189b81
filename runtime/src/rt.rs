//! Runtime internals for building runtime layers; not for scenarios.
//!
//! A scenario is written against the crate's top level (`go!`, `Chan`,
//! `select!`, `Mutex`, `Map`, `new_object`, `gc`, `Runtime`, ...), which
//! mirrors what a Go program can call. This module holds what only code
//! that extends or tests the runtime itself needs, the counterparts of Go's
//! unexported `runtime` internals: parking and readying goroutines
//! (`gopark`/`goready`, to build a new blocking primitive), the step hook
//! lower layers call at each simulated memory access, stopping the world,
//! the runtime semaphore, map internals (`HMap`, `MapType`, `KeyArg`), the
//! collector's debug counters and poison value, the scheduler settings a
//! `Config` resolves to, and the pieces the `go!`, `select!` and `println!`
//! macros expand to. Calling these from a scenario can break invariants a
//! Go program cannot break (a goroutine parked with nobody to ready it, a
//! world left stopped); they are public so that runtime layers outside this
//! crate and the runtime's own tests can use them.
//!
//! ```
//! use gort::rt::{current, gopark, goready, step, stop_the_world, HMap, Sema};
//! ```
//!
//! They are not at the top level, where a scenario author looks:
//!
//! ```compile_fail
//! use gort::gopark;
//! ```

/// Scheduler settings as `Config::sched` resolves them, and the captured
/// output buffers of a runtime built with `Config::capture_output`.
pub use gort_scheduler::config::{Captured, DetConfig, Mode, Output, SchedConfig};

/// Goroutine parking (Go's `gopark`/`goready`), the current G, the reasons
/// dumps show, and the scheduler's hooks: the step at each simulated
/// memory access and the P the caller runs on.
pub use gort_scheduler::{current, gopark, goready, procid, step, GPtr, UnlockFn, WaitReason};

/// Go's stop-the-world (`stopTheWorld`/`startTheWorld`) and the runtime
/// semaphore `sync` is built on (`runtime_Semacquire`/`Semrelease`).
pub use gort_scheduler::{start_the_world, stop_the_world, stw_reason, world_stopped, Sema};

/// What `go!`, `select!` and `println!` expand to.
pub use gort_scheduler::{
    block, go_with, selectgo, start_info, write_stderr, write_stdout, RecvCase, SelectCase,
    SendCase, StartInfo,
};

/// The collector's settings and debug hooks (what stacks kept; an object
/// to lose on purpose, for the `gccheckmark` verifier), and the word freed
/// memory is poisoned with.
pub use gort_gc::{
    gc_debug_stack_hits, gc_debug_take_stack_hits, gc_debug_unmark, GcConfig, POISON,
};

/// The write barrier: its helpers for runtime code that copies or clears
/// typed heap memory (Go's `typedmemmove`, `typedmemclr`,
/// `memclrHasPointers`, `bulkBarrierPreWrite`), and the debug hooks tests
/// use to watch it (turn it on without a collection, record every
/// enqueue as `(slot, old, new)`, count buffered pointers).
pub use gort_gc::mbarrier::{
    bulk_barrier_pre_write, debug_record_barriers, debug_set_write_barrier, debug_take_barriers,
    memclr_has_pointers, typedmemclr, typedmemmove, typedmemmove_words, write_barrier_enabled,
    BulkSrc,
};
pub use gort_gc::mwbbuf::debug_wbbuf_len;

/// One step of a run's explain log (`Config::explain`).
pub use gort_scheduler::explain::Event as ExplainEvent;

/// Map internals: a map header as a heap pointer, map types, key arguments.
pub use gort_maps::{array_map_type, HMap, KeyArg, MapType};

/// Whether goroutine stacks have kernel guard pages (Linux >= 6.13); see
/// gort-scheduler's `stack` module.
pub fn guard_pages_supported() -> bool {
    gort_scheduler::stack::guard_pages_supported()
}
