//! GC torture: the churn workload (tests/common/churn.rs) over seed
//! ranges, in deterministic and parallel mode; replay of a seed, gctrace
//! included; runtimes of both modes side by side in one process; and the
//! broken-collector settings that must lose objects.
//!
//! The seed range of the sweeps comes from `GORT_SEEDS` (`a..b` or a
//! count), the number of seeds run side by side from
//! `GORT_SWEEP_THREADS`. A loss fails a test with the seed and the fatal
//! error (or payload mismatch) it died of; replay a seed alone with
//! `GORT_SEEDS=n..n+1`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::Duration;

use gort::{gc, new_object, Ptr, Root, Runtime, Type};

mod common;
use common::churn::{self, Outcome, Params};

/// The sweep's settings for this test run (seeds side by side from the
/// environment).
/// The tests of this file run one at a time: a deterministic run replays
/// byte for byte only when no other runtime of the process disturbs it
/// (see `runtimes_side_by_side_keep_every_object`).
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn params() -> Params {
    Params {
        threads: churn::threads_from_env(2),
        ..Params::default()
    }
}

/// The map-churn workload the barrier-mode losses are measured on:
/// pointers moved between objects and maps growing.
fn churn_params() -> Params {
    Params {
        moves: true,
        map_growth: true,
        timeout: Duration::from_secs(60),
        ..params()
    }
}

/// Fails with every lost or failed seed's report.
fn assert_clean(what: &str, r: &churn::Report) {
    eprintln!("{what}: {}", r.summary().trim_end());
    assert!(
        r.lost().is_empty() && r.other().is_empty(),
        "{what}: reachable objects lost or runs failed:\n{}",
        r.summary()
    );
}

/// 200 seeds (`GORT_SEEDS` to change) in deterministic mode at
/// GOMAXPROCS=2: no object is ever lost.
#[test]
fn deterministic_sweep_loses_nothing() {
    let _serial = serial();
    let seeds = churn::seeds_from_env(0..200);
    let r = churn::sweep(seeds, "", &params());
    assert_clean("deterministic sweep", &r);
    assert!(
        r.cycles() >= 5 * r.runs.len() as u64,
        "too few collections to torture anything: {}",
        r.summary()
    );
}

/// The long sweep.
#[test]
#[ignore = "10,000 seeds, minutes: cargo test -p gort --release --test gc_torture -- --ignored deterministic_sweep_10000 (GORT_SEEDS=a..b for another range, GORT_SWEEP_THREADS=n side by side)"]
fn deterministic_sweep_10000() {
    let _serial = serial();
    let seeds = churn::seeds_from_env(0..10_000);
    let r = churn::sweep(seeds, "", &params());
    assert_clean("deterministic sweep (long)", &r);
}

/// Parallel mode at GOMAXPROCS=2: real concurrency between the mutators,
/// the mark workers and the driver's collections, over many cycles.
#[test]
fn parallel_many_cycles_lose_nothing() {
    let _serial = serial();
    let p = Params {
        det: false,
        threads: 1,
        ops: 400,
        gc_every: 10,
        ..Params::default()
    };
    let r = churn::sweep(0..20, "", &p);
    assert_clean("parallel", &r);
    assert!(
        r.cycles() >= 50,
        "only {} collections ran: {}",
        r.cycles(),
        r.summary()
    );
}

