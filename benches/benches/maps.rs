//! Map benchmarks: gort's `Map` (Go 1.19's hmap in the simulated heap)
//! beside `std::collections::HashMap<i64, i64>` (default hasher), on the
//! `map` workloads of the Go reference harness
//! `../shared/bench-anchor/gobench.go` (`benchMapI64`, `benchMapPtr`),
//! mirrored statement for statement: the same keys, misses and shuffle.
//!
//! Keys are `splitmix64(i) >> 1` for i < N (random, non-negative); misses
//! are `splitmix64(i + 2^40) | 1 << 63` (negative, so never present);
//! `perm` is the keys shuffled by a fixed xorshift Fisher-Yates. N = 1e3,
//! 1e5, 1e6. One criterion iteration is one map operation:
//!
//! - `insert`: `m := make(map[int64]int64)`, then `m[k] = k` for every key
//!   in key order (growth included); whole passes, the time scaled to the
//!   requested iterations; the last map is kept alive (Go's `sinkMapI64 =
//!   m`).
//! - `insert_presized`: the same from `make(map[int64]int64, N)`.
//! - `hit`: `s += full[k]` for k in `perm`, on a map built once.
//! - `miss`: `_, ok := full[k]` for the misses.
//! - `delete`: `delete(m, k)` for every k in `perm`, on a map built (not
//!   timed) before each pass.
//! - `iterate`: `for k, v := range full`, whole ranges; the time per
//!   element.
//!
//! `gort_race` is `gort` with the race detector on (`GORT_RACE=1`, Go's
//! `-race`), at 1e3 and 1e5: the detector's cost in the same group.
//!
//! `gort` is `map[int64]int64`; `gort_ptr` is `map[int64]*T` (`type T
//! struct{ a, b int64 }`; insert allocates a `&T{a: k}` per key inside the
//! timed loop, lookups and iteration do not dereference; gobench's
//! `go_ptr`). `std` is `HashMap<i64, i64>` with `RandomState` (SipHash
//! 1-3), `HashMap::with_capacity` for the presized insert.
//!
//! A gort benchmark keeps one runtime for all of criterion's calls, at
//! GOMAXPROCS from the environment or, as gobench's Go, one P per CPU
//! (so that, as Go's, the collector started by a pass's allocations can
//! mark on another P; until 76adf65 gort ran at GOMAXPROCS=1 and its
//! no-hint inserts at 1e6 paid for the mark inside the timed pass). Its
//! main goroutine does the setup once (the keys, the map that hit, miss
//! and iterate read, rooted) and then runs each call's operations,
//! timing them itself. A fresh runtime per call, as
//! the other bench files do, would rebuild the 1e6-entry map each time.
//!
//! Comparing with Go 1.19 (same machine, same session, gobench before and
//! after; quote medians and ratios):
//!
//! ```text
//! go build -o /tmp/gobench /work/shared/bench-anchor/gobench.go
//! /tmp/gobench map    # RESULT map_<op>_<N> go_i64|go_ptr <ns> ns
//! cargo bench -p gort-benches --bench maps
//! ```
//!
//! gobench's `insertp` is `insert_presized` here, `iter` is `iterate`.

use std::collections::HashMap;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use gort::{new_object, Config, Map, MapElem, Ptr, Root, Runtime, Type};
use gort_benches::workload::make_keys;

const SIZES: [(&str, usize); 3] = [("1e3", 1_000), ("1e5", 100_000), ("1e6", 1_000_000)];

// ------------------------------------------------------------- workload

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Insert,
    InsertPresized,
    Hit,
    Miss,
    Delete,
    Iterate,
}

/// `measured` covered `done` operations; the time for `iters` of them.
fn scale(measured: Duration, done: u64, iters: u64) -> Duration {
    measured.mul_f64(iters as f64 / done as f64)
}

/// Whole passes of `n` operations that cover `iters` (at least one).
fn passes(iters: u64, n: usize) -> u64 {
    iters.div_ceil(n as u64).max(1)
}

