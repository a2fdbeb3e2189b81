//! Claim 1 of the article: a small map's initialisation.
//!
//! The claim: "a map made with `make(map[K]V)` has no buckets yet
//! (`makemap_small`); the first writes allocate them, and `-race` can
//! miss a race there."
//!
//! What gort shows: Go 1.19 instruments every `mapassign` at its entry
//! (`racewritepc` on the map header), before anything is allocated, so
//! the first writes race on the header like any others: reported on every
//! seed, as Go's `-race` reports it in every run. Without the detector,
//! two single writes rarely overlap: Go's map check fires in a few runs
//! at GOMAXPROCS=2.
//!
//! The Go twin is `demos/go/small_map_init.go`:
//!
//! ```go
//! m := make(map[int]int)
//! for g := 0; g < 2; g++ {
//!     wg.Add(1)
//!     go func(g int) { defer wg.Done(); m[g] = g }(g)
//! }
//! wg.Wait()
//! ```

use std::sync::Arc;

use gort::{go, Map, WaitGroup};

use crate::demo::Demo;

pub fn demo() -> Demo {
    Demo {
        name: "small_map_init",
        section: "claim 1",
        claim: "Writes to a small map right after make (no buckets yet) can escape -race.",
        verdict: "False: every mapassign is instrumented at entry, on the map header; -race \
                  reports it every time.",
        twin: Some("small_map_init"),
        ..Demo::new(program)
    }
}

fn program() {
    let m: Map<i64> = Map::new();
    let wg = Arc::new(WaitGroup::new());
    for g in 0..2i64 {
        wg.add(1);
        let wg = wg.clone();
        go!(move || {
            m.insert(g, g);
            wg.done();
        });
    }
    wg.wait();
}
