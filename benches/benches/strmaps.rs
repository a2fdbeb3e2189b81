//! String-key map benchmarks: gort's `StrMap<i64>` (Go's `map[string]int64`
//! on map.go's generic paths, keys as heap strings) beside
//! `std::collections::HashMap<String, i64>` (default SipHash hasher).
//!
//! Keys are `fmt.Sprintf("key-%016x", splitmix64(i)>>1)` for i < N (20
//! bytes: three heap words); misses are the same format over
//! `splitmix64(i + 2^40) | 1<<63`; lookups walk a fixed xorshift shuffle of
//! the keys. N = 1e3 and 1e5. One criterion iteration is one operation:
//!
//! - `str_insert`: `m := make(map[string]int64)` then `m[k] = 1` for every
//!   key (growth included; the keys already exist as strings, as they
//!   would in a Go program that builds its keys first);
//! - `str_hit`: `_, ok := m[k]` for the shuffled keys;
//! - `str_miss`: the same for the misses.
//!
//! The Go side has no gobench workload; BENCHMARKS.md gives the 30-line Go
//! program that mirrors this file and its figures.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode};
use gort::{GoString, Root, StrMap};
use gort_benches::gort_run;
use gort_benches::workload::{shuffle, splitmix64};

const SIZES: [(&str, usize); 2] = [("1e3", 1_000), ("1e5", 100_000)];

struct Keys {
    keys: Vec<String>,
    miss: Vec<String>,
    perm: Vec<String>,
}

fn make_keys(n: usize) -> Keys {
    let keys: Vec<String> = (0..n as u64)
        .map(|i| format!("key-{:016x}", splitmix64(i) >> 1))
        .collect();
    let miss = (0..n as u64)
        .map(|i| format!("key-{:016x}", splitmix64(i + (1 << 40)) | (1 << 63)))
        .collect();
    let mut perm = keys.clone();
    shuffle(&mut perm);
    Keys { keys, miss, perm }
}

/// Lookups one call times: the iterations asked for, but at least 20
/// passes over `n` keys.
fn lookups_per_call(iters: u64, n: usize) -> u64 {
    iters.max(20 * n as u64)
}

#[derive(Clone, Copy)]
enum Op {
    Insert,
    Hit,
    Miss,
}

/// Builds a map of `n` keys; times `iters` operations of `op` (whole
/// passes for insert) inside one gort runtime.
fn gort(op: Op, n: usize, iters: u64) -> Duration {
    gort_run(1, move || {
        let ks = make_keys(n);
        let passes = iters.div_ceil(n as u64).max(1);
        match op {
            Op::Insert => {
                // The keys as heap strings, made before the timing and
                // kept reachable from a map of their own.
                let holder: StrMap<i64> = StrMap::new();
                let _hroot = Root::new(holder.hmap().0);
                // Each key enters the holder as soon as it exists: a
                // `GoString` kept only in the Rust Vec is invisible to the
                // collector (gort reports the access to the freed string).
                let heap_keys: Vec<GoString> = ks
                    .keys
                    .iter()
                    .enumerate()
                    .map(|(i, k)| {
                        let s = GoString::new(k);
                        holder.insert_string(s, i as i64);
                        s
                    })
                    .collect();
                let mut d = Duration::ZERO;
                for _ in 0..passes {
                    let m: StrMap<i64> = StrMap::new();
                    let _root = Root::new(m.hmap().0);
                    let t0 = Instant::now();
                    for &k in &heap_keys {
                        m.insert_string(k, 1);
                    }
                    d += t0.elapsed();
                }
                d.mul_f64(iters as f64 / (passes * n as u64) as f64)
            }
            Op::Hit | Op::Miss => {
                let m: StrMap<i64> = StrMap::new();
                let _root = Root::new(m.hmap().0);
                for k in &ks.keys {
                    m.insert(k, 1);
                }
                let keys = if matches!(op, Op::Hit) {
                    &ks.perm
                } else {
                    &ks.miss
                };
                // A call builds its map, so criterion sees few, slow
                // calls; each times at least 20 passes over the keys
                // (warm caches), scaled to the iterations asked for.
                let done = lookups_per_call(iters, n);
                let (mut c, mut j) = (0u64, 0usize);
                let t0 = Instant::now();
                for _ in 0..done {
                    c += m.get(&keys[j]).is_some() as u64;
                    j += 1;
                    if j == n {
                        j = 0;
                    }
                }
                let d = t0.elapsed();
                let want = if matches!(op, Op::Hit) { done } else { 0 };
                assert_eq!(c, want);
                d.mul_f64(iters as f64 / done as f64)
            }
        }
    })
}

fn std(op: Op, ks: &Keys, iters: u64) -> Duration {
    let n = ks.keys.len();
    match op {
        Op::Insert => {
            let passes = iters.div_ceil(n as u64).max(1);
            let mut d = Duration::ZERO;
            for _ in 0..passes {
                let mut m: HashMap<String, i64> = HashMap::new();
                let t0 = Instant::now();
                for k in &ks.keys {
                    m.insert(k.clone(), 1);
                }
                d += t0.elapsed();
                std::hint::black_box(&m);
            }
            d.mul_f64(iters as f64 / (passes * n as u64) as f64)
        }
        Op::Hit | Op::Miss => {
            let m: HashMap<String, i64> = ks.keys.iter().map(|k| (k.clone(), 1)).collect();
            let keys = if matches!(op, Op::Hit) {
                &ks.perm
            } else {
                &ks.miss
            };
            let done = lookups_per_call(iters, n);
            let (mut c, mut j) = (0u64, 0usize);
            let t0 = Instant::now();
            for _ in 0..done {
                c += m.contains_key(&keys[j]) as u64;
                j += 1;
                if j == n {
                    j = 0;
                }
            }
            let d = t0.elapsed();
            std::hint::black_box(c);
            d.mul_f64(iters as f64 / done as f64)
        }
    }
}

fn bench(c: &mut Criterion, name: &str, op: Op) {
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for (tag, n) in SIZES {
        g.bench_function(BenchmarkId::new("gort", tag), |b| {
            b.iter_custom(|iters| gort(op, n, iters))
        });
        let ks = make_keys(n);
        g.bench_function(BenchmarkId::new("std", tag), |b| {
            b.iter_custom(|iters| std(op, &ks, iters))
        });
    }
    g.finish();
}

fn bench_strmaps(c: &mut Criterion) {
    bench(c, "str_insert", Op::Insert);
    bench(c, "str_hit", Op::Hit);
    bench(c, "str_miss", Op::Miss);
}

criterion_group!(benches, bench_strmaps);
criterion_main!(benches);
