//! Claim 3 of the article, first half: a map wrapped with a mutex and
//! accessed around it.
//!
//! The claim: "a struct holding a `sync.RWMutex` and a map looks
//! protected to `-race`; a goroutine that writes the map without taking
//! the lock goes unreported."
//!
//! What gort shows: the detector knows nothing of which lock "protects"
//! what; it orders accesses by happens-before, and the bypassing writer
//! has no edge to the locked one: reported on every seed, as by Go's
//! `-race` in every run.
//!
//! The Go twin is `demos/go/rwmutex_bypass.go`:
//!
//! ```go
//! w := &wrapper{m: make(map[string]int)}  // struct{ mu sync.RWMutex; m map[string]int }
//! go func() { for i := 0; i < 100; i++ { w.mu.Lock(); w.m["k"] = i; w.mu.Unlock() } }()
//! go func() { for i := 0; i < 100; i++ { w.m["k"] = -i } }()
//! ```

use std::sync::Arc;

use gort::{go, RWMutex, StrMap, WaitGroup};

use crate::demo::Demo;

pub fn demo() -> Demo {
    Demo {
        name: "rwmutex_bypass",
        section: "claim 3a",
        claim: "A map wrapped with an RWMutex but written around it is not checked by -race.",
        verdict: "False: the bypassing writer has no happens-before edge to the locked one; \
                  -race reports it every time.",
        twin: Some("rwmutex_bypass"),
        ..Demo::new(program)
    }
}

fn program() {
    let mu = Arc::new(RWMutex::new());
    let m: StrMap<i64> = StrMap::new();
    let wg = Arc::new(WaitGroup::new());
    wg.add(2);
    {
        let (mu, wg) = (mu.clone(), wg.clone());
        go!(move || {
            for i in 0..100 {
                mu.lock();
                m.insert("k", i);
                mu.unlock();
            }
            wg.done();
        });
    }
    {
        let wg = wg.clone();
        go!(move || {
            for i in 0..100 {
                m.insert("k", -i);
            }
            wg.done();
        });
    }
    wg.wait();
}
