//! Profiling harness for stop-the-world marking (gobench `gc tree`): a
//! complete binary tree of 2^20-1 nodes {left, right, val}, 2 warm-up
//! collections, then 8 forced ones; prints mark throughput. With
//! `MARKPERF_MAP=1`, also a `map[int]*node` with an entry per node (the
//! heap of gobench's `gc concurrent`).
//! `MARKPERF_PROCS=2` marks with two Ps (two idle mark workers sharing
//! the work) instead of one.
//! `cargo run --release -p gort-benches --example markperf`
use gort::{gc, last_cycle, Config, Map, Ptr, Root, Runtime};
use gort_benches::tree;

fn main() {
    Runtime::new(
        Config::from_env().gomaxprocs(
            std::env::var("MARKPERF_PROCS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(1),
        ),
    )
    .run(|| {
        let root = Root::new(tree::build(tree::node_type(), 20));
        let all: Map<Ptr> = Map::new();
        let _all_root = Root::new(all.hmap().0);
        if std::env::var_os("MARKPERF_MAP").is_some() {
            tree::map_every_node(root.load(), &all, 0);
        }
        gc();
        gc();
        let mut rates = Vec::new();
        for _ in 0..8 {
            gc();
            let c = last_cycle().unwrap();
            rates.push(c.marked_objects as f64 / (c.mark_ns as f64 / 1e9) / 1e6);
            eprintln!(
                "marked {} objects ({} MB) in {:.2} ms: {:.1} M objects/s; pause {:.2} ms",
                c.marked_objects,
                c.marked_bytes >> 20,
                c.mark_ns as f64 / 1e6,
                rates.last().unwrap(),
                c.pause_ns as f64 / 1e6
            );
        }
        rates.sort_by(|a, b| a.partial_cmp(b).unwrap());
        eprintln!("median {:.1} M objects per mark-second", rates[4]);
        drop(root);
    });
}
