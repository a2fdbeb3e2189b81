//! The trace exporters on a hand-built record stream: a realistic run on
//! 2 Ps (the main goroutine creating workers, a channel block and
//! unblock, a preemption, a Gosched, a full GC cycle with both stops of
//! the world, an assist and a sweep, heap size and goal, a map log, a
//! race report, a region). The Go 1.19 file must pass the real
//! `go tool trace` (its parser, and the scheduler-latency profile built
//! on it), with nothing dropped; a stream with a bogus event must still
//! pass with exactly that event dropped. The JSON must parse and hold
//! the tracks and slices a viewer shows.
//!
//! The `go tool trace` tests need Go on the PATH; without it the build
//! script sets `gort_no_go` and they are ignored (tests/go_compare.rs).

use std::path::PathBuf;
use std::process::Command;

use gort::trace::chrome::write_chrome;
use gort::trace::go119::{write_go119, Stats};
use gort::trace::{BlockReason, StwKind, TraceEvent, TraceRecord};

/// Records in recording order; every record 100 ns after the previous
/// one, except where a step shares its timestamp.
struct Stream {
    records: Vec<TraceRecord>,
    ts: u64,
}

impl Stream {
    fn new() -> Stream {
        Stream {
            records: Vec::new(),
            ts: 1_000,
        }
    }

    fn at(&mut self, p: Option<usize>, g: u64, ev: TraceEvent) -> &mut Stream {
        self.records.push(TraceRecord {
            seq: self.records.len() as u64,
            ts: self.ts,
            p,
            g,
            ev,
        });
        self.ts += 100;
        self
    }

    /// An event of the same deterministic step: same timestamp.
    fn same_step(&mut self, p: Option<usize>, g: u64, ev: TraceEvent) -> &mut Stream {
        self.ts -= 100;
        self.at(p, g, ev)
    }
}

fn create(g: u64) -> TraceEvent {
    TraceEvent::GoCreate {
        g,
        func: "main.worker",
        file: "/src/main.go",
        line: 12,
    }
}

fn log(category: &'static str, message: &str) -> TraceEvent {
    TraceEvent::Log {
        category,
        message: message.to_string(),
    }
}

/// The scenario. Main (goroutine 1, never created in the stream, as a
/// run traced from its start records it) creates workers 2 and 3.
fn scenario() -> Vec<TraceRecord> {
    use TraceEvent::*;
    let (p0, p1) = (Some(0), Some(1));
    let mut s = Stream::new();
    s.at(p0, 0, ProcStart { m: 0 })
        .at(p0, 0, GoStart { g: 1 })
        .at(p0, 1, create(2))
        .at(p0, 1, create(3))
        .at(p0, 1, HeapAlloc { bytes: 4 << 20 })
        .at(p0, 1, HeapGoal { bytes: 8 << 20 })
        .at(p1, 0, ProcStart { m: 1 })
        .at(p1, 0, GoStart { g: 2 })
        .at(
            p1,
            2,
            Region {
                name: "consume",
                start: true,
            },
        )
        .at(
            p1,
            2,
            GoBlock {
                reason: BlockReason::Recv,
            },
        )
        .same_step(p1, 0, GoStart { g: 3 })
        .at(p1, 3, log("map", "grow m=0xc000010000 B=3"))
        .at(p0, 1, GoUnblock { g: 2 })
        .at(p0, 1, GoSched)
        .same_step(p0, 0, GoStart { g: 2 })
        .at(
            p0,
            2,
            Region {
                name: "consume",
                start: false,
            },
        )
        .at(p0, 2, GoEnd)
        .at(p1, 3, GoPreempt)
        .at(p1, 0, GoStart { g: 1 })
        .at(p1, 1, GcStart { seq: 0 })
        .at(
            None,
            0,
            StwStart {
                kind: StwKind::SweepTermination,
            },
        )
        .at(None, 0, StwDone)
        .at(p1, 1, MarkAssistStart)
        .at(p1, 1, MarkAssistDone)
        .at(p0, 0, GoStart { g: 3 })
        .at(
            p0,
            3,
            log("race", "WARNING: DATA RACE: write by goroutine 3"),
        )
        .at(
            None,
            0,
            StwStart {
                kind: StwKind::MarkTermination,
            },
        )
        .at(None, 0, GcDone)
        .at(None, 0, HeapGoal { bytes: 16 << 20 })
        .at(None, 0, StwDone)
        .at(p0, 3, SweepStart)
        .at(
            p0,
            3,
            SweepDone {
                swept: 12,
                reclaimed: 49152,
            },
        )
        .at(p0, 3, HeapAlloc { bytes: 3 << 20 })
        .at(p0, 3, GoEnd)
        .at(p0, 0, ProcStop)
        .at(p1, 1, GoEnd)
        .at(p1, 0, ProcStop);
    s.records
}

