//! §2.5 of the article: 1000 goroutines each store a new pointer in one
//! map while `runtime.GC()` runs.
//!
//! The claim: "the GC's concurrent marking can miss entries being written
//! into a map during growth, so live values are freed" — and that `-race`
//! cannot see it, because the collector is not instrumented.
//!
//! What gort shows: no entry is ever lost (every entry is checked after a
//! second collection; gort's collector is Go 1.19's, with the hybrid
//! barrier on every pointer store of the map, evacuation included). What
//! does happen is the program's own map race: `-race` reports it, and the
//! map check dies with `concurrent map writes` at GOMAXPROCS=2 (on Go
//! 1.19: 0 of 20 runs at 1 P, most runs at 2). The loss the article
//! describes needs a broken barrier: see the barrier lab.
//!
//! The Go twin is `demos/go/gc_during_writes.go`:
//!
//! ```go
//! m := make(map[int]*int)
//! for i := 0; i < 1000; i++ {
//!     wg.Add(1)
//!     go func(k int) { defer wg.Done(); v := new(int); *v = k; m[k] = v }(i)
//! }
//! runtime.GC()
//! wg.Wait()
//! runtime.GC()
//! // then every m[k] is checked; "LOST n" if one is missing or wrong
//! ```

use std::sync::Arc;

use gort::{gc, go, new_object, Map, Ptr, Type, WaitGroup};

use crate::demo::Demo;

pub fn demo() -> Demo {
    Demo {
        name: "gc_during_writes",
        section: "§2.5",
        claim: "GC marking during map growth can miss entries written concurrently, so live \
                values are freed, and -race cannot see it.",
        verdict: "False: no entry is lost (hybrid barrier on every map store); the program's \
                  own map race is reported by -race and dies with 'concurrent map writes' at 2 Ps.",
        twin: Some("gc_during_writes"),
        ..Demo::new(program)
    }
}

fn program() {
    let int = Type::new("int", 1, &[]);
    let m: Map<Ptr> = Map::new();
    let wg = Arc::new(WaitGroup::new());
    for k in 0..1000i64 {
        wg.add(1);
        let wg = wg.clone();
        go!(move || {
            let v = new_object(int);
            v.store(0, k as u64);
            m.insert(k, v);
            wg.done();
        });
    }
    gc();
    wg.wait();
    gc();
    let lost = (0..1000i64)
        .filter(|&k| m.get(k).is_none_or(|v| v.load(0) != k as u64))
        .count();
    if lost > 0 {
        gort::println!("LOST {lost}");
    }
}
