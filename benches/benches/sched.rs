//! Scheduler benchmarks: gort beside the obvious alternative (OS threads),
//! on the workloads of the Go reference harness
//! `../shared/bench-anchor/gobench.go` (`/work/shared/bench-anchor/`), which
//! they mirror statement for statement. Each criterion "iteration" is one
//! unit of Go's metric, so the `time:` criterion prints is directly
//! comparable with gobench's `RESULT` values:
//!
//! - `gosched` (gobench `benchGosched`): main starts 2 goroutines that each
//!   call `Gosched` N times on one P (`GOMAXPROCS=1`), and waits on a
//!   `WaitGroup`; ns per yield (2N yields). Alternatives: 2 OS threads each
//!   calling `std::thread::yield_now()` N times, free to run on any CPU
//!   (`std_thread/yield_now`) and both pinned to one CPU, the OS analogue of
//!   one P, where every yield is a real switch (`std_thread/yield_now_1cpu`).
//! - `spawn_waves` (gobench `benchSpawn` with wave < n): `wg.Add(k)`;
//!   k x `go func(){ wg.Done() }()`; `wg.Wait()`, in waves of k = 1000,
//!   `GOMAXPROCS=1`; ns per goroutine. Alternative: `std::thread::spawn` +
//!   `join`, in waves of 1000 threads; ns per thread.
//! - `spawn_100k_alive` (gobench `benchSpawn` with wave == n = 100,000): the
//!   same code with a single wave of 100,000, `GOMAXPROCS=1`; ns per
//!   goroutine. Exactly as in Go there is no start barrier: main does not
//!   block between `go` statements, so on one P the new goroutines wait in
//!   the run queues until main blocks in `wg.Wait()` or is preempted by
//!   sysmon (main runs for well over 10 ms). In both Go 1.19 and gort most
//!   of them (80-97%, checked) in fact run at those preemptions, so "alive
//!   at once" means up to ~10 ms worth of spawns, the same in both.
//!   Alternative: OS threads cannot do 100,000, so 10,000 threads are kept
//!   alive together by a `Barrier` that main passes once all are spawned,
//!   then joined (`std_thread/10k_alive`).
//!
//! gort runs one `Runtime` per criterion `iter_custom` call; the main
//! goroutine times the work itself with `Instant`, so runtime start-up and
//! teardown are outside the measurement. Like gobench, each spawn run first
//! does one untimed warm-up wave (Go's warm-up `one()`), so goroutine stacks
//! come from the pool.
//!
//! Comparing with Go 1.19 (same machine, same session; quote ratios, absolute
//! times on shared machines drift 10-50% between sessions):
//!
//! ```text
//! go build -o /tmp/gobench /work/shared/bench-anchor/gobench.go
//! /tmp/gobench gosched 1               # gosched,          P=1
//! /tmp/gobench spawn 1 100000 1000     # spawn_waves,      P=1
//! /tmp/gobench spawn 1 100000          # spawn_100k_alive, P=1
//! cargo bench -p gort-benches --bench sched
//! ```
//!
//! gobench arguments: `gosched P` (GOMAXPROCS, default 1); `spawn P N WAVE`:
//! GOMAXPROCS (default 2, so pass 1), N goroutines in total (default
//! 100,000), in waves of WAVE (default N: one wave, all alive at once). It
//! prints 5 lines `RESULT <bench> go_p<P> <ns> ns` (bench `yield`,
//! `spawn_wave` or `spawn_all`); quote the median.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use gort::{go, WaitGroup};
use gort_benches::gort_run;

/// Goroutines per wave in `spawn_waves` (threads too).
const WAVE: u64 = 1000;
/// Goroutines alive at once in `spawn_100k_alive`.
const ALIVE: u64 = 100_000;
/// OS threads alive at once in the thread alternative of `spawn_100k_alive`.
const THREADS_ALIVE: u64 = 10_000;

/// `measured` covered `done` units of work; the time for `iters` of them.
fn scale(measured: Duration, done: u64, iters: u64) -> Duration {
    measured.mul_f64(iters as f64 / done as f64)
}

/// How many whole batches of `batch` cover `iters` iterations (at least 1).
fn batches(iters: u64, batch: u64) -> u64 {
    iters.div_ceil(batch).max(1)
}

// ------------------------------------------------------------------ gosched

/// gobench `benchGosched` on gort: 2 goroutines x `n` Gosched; must run on
/// a goroutine.
fn gort_gosched(n: u64) -> Duration {
    let wg = Arc::new(WaitGroup::new());
    wg.add(2);
    let t0 = Instant::now();
    for _ in 0..2 {
        let wg = wg.clone();
        go!(move || {
            for _ in 0..n {
                gort::gosched();
            }
            wg.done();
        });
    }
    wg.wait();
    t0.elapsed()
}

