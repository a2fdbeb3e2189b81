//! Claim 3 of the article, second half: `sync.Map`'s lock-free read path.
//!
//! The claim: "`sync.Map.Load` reads the read-only map without the lock
//! while `Store` writes; `-race` misses this race."
//!
//! What gort shows: there is no race to miss. `Load` reaches the entry
//! through atomics (`read.Load()`, `e.p.Load()`) and `Store` updates it
//! with a CAS; atomics are synchronisation to the detector (Go's `-race`
//! treats them as acquire and release), so both detectors, the exact one
//! included, find nothing, on every seed, as Go's `-race` in every run.
//!
//! The Go twin is `demos/go/syncmap_load_store.go`:
//!
//! ```go
//! var m sync.Map
//! m.Store("k", 0)
//! go func() { for i := 0; i < 1000; i++ { m.Store("k", i) } }()
//! go func() { for i := 0; i < 1000; i++ { m.Load("k") } }()
//! ```

use std::sync::Arc;

use gort::{go, new_object, SyncMap, Type, WaitGroup};

use crate::demo::Demo;

pub fn demo() -> Demo {
    Demo {
        name: "syncmap_load_store",
        section: "claim 3b",
        claim: "sync.Map's Load reads without the lock while Store writes: a race -race misses.",
        verdict: "False: Load and Store synchronise through atomics; there is no race, and \
                  neither gort's exact detector nor Go's finds one.",
        twin: Some("syncmap_load_store"),
        ..Demo::new(program)
    }
}

fn program() {
    // Go boxes a stored int in an interface: one small object per Store.
    let int = Type::new("int", 1, &[]);
    let m = Arc::new(SyncMap::new());
    m.store(1, new_object(int));
    let wg = Arc::new(WaitGroup::new());
    wg.add(2);
    {
        let (m, wg) = (m.clone(), wg.clone());
        go!(move || {
            for i in 0..1000u64 {
                let v = new_object(int);
                v.store(0, i);
                m.store(1, v);
            }
            wg.done();
        });
    }
    {
        let (m, wg) = (m.clone(), wg.clone());
        go!(move || {
            for _ in 0..1000 {
                m.load(1);
            }
            wg.done();
        });
    }
    wg.wait();
}
