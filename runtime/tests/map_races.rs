//! Racy map programs in deterministic mode, swept over seeds: every
//! outcome gort produces must be one Go 1.19's map.go can produce. Each
//! test names an interleaving that an earlier gort reached and Go cannot
//! (found by seed before the fix, by no seed after it): a write's exit
//! that set `hashWriting` again instead of clearing it, a lookup that read
//! `oldbuckets` twice; or an interleaving Go has and an earlier gort did
//! not (a lookup that loaded flags, B and hash0 at once).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use gort::{new_object, Config, GoString, Ptr, Root, Runtime, StrMap, Type, WaitGroup};

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
            // Both writers start together: a short goroutine is otherwise
            // done before the idle second P wakes (Go's wake-up latency).
            let line = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let writer = |base: i64| -> Box<dyn FnOnce() + Send> {
                let line = line.clone();
                Box::new(move || {
                    // Each P's first allocations of a size class make a
                    // fresh span (page faults, charged in deterministic
                    // mode): made before the line, they do not put the
                    // writers microseconds apart.
                    StrMap::<i64>::new().insert(&format!("w{base}"), base);
                    common::start_line(&line, 2);
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

/// A reader looks up string keys (the generic `mapaccess2`) while a
/// writer on the other P makes the 9th insert into fresh maps, each of
/// which grows (B 0 -> 1) and ends its growth inside that insert. Go's
/// reader loads `h.oldbuckets` once (`if c := h.oldbuckets; c != nil`),
/// so a growth ending meanwhile cannot hand it a nil array: the reader
/// either detects the writer (`concurrent map read and map write`) or
/// returns, found or not. Loading it twice, a growth ending between the
/// two loads made the reader index a nil array.
#[test]
fn lookup_racing_the_end_of_a_growth_reads_oldbuckets_once() {
    let (detected, _) = sweep_lookup_racing_growth(0..SEEDS_LOOKUP, 4, KEY_LEN);
    // The reader does meet the writer inside its insert.
    assert!(detected > 0, "no seed detected the race");
}

/// Go's `mapaccess2` loads the flags (for the check), then `hash0` (for
/// the hash), then `B`, then `buckets`, each on its own, and `hashGrow`
/// stores `B` before `buckets`: so a reader can pair the new B with the
/// old, smaller array and index past its end (in Go a wild read; gort's
/// checked access makes it a fatal error naming the bucket array). Loading
/// flags, B and hash0 at once at the check, a reader only ever paired the
/// B of before the writer's insert with either array, and never read past
/// the end: an interleaving of Go's that gort could not reach.
#[test]
fn lookup_loads_b_after_the_hash_as_go_does() {
    // A shorter key than for the test above: the reader's B load then
    // falls inside the writer's hashGrow more often.
    let (_, wild) = sweep_lookup_racing_growth(0..SEEDS_LOOKUP, 4, 800);
    assert!(
        wild > 0,
        "no seed paired the new B with the old bucket array"
    );
}

const SEEDS_LOOKUP: u64 = 200;
/// Maps grown per run (each one chance for the race).
const ROUNDS: usize = 30;
/// Bytes of the reader's key.
const KEY_LEN: usize = 2400;
/// Steps between the writer's publishing a round and its insert.
const WRITER_DELAY: usize = 100;

/// Steps of work outside the map: `n` loads of a heap word.
fn spin(p: Ptr, n: usize) {
    for _ in 0..n {
        std::hint::black_box(p.load(0));
    }
}

/// Runs the scenario for each seed; returns how many runs detected the
/// race, and how many read past the end of the old bucket array (the
/// others end normally).
fn sweep_lookup_racing_growth(
    seeds: std::ops::Range<u64>,
    switch: u32,
    key_len: usize,
) -> (u32, u32) {
    let mut bad = Vec::new();
    let mut detected = 0;
    let mut wild = 0;
    for seed in seeds {
        let (status, err) = run_seed(det2(seed, switch), move || {
            let maps: Vec<StrMap<i64>> = (0..ROUNDS).map(|_| StrMap::new()).collect();
            // The maps and the word live in Rust values the collector does
            // not scan: globals, as far as it is concerned.
            let mut roots: Vec<Root> = maps.iter().map(|m| Root::new(m.hmap().0)).collect();
            for m in &maps {
                for i in 0..8 {
                    m.insert(&format!("{i}"), i);
                }
            }
            // Round j: the writer publishes j, waits a little and makes
            // m[j]'s 9th insert; the reader sees j, waits a varying
            // number of steps (so that the rounds sweep the reader's
            // lookup across the writer's insert) and looks up once.
            let started = Arc::new(AtomicU64::new(u64::MAX));
            let looked = Arc::new(AtomicU64::new(0));
            let (s1, s2) = (started.clone(), started.clone());
            let (l1, l2) = (looked.clone(), looked.clone());
            let (m1, m2) = (maps.clone(), maps.clone());
            let word = new_object(Type::new("main.word", 1, &[]));
            roots.push(Root::new(word));
            go_all(vec![
                Box::new(move || {
                    for (j, m) in m1.iter().enumerate() {
                        s1.store(j as u64, Ordering::Relaxed);
                        spin(word, WRITER_DELAY);
                        m.insert("8", 8);
                        while l1.load(Ordering::Relaxed) <= j as u64 {
                            spin(word, 1);
                        }
                    }
                }),
                Box::new(move || {
                    // A long key: hashing it is many steps between the
                    // lookup's check of the flags and its oldbuckets load.
                    let key = GoString::new(&"k".repeat(key_len));
                    for (j, m) in m2.iter().enumerate() {
                        while s2.load(Ordering::Relaxed) != j as u64 {
                            spin(word, 1);
                        }
                        spin(word, j * 7 % 30);
                        std::hint::black_box(m.get_string(key));
                        l2.store(j as u64 + 1, Ordering::Relaxed);
                    }
                }),
            ]);
            drop(roots);
        });
        match status {
            0 => {}
            2 if err.starts_with("fatal error: concurrent map read and map write\n") => {
                detected += 1
            }
            // Go loads B, then buckets: a reader that loads the new B and
            // then the old array (hashGrow stores B first) indexes past
            // the array's end. Go reads whatever memory lies there; gort
            // checks the access and makes it a fatal error.
            2 if err.contains("past the end of object")
                && err.contains("map.bucket[string]int64, ")
                && err.contains("\nfatal error: fault\n") =>
            {
                wild += 1
            }
            s => bad.push(format!("seed {seed}: status {s}\n{err}")),
        }
    }
    assert!(
        bad.is_empty(),
        "{} runs Go cannot produce:\n{}",
        bad.len(),
        bad.join("\n")
    );
    (detected, wild)
}