/// The OS analogue: 2 threads x `n` `yield_now`, optionally both pinned to
/// one CPU.
fn std_yield(n: u64, cpu: Option<usize>) -> Duration {
    let t0 = Instant::now();
    let hs: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(move || {
                if let Some(cpu) = cpu {
                    pin_to_cpu(cpu);
                }
                for _ in 0..n {
                    std::thread::yield_now();
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    t0.elapsed()
}

/// The CPU the calling thread is running on.
#[cfg(target_os = "linux")]
fn current_cpu() -> Option<usize> {
    // SAFETY: sched_getcpu has no preconditions.
    let c = unsafe { libc::sched_getcpu() };
    usize::try_from(c).ok()
}

#[cfg(not(target_os = "linux"))]
fn current_cpu() -> Option<usize> {
    None
}

/// Restricts the calling thread to `cpu`.
#[cfg(target_os = "linux")]
fn pin_to_cpu(cpu: usize) {
    // SAFETY: cpu_set_t is plain data (all zeroes is the empty set);
    // CPU_SET stays within it for cpu < CPU_SETSIZE, and sched_setaffinity
    // reads `size_of::<cpu_set_t>()` bytes from a live local.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    assert_eq!(rc, 0, "sched_setaffinity({cpu}) failed");
}

#[cfg(not(target_os = "linux"))]
fn pin_to_cpu(_cpu: usize) {}

fn bench_gosched(c: &mut Criterion) {
    let mut g = c.benchmark_group("gosched");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(1));
    // One iteration = one yield: each of the 2 goroutines yields iters/2 times.
    g.bench_function(BenchmarkId::new("gort", "P=1"), |b| {
        b.iter_custom(|iters| {
            let n = iters.div_ceil(2);
            scale(gort_run(1, move || gort_gosched(n)), 2 * n, iters)
        })
    });
    g.bench_function(BenchmarkId::new("std_thread", "yield_now"), |b| {
        b.iter_custom(|iters| {
            let n = iters.div_ceil(2);
            scale(std_yield(n, None), 2 * n, iters)
        })
    });
    if let Some(cpu) = current_cpu() {
        g.bench_function(BenchmarkId::new("std_thread", "yield_now_1cpu"), |b| {
            b.iter_custom(|iters| {
                let n = iters.div_ceil(2);
                scale(std_yield(n, Some(cpu)), 2 * n, iters)
            })
        });
    }
    g.finish();
}

// ------------------------------------------------------------------ spawn

/// gobench `benchSpawn`'s `one()` on gort: `n` goroutines that each do
/// `wg.Done()`, in waves of `wave`; must run on a goroutine.
fn gort_spawn(n: u64, wave: u64) -> Duration {
    // Go's closure captures `&wg`, a plain pointer: leak the WaitGroup (a
    // few bytes per run) rather than pay an `Arc` count per goroutine.
    let wg: &'static WaitGroup = Box::leak(Box::new(WaitGroup::new()));
    let t0 = Instant::now();
    let mut left = n;
    while left > 0 {
        let k = left.min(wave);
        wg.add(k as i64);
        for _ in 0..k {
            go!(move || wg.done());
        }
        wg.wait();
        left -= k;
    }
    t0.elapsed()
}

/// The thread analogue of a wave: spawn `k` threads, then join them all.
fn std_spawn_waves(n: u64, wave: u64) -> Duration {
    let t0 = Instant::now();
    let mut left = n;
    while left > 0 {
        let k = left.min(wave);
        let hs: Vec<_> = (0..k)
            .map(|i| {
                std::thread::spawn(move || {
                    std::hint::black_box(i);
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        left -= k;
    }
    t0.elapsed()
}

/// `n` threads alive at once: each waits on a barrier that main passes once
/// all are spawned, then all are joined.
fn std_spawn_alive(n: u64) -> Duration {
    let t0 = Instant::now();
    let start = Arc::new(Barrier::new(n as usize + 1));
    let hs: Vec<_> = (0..n)
        .map(|_| {
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
            })
        })
        .collect();
    start.wait();
    for h in hs {
        h.join().unwrap();
    }
    t0.elapsed()
}

fn bench_spawn_waves(c: &mut Criterion) {
    let mut g = c.benchmark_group("spawn_waves");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(1));
    // One iteration = one goroutine; the last wave may be partial, as in Go.
    g.bench_function(BenchmarkId::new("gort", "P=1/wave=1000"), |b| {
        b.iter_custom(|iters| {
            gort_run(1, move || {
                gort_spawn(WAVE, WAVE); // warm-up, untimed
                gort_spawn(iters, WAVE)
            })
        })
    });
    // Threads are ~100x slower: criterion picks fewer iterations (waves).
    g.bench_function(BenchmarkId::new("std_thread", "wave=1000"), |b| {
        b.iter_custom(|iters| std_spawn_waves(iters, WAVE))
    });
    g.finish();
}

fn bench_spawn_alive(c: &mut Criterion) {
    let mut g = c.benchmark_group("spawn_100k_alive");
    // Whole batches only (a batch takes tens to hundreds of ms), so flat
    // sampling; one iteration = one goroutine (thread), the batches' time is
    // scaled to the requested iteration count.
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::new("gort", "P=1/100k_alive"), |b| {
        b.iter_custom(|iters| {
            let k = batches(iters, ALIVE);
            let d = gort_run(1, move || {
                gort_spawn(ALIVE, ALIVE); // warm-up, untimed
                let mut d = Duration::ZERO;
                for _ in 0..k {
                    d += gort_spawn(ALIVE, ALIVE);
                }
                d
            });
            scale(d, k * ALIVE, iters)
        })
    });
    // 100,000 OS threads is not feasible (thread limits, 2 VMAs and a
    // default 2 MiB stack reservation each): 10,000 threads instead.
    // A 10k-thread batch takes ~0.7 s: more time, or criterion warns.
    g.measurement_time(Duration::from_secs(8));
    g.bench_function(BenchmarkId::new("std_thread", "10k_alive"), |b| {
        b.iter_custom(|iters| {
            let k = batches(iters, THREADS_ALIVE);
            let mut d = Duration::ZERO;
            for _ in 0..k {
                d += std_spawn_alive(THREADS_ALIVE);
            }
            scale(d, k * THREADS_ALIVE, iters)
        })
    });
    g.finish();
}

criterion_group!(benches, bench_gosched, bench_spawn_waves, bench_spawn_alive);
criterion_main!(benches);
