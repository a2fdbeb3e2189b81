//! The floors under gort's scheduler: what its building blocks cost on this
//! machine, so BENCHMARKS.md can say how far above them a Gosched or a
//! spawn is. Not gort code: a raw corosensei resume+suspend round trip
//! (one coroutine, and two alternating as a scheduler alternates them), a
//! crossbeam `Injector` push+steal (the global queue gort first used), a
//! `Mutex<VecDeque>` push+pop, and one uncontended compare-and-swap.

use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use corosensei::{Coroutine, CoroutineResult};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn floors(c: &mut Criterion) {
    let mut g = c.benchmark_group("floors");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(1));
    // Coroutines that yield until told to stop: gort builds corosensei
    // without its unwinding support, so a coroutine must finish before it is
    // dropped.
    let mk = || -> Coroutine<bool, u64, ()> {
        Coroutine::new(|y, mut stop: bool| {
            let mut i = 0u64;
            while !stop {
                i += 1;
                stop = y.suspend(i);
            }
        })
    };
    g.bench_function("corosensei/resume+suspend", |b| {
        let mut co = mk();
        b.iter(|| co.resume(false));
        co.resume(true);
    });
    g.bench_function("corosensei/two_alternating", |b| {
        let (mut a, mut bb) = (mk(), mk());
        let mut flip = false;
        b.iter(|| {
            flip = !flip;
            let co = if flip { &mut a } else { &mut bb };
            match co.resume(false) {
                CoroutineResult::Yield(v) => black_box(v),
                CoroutineResult::Return(()) => 0,
            }
        });
        a.resume(true);
        bb.resume(true);
    });
    g.bench_function("crossbeam_injector/push+steal", |b| {
        let q = crossbeam_deque::Injector::new();
        b.iter(|| {
            q.push(black_box(1u64));
            q.steal()
        })
    });
    g.bench_function("mutex_vecdeque/push+pop", |b| {
        let q = Mutex::new(VecDeque::new());
        b.iter(|| {
            q.lock().unwrap().push_back(black_box(1u64));
            q.lock().unwrap().pop_front()
        })
    });
    g.bench_function("atomic/cas", |b| {
        let a = AtomicU64::new(0);
        let mut i = 0u64;
        b.iter(|| {
            let r = a.compare_exchange(i, i + 1, Ordering::AcqRel, Ordering::Relaxed);
            i += 1;
            r
        })
    });
    g.finish();
}

criterion_group!(benches, floors);
criterion_main!(benches);
