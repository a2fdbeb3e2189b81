//! gort-maps: Go 1.19's classic hash map, living in the simulated heap of
//! gort-gc.
//!
//! Files are named after Go's: `map` holds the algorithms of map.go on heap
//! words for any key type (creation, lookup, assignment, deletion, clear,
//! growth by doubling and same-size growth, the three concurrent-misuse
//! checks), `bmap` its buckets and overflow buckets, `grow` its
//! incremental evacuation, `iter` its iteration; `map_fast64` is Go's
//! `map_fast64.go` (the int64-key paths, over fixed-size word windows) and
//! `grow_fast64` its evacuation; `mapkey` key hashing, equality and
//! storage (int64, string, multi-word and indirect keys), `maptype` the
//! layout and constants (Go's `maptype`). The typed front ends read like
//! Go: `Map<V>` (`intmap`) is `map[int64]V`, `StrMap<V>` is
//! `map[string]V`, `ArrayMap<K, E>` is `map[[K]int64][E]int64` (indirect
//! above 128 bytes); `syncmap` is Go's `sync.Map` (`SyncMap`) built on
//! those maps. Every word the map touches is a heap access and, in
//! deterministic mode, a scheduler step, so goroutines interleave inside
//! `mapassign` and `evacuate`.
pub mod arraymap;
mod bmap;
mod explain_notes;
pub mod grow;
mod grow_fast64;
pub mod intmap;
pub mod iter;
pub mod map;
pub mod map_fast64;
pub mod mapkey;
pub mod maptype;
mod probe;
mod race_fns;
pub mod strmap;
pub mod syncmap;

pub use arraymap::{array_map_type, ArrayMap, ArrayMapIter};
pub use intmap::{Map, MapElem};
pub use map::{ElemSlot, HMap, MapStats};
pub use mapkey::KeyArg;
pub use maptype::{MapKey, MapType};
pub use strmap::{StrMap, StrMapIter};
pub use syncmap::SyncMap;

/// Makes every process-wide type descriptor of the maps (and the heap's)
/// before a runtime's goroutines run, so that no goroutine takes the
/// one-time path that builds one (see `gort_gc::warm_up`). Called by
/// `gort::Runtime::run`; a new lazily built type belongs in this list.
pub fn warm_up() {
    gort_gc::warm_up();
    bmap::mapextra_type();
    bmap::slice_type();
    bmap::ptr_type();
    maptype::int64_type();
    maptype::pointer_type();
    maptype::string_header_type();
    iter::hiter_type();
    map::hmap_type();
    <i64 as MapElem>::map_type();
    <i64 as MapElem>::str_map_type();
    <gort_gc::Ptr as MapElem>::map_type();
    <gort_gc::Ptr as MapElem>::str_map_type();
    syncmap::map_type();
    syncmap::read_only_type();
    syncmap::entry_type();
    syncmap::box_type();
}

/// Declares this crate's frames the runtime's (hidden in tracebacks, as
/// Go hides `runtime.mapassign`). Called by `gort::Runtime::run`.
pub fn register_frames() {
    gort_scheduler::traceback::register_runtime_dir(file!());
    // sync.Map is Go's sync package: its frames are shown.
    gort_scheduler::traceback::register_sync_file(syncmap::SOURCE_FILE);
}
