//! The detector's bounded memory: races Go 1.19's `-race` (ThreadSanitizer
//! v3) misses because it forgot the earlier access, which the article
//! does not name. Each demo sits just past one of TSan's limits, where Go
//! stays silent; gort's exact detector still finds the race and says
//! which limit hid it (`gort: SILENT DATA RACE ... silent because ...`).
//! The thresholds are Go 1.19's, measured (../shared/reference/race.md).
//!
//! - `tsan_eviction`: a word has 4 shadow cells; 8 readers of it after an
//!   earlier goroutine's read evict that read's cell, so main's write
//!   races with a read Go no longer remembers (5 readers: reported).
//! - `tsan_recycled`: an earlier writer finished, then 65 more
//!   goroutines start and finish; once more than 64 finished goroutines'
//!   trace parts are queued, the next part allocated (the 65th's, at its
//!   start) takes the writer's, whose stack can then not be restored;
//!   TSan drops the report (64: reported).
//! - `tsan_history`: with Go 1.19's default `GORACE=history_size=0` a
//!   goroutine's trace keeps 3 parts of events; 60,000 accesses after
//!   its write, the write's stack is gone (40,000: reported).
//! - `tsan_slots`: 256 slots are shared over time by goroutines; after
//!   252 goroutines have come and gone (with one collection's two mark
//!   workers), a live goroutine's slot is reused and its write looks
//!   ordered (250: reported).

use std::sync::Arc;
use std::time::Duration;

use gort::config::RaceOptions;
use gort::{go, new_object, Chan, Ptr, Type, WaitGroup};

use crate::demo::Demo;

fn obj(words: usize) -> Ptr {
    new_object(Type::new("main.T", words, &[]))
}

fn wg() -> Arc<WaitGroup> {
    Arc::new(WaitGroup::new())
}

pub fn eviction() -> Demo {
    Demo {
        name: "tsan_eviction",
        section: "gort",
        claim: "(not in the article) 8 readers of a word make -race forget an earlier read.",
        verdict: "True: the earlier read's shadow cell is evicted; Go is silent, gort names \
                  the silent race.",
        twin: Some("tsan_eviction"),
        ..Demo::new(eviction_program)
    }
}

pub fn recycled() -> Demo {
    Demo {
        name: "tsan_recycled",
        section: "gort",
        claim: "(not in the article) After 65 goroutines finish, -race cannot report a race \
                with an earlier finished one.",
        verdict: "True: the finished writer's trace is recycled and TSan drops the report.",
        twin: Some("tsan_recycled"),
        ..Demo::new(recycled_program)
    }
}

pub fn history() -> Demo {
    Demo {
        name: "tsan_history",
        section: "gort",
        claim: "(not in the article) With the default history (GORACE history_size=0), a \
                write 60,000 accesses ago cannot be reported.",
        verdict: "True: the writer's trace no longer holds the write's stack.",
        configure: |c| {
            c.race_opts(RaceOptions {
                history_size: 0,
                ..RaceOptions::default()
            })
        },
        twin: Some("tsan_history"),
        ..Demo::new(history_program)
    }
}

pub fn slots() -> Demo {
    Demo {
        name: "tsan_slots",
        section: "gort",
        claim: "(not in the article) After 252 goroutines come and go, a live goroutine's \
                earlier write is no longer reported.",
        verdict: "True: its slot is reused, so its write looks ordered before the racing one.",
        twin: Some("tsan_slots"),
        ..Demo::new(slots_program)
    }
}

/// Reader A reads x; 8 more readers; main writes x.
fn eviction_program() {
    let k = 8;
    let x = obj(1);
    let w = wg();
    let reader = |w: &Arc<WaitGroup>| {
        w.add(1);
        let w = w.clone();
        go!(move || {
            x.load(0);
            w.done();
        });
    };
    for _ in 0..5 {
        reader(&w);
    }
    gort::sleep(Duration::from_millis(1));
    let hold: Chan<i64> = Chan::new(0);
    let h2 = hold.clone();
    go!(move || {
        x.load(0);
        h2.recv();
    });
    gort::sleep(Duration::from_millis(1));
    for _ in 5..k {
        reader(&w);
    }
    w.wait();
    x.store(0, 1);
    hold.send(0);
}

/// A writes x and finishes; 65 goroutines run and finish one after
/// another; main writes x.
fn recycled_program() {
    let x = obj(1);
    go!(move || x.store(0, 1));
    gort::sleep(Duration::from_millis(1));
    for _ in 0..65 {
        let w = wg();
        w.add(1);
        let w2 = w.clone();
        go!(move || w2.done());
        w.wait();
        gort::sleep(Duration::from_micros(10));
    }
    x.store(0, 2);
}

/// A writes x, then makes 60,000 unrelated accesses; main then writes x.
fn history_program() {
    let n = 60_000;
    let x = obj(1);
    let other = obj(n);
    let hold: Chan<i64> = Chan::new(0);
    let h2 = hold.clone();
    go!(move || {
        x.store(0, 1);
        for i in 0..n {
            other.load(i);
        }
        h2.recv();
    });
    gort::sleep(Duration::from_millis(100));
    x.store(0, 2);
    hold.send(0);
}

/// A writes x and stays alive; 252 goroutines run one after another,
/// each waited for, with one collection; main writes x.
fn slots_program() {
    let x = obj(1);
    let hold: Chan<i64> = Chan::new(0);
    let h2 = hold.clone();
    go!(move || {
        x.store(0, 1);
        h2.recv();
    });
    gort::sleep(Duration::from_millis(1));
    for i in 0..252 {
        if i == 0 {
            gort::gc();
        }
        let w = wg();
        w.add(1);
        let w2 = w.clone();
        go!(move || w2.done());
        w.wait();
    }
    x.store(0, 2);
    hold.send(0);
}
