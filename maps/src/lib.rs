//! gort-maps: Go 1.19's classic hash map, living in the simulated heap of
//! gort-gc.
//!
//! `hmap` holds the algorithms of map.go on heap words (creation, lookup,
//! assignment, deletion, clear, growth by doubling and same-size growth,
//! incremental evacuation, the three concurrent-misuse checks); `iter`
//! holds iteration; `maptype` the layout and constants; `map` a typed
//! front end (`Map<K, V>`) that reads like Go's `map[K]V`; `syncmap`
//! Go's `sync.Map` (`SyncMap`) built on those maps. Every word the
//! map touches is a heap access and a scheduler step, so deterministic
//! mode can interleave goroutines inside `mapassign` and `evacuate`.

pub mod fast64;
pub mod grow;
pub mod hmap;
pub mod iter;
pub mod map;
pub mod maptype;
pub mod syncmap;

pub use hmap::{HMap, MapStats};
pub use map::{Map, MapElem};
pub use maptype::MapType;
pub use syncmap::SyncMap;

/// Declares this crate's frames the runtime's (hidden in tracebacks, as
/// Go hides `runtime.mapassign`). Called by `gort::Runtime::run`.
pub fn register_frames() {
    gort_scheduler::traceback::register_runtime_dir(file!());
    // sync.Map is Go's sync package: its frames are shown.
    gort_scheduler::traceback::register_sync_file(syncmap::SOURCE_FILE);
}