/// A seed replays byte for byte: stdout and stderr (the gctrace lines:
/// cycle numbers, heap sizes, virtual times) are identical across runs.
#[test]
fn a_seed_replays_byte_for_byte_with_gctrace() {
    let _serial = serial();
    let p = Params {
        extra_godebug: "gctrace=1".into(),
        ..Params::default()
    };
    // Seed 10 once replayed with a different number of collections in one
    // process: stale words the arena pool's code left on a goroutine stack.
    for seed in [3, 10, 77] {
        let runs: Vec<churn::Run> = (0..3).map(|_| churn::run_seed(seed, &p)).collect();
        let a = &runs[0];
        assert!(
            matches!(a.outcome, Outcome::Ok { .. }),
            "seed {seed}: {:?}",
            a.outcome
        );
        let traces = a.stderr.lines().filter(|l| l.starts_with("gc ")).count();
        assert!(
            traces >= 3,
            "seed {seed}: {traces} gctrace lines:\n{}",
            a.stderr
        );
        for b in &runs[1..] {
            assert_eq!(a.stdout, b.stdout, "seed {seed}: stdout differs");
            assert_eq!(a.stderr, b.stderr, "seed {seed}: stderr differs");
        }
    }
}

/// Deterministic runtimes beside each other and beside a parallel-mode
/// runtime in one process: every deterministic seed still loses nothing. Runtimes share the process's
/// arenas and goroutine stack slots, so a collector that took another
/// runtime's pointers (stale words on a reused stack slot) for its own
/// would mark objects of a heap it does not own: that heap then skips
/// scanning them (already marked) and loses what they point to, and the
/// marking runtime's own counts, pacing and step sequence change.
#[test]
fn runtimes_side_by_side_keep_every_object() {
    let _serial = serial();
    let det = Params {
        extra_godebug: "gctrace=1".into(),
        threads: 1,
        ..Params::default()
    };
    let seeds = churn::seeds_from_env(0..24);
    // Each seed alone first.
    let alone: Vec<churn::Run> = seeds.clone().map(|s| churn::run_seed(s, &det)).collect();
    for a in &alone {
        assert!(
            matches!(a.outcome, Outcome::Ok { .. }),
            "seed {} alone: {:?}",
            a.seed,
            a.outcome
        );
    }
    // Then beside a parallel runtime running the workload over and over,
    // two deterministic seeds at a time.
    let stop = Arc::new(AtomicBool::new(false));
    let par_runs = Arc::new(AtomicU64::new(0));
    let par = {
        let (stop, par_runs) = (stop.clone(), par_runs.clone());
        std::thread::spawn(move || {
            let p = Params {
                det: false,
                ..Params::default()
            };
            let mut bad = Vec::new();
            let mut seed = 0;
            while !stop.load(Ordering::Relaxed) {
                let r = churn::run_seed(seed, &p);
                if !matches!(r.outcome, Outcome::Ok { .. }) {
                    bad.push(r);
                }
                par_runs.fetch_add(1, Ordering::Relaxed);
                seed += 1;
            }
            bad
        })
    };
    let beside = churn::sweep(seeds, "", &Params { threads: 2, ..det });
    stop.store(true, Ordering::Relaxed);
    let par_bad = par.join().expect("parallel runtime thread");
    assert_clean("deterministic seeds beside a parallel runtime", &beside);
    // What they print may differ from their runs alone: the collector is
    // conservative on stacks, and what a stale stack word holds can
    // depend on the rest of the process (where the arenas are, which
    // lazily built type another runtime built first), which changes what
    // is retained, the pacing, and so the interleaving. A seed replays
    // byte for byte when its runtime runs alone in the process
    // (`a_seed_replays_byte_for_byte_with_gctrace`).
    assert_eq!(alone.len(), beside.runs.len());
    assert!(
        par_bad.is_empty(),
        "the parallel runtime beside them failed: {:?}",
        par_bad
            .iter()
            .map(|r| format!("seed {}: {:?}", r.seed, r.outcome))
            .collect::<Vec<_>>()
    );
    assert!(par_runs.load(Ordering::Relaxed) > 0);
}

/// `type pair struct { next *pair; val int64 }`.
fn pair() -> &'static Type {
    static T: OnceLock<&'static Type> = OnceLock::new();
    T.get_or_init(|| Type::new("torture.pair", 2, &[0]))
}

