//! gort-gc: the simulated heap and its garbage collector.
//!
//! # The heap (Go 1.19's malloc.go, mheap.go, mcentral.go, mcache.go)
//!
//! Memory comes in 64 MiB arenas bump-allocated from bumpalo (`arena`),
//! carved into spans of 8 KiB pages (`mspan`). A span holds objects of one
//! of Go's 68 size classes (`sizeclasses`) or one large object. Each P has
//! an mcache (`mcache`) with a current span per size class, so an
//! allocation (`malloc`) takes the next free slot without a lock; a full
//! span goes back to its class's mcentral (`mcentral`), which hands out
//! another, sweeping lazily, or gets a fresh span from the heap (`mheap`).
//! The heap belongs to one runtime; arenas and their page-to-span tables
//! are process-wide, so any word can be recognised as a heap pointer.
//!
//! # Objects (`object`)
//!
//! A type is a size and a pointer bitmap. Objects are arrays of 64-bit
//! words accessed with relaxed atomics, each access a scheduler `step()`
//! and checked against the object's liveness: a freed object's memory is
//! poisoned, and touching it is a fatal error naming the object, its type,
//! its allocation site, the collection that freed it and the access site;
//! any other stray access is Go's `fatal error: fault`. Pointers (`Ptr`) are real
//! addresses, so goroutine stacks can be scanned conservatively; `Root`s
//! (`roots`) model globals and pointers held outside stacks and heap.
//!
//! # The collector (`mgc`, `mark`, `mgcwork`, `mgcworker`, `mbarrier`, `mwbbuf`, `sweep`, `pacer`)
//!
//! Go 1.19's concurrent mark-sweep: a short stop-the-world for sweep
//! termination, then marking while the program runs (per-P background
//! workers split into dedicated, fractional and idle as Go's pacer splits
//! them, `mgcworker`; assists charged to allocating goroutines; objects
//! allocated black; grey objects in per-drainer buffers and a global list,
//! `mgcwork`; each goroutine stack scanned once, stopped at a safepoint
//! with the `_Gscan` bit), Go's hybrid write barrier on every pointer
//! store into the heap, single and bulk (`mbarrier`, buffered per P in
//! `mwbbuf`), mark termination detected Go's way (a ragged flush of the
//! barrier buffers, then a short stop-the-world), and sweeping in the
//! background (`bgsweep`) and lazily by allocation with Go's `sweepgen`
//! arithmetic. In deterministic mode every unit of mark work is a
//! scheduler step. GOGC paces it (`pacer`), `runtime.GC()` forces it,
//! `GODEBUG=gctrace=1` prints Go's line (`gctrace`), and `MemStats`
//! (`mstats`) reports it. `GODEBUG=wbmode` (gort's own) swaps the
//! barrier for Dijkstra's, Yuasa's or none, to make losses observable.
//! `GODEBUG=gccheckmark=1` verifies every mark (`mcheckmark`): a reachable
//! object left unmarked is a fatal error with its path from a root.

pub mod arena;
pub mod checked;
pub mod gctrace;
pub mod gostring;
pub mod malloc;
pub mod mark;
pub mod mbarrier;
pub mod mcache;
pub mod mcentral;
pub mod mcheckmark;
pub mod mgc;
pub mod mgcwork;
mod mgcworker;
pub mod mheap;
pub mod mspan;
pub mod mstats;
pub mod mwbbuf;
pub mod object;
pub mod pacer;
mod pagetouch;
pub mod roots;
pub mod sizeclasses;
pub mod sweep;

pub use checked::{Obj, Words};
pub use gostring::GoString;
pub use malloc::new_object;
pub use mark::{
    debug_stack_hits as gc_debug_stack_hits, debug_take_stack_hits as gc_debug_take_stack_hits,
};
pub use mbarrier::{
    bulk_barrier_pre_write, debug_record_barriers, debug_set_write_barrier, debug_take_barriers,
    memclr_has_pointers, typedmemclr, typedmemmove, typedmemmove_words, write_barrier_enabled,
    BulkSrc, WbMode,
};
pub use mcheckmark::debug_unmark as gc_debug_unmark;
pub use mgc::{gc, last_cycle, read_mem_stats, CycleStats};
pub use mheap::{init, GcConfig, Heap};
pub use mstats::MemStats;
pub use object::{find_object, Ptr, Type, POISON};
pub use roots::Root;

/// Makes this crate's process-wide lazily built values (type descriptors)
/// before a runtime's goroutines run. Built on first use by a goroutine
/// instead, they would be built by the first runtime of the process only,
/// on its goroutine's stack, and that one-time path leaves stale words a
/// conservative scan can mistake for live pointers: the first run of a
/// seed in a process would differ from its replays. Idempotent and cheap
/// after the first call.
/// An address as gort's reports print it (`Heap::display_addr`: in
/// deterministic mode rebased so that a seed replays it), for the current
/// goroutine's heap; the address itself where there is none.
pub fn display_addr(addr: usize) -> usize {
    mheap::current().map_or(addr, |h| h.display_addr(addr))
}

pub fn warm_up() {
    gostring::warm_up();
    arena::first_arena_or_dummy();
}
