//! Heap benchmarks: gort's allocator beside `Box::new`, and the
//! stop-the-world mark of the Go reference harness's `gc tree` heap.
//!
//! - `alloc` (no gobench counterpart): one goroutine allocating objects of
//!   8, 24 and 64 bytes (`new_object` of a 1-, 3- and 8-word type) and
//!   dropping them, with the default GOGC=100, so the figure includes the
//!   collections and lazy sweeping the garbage causes, as a Go allocation
//!   benchmark's does. Alternative: `Box::new` of the same sizes, dropped at
//!   once (the Rust allocator's free list).
//! - `mark` (gobench `gc tree 1`): a complete binary tree of 2^20-1 nodes
//!   {left, right *node; val int64}, rooted in a global; each iteration is
//!   one forced collection, timed by the collector's own mark-phase clock;
//!   criterion's throughput is objects marked per second of mark time (the
//!   mark is single-threaded, so per CPU-second too). Go: `gobench gc tree
//!   1` prints `gc_tree_mobj_per_cpu_s`.
//!
//! ```text
//! /tmp/gobench gc tree 1
//! cargo bench -p gort-benches --bench heap
//! ```

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gort::{gc, last_cycle, new_object, Root, Type};
use gort_benches::{gort_run, tree};

fn bench_alloc(c: &mut Criterion) {
    let mut g = c.benchmark_group("alloc");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(1));
    for words in [1usize, 3, 8] {
        let bytes = words * 8;
        g.bench_function(BenchmarkId::new("gort", format!("{bytes}B")), |b| {
            b.iter_custom(|iters| {
                gort_run(1, move || {
                    let ty = Type::new("bench.obj", words, &[]);
                    let t0 = Instant::now();
                    for i in 0..iters {
                        let p = new_object(ty);
                        p.store(0, i);
                        std::hint::black_box(p);
                    }
                    t0.elapsed()
                })
            })
        });
        g.bench_function(
            BenchmarkId::new("box", format!("{bytes}B")),
            |b| match words {
                1 => b.iter(|| drop(std::hint::black_box(Box::new([0u64; 1])))),
                3 => b.iter(|| drop(std::hint::black_box(Box::new([0u64; 3])))),
                _ => b.iter(|| drop(std::hint::black_box(Box::new([0u64; 8])))),
            },
        );
    }
    g.finish();
}

fn bench_mark(c: &mut Criterion) {
    let nodes = tree::nodes(20);
    let mut g = c.benchmark_group("mark");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(nodes));
    g.bench_function(BenchmarkId::new("gort", "tree_2^20"), |b| {
        b.iter_custom(|iters| {
            gort_run(1, move || {
                let root = Root::new(tree::build(tree::node_type(), 20));
                gc();
                gc();
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    gc();
                    let c = last_cycle().expect("a cycle ran");
                    assert_eq!(c.marked_objects, nodes);
                    total += Duration::from_nanos(c.mark_ns);
                }
                drop(root);
                total
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench_alloc, bench_mark);
criterion_main!(benches);
