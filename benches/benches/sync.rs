//! Synchronization benchmarks: gort's channels and Mutex beside the obvious
//! alternative (std's channels and locks between OS threads), on the
//! workloads of the Go reference harness `../shared/bench-anchor/gobench.go`.
//!
//! - `chan_pingpong` (gobench `benchPingPong`): two unbuffered channels;
//!   main sends i on c1, the other goroutine receives it and sends it back
//!   on c2; one iteration = one round trip, at `GOMAXPROCS=1` and `=2`.
//!   Alternative: the same program on two OS threads with
//!   `std::sync::mpsc::sync_channel(0)` (a rendezvous channel, Go's
//!   unbuffered channel), `std_thread/sync_channel0`.
//! - `mutex` (no gobench counterpart: Go's own BenchmarkMutexUncontended
//!   measures the same thing): one goroutine locking and unlocking an
//!   uncontended `sync.Mutex`; one iteration = Lock + Unlock. Alternative:
//!   `std::sync::Mutex` lock + guard drop on one thread.
//!
//! Comparing with Go 1.19 (same machine, same session; quote ratios):
//!
//! ```text
//! go build -o /tmp/gobench /work/shared/bench-anchor/gobench.go
//! /tmp/gobench pingpong 1; /tmp/gobench pingpong 2
//! cargo bench -p gort-benches --bench sync
//! ```

use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gort_benches::{gort_run, pingpong};

fn bench_pingpong(c: &mut Criterion) {
    let mut g = c.benchmark_group("chan_pingpong");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(1));
    for procs in [1usize, 2] {
        g.bench_function(BenchmarkId::new("gort", format!("P={procs}")), |b| {
            b.iter_custom(|iters| gort_run(procs, move || pingpong::gort(iters)))
        });
    }
    g.bench_function(BenchmarkId::new("std_thread", "sync_channel0"), |b| {
        b.iter_custom(pingpong::std_threads)
    });
    g.finish();
}

fn bench_mutex(c: &mut Criterion) {
    let mut g = c.benchmark_group("mutex");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::new("gort", "uncontended"), |b| {
        b.iter_custom(|iters| {
            gort_run(1, move || {
                let mu = gort::Mutex::new();
                let t0 = Instant::now();
                for _ in 0..iters {
                    mu.lock();
                    mu.unlock();
                }
                t0.elapsed()
            })
        })
    });
    g.bench_function(BenchmarkId::new("std", "uncontended"), |b| {
        let mu = Mutex::new(());
        b.iter(|| drop(std::hint::black_box(&mu).lock().unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench_pingpong, bench_mutex);
criterion_main!(benches);
