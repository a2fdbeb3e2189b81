//! gort-maps: Go 1.19's classic hash map, living in the simulated heap of
//! gort-gc.
//!
//! `hmap` holds the algorithms of map.go on heap words for any key type
//! (creation, lookup, assignment, deletion, clear, growth by doubling and
//! same-size growth, the three concurrent-misuse checks), `bmap` buckets
//! and overflow buckets, `grow`
//! incremental evacuation, `iter` iteration, `fast64` Go's
//! `map_fast64.go` (the int64-key paths, over fixed-size word windows),
//! `mapkey` key hashing, equality and storage (int64, string, multi-word
//! and indirect keys), `maptype` the layout and constants. The typed front
//! ends read like Go: `Map<V>` is `map[int64]V`, `StrMap<V>` is
//! `map[string]V`, `ArrayMap<K, E>` is `map[[K]int64][E]int64` (indirect
//! above 128 bytes); `syncmap` is Go's `sync.Map` (`SyncMap`) built on
//! those maps. Every word the map touches is a heap access and, in
//! deterministic mode, a scheduler step, so goroutines interleave inside
//! `mapassign` and `evacuate`.

pub mod arraymap;
mod bmap;
pub mod fast64;
pub mod grow;
mod grow_fast64;
pub mod hmap;
pub mod iter;
pub mod map;
pub mod mapkey;
pub mod maptype;
mod probe;
pub mod strmap;
pub mod syncmap;

pub use arraymap::{array_map_type, ArrayMap, ArrayMapIter};
pub use hmap::{ElemSlot, HMap, MapStats};
pub use map::{Map, MapElem};
pub use mapkey::KeyArg;
pub use maptype::{MapKey, MapType};
pub use strmap::{StrMap, StrMapIter};
pub use syncmap::SyncMap;

/// Declares this crate's frames the runtime's (hidden in tracebacks, as
/// Go hides `runtime.mapassign`). Called by `gort::Runtime::run`.
pub fn register_frames() {
    gort_scheduler::traceback::register_runtime_dir(file!());
    // sync.Map is Go's sync package: its frames are shown.
    gort_scheduler::traceback::register_sync_file(syncmap::SOURCE_FILE);
}
