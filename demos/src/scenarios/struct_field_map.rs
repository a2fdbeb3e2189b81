//! §3.3 of the article: a map in a struct field, shared through a
//! pointer to the struct.
//!
//! The claim: "when the map is reached through a struct pointer (a method
//! `s.inc(k)` doing `s.counts[k]++`, possibly inlined), the detector does
//! not see the map accesses as racing."
//!
//! What gort shows: the race detector instruments the map operations
//! themselves (`racereadpc`/`racewritepc` on the map header inside
//! `mapaccess`/`mapassign`), whatever path led to the map; the struct and
//! the pointer change nothing: reported on every seed, as by Go's `-race`
//! in every run. (`s.counts[k]++` is one `mapassign` in Go; here it is a
//! lookup then an assignment, which races the same way.)
//!
//! The Go twin is `demos/go/struct_field_map.go`:
//!
//! ```go
//! type state struct{ counts map[string]int }
//! func (s *state) inc(k string) { s.counts[k]++ }
//! s := &state{counts: make(map[string]int)}
//! for g := 0; g < 2; g++ {
//!     go func() { for i := 0; i < 1000; i++ { s.inc("k") } }()
//! }
//! ```

use std::sync::Arc;

use gort::rt::HMap;
use gort::{go, new_object, GoString, Ptr, StrMap, Type, WaitGroup};

use crate::demo::Demo;

pub fn demo() -> Demo {
    Demo {
        name: "struct_field_map",
        section: "§3.3",
        claim: "A map in a struct field, shared by pointer (and inlined methods), hides its \
                races from -race.",
        verdict: "False: the map operations are instrumented whatever reaches the map; -race \
                  reports it every time.",
        twin: Some("struct_field_map"),
        ..Demo::new(program)
    }
}

/// `func (s *state) inc(k string) { s.counts[k]++ }`: Go compiles the
/// increment to one `mapassign_faststr` and an add through its result.
#[inline(always)]
fn inc(s: Ptr, k: GoString) {
    let counts: StrMap<i64> = StrMap::from_hmap(HMap(s.load_ptr(0)));
    counts.update_string(k, |n| n + 1);
}

fn program() {
    let state = Type::new("main.state", 1, &[0]);
    let s = new_object(state);
    s.store_ptr(0, StrMap::<i64>::new().hmap().0);
    let wg = Arc::new(WaitGroup::new());
    for _ in 0..2 {
        wg.add(1);
        let wg = wg.clone();
        go!(move || {
            // The constant "k": one string for every call.
            let k = GoString::new("k");
            for _ in 0..1000 {
                inc(s, k);
            }
            wg.done();
        });
    }
    wg.wait();
}
