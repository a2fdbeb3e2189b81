//! The execution tracer's recording (`Config::trace`): the events a run
//! records, at Go's emit sites, in an order Go's trace parser accepts.

use gort::{gc, Chan, Map, WaitGroup};
use gort_scheduler::trace::{StwKind, TraceEvent, TraceRecord};

mod common;
use common::{det, run_ok};

/// Three goroutines that each insert into a shared map under a channel
/// hand-off (so the map grows), a collection, and main waiting.
fn program() {
    let m: Map<i64> = Map::new();
    let ch: Chan<i64> = Chan::new(0);
    let wg = std::sync::Arc::new(WaitGroup::new());
    for g in 0..3i64 {
        wg.add(1);
        let (ch, wg) = (ch.clone(), wg.clone());
        gort::go!(move || {
            ch.send(g);
            wg.done();
        });
    }
    for _ in 0..3 {
        let g = ch.recv().unwrap();
        gort::trace::with_region("fill", || {
            for i in 0..40 {
                m.insert(g * 100 + i, i);
            }
        });
        gort::trace::log("scenario", format!("goroutine {g}'s keys are in"));
    }
    gc();
    wg.wait();
}

fn records(cfg: gort::Config) -> Vec<TraceRecord> {
    let rt = run_ok(cfg.trace(), program);
    rt.config().trace_records()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum GState {
    Runnable,
    Running(usize),
    Waiting,
    Dead,
}

/// Checks the stream against the rules Go's trace parser enforces
/// (internal/trace/parser.go: a goroutine's events only while it runs on
/// that P, starts only of runnable goroutines, unblocks only of waiting
/// ones, GC and stop-the-world phases paired); returns the violations.
fn violations(recs: &[TraceRecord]) -> Vec<String> {
    use std::collections::HashMap;
    let mut bad = Vec::new();
    let mut gs: HashMap<u64, GState> = HashMap::new();
    let mut on_p: HashMap<usize, u64> = HashMap::new();
    // Goroutine 1 exists before the trace starts, as in Go's StartTrace.
    let (mut gc_open, mut stw_open) = (false, false);
    let mut sweeping = std::collections::HashSet::new();
    for r in recs {
        let mut err = |m: String| bad.push(format!("seq {} {:?}: {m}", r.seq, r.ev));
        let running_here = |gs: &HashMap<u64, GState>, g: u64| {
            r.p.is_some_and(|p| gs.get(&g) == Some(&GState::Running(p)))
        };
        match &r.ev {
            TraceEvent::GoCreate { g, .. } => {
                if gs.get(g).is_some_and(|s| *s != GState::Dead) {
                    err(format!("g {g} already exists"));
                }
                if r.g != 0 && !running_here(&gs, r.g) {
                    err(format!("creator g {} is not running on this P", r.g));
                }
                gs.insert(*g, GState::Runnable);
            }
            TraceEvent::GoStart { g } => {
                let p = r.p.expect("GoStart without a P");
                if gs.get(g) != Some(&GState::Runnable) {
                    err(format!(
                        "g {g} is not runnable before start: {:?}",
                        gs.get(g)
                    ));
                }
                if let Some(other) = on_p.get(&p) {
                    err(format!("p {p} already runs g {other}"));
                }
                gs.insert(*g, GState::Running(p));
                on_p.insert(p, *g);
            }
            TraceEvent::GoEnd
            | TraceEvent::GoBlock { .. }
            | TraceEvent::GoSched
            | TraceEvent::GoPreempt => {
                if !running_here(&gs, r.g) {
                    err(format!("g {} is not running on p {:?}", r.g, r.p));
                }
                let next = match r.ev {
                    TraceEvent::GoEnd => GState::Dead,
                    TraceEvent::GoBlock { .. } => GState::Waiting,
                    _ => GState::Runnable,
                };
                gs.insert(r.g, next);
                if let Some(p) = r.p {
                    on_p.remove(&p);
                }
            }
            TraceEvent::GoUnblock { g } => {
                if gs.get(g) != Some(&GState::Waiting) {
                    err(format!(
                        "g {g} is not waiting before unblock: {:?}",
                        gs.get(g)
                    ));
                }
                gs.insert(*g, GState::Runnable);
            }
            TraceEvent::SweepStart if !sweeping.insert(r.p) => {
                err("sweep started twice on a P".into());
            }
            TraceEvent::SweepDone { .. } if !sweeping.remove(&r.p) => {
                err("bogus sweep end".into());
            }
            TraceEvent::GcStart { .. } => {
                if gc_open {
                    err("GC started twice".into());
                }
                gc_open = true;
            }
            TraceEvent::GcDone => {
                if !gc_open {
                    err("bogus GC end".into());
                }
                gc_open = false;
            }
            TraceEvent::StwStart { .. } => {
                if stw_open {
                    err("STW started twice".into());
                }
                stw_open = true;
            }
            TraceEvent::StwDone => {
                if !stw_open {
                    err("bogus STW end".into());
                }
                stw_open = false;
            }
            _ => {}
        }
    }
    bad
}

#[test]
fn the_stream_keeps_go_parsers_rules_in_both_modes() {
    for seed in 0..20 {
        let recs = records(det(seed, 2));
        let v = violations(&recs);
        assert!(v.is_empty(), "seed {seed}:\n{}", v.join("\n"));
        // Nothing for the Go writer to repair either.
        let st = gort::trace::go119::write_go119(&recs, 2, &mut Vec::new()).unwrap();
        assert_eq!((st.inserted, st.dropped), (0, 0), "seed {seed}: {st:?}");
    }
    for _ in 0..5 {
        let recs = records(gort::Config::new().gomaxprocs(2).capture_output());
        let v = violations(&recs);
        assert!(v.is_empty(), "parallel mode:\n{}", v.join("\n"));
    }
}

#[test]
fn a_seed_replays_the_same_trace() {
    assert_eq!(records(det(7, 2)), records(det(7, 2)));
}

/// Each of the program's goroutines is created, started and ended; the
/// map's five doublings and 31 evacuations and the collection's phases
/// are there, in Go's order.
#[test]
fn goroutines_map_growth_and_the_collection_are_traced() {
    let recs = records(det(3, 2));
    for g in [5u64, 6, 7] {
        let at = |f: &dyn Fn(&TraceRecord) -> bool| recs.iter().position(f);
        let create = at(&|r| matches!(r.ev, TraceEvent::GoCreate { g: x, .. } if x == g));
        let start = at(&|r| r.ev == TraceEvent::GoStart { g });
        let end = at(&|r| r.g == g && r.ev == TraceEvent::GoEnd);
        assert!(
            create.is_some() && create < start && start < end,
            "g {g}: {create:?} {start:?} {end:?}"
        );
    }
    let logs = |prefix: &str| {
        recs.iter()
            .filter_map(|r| match r.ev.as_log() {
                Some(("map", message)) if message.starts_with(prefix) => Some(message.into_owned()),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let grows = logs("hashGrow");
    assert_eq!(grows.len(), 5, "{grows:?}");
    for (i, m) in grows.iter().enumerate() {
        assert!(m.contains(&format!("B={} sameSize=false", i + 1)), "{m}");
    }
    assert_eq!(logs("evacuate").len(), 1 + 2 + 4 + 8 + 16);
    let scenario = |r: &&TraceRecord| {
        matches!(
            &r.ev,
            TraceEvent::Log {
                category: "scenario",
                ..
            }
        )
    };
    assert_eq!(recs.iter().filter(scenario).count(), 3);
    let regions = recs
        .iter()
        .filter(|r| matches!(r.ev, TraceEvent::Region { name: "fill", .. }) && r.g == 1)
        .count();
    assert_eq!(regions, 6, "three regions, each started and ended by main");
    // bgsweep sweeps after the collection, a Start/Done pair per span.
    let swept: u64 = recs
        .iter()
        .filter_map(|r| match r.ev {
            TraceEvent::SweepDone { swept, .. } => Some(swept),
            _ => None,
        })
        .sum();
    assert!(swept >= 8192, "no span swept: {swept}");
    let gc: Vec<&TraceEvent> = recs
        .iter()
        .map(|r| &r.ev)
        .filter(|e| {
            matches!(
                e,
                TraceEvent::GcStart { .. }
                    | TraceEvent::GcDone
                    | TraceEvent::StwStart { .. }
                    | TraceEvent::StwDone
            )
        })
        .collect();
    assert_eq!(
        gc,
        [
            &TraceEvent::GcStart { seq: 0 },
            &TraceEvent::StwStart {
                kind: StwKind::SweepTermination
            },
            &TraceEvent::StwDone,
            &TraceEvent::StwStart {
                kind: StwKind::MarkTermination
            },
            &TraceEvent::GcDone,
            &TraceEvent::StwDone,
        ]
    );
}

/// A fatal error and a race report are in the trace, as gort's own log
/// events.
#[test]
fn a_race_report_and_a_fatal_error_are_traced() {
    let rt = gort::Runtime::new(det(0, 2).race(true).trace());
    let e = common::run(&rt, || {
        let m: Map<i64> = Map::new();
        let wg = std::sync::Arc::new(WaitGroup::new());
        for g in 0..2i64 {
            wg.add(1);
            let wg = wg.clone();
            gort::go!(move || {
                for i in 0..2000 {
                    m.insert(i, g);
                }
                wg.done();
            });
        }
        wg.wait();
    });
    let recs = rt.config().trace_records();
    let cat = |c: &str| {
        recs.iter()
            .filter(|r| matches!(&r.ev, TraceEvent::Log { category, .. } if *category == c))
            .count()
    };
    assert!(cat("race") >= 1, "no race report traced");
    assert_eq!(cat("fatal"), usize::from(e.status == 2));
}

/// Goroutines `program` starts.
const PROGRAM_GOROUTINES: u64 = 3;

/// The program's trace file, written by a run with `trace_to`, and the
/// collections the run finished (`ReadMemStats().NumGC`, read at the end
/// of main).
fn traced_run(name: &str, seed: u64) -> (std::path::PathBuf, u32) {
    let dir = std::env::temp_dir().join(format!("gort-trace-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("run.trace");
    let num_gc = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let n = num_gc.clone();
    let cfg = det(seed, 2).trace_to(&path).unwrap();
    let rt = run_ok(cfg, move || {
        program();
        n.store(
            gort::read_mem_stats().num_gc,
            std::sync::atomic::Ordering::Relaxed,
        );
    });
    assert!(
        rt.config().trace_records().is_empty(),
        "the run's end wrote (and took) every record"
    );
    (path, num_gc.load(std::sync::atomic::Ordering::Relaxed))
}

/// Go 1.19's own tool reads a traced run: `go tool trace -d` parses it
/// and lists as many goroutines created and collections started as the
/// run recorded (the same seed replayed in memory) and finished
/// (`NumGC`), and the map's growth as user logs; `-pprof=sched` makes a
/// profile from it.
#[test]
#[cfg_attr(gort_no_go, ignore = "needs Go 1.19 (apt-get install golang-go)")]
fn go_tool_trace_reads_a_traced_run() {
    let (path, num_gc) = traced_run("gotool", 3);
    let recs = records(det(3, 2));
    let created = recs
        .iter()
        .filter(|r| matches!(r.ev, TraceEvent::GoCreate { .. }))
        .count() as u64;
    let out = std::process::Command::new("go")
        .args(["tool", "trace", "-d"])
        .arg(&path)
        .output()
        .expect("go tool trace");
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "go tool trace -d failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let count = |name: &str| {
        listing
            .lines()
            .filter(|l| l.split_whitespace().nth(1) == Some(name))
            .count() as u64
    };
    assert_eq!(count("GoCreate"), created, "{listing}");
    // Main, the program's three, two mark workers, forcegc and bgsweep.
    assert_eq!(created, 1 + PROGRAM_GOROUTINES + 2 + 2);
    assert_eq!(count("GCStart"), u64::from(num_gc), "{listing}");
    assert_eq!(count("GCDone"), u64::from(num_gc));
    assert!(num_gc >= 1);
    assert_eq!(
        listing.matches("hashGrow").count(),
        5,
        "the map's doublings as user logs"
    );
    let prof = std::process::Command::new("go")
        .args(["tool", "trace", "-pprof=sched"])
        .arg(&path)
        .output()
        .expect("go tool trace -pprof");
    assert!(prof.status.success() && !prof.stdout.is_empty());
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

/// The same seed writes the same file, byte for byte.
#[test]
fn a_seed_writes_the_same_trace_file() {
    let (a, _) = traced_run("same-a", 5);
    let (b, _) = traced_run("same-b", 5);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    std::fs::remove_dir_all(a.parent().unwrap()).unwrap();
    std::fs::remove_dir_all(b.parent().unwrap()).unwrap();
}