fn count(records: &[TraceRecord], f: impl Fn(&TraceEvent) -> bool) -> usize {
    records.iter().filter(|r| f(&r.ev)).count()
}

fn go119(records: &[TraceRecord]) -> (Vec<u8>, Stats) {
    let mut out = Vec::new();
    let stats = write_go119(records, 2, &mut out).unwrap();
    (out, stats)
}

fn temp_file(name: &str, data: &[u8]) -> PathBuf {
    let path = std::env::temp_dir().join(format!("gort-{}-{name}", std::process::id()));
    std::fs::write(&path, data).unwrap();
    path
}

/// `go tool trace ARGS FILE`: (exit success, stdout, stderr).
fn go_tool_trace(args: &[&str], data: &[u8], name: &str) -> (bool, String, String) {
    let path = temp_file(name, data);
    let out = Command::new("go")
        .args(["tool", "trace"])
        .args(args)
        .arg(&path)
        .output()
        .expect("run go tool trace (needs Go 1.19 on the PATH)");
    let _ = std::fs::remove_file(&path);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The parsed events' lines of `go tool trace -d`, by name.
fn parsed(listing: &str, name: &str) -> Vec<String> {
    listing
        .lines()
        .filter(|l| l.split(' ').nth(1) == Some(name))
        .map(str::to_string)
        .collect()
}

#[test]
#[cfg_attr(gort_no_go, ignore = "needs Go 1.19 (apt-get install golang-go)")]
fn go119_file_passes_go_tool_trace_with_nothing_dropped() {
    let records = scenario();
    let (data, stats) = go119(&records);
    assert_eq!(stats.dropped, 0, "{stats:?}");
    assert_eq!(stats.inserted, 0, "{stats:?}");
    assert_eq!(stats.reattributed, 0, "{stats:?}");
    assert_eq!(stats.initial, 1, "main is declared as StartTrace does");

    let (ok, listing, err) = go_tool_trace(&["-d"], &data, "clean.trace");
    assert!(ok, "go tool trace -d rejected the file: {err}");
    let creates = count(&records, |e| matches!(e, TraceEvent::GoCreate { .. }));
    assert_eq!(parsed(&listing, "GoCreate").len(), creates + stats.initial);
    // The parser's merge kept the recorded order of starts.
    let starts: Vec<String> = records
        .iter()
        .filter_map(|r| match r.ev {
            TraceEvent::GoStart { g } => Some(format!("g={g}")),
            _ => None,
        })
        .collect();
    let parsed_starts: Vec<String> = parsed(&listing, "GoStart")
        .iter()
        .map(|l| l.split(' ').nth(5).unwrap_or("").to_string())
        .collect();
    assert_eq!(parsed_starts, starts, "{listing}");
    let gcs = count(&records, |e| matches!(e, TraceEvent::GcStart { .. }));
    assert_eq!(parsed(&listing, "GCStart").len(), gcs);
    assert_eq!(parsed(&listing, "GCSTWStart").len(), 2);
    assert_eq!(parsed(&listing, "GoUnblock").len(), 1);
    assert_eq!(parsed(&listing, "GoBlockRecv").len(), 1);
    assert_eq!(parsed(&listing, "GCMarkAssistStart").len(), 1);
    assert_eq!(parsed(&listing, "GCSweepDone").len(), 1);
    assert_eq!(parsed(&listing, "UserRegion").len(), 2);
    let logs = parsed(&listing, "UserLog");
    assert_eq!(logs.len(), 2, "{listing}");
    assert!(logs[0].contains("category=map message=grow m=0xc000010000 B=3"));
    assert!(logs[1].contains("category=race"));

    let (ok, profile, err) = go_tool_trace(&["-pprof=sched"], &data, "clean-sched.trace");
    assert!(ok, "go tool trace -pprof=sched failed: {err}");
    assert!(!profile.is_empty(), "no profile written");
}

#[test]
#[cfg_attr(gort_no_go, ignore = "needs Go 1.19 (apt-get install golang-go)")]
fn go119_drops_a_bogus_unblock_and_stays_valid() {
    let mut records = scenario();
    // Goroutine 1 is running on P0 here: Go's parser would reject
    // "g 1 is not waiting before unpark".
    let bogus = TraceRecord {
        seq: 0,
        ts: records[2].ts,
        p: Some(0),
        g: 0,
        ev: TraceEvent::GoUnblock { g: 1 },
    };
    records.insert(3, bogus);
    for (i, r) in records.iter_mut().enumerate() {
        r.seq = i as u64;
    }
    let (data, stats) = go119(&records);
    assert_eq!(stats.dropped, 1, "{stats:?}");
    let (ok, listing, err) = go_tool_trace(&["-d"], &data, "bogus.trace");
    assert!(ok, "go tool trace -d rejected the file: {err}");
    assert_eq!(parsed(&listing, "GoUnblock").len(), 1);
}

#[test]
#[cfg_attr(gort_no_go, ignore = "needs Go 1.19 (apt-get install golang-go)")]
fn go119_repairs_a_stream_that_lost_events() {
    // The first ProcStart and main's GoStart are lost, and a worker acts
    // on P1 without its start: the writer inserts them.
    let mut records: Vec<TraceRecord> = scenario()
        .into_iter()
        .filter(|r| r.seq != 0 && r.seq != 1 && r.seq != 7)
        .collect();
    for (i, r) in records.iter_mut().enumerate() {
        r.seq = i as u64;
    }
    let (data, stats) = go119(&records);
    assert_eq!(stats.dropped, 0, "{stats:?}");
    assert_eq!(stats.inserted, 3, "{stats:?}");
    let (ok, _, err) = go_tool_trace(&["-d"], &data, "gap.trace");
    assert!(ok, "go tool trace -d rejected the file: {err}");
}

#[test]
fn exports_are_deterministic() {
    let records = scenario();
    assert_eq!(go119(&records).0, go119(&records).0);
    let chrome = || {
        let mut out = Vec::new();
        write_chrome(&records, 2, &mut out).unwrap();
        out
    };
    assert_eq!(chrome(), chrome());
}

#[test]
fn chrome_json_has_p_tracks_goroutine_slices_gc_and_the_race() {
    let mut out = Vec::new();
    write_chrome(&scenario(), 2, &mut out).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
    assert_eq!(doc["displayTimeUnit"], "ns");
    let evs = doc["traceEvents"].as_array().unwrap();
    let of = |ph: &str, name: &str| {
        evs.iter()
            .filter(|e| e["ph"] == ph && e["name"] == name)
            .collect::<Vec<_>>()
    };

    let threads: Vec<_> = of("M", "thread_name")
        .iter()
        .map(|e| {
            (
                e["tid"].as_u64().unwrap(),
                e["args"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(threads.contains(&(0, "P0".into())), "{threads:?}");
    assert!(threads.contains(&(1, "P1".into())), "{threads:?}");

    // Main ran twice (P0 until Gosched, then P1), worker 2 twice
    // (blocked, then ended), worker 3 twice (preempted, then ended).
    for g in 1..=3 {
        assert_eq!(of("X", &format!("G{g}")).len(), 2, "G{g}");
    }
    let g2 = of("X", "G2");
    assert_eq!(g2[0]["args"]["reason"], "blocked on chan receive");
    assert_eq!(g2[0]["tid"], 1);
    assert_eq!(g2[1]["args"]["reason"], "ended");
    assert_eq!(g2[1]["tid"], 0);
    assert!(g2[0]["dur"].as_f64().unwrap() > 0.0);

    let gc = of("X", "GC 0");
    assert_eq!(gc.len(), 1);
    assert_eq!(of("X", "STW (sweep termination)").len(), 1);
    assert_eq!(of("X", "STW (mark termination)").len(), 1);
    assert_eq!(of("X", "mark assist").len(), 1);
    assert_eq!(of("X", "sweep").len(), 1);

    let race = of("i", "race");
    assert_eq!(race.len(), 1);
    assert_eq!(race[0]["s"], "g");
    assert!(race[0]["args"]["message"]
        .as_str()
        .unwrap()
        .contains("DATA RACE"));
    assert_eq!(of("i", "map")[0]["s"], "t");
    assert_eq!(of("C", "map B")[0]["args"]["B"], 3);
    let heap = of("C", "heap");
    assert_eq!(heap.last().unwrap()["args"]["alloc"], 3 << 20);
    assert_eq!(heap.last().unwrap()["args"]["goal"], 16 << 20);
    assert_eq!(of("b", "consume").len(), 1);
    assert_eq!(of("e", "consume").len(), 1);
}

/// A stream of random events (most of them invalid where they stand):
/// whatever the writer keeps, Go's parser must accept, every event
/// written must come back, and the JSON must still parse.
#[test]
#[cfg_attr(gort_no_go, ignore = "needs Go 1.19 (apt-get install golang-go)")]
fn go119_output_of_a_random_stream_is_always_valid() {
    use TraceEvent::*;
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: u64| {
        // xorshift64*: deterministic, no dependency.
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        (seed.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) % n
    };
    let mut s = Stream::new();
    for _ in 0..3000 {
        let p = match next(8) {
            0 => None,
            x => Some(x as usize % 3),
        };
        let g = next(9);
        let target = 1 + next(12);
        let ev = match next(22) {
            0 => ProcStart { m: next(4) },
            1 => ProcStop,
            2 => create(target),
            3 | 4 => GoStart { g: target },
            5 => GoEnd,
            6 | 7 => GoBlock {
                reason: [BlockReason::Send, BlockReason::Sync, BlockReason::Forever]
                    [next(3) as usize],
            },
            8 | 9 => GoUnblock { g: target },
            10 => GoSched,
            11 => GoPreempt,
            12 => GcStart { seq: next(3) },
            13 => GcDone,
            14 => StwStart {
                kind: if next(2) == 0 {
                    StwKind::SweepTermination
                } else {
                    StwKind::MarkTermination
                },
            },
            15 => StwDone,
            16 => [MarkAssistStart, MarkAssistDone][next(2) as usize].clone(),
            17 => SweepStart,
            18 => SweepDone {
                swept: 1,
                reclaimed: 8192,
            },
            19 => HeapAlloc {
                bytes: next(1 << 30),
            },
            20 => log(["map", "race", "barrier"][next(3) as usize], "B=2"),
            _ => Region {
                name: ["a", "b"][next(2) as usize],
                start: next(2) == 0,
            },
        };
        if next(3) == 0 {
            s.same_step(p, g, ev);
        } else {
            s.at(p, g, ev);
        }
    }
    let (data, stats) = go119(&s.records);
    assert!(stats.dropped > 0 && stats.events > 500, "{stats:?}");
    let (ok, listing, err) = go_tool_trace(&["-d"], &data, "random.trace");
    assert!(ok, "go tool trace -d rejected the file: {err}");
    assert_eq!(listing.lines().count(), stats.events, "{stats:?}");
    let (ok, _, err) = go_tool_trace(&["-pprof=sched"], &data, "random-sched.trace");
    assert!(ok, "go tool trace -pprof=sched failed: {err}");

    let mut out = Vec::new();
    write_chrome(&s.records, 3, &mut out).unwrap();
    serde_json::from_slice::<serde_json::Value>(&out).expect("valid JSON");
}
