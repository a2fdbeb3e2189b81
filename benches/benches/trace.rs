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
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gort::{Config, Map};
use gort_benches::workload::make_keys;
use gort_benches::{gort_run_cfg, pingpong};

fn cfg(traced: bool) -> Config {
    let c = Config::new().gomaxprocs(1);
    if traced {
        c.trace()
    } else {
        c
    }
}

fn bench_pingpong(c: &mut Criterion) {
    let mut g = c.benchmark_group("trace_chan_pingpong");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(3));
    for (name, traced) in [("gort/off", false), ("gort/on", true)] {
        g.bench_function(BenchmarkId::new(name, "P=1"), |b| {
            b.iter_custom(|iters| gort_run_cfg(cfg(traced), move || pingpong::gort(iters)))
        });
    }
    g.bench_function(BenchmarkId::new("std_thread", "sync_channel0"), |b| {
        b.iter_custom(pingpong::std_threads)
    });
    g.finish();
}

const N: usize = 100_000;

/// Whole passes over the keys covering `iters` inserts, each into a
/// fresh map made by `pass` (which times its own inserts); the time
/// scaled to `iters`.
fn insert_passes(iters: u64, pass: impl Fn(&[i64]) -> Duration) -> Duration {
    let keys = make_keys(N).keys;
    let passes = iters.div_ceil(N as u64);
    let tot: Duration = (0..passes).map(|_| pass(&keys)).sum();
    tot.mul_f64(iters as f64 / (passes * N as u64) as f64)
}

fn gort_inserts(iters: u64) -> Duration {
    insert_passes(iters, |keys| {
        let m: Map<i64> = Map::new();
        let t0 = Instant::now();
        for &k in keys {
            m.insert(k, k);
        }
        let d = t0.elapsed();
        std::hint::black_box(m.len());
        d
    })
}

fn std_inserts(iters: u64) -> Duration {
    insert_passes(iters, |keys| {
        let mut m: HashMap<i64, i64> = HashMap::new();
        let t0 = Instant::now();
        for &k in keys {
            m.insert(k, k);
        }
        let d = t0.elapsed();
        std::hint::black_box(m.len());
        d
    })
}

fn bench_map_insert(c: &mut Criterion) {
    let mut g = c.benchmark_group("trace_map_insert");
    g.throughput(Throughput::Elements(1));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(3));
    for (name, traced) in [("gort/off", false), ("gort/on", true)] {
        g.bench_function(BenchmarkId::new(name, "1e5"), |b| {
            b.iter_custom(|iters| gort_run_cfg(cfg(traced), move || gort_inserts(iters)))
        });
    }
    g.bench_function(BenchmarkId::new("std/HashMap", "1e5"), |b| {
        b.iter_custom(std_inserts)
    });
    g.finish();
}

criterion_group!(benches, bench_pingpong, bench_map_insert);
criterion_main!(benches);