/// Overwrites the stack below the caller's frame, so dead frames hold no
/// stale copies of pointers.
#[inline(never)]
fn clobber_stack() {
    let mut buf = [0u64; 2048];
    std::hint::black_box(&mut buf);
}

/// Links a new object holding 42 under `x`, leaving no copy of its
/// address on the caller's stack.
#[inline(never)]
fn link_new(x: Ptr) {
    let y = new_object(pair());
    y.store(1, 42);
    x.store_ptr(0, y);
}

/// The loss side by side runtimes caused, made deterministic: runtime B
/// holds the address of runtime A's object X on its stack (as a stale
/// word of a stack slot A used would be) and collects; then A links a new
/// object under X and collects. B's collection must not mark X in A's
/// heap: a mark bit set there outside A's cycle makes A's next mark take X
/// for already scanned, and free what X points to.
#[test]
fn another_runtimes_collection_does_not_mark_this_heap() {
    let _serial = serial();
    let (to_b, from_a) = mpsc::channel::<usize>();
    let (to_a, from_b) = mpsc::channel::<()>();
    let a = Runtime::new(common::det(1, 1));
    let b = Runtime::new(common::par(1));
    let (ra, rb) = (a.clone(), b.clone());
    // `Runtime::run`, not `common::run` (which keeps deterministic
    // runtimes alone): A must run beside B.
    let ta = std::thread::spawn(move || {
        ra.run(move || {
            let root = Root::new(new_object(pair()));
            to_b.send(root.load().0).unwrap();
            from_b.recv().unwrap();
            link_new(root.load());
            clobber_stack();
            gc();
            let y = root.load().load_ptr(0);
            assert_eq!(y.load(1), 42);
        })
    });
    let tb = std::thread::spawn(move || {
        rb.run(move || {
            let x = Ptr(from_a.recv().unwrap());
            std::hint::black_box(&x);
            gc();
            std::hint::black_box(&x);
            to_a.send(()).unwrap();
        })
    });
    let (ea, eb) = (ta.join().unwrap(), tb.join().unwrap());
    assert_eq!(eb.status, 0, "runtime B:\n{}", b.stderr());
    assert_eq!(ea.status, 0, "runtime A lost an object:\n{}", a.stderr());
}

/// Runs seeds 0-99 with `extra` and asserts that some lose an object and
/// that some verifier report's path goes through `through` (a map's
/// `.buckets` or `.oldbuckets`).
fn assert_losses_through(extra: &str, through: &str, p: &Params) {
    let r = churn::sweep(0..100, extra, p);
    eprintln!("{extra}: {}", r.summary().trim_end());
    assert!(
        !r.lost().is_empty(),
        "{extra} lost nothing in 100 seeds: the workload no longer exercises it"
    );
    assert!(
        r.lost().iter().any(|run| matches!(&run.outcome,
            Outcome::Lost(t) if t.contains("runtime: checkmark path:") && t.contains(through))),
        "{extra}: no report names a path through {through}:\n{}",
        r.summary()
    );
}

/// The broken settings lose objects: with the barrier off, a pointer moved
/// from an unscanned object into a scanned one across a stack scan is
/// freed while reachable.
#[test]
fn without_the_write_barrier_objects_are_lost() {
    let _serial = serial();
    let p = churn_params();
    assert_losses_through("wbmode=off", ".buckets", &p);
}

/// Leaving a growing map's oldbuckets unscanned loses the entries not
/// yet evacuated.
#[test]
fn without_scanning_oldbuckets_objects_are_lost() {
    let _serial = serial();
    let p = Params {
        map_growth: true,
        map_keys: 200,
        timeout: Duration::from_secs(60),
        ..params()
    };
    assert_losses_through("gcscanold=0", ".oldbuckets", &p);
}

