//! Stop-the-world pauses of concurrent collections under load: gobench's
//! `gc concurrent 2` workload (`../shared/bench-anchor/gobench.go`) in
//! gort, measured from gort's own gctrace lines the way gobench measures
//! Go's.
//!
//! The heap: the 2^20-1 node tree, a `map[int]*node` with one entry per
//! node, and the first 65,536 nodes in walk order (`gNodes`). Two
//! goroutines then loop `n := &node{val: i}; n.right = gNodes[i&0xffff];
//! m[i&0xffff] = n` on maps of their own for `GCPAUSE_MS` (default 2000)
//! while cycles start on their own (GOGC). Each cycle's pause is the longer
//! of its two stop-the-world phases (sweep termination, mark termination),
//! as gobench takes it; mark CPU is the assist + background + idle figure
//! of the same line. Prints p50, p95 and max pause, the median mark CPU,
//! the mark throughput (live objects / mark CPU second) and the mutator's
//! operations.
//!
//! `cargo run --release -p gort-benches --example gcpause` (GOMAXPROCS
//! defaults to 2, as gobench's `gc concurrent 2`; `GODEBUG` and `GOGC` are
//! read as usual; `GCPAUSE_TRACE=1` prints the gctrace lines).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gort::{gc, new_object, read_mem_stats, Config, Map, Ptr, Root, Runtime, WaitGroup};
use gort_benches::tree;

const SLOTS: i64 = 1 << 16;

/// One gctrace line's figures (gobench's `gcLine`).
struct Line {
    num: u32,
    stw1_ms: f64,
    stw2_ms: f64,
    mark_cpu_ms: f64,
}

/// Parses `gc N @Ts P%: a+b+c ms clock, d+e/f/g+h ms cpu, ...`.
fn parse(line: &str) -> Option<Line> {
    let rest = line.strip_prefix("gc ")?;
    let num = rest.split(' ').next()?.parse().ok()?;
    let (_, after) = rest.split_once("%: ")?;
    let (clock, after) = after.split_once(" ms clock, ")?;
    let (cpu, _) = after.split_once(" ms cpu")?;
    let clock: Vec<f64> = clock.split('+').filter_map(|x| x.parse().ok()).collect();
    let cpu: Vec<&str> = cpu.split('+').collect();
    let mark: Vec<f64> = cpu
        .get(1)?
        .split('/')
        .filter_map(|x| x.parse().ok())
        .collect();
    if clock.len() != 3 || mark.len() != 3 {
        return None;
    }
    Some(Line {
        num,
        stw1_ms: clock[0],
        stw2_ms: clock[2],
        mark_cpu_ms: mark.iter().sum(),
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let ms: u64 = std::env::var("GCPAUSE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let mut cfg = Config::from_env().gctrace(1).capture_output();
    if std::env::var_os("GOMAXPROCS").is_none() {
        cfg = cfg.gomaxprocs(2);
    }
    let start_gc = Arc::new(AtomicU64::new(0));
    let live = Arc::new(AtomicU64::new(0));
    let ops = Arc::new(AtomicU64::new(0));
    let (s, l, o) = (start_gc.clone(), live.clone(), ops.clone());
    let rt = Runtime::new(cfg);
    let exit = rt.run(move || {
        let ty = tree::node_type();
        let root = Root::new(tree::build(ty, 20));
        let all: Map<Ptr> = Map::new();
        let all_root = Root::new(all.hmap().0);
        let nodes = tree::map_every_node(root.load(), &all, SLOTS as usize);
        gc();
        gc();
        let st = read_mem_stats();
        s.store(u64::from(st.num_gc), Ordering::Relaxed);
        l.store(st.heap_objects, Ordering::Relaxed);
        // The tree keeps every node of `nodes` alive.
        let nodes = Arc::new(nodes);
        let stop = Arc::new(AtomicBool::new(false));
        let wg = Arc::new(WaitGroup::new());
        for _ in 0..2 {
            wg.add(1);
            let (nodes, stop, wg, o) = (nodes.clone(), stop.clone(), wg.clone(), o.clone());
            gort::go!(move || {
                let m: Map<Ptr> = Map::with_hint(SLOTS as usize);
                let mut i = 0i64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..256 {
                        let n = new_object(ty);
                        n.store(2, i as u64);
                        n.store_ptr(1, nodes[(i & (SLOTS - 1)) as usize]);
                        m.insert(i & (SLOTS - 1), n);
                        i += 1;
                    }
                    gort::preempt_point();
                }
                o.fetch_add(i as u64, Ordering::Relaxed);
                wg.done();
            });
        }
        gort::sleep(Duration::from_millis(ms));
        stop.store(true, Ordering::Relaxed);
        wg.wait();
        drop((root, all_root));
    });
    assert_eq!(exit.status, 0, "{}", rt.stderr());
    if std::env::var_os("GCPAUSE_TRACE").is_some() {
        eprint!("{}", rt.stderr());
    }
    let start = start_gc.load(Ordering::Relaxed) as u32;
    let lines: Vec<Line> = rt
        .stderr()
        .lines()
        .filter_map(parse)
        .filter(|l| l.num > start)
        .collect();
    if lines.is_empty() {
        println!(
            "gort gc concurrent {}: no collection started during the {ms} ms of mutation (run longer: GCPAUSE_MS)",
            gort_procs()
        );
        return;
    }
    let mut pauses: Vec<f64> = lines
        .iter()
        .map(|l| l.stw1_ms.max(l.stw2_ms) * 1e3)
        .collect();
    pauses.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mut cpu: Vec<f64> = lines.iter().map(|l| l.mark_cpu_ms).collect();
    cpu.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mark_cpu = percentile(&cpu, 0.5);
    let live = live.load(Ordering::Relaxed) as f64;
    println!(
        "gort gc concurrent {}: {} cycles in {} ms; STW pause per cycle p50 {:.0} us, p95 {:.0} us, max {:.0} us; mark CPU median {:.2} ms ({:.1} M live objects per mark-CPU second); mutator {:.1} M ops",
        gort_procs(),
        lines.len(),
        ms,
        percentile(&pauses, 0.5),
        percentile(&pauses, 0.95),
        pauses[pauses.len() - 1],
        mark_cpu,
        live / 1e6 / (mark_cpu / 1e3),
        ops.load(Ordering::Relaxed) as f64 / 1e6,
    );
    if std::env::var_os("GCPAUSE_ECHO").is_some() {
        eprint!("{}", rt.stderr());
    }
}

fn gort_procs() -> String {
    std::env::var("GOMAXPROCS").unwrap_or_else(|_| "2".into())
}
