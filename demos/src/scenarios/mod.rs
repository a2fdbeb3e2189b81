//! Every demo, one module each; `all()` lists them in the order the
//! showcase prints them: the article's scenarios first, then what the
//! article does not name (masking by unrelated synchronisation, the
//! detector's bounded memory).

pub mod barrier_lab;
pub mod cgo_write;
pub mod gc_during_writes;
pub mod inlined_close;
pub mod masking;
pub mod readonly_during_growth;
pub mod rwmutex_bypass;
pub mod shared_map;
pub mod small_map_init;
pub mod struct_field_map;
pub mod syncmap_load_store;
pub mod tsan_limits;

use crate::demo::Demo;

/// Every demo.
pub fn all() -> Vec<Demo> {
    vec![
        shared_map::demo(),
        small_map_init::demo(),
        gc_during_writes::demo(),
        rwmutex_bypass::demo(),
        syncmap_load_store::demo(),
        cgo_write::demo(),
        readonly_during_growth::demo(),
        struct_field_map::demo(),
        inlined_close::demo(),
        barrier_lab::demo(),
        masking::logger(),
        masking::channel(),
        tsan_limits::eviction(),
        tsan_limits::recycled(),
        tsan_limits::history(),
        tsan_limits::slots(),
    ]
}

/// The demo called `name`.
pub fn find(name: &str) -> Option<Demo> {
    all().into_iter().find(|d| d.name == name)
}
