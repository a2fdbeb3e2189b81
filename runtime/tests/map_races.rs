//! Racy map programs in deterministic mode, swept over seeds: every
//! outcome gort produces must be one Go 1.19's map.go can produce. Each
//! test names an interleaving that an earlier gort reached and Go cannot
//! (found by seed before the fix, by no seed after it): a write's exit
//! that set `hashWriting` again instead of clearing it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use gort::{Config, Runtime, StrMap, WaitGroup};

mod common;

/// Two Ps, `seed`'s interleaving, a P switch every `switch` steps on
/// average.
fn det2(seed: u64, switch: u32) -> Config {
    Config::new()
        .gomaxprocs(2)
        .simseed(seed)
        .simswitch(switch)
        .capture_output()
}

/// Runs `body` on a fresh deterministic runtime; returns the exit status
/// and stderr.
fn run_seed<F: FnOnce() + Send + 'static>(cfg: Config, body: F) -> (i32, String) {
    let rt = Runtime::new(cfg);
    let e = common::run(&rt, body);
    (e.status, rt.stderr())
}

/// `go f()` for each closure, then waits for all of them.
fn go_all(fs: Vec<Box<dyn FnOnce() + Send>>) {
    let wg = Arc::new(WaitGroup::new());
    wg.add(fs.len() as i64);
    for f in fs {
        let wg = wg.clone();
        gort::go!(move || {
            f();
            wg.done();
        });
    }
    wg.wait();
}

const HASH_WRITING: u8 = 4;

/// Two goroutines on two Ps each write a string-keyed map (the generic
/// `mapassign`, then `mapdelete`). Go either detects the race
/// (`concurrent map writes`) or lets both finish; then no writer is
/// inside, and since every write ends with `h.flags &^= hashWriting` (the
/// last store to the flags), `hashWriting` is clear. Ending with a flip
/// instead sets it again when the other writer cleared it between the
/// exit's check and its clear, leaving the map "writing" for good.
#[test]
fn racing_writers_never_leave_hash_writing_set() {
    let mut bad = Vec::new();
    let mut detected = 0;
    let mut clean = 0;
    for seed in 0..1000 {
        let flags = Arc::new(AtomicU64::new(u64::MAX));
        let f = flags.clone();
        let (status, err) = run_seed(det2(seed, 4), move || {
            let m: StrMap<i64> = StrMap::new();
            m.insert("a", 0);
            let writer = |base: i64| -> Box<dyn FnOnce() + Send> {
                Box::new(move || {
                    m.insert(&format!("k{base}"), base);
                    m.delete(&format!("k{base}"));
                })
            };
            go_all(vec![writer(0), writer(100)]);
            f.store(m.stats().flags as u64, Ordering::Relaxed);
        });
        match status {
            0 => {
                let fl = flags.load(Ordering::Relaxed) as u8;
                if fl & HASH_WRITING != 0 {
                    bad.push(format!("seed {seed}: both writers done, flags = {fl:#x}"));
                }
                clean += 1;
            }
            2 if err.starts_with("fatal error: concurrent map writes\n") => detected += 1,
            s => bad.push(format!("seed {seed}: status {s}\n{err}")),
        }
    }
    assert!(
        bad.is_empty(),
        "{} runs Go cannot produce (hashWriting left set):\n{}",
        bad.len(),
        bad.join("\n")
    );
    // Both outcomes occur, so the sweep does exercise overlapping writes.
    assert!(
        detected > 0 && clean > 0,
        "{detected} detected, {clean} clean"
    );
}