/// Runs `iters` lookups of `keys`, continuing cyclically from `*pos`
/// (so successive calls walk the fixed order on and on), timed as one
/// block.
fn lookups(keys: &[i64], pos: &mut usize, iters: u64, mut f: impl FnMut(i64)) -> Duration {
    let mut left = iters;
    let t0 = Instant::now();
    while left > 0 {
        let c = (keys.len() - *pos).min(left as usize);
        for &k in &keys[*pos..*pos + c] {
            f(k);
        }
        *pos = (*pos + c) % keys.len();
        left -= c as u64;
    }
    t0.elapsed()
}

// ------------------------------------------------------------------ gort

/// A gort runtime kept for one benchmark: its main goroutine runs
/// `setup` once (before `new` returns), then the returned closure for
/// each `run(iters)`.
struct Session {
    jobs: Option<mpsc::Sender<u64>>,
    done: mpsc::Receiver<Duration>,
    thread: Option<JoinHandle<()>>,
}

impl Session {
    fn new<S, R>(setup: S) -> Session
    where
        S: FnOnce() -> R + Send + 'static,
        R: FnMut(u64) -> Duration,
    {
        Session::with_config(Config::from_env(), setup)
    }

    fn with_config<S, R>(cfg: Config, setup: S) -> Session
    where
        S: FnOnce() -> R + Send + 'static,
        R: FnMut(u64) -> Duration,
    {
        let (jobs, rx) = mpsc::channel::<u64>();
        let (tx, done) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let exit = Runtime::new(cfg).run(move || {
                let mut run = setup();
                tx.send(Duration::ZERO).unwrap(); // set up
                for iters in rx {
                    tx.send(run(iters)).unwrap();
                }
            });
            assert_eq!(exit.status, 0, "gort run failed: {exit:?}");
        });
        let s = Session {
            jobs: Some(jobs),
            done,
            thread: Some(thread),
        };
        // Wait for the setup, so that criterion does not time it as part
        // of the first call (it would then size every sample at one op).
        s.done.recv().expect("the gort session failed to set up");
        s
    }

    fn run(&self, iters: u64) -> Duration {
        self.jobs.as_ref().unwrap().send(iters).unwrap();
        self.done.recv().expect("the gort session failed")
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(t) = self.thread.take() {
            let r = t.join();
            if !std::thread::panicking() {
                r.unwrap();
            }
        }
    }
}

