//! gctree: the collector at work, watched through `GODEBUG=gctrace=1`.
//!
//! The Go program it mirrors (the reference harness's `gc tree` heap, plus
//! garbage so the pacer starts collections on its own):
//!
//! ```go
//! type node struct { left, right *node; val int64 }
//! var root *node                         // a global: the collector's root
//! root = build(depth)                    // a complete binary tree
//! for i := 0; i < cycles; i++ { runtime.GC() }
//! for i := 0; i < garbage; i++ { _ = &node{val: int64(i)} }  // GOGC paces
//! ```
//!
//! Then it walks the tree to check that every node survived, and prints the
//! run's MemStats. Try `GOGC=50` or `GOGC=off`, `GOMAXPROCS`, or
//! `GODEBUG=gctrace=1,simseed=7` for a replayable run in virtual time.
//!
//! Usage: `gctree [--depth N] [--cycles N] [--garbage N]`
//! GODEBUG defaults to `gctrace=1` when unset.

use gort::{gc, last_cycle, new_object, read_mem_stats, Config, Root, Runtime};
use gort_benches::tree::{build, count, node_type, nodes};

struct Args {
    depth: u32,
    cycles: usize,
    garbage: u64,
}

fn usage(msg: &str) -> ! {
    eprintln!("gctree: {msg}");
    eprintln!("usage: gctree [--depth N (1..=24)] [--cycles N] [--garbage N]");
    std::process::exit(2);
}

fn parse_args() -> Args {
    let mut a = Args {
        depth: 20,
        cycles: 4,
        garbage: 2_000_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = |name: &str| -> u64 {
            let v = it
                .next()
                .unwrap_or_else(|| usage(&format!("{name} needs a value")));
            v.parse()
                .unwrap_or_else(|_| usage(&format!("{name}: {v:?} is not a non-negative integer")))
        };
        match flag.as_str() {
            "--depth" => {
                let d = val("--depth");
                if !(1..=24).contains(&d) {
                    usage(&format!("--depth: {d} is not between 1 and 24"));
                }
                a.depth = d as u32;
            }
            "--cycles" => a.cycles = val("--cycles") as usize,
            "--garbage" => a.garbage = val("--garbage"),
            "-h" | "--help" => usage("a tree heap, forced and paced collections, gctrace"),
            other => usage(&format!("unknown flag {other:?}")),
        }
    }
    a
}

fn main() {
    let args = parse_args();
    let mut cfg = Config::from_env();
    if std::env::var_os("GODEBUG").is_none() {
        cfg = cfg.gctrace(1);
    }
    let exit = Runtime::new(cfg).run(move || {
        let node = node_type();
        let root = Root::new(build(node, args.depth));
        let nodes = nodes(args.depth);
        for _ in 0..args.cycles {
            gc();
        }
        if let Some(c) = last_cycle() {
            gort::println!(
                "gctree: {nodes} nodes; last forced collection marked {} objects in {:.2} ms ({:.1} M objects/s), pause {:.2} ms",
                c.marked_objects,
                c.mark_ns as f64 / 1e6,
                c.marked_objects as f64 / (c.mark_ns.max(1) as f64 / 1e9) / 1e6,
                c.pause_ns as f64 / 1e6
            );
        }
        let before = read_mem_stats().num_gc;
        for i in 0..args.garbage {
            let g = new_object(node);
            g.store(2, i);
        }
        let st = read_mem_stats();
        assert_eq!(count(root.load(), args.depth), nodes);
        gort::println!(
            "gctree: {} garbage nodes caused {} collections; every tree node survived; HeapAlloc {} MB, HeapObjects {}, NumGC {}, PauseTotalNs {}",
            args.garbage,
            st.num_gc - before,
            st.heap_alloc >> 20,
            st.heap_objects,
            st.num_gc,
            st.pause_total_ns
        );
    });
    std::process::exit(exit.status);
}
