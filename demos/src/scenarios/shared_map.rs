//! The shared map: two goroutines write one map with no synchronisation.
//!
//! The article's premise: "Go's race detector does not catch every
//! concurrent map write" (its opening question: why is `-race` silent on
//! map races). The plainest map race is where to check it first.
//!
//! What gort shows: the detector reports it on every seed, as Go 1.19's
//! `-race` does in every run; and without the detector, the map's own
//! check (`fatal error: concurrent map writes`) fires when the two
//! writers' `mapassign`s overlap, which needs two Ps: never at
//! GOMAXPROCS=1 (goroutines on one P switch only where Go switches them,
//! never inside `mapassign`), often at 2.
//!
//! The Go twin is `demos/go/shared_map.go`:
//!
//! ```go
//! m := make(map[int]int)
//! for g := 0; g < 2; g++ {
//!     wg.Add(1)
//!     go func(g int) {
//!         defer wg.Done()
//!         for i := 0; i < 1000; i++ { m[i*2+g] = i }
//!     }(g)
//! }
//! wg.Wait()
//! ```

use std::sync::Arc;

use gort::{go, Map, WaitGroup};

use crate::demo::Demo;

pub fn demo() -> Demo {
    Demo {
        name: "shared_map",
        section: "premise",
        claim: "Go's race detector does not catch every concurrent map write.",
        verdict: "False for this program: -race reports it every time; without -race the \
                  map's own check dies with 'concurrent map writes' when the writers overlap \
                  (needs 2 Ps).",
        twin: Some("shared_map"),
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
            for i in 0..1000i64 {
                m.insert(i * 2 + g, i);
            }
            wg.done();
        });
    }
    wg.wait();
}