/// A gort map element: gobench's `k` (int64) or `&T{a: k}` (`*T`).
trait Elem: MapElem {
    fn make(k: i64, t: &'static Type) -> Self;
    /// What `hit` adds up: `full[k]`, or `full[k] != nil`.
    fn hit(v: Option<Self>) -> i64;
    /// What `iterate` adds up: `k ^ v`, or `k` (counting non-nil `v`).
    fn fold(k: i64, v: Self, c: &mut usize) -> i64;
}

impl Elem for i64 {
    #[inline]
    fn make(k: i64, _: &'static Type) -> i64 {
        k
    }
    #[inline]
    fn hit(v: Option<i64>) -> i64 {
        v.unwrap_or(0)
    }
    #[inline]
    fn fold(k: i64, v: i64, c: &mut usize) -> i64 {
        *c += 1;
        k ^ v
    }
}

impl Elem for Ptr {
    #[inline]
    fn make(k: i64, t: &'static Type) -> Ptr {
        let p = new_object(t);
        p.store(0, k as u64);
        p
    }
    #[inline]
    fn hit(v: Option<Ptr>) -> i64 {
        v.is_some_and(|p| !p.is_nil()) as i64
    }
    #[inline]
    fn fold(k: i64, v: Ptr, c: &mut usize) -> i64 {
        if !v.is_nil() {
            *c += 1;
        }
        k
    }
}

/// gobench `build`: the keys inserted into `make(map[int64]V)`, rooted.
fn gort_build<V: Elem>(keys: &[i64], t: &'static Type) -> (Map<V>, Root) {
    let m = Map::<V>::new();
    let root = Root::new(m.hmap().0);
    for &k in keys {
        m.insert(k, V::make(k, t));
    }
    (m, root)
}

/// The benchmark `op` on `map[int64]V` of `n` keys; runs on the session's
/// goroutine (setup here, operations in the returned closure).
fn gort_bench<V: Elem>(op: Op, n: usize) -> impl FnMut(u64) -> Duration {
    let t = Type::new("main.T", 2, &[]);
    let ks = make_keys(n);
    let full = matches!(op, Op::Hit | Op::Miss | Op::Iterate).then(|| gort_build::<V>(&ks.keys, t));
    // gobench's sinkMapI64 / sinkMapPtr.
    let sink = Root::new(Ptr::NIL);
    let mut pos = 0usize;
    move |iters| match op {
        Op::Insert | Op::InsertPresized => {
            let reps = passes(iters, n);
            let mut tot = Duration::ZERO;
            for _ in 0..reps {
                let m = if op == Op::Insert {
                    Map::<V>::new()
                } else {
                    Map::<V>::with_hint(n)
                };
                let t0 = Instant::now();
                for &k in &ks.keys {
                    m.insert(k, V::make(k, t));
                }
                tot += t0.elapsed();
                sink.store(m.hmap().0);
                assert_eq!(m.len(), n);
            }
            scale(tot, reps * n as u64, iters)
        }
        Op::Hit => {
            let m = full.as_ref().unwrap().0;
            let mut s = 0i64;
            let d = lookups(&ks.perm, &mut pos, iters, |k| {
                s = s.wrapping_add(V::hit(m.get(k)))
            });
            std::hint::black_box(s);
            if V::map_type().elem_is_ptr {
                assert_eq!(s as u64, iters, "hit");
            }
            d
        }
        Op::Miss => {
            let m = full.as_ref().unwrap().0;
            let mut c = 0usize;
            let d = lookups(&ks.miss, &mut pos, iters, |k| {
                c += m.get(k).is_some() as usize
            });
            assert_eq!(c, 0, "miss hit");
            d
        }
        Op::Delete => {
            let reps = passes(iters, n);
            let mut tot = Duration::ZERO;
            for _ in 0..reps {
                let (m, root) = gort_build::<V>(&ks.keys, t);
                let t0 = Instant::now();
                for &k in &ks.perm {
                    m.delete(k);
                }
                tot += t0.elapsed();
                assert_eq!(m.len(), 0, "delete");
                drop(root);
            }
            scale(tot, reps * n as u64, iters)
        }
        Op::Iterate => {
            let m = full.as_ref().unwrap().0;
            let reps = passes(iters, n);
            let mut s = 0i64;
            let t0 = Instant::now();
            for _ in 0..reps {
                let mut c = 0usize;
                for (k, v) in m.iter() {
                    s = s.wrapping_add(V::fold(k, v, &mut c));
                }
                assert_eq!(c, n, "iter");
            }
            let d = t0.elapsed();
            std::hint::black_box(s);
            scale(d, reps * n as u64, iters)
        }
    }
}

// ------------------------------------------------------------------- std

fn std_build(keys: &[i64]) -> HashMap<i64, i64> {
    let mut m = HashMap::new();
    for &k in keys {
        m.insert(k, k);
    }
    m
}

/// The benchmark `op` on `HashMap<i64, i64>` of `n` keys.
fn std_bench(op: Op, n: usize) -> impl FnMut(u64) -> Duration {
    let ks = make_keys(n);
    let full = matches!(op, Op::Hit | Op::Miss | Op::Iterate).then(|| std_build(&ks.keys));
    let mut sink = HashMap::new();
    let mut pos = 0usize;
    move |iters| match op {
        Op::Insert | Op::InsertPresized => {
            let reps = passes(iters, n);
            let mut tot = Duration::ZERO;
            for _ in 0..reps {
                let mut m = if op == Op::Insert {
                    HashMap::new()
                } else {
                    HashMap::with_capacity(n)
                };
                let t0 = Instant::now();
                for &k in &ks.keys {
                    m.insert(k, k);
                }
                tot += t0.elapsed();
                assert_eq!(m.len(), n);
                // The previous map is freed here, untimed.
                sink = m;
            }
            std::hint::black_box(&sink);
            scale(tot, reps * n as u64, iters)
        }
        Op::Hit => {
            let m = full.as_ref().unwrap();
            let mut s = 0i64;
            let d = lookups(&ks.perm, &mut pos, iters, |k| {
                s = s.wrapping_add(*m.get(&k).unwrap_or(&0))
            });
            std::hint::black_box(s);
            d
        }
        Op::Miss => {
            let m = full.as_ref().unwrap();
            let mut c = 0usize;
            let d = lookups(&ks.miss, &mut pos, iters, |k| {
                c += m.get(&k).is_some() as usize
            });
            assert_eq!(c, 0, "miss hit");
            d
        }
        Op::Delete => {
            let reps = passes(iters, n);
            let mut tot = Duration::ZERO;
            for _ in 0..reps {
                let mut m = std_build(&ks.keys);
                let t0 = Instant::now();
                for &k in &ks.perm {
                    m.remove(&k);
                }
                tot += t0.elapsed();
                assert_eq!(m.len(), 0, "delete");
            }
            scale(tot, reps * n as u64, iters)
        }
        Op::Iterate => {
            let m = full.as_ref().unwrap();
            let reps = passes(iters, n);
            let mut s = 0i64;
            let t0 = Instant::now();
            for _ in 0..reps {
                let mut c = 0usize;
                for (&k, &v) in m {
                    s = s.wrapping_add(k ^ v);
                    c += 1;
                }
                assert_eq!(c, n, "iter");
            }
            let d = t0.elapsed();
            std::hint::black_box(s);
            scale(d, reps * n as u64, iters)
        }
    }
}

// -------------------------------------------------------------- criterion

fn bench_op(c: &mut Criterion, name: &str, op: Op) {
    let mut g = c.benchmark_group(name);
    // Flat sampling: a call does whole passes, and at 1e6 one pass is
    // already longer than a sample would be (the 1e6 insert and delete
    // benchmarks take 10 passes whatever the measurement time).
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(1));
    for (tag, n) in SIZES {
        let mut session = None;
        g.bench_function(BenchmarkId::new("gort", tag), |b| {
            let s = session.get_or_insert_with(|| Session::new(move || gort_bench::<i64>(op, n)));
            b.iter_custom(|iters| s.run(iters))
        });
        drop(session.take());
        g.bench_function(BenchmarkId::new("gort_ptr", tag), |b| {
            let s = session.get_or_insert_with(|| Session::new(move || gort_bench::<Ptr>(op, n)));
            b.iter_custom(|iters| s.run(iters))
        });
        drop(session.take());
        if n <= 100_000 {
            // The same map with the race detector on (GORT_RACE=1): what
            // -race costs, beside the run without it.
            g.bench_function(BenchmarkId::new("gort_race", tag), |b| {
                let s = session.get_or_insert_with(|| {
                    Session::with_config(Config::from_env().race(true), move || {
                        gort_bench::<i64>(op, n)
                    })
                });
                b.iter_custom(|iters| s.run(iters))
            });
            drop(session.take());
        }
        let mut state = None;
        g.bench_function(BenchmarkId::new("std", tag), |b| {
            let run = state.get_or_insert_with(|| std_bench(op, n));
            b.iter_custom(&mut *run)
        });
    }
    g.finish();
}

fn bench_maps(c: &mut Criterion) {
    bench_op(c, "insert", Op::Insert);
    bench_op(c, "insert_presized", Op::InsertPresized);
    bench_op(c, "hit", Op::Hit);
    bench_op(c, "miss", Op::Miss);
    bench_op(c, "delete", Op::Delete);
    bench_op(c, "iterate", Op::Iterate);
}

criterion_group!(benches, bench_maps);
criterion_main!(benches);
