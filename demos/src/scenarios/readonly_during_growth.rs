//! §3.1 of the article: a "read-only" goroutine during growth.
//!
//! The claim: "a goroutine that only reads a map still writes to it while
//! the map grows (it helps evacuate, `growWork`), and that hidden write
//! escapes `-race`."
//!
//! What gort shows: in Go 1.19 only writes (`mapassign`, `mapdelete`)
//! call `growWork`; a lookup reads `oldbuckets` when the bucket is not
//! evacuated yet and never moves anything. The reader races as a reader,
//! and that read/write race is reported on every seed, as by Go's `-race`
//! in every run. Without the detector, the lookup's check (`concurrent
//! map read and map write`) needs the reader inside a lookup while the
//! writer holds `hashWriting`: plain at GOMAXPROCS=2, Go 1.19 showed it
//! in 0-1 of 20 runs (6 of 200), and in about half of its `-race` runs.
//! The reader's lookups of the still empty map return before that check
//! (`count` is 0), and the writer's first insert, beside the reader's
//! busy P, pays a TLB shootdown (`gort_gc`'s page touches) that outlasts
//! the reader's loop in most runs where the writer starts in time.
//!
//! The Go twin is `demos/go/readonly_during_growth.go`:
//!
//! ```go
//! m := make(map[int]int)
//! go func() { for i := 0; i < 5000; i++ { m[i] = i } }()
//! go func() { s := 0; for i := 0; i < 5000; i++ { s += m[i] }; _ = s }()
//! ```

use std::sync::Arc;

use gort::{go, Map, WaitGroup};

use crate::demo::Demo;

pub fn demo() -> Demo {
    Demo {
        name: "readonly_during_growth",
        section: "§3.1",
        claim:
            "A read-only goroutine writes during growth (growWork), and that write escapes -race.",
        verdict: "False: lookups never evacuate in Go 1.19; the reader's read/write race is \
                  reported every time.",
        twin: Some("readonly_during_growth"),
        ..Demo::new(program)
    }
}

fn program() {
    let m: Map<i64> = Map::new();
    let wg = Arc::new(WaitGroup::new());
    wg.add(2);
    {
        let wg = wg.clone();
        go!(move || {
            for i in 0..5000i64 {
                m.insert(i, i);
            }
            wg.done();
        });
    }
    {
        let wg = wg.clone();
        go!(move || {
            let mut s = 0i64;
            for i in 0..5000i64 {
                s = s.wrapping_add(m.get(i).unwrap_or(0));
            }
            std::hint::black_box(s);
            wg.done();
        });
    }
    wg.wait();
}