/// README's table of loss rates: the map-churn workload over the same 100
/// seeds under each barrier mode and with oldbuckets unscanned, the
/// verifier on. Prints a Markdown row per setting and the first report's
/// path line of each.
#[test]
#[ignore = "a measurement for README: cargo test -p gort --release --test gc_torture -- --ignored loss_rate_table --nocapture"]
fn loss_rate_table() {
    let _serial = serial();
    let p = churn_params();
    println!("| setting | seeds losing an object (of 100) | first path |");
    println!("|---|---|---|");
    for extra in [
        "wbmode=hybrid",
        "wbmode=dijkstra",
        "wbmode=yuasa",
        "wbmode=off",
        "gcscanold=0",
    ] {
        let r = churn::sweep(0..100, extra, &p);
        let lost = r.lost();
        let path = lost
            .iter()
            .find_map(|run| match &run.outcome {
                Outcome::Lost(t) => t
                    .lines()
                    .find(|l| l.starts_with("runtime: checkmark path:"))
                    .map(str::to_string),
                _ => None,
            })
            .unwrap_or_default();
        println!(
            "| `{extra}` | {} ({} other) | {} |",
            lost.len(),
            r.other().len(),
            path
        );
    }
}

/// A loss under a broken barrier is reproducible: the first seed that
/// loses an object with `wbmode=off` loses it again on every replay, with
/// the same report and the same gctrace, byte for byte.
#[test]
fn a_loss_replays_byte_for_byte() {
    let _serial = serial();
    let p = Params {
        extra_godebug: "gctrace=1,wbmode=off".into(),
        timeout: Duration::from_secs(60),
        ..params()
    };
    let first = (0..20)
        .map(|seed| churn::run_seed(seed, &p))
        .find(|r| matches!(r.outcome, Outcome::Lost(_)))
        .expect("wbmode=off lost nothing in seeds 0-19");
    assert!(first.stderr.contains("gc 1 @"), "{}", first.stderr);
    for _ in 0..2 {
        let again = churn::run_seed(first.seed, &p);
        assert!(matches!(again.outcome, Outcome::Lost(_)));
        assert_eq!(again.stdout, first.stdout, "seed {}", first.seed);
        assert_eq!(again.stderr, first.stderr, "seed {}", first.seed);
    }
}

/// The first line where two outputs differ, with its number, as each
/// run printed it (what changed: a gctrace heap size, a timestamp, the
/// program's own output).
fn first_difference(a: &str, b: &str) -> String {
    let (mut la, mut lb) = (a.lines(), b.lines());
    for n in 1.. {
        match (la.next(), lb.next()) {
            (Some(x), Some(y)) if x == y => continue,
            (x, y) => {
                return format!(
                    "line {n}: first run {:?}, replay {:?}",
                    x.unwrap_or("<end>"),
                    y.unwrap_or("<end>")
                )
            }
        }
    }
    unreachable!()
}

/// Each seed replays right after its own run in the same process, on a
/// new driver thread: nothing the first run left in the process (the Rust
/// allocator's free lists, pooled stack slots and arenas, interned types)
/// reaches the second run's goroutine stacks, where the conservative scan
/// would read it. Before the allocator ran off goroutine stacks
/// (`GoAlloc`), 12 of 40 seeds differed here.
#[test]
fn seeds_replay_after_their_own_run() {
    let _serial = serial();
    let p = Params {
        extra_godebug: "gctrace=1".into(),
        ..Params::default()
    };
    let mut differ = vec![];
    for seed in 0..12 {
        let a = churn::run_seed(seed, &p);
        assert!(
            matches!(a.outcome, Outcome::Ok { .. }),
            "seed {seed}: {:?}",
            a.outcome
        );
        let b = churn::run_seed(seed, &p);
        for (name, x, y) in [
            ("stdout", &a.stdout, &b.stdout),
            ("stderr", &a.stderr, &b.stderr),
        ] {
            if x != y {
                differ.push(format!("seed {seed}, {name}: {}", first_difference(x, y)));
            }
        }
    }
    assert!(
        differ.is_empty(),
        "replays that differed:\n{}",
        differ.join("\n")
    );
}
