//! Claim 4 of the article: C code writing Go memory through cgo.
//!
//! The claim: "memory written by C code called through cgo is invisible
//! to `-race`, so a race between C and Go goes unreported."
//!
//! What gort shows: true. C is not instrumented, so the detector sees
//! only the Go side of the race; and every cgo call synchronises with
//! every earlier one (Go's `racecgosync`), so nothing is reported, on
//! every seed, as by Go's `-race` in every run. Both of gort's detectors
//! miss it: the C writes are not in the event stream at all. (The
//! article casts the map variable itself to `*C.int`; writing a map
//! header from C would corrupt it, so the twin writes a plain int field:
//! the same blind spot.)
//!
//! The Go twin is `demos/go/cgo_write.go`:
//!
//! ```go
//! // static void set(int *p, int v) { *p = v; }
//! c := &counter{}   // struct{ n C.int }
//! go func() { for i := 0; i < 1000; i++ { C.set(&c.n, C.int(i)) } }()
//! go func() { for i := 0; i < 1000; i++ { c.n = C.int(-i) } }()
//! ```

use std::sync::Arc;

use gort::race::cgo_call;
use gort::{go, new_object, Type, WaitGroup};

use crate::demo::Demo;

pub fn demo() -> Demo {
    Demo {
        name: "cgo_write",
        section: "claim 4",
        claim: "C code called through cgo that writes Go memory races unseen by -race.",
        verdict: "True: C is not instrumented, so neither Go's detector nor gort's exact one \
                  sees the C side.",
        twin: Some("cgo_write"),
        ..Demo::new(program)
    }
}

fn program() {
    let counter = Type::new("main.counter", 1, &[]);
    let c = new_object(counter);
    let wg = Arc::new(WaitGroup::new());
    wg.add(2);
    {
        let wg = wg.clone();
        go!(move || {
            for i in 0..1000u64 {
                cgo_call(|| c.store(0, i));
            }
            wg.done();
        });
    }
    {
        let wg = wg.clone();
        go!(move || {
            for i in 0..1000u64 {
                c.store(0, i.wrapping_neg());
            }
            wg.done();
        });
    }
    wg.wait();
}
