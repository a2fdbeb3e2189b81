//! The execution tracer's recording cost: the same workloads with the
//! tracer off (the default: one branch per emit site) and on
//! (`Config::trace`, records kept in memory), beside the obvious
//! alternative without any runtime.
//!
//! - `trace_chan_pingpong`: gobench's `benchPingPong` (as in `sync.rs`):
//!   one iteration is one round trip over two unbuffered channels, at
//!   `GOMAXPROCS=1`; each round trip records two blocks, two unblocks and
//!   two starts. `std_thread/sync_channel0` is the same on two threads.
//! - `trace_map_insert`: `m[k] = k` for 100,000 keys into a map made
//!   without a hint (`maps.rs`'s `insert`), growth and evacuation
//!   included, which is what the tracer records of a map (a `hashGrow`
//!   and each bucket evacuated); one iteration is one insert.
//!   `std/HashMap` is `HashMap<i64, i64>` with the default hasher.
//!
//! A traced run keeps every record until it ends, so each criterion call
//! runs a fresh runtime and the measurement is kept short.
//!
//! ```text
//! cargo bench -p gort-benches --bench trace
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gort::{Chan, Config, Map, Runtime};
use gort_benches::workload::make_keys;

/// Runs `body` as a program's main goroutine on a runtime built from
/// `cfg`, returning the time `body` measured.
fn run_cfg<F>(cfg: Config, body: F) -> Duration
where
    F: FnOnce() -> Duration + Send + 'static,
{
    let out = Arc::new(Mutex::new(None));
    let slot = out.clone();
    let exit = Runtime::new(cfg).run(move || {
        *slot.lock().unwrap() = Some(body());
    });
    assert_eq!(exit.status, 0, "gort run failed: {exit:?}");
    let d = out.lock().unwrap().take();
    d.expect("main goroutine did not report a duration")
}

fn cfg(traced: bool) -> Config {
    let c = Config::new().gomaxprocs(1);
    if traced {
        c.trace()
    } else {
        c
    }
}

fn gort_pingpong(n: u64) -> Duration {
    let (c1, c2): (Chan<u64>, Chan<u64>) = (Chan::new(0), Chan::new(0));
    let (r1, r2) = (c1.clone(), c2.clone());
    gort::go!(move || {
        for _ in 0..n {
            let v = r1.recv().unwrap();
            r2.send(v);
        }
    });
    let t0 = Instant::now();
    let mut s = 0u64;
    for i in 0..n {
        c1.send(i);
        s = s.wrapping_add(c2.recv().unwrap());
    }
    let d = t0.elapsed();
    std::hint::black_box(s);
    d
}

fn std_pingpong(n: u64) -> Duration {
    let (tx1, rx1) = std::sync::mpsc::sync_channel::<u64>(0);
    let (tx2, rx2) = std::sync::mpsc::sync_channel::<u64>(0);
    let h = std::thread::spawn(move || {
        for _ in 0..n {
            let v = rx1.recv().unwrap();
            tx2.send(v).unwrap();
        }
    });
    let t0 = Instant::now();
    let mut s = 0u64;
    for i in 0..n {
        tx1.send(i).unwrap();
        s = s.wrapping_add(rx2.recv().unwrap());
    }
    let d = t0.elapsed();
    h.join().unwrap();
    std::hint::black_box(s);
    d
}

fn bench_pingpong(c: &mut Criterion) {
    let mut g = c.benchmark_group("trace_chan_pingpong");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(3));
    for (name, traced) in [("gort/off", false), ("gort/on", true)] {
        g.bench_function(BenchmarkId::new(name, "P=1"), |b| {
            b.iter_custom(|iters| run_cfg(cfg(traced), move || gort_pingpong(iters)))
        });
    }
    g.bench_function(BenchmarkId::new("std_thread", "sync_channel0"), |b| {
        b.iter_custom(std_pingpong)
    });
    g.finish();
}

const N: usize = 100_000;

fn gort_inserts(iters: u64) -> Duration {
    let keys = make_keys(N).keys;
    let mut tot = Duration::ZERO;
    for _ in 0..iters.div_ceil(N as u64) {
        let m: Map<i64> = Map::new();
        let t0 = Instant::now();
        for &k in &keys {
            m.insert(k, k);
        }
        tot += t0.elapsed();
        std::hint::black_box(m.len());
    }
    tot.mul_f64(iters as f64 / (iters.div_ceil(N as u64) * N as u64) as f64)
}

fn std_inserts(iters: u64) -> Duration {
    let keys = make_keys(N).keys;
    let mut tot = Duration::ZERO;
    for _ in 0..iters.div_ceil(N as u64) {
        let mut m: HashMap<i64, i64> = HashMap::new();
        let t0 = Instant::now();
        for &k in &keys {
            m.insert(k, k);
        }
        tot += t0.elapsed();
        std::hint::black_box(m.len());
    }
    tot.mul_f64(iters as f64 / (iters.div_ceil(N as u64) * N as u64) as f64)
}

fn bench_map_insert(c: &mut Criterion) {
    let mut g = c.benchmark_group("trace_map_insert");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(3));
    for (name, traced) in [("gort/off", false), ("gort/on", true)] {
        g.bench_function(BenchmarkId::new(name, "1e5"), |b| {
            b.iter_custom(|iters| run_cfg(cfg(traced), move || gort_inserts(iters)))
        });
    }
    g.bench_function(BenchmarkId::new("std/HashMap", "1e5"), |b| {
        b.iter_custom(std_inserts)
    });
    g.finish();
}

criterion_group!(benches, bench_pingpong, bench_map_insert);
criterion_main!(benches);
