//! Chrome / Perfetto trace-event JSON (`{"traceEvents": [...]}`), written
//! from gort's recorded events, for `ui.perfetto.dev` or
//! `chrome://tracing`.
//!
//! Layout (all in process 1, "gort"): one thread track per P (`P0`,
//! `P1`, ...) holding a complete ("X") slice `G<id>` for every stretch a
//! goroutine ran there, from its `GoStart` to its leaving the P, with the
//! reason it left; a `GC` track with the collection cycles, a `GC STW`
//! track with the stops of the world (a mark-termination stop outlasts
//! its cycle's `GCDone`, and a track's slices must nest); a `P<i> GC`
//! track per P for assists and sweeps, which start and end at moments
//! unrelated to the goroutine slices; counters ("C") for the heap's size
//! and goal, GOMAXPROCS, and a map's B (from `map` logs carrying `B=<n>`);
//! user regions as async slices per goroutine; and gort's `Log` events as
//! instants: `race`, `lost` and `fatal` global ("s": "g", drawn across
//! every track), the others on their P's track (or a `runtime` track when
//! they happened on no P).
//!
//! Timestamps are microseconds (the format's unit) as floats, moved to
//! be strictly increasing in recording order as the Go exporter does, so
//! events of one deterministic step (which share a virtual time) keep
//! their order and a slice has a visible width.

use std::collections::HashMap;
use std::io::{self, Write};

use serde_json::{json, Map, Value};

use gort_scheduler::trace::{BlockReason, StwKind, TraceEvent, TraceRecord};

/// The one process every track belongs to.
const PID: u64 = 1;

/// Writes `records` (in recording order, `Tracer::take`) of a run with
/// `procs` Ps as trace-event JSON.
pub fn write_chrome(records: &[TraceRecord], procs: usize, out: &mut impl Write) -> io::Result<()> {
    let mut order: Vec<&TraceRecord> = records.iter().collect();
    order.sort_by_key(|r| r.seq);
    let nps = order
        .iter()
        .filter_map(|r| r.p)
        .map(|p| p + 1)
        .max()
        .unwrap_or(0)
        .max(procs);
    let mut c = ChromeWriter::new(nps);
    let mut last: Option<u64> = None;
    for r in order {
        let ts = last.map_or(r.ts, |l| r.ts.max(l + 1));
        last = Some(ts);
        c.record(r, ts);
    }
    let doc = c.finish(last.unwrap_or(0));
    let mut w = io::BufWriter::new(out);
    serde_json::to_writer(&mut w, &doc)?;
    w.flush()
}

/// Nanoseconds to the format's microseconds.
fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

/// Why a goroutine slice ended, as its args say it.
fn block_reason(r: BlockReason) -> &'static str {
    match r {
        BlockReason::Send => "blocked on chan send",
        BlockReason::Recv => "blocked on chan receive",
        BlockReason::Select => "blocked on select",
        BlockReason::Sync => "blocked on sync",
        BlockReason::Cond => "blocked on sync.Cond",
        BlockReason::Gc => "blocked on GC assist",
        BlockReason::Forever => "stopped forever",
        BlockReason::Sleep => "sleeping",
        BlockReason::Other => "blocked",
    }
}

/// The `<n>` of the first `B=<n>` word in a map log, if any.
fn map_b(message: &str) -> Option<u64> {
    let bytes = message.as_bytes();
    message.match_indices("B=").find_map(|(i, _)| {
        let word_start = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        let digits: &str = &message[i + 2..];
        let end = digits
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(digits.len());
        if word_start && end > 0 {
            digits[..end].parse().ok()
        } else {
            None
        }
    })
}

/// A goroutine running on a P since `start`.
struct Running {
    g: u64,
    start: u64,
}

/// An assist or sweep open on a P's GC track.
struct GcWork {
    name: &'static str,
    g: u64,
    start: u64,
}

struct ChromeWriter {
    /// Ps that get a track whether or not they recorded anything.
    nps: usize,
    events: Vec<Value>,
    running: HashMap<usize, Running>,
    /// The P each running goroutine is on.
    on: HashMap<u64, usize>,
    funcs: HashMap<u64, &'static str>,
    gc: Option<(u64, u64)>,
    stw: Option<(u64, StwKind)>,
    gc_work: HashMap<usize, GcWork>,
    heap_alloc: Option<u64>,
    heap_goal: Option<u64>,
    /// Tracks other than the Ps' that were used (tid, name, sort index).
    extra_tracks: HashMap<u64, (String, u64)>,
}

impl ChromeWriter {
    fn new(nps: usize) -> ChromeWriter {
        ChromeWriter {
            nps,
            events: Vec::new(),
            running: HashMap::new(),
            on: HashMap::new(),
            funcs: HashMap::new(),
            gc: None,
            stw: None,
            gc_work: HashMap::new(),
            heap_alloc: None,
            heap_goal: None,
            extra_tracks: HashMap::new(),
        }
    }

    // Track ids: the Ps' own first, then the shared tracks, then one GC
    // track per P; the sort index puts each P's GC track under the P.
    fn gc_tid(&mut self) -> u64 {
        self.track(self.nps as u64, "GC".into(), 2 * self.nps as u64)
    }

    fn stw_tid(&mut self) -> u64 {
        self.track(
            self.nps as u64 + 1,
            "GC STW".into(),
            2 * self.nps as u64 + 1,
        )
    }

    fn runtime_tid(&mut self) -> u64 {
        self.track(
            self.nps as u64 + 2,
            "runtime".into(),
            2 * self.nps as u64 + 2,
        )
    }

    fn p_gc_tid(&mut self, p: usize) -> u64 {
        let tid = self.nps as u64 + 3 + p as u64;
        self.track(tid, format!("P{p} GC"), 2 * p as u64 + 1)
    }

    fn track(&mut self, tid: u64, name: String, sort: u64) -> u64 {
        self.extra_tracks.entry(tid).or_insert((name, sort));
        tid
    }

    /// The track of an event on `p`, or the runtime's when on no P.
    fn p_tid(&mut self, p: Option<usize>) -> u64 {
        match p {
            Some(p) => p as u64,
            None => self.runtime_tid(),
        }
    }

    fn record(&mut self, r: &TraceRecord, ts: u64) {
        match r.ev {
            TraceEvent::ProcStart { .. } => {}
            TraceEvent::ProcStop => {
                if let Some(p) = r.p {
                    self.end_slice(p, ts, "P stopped");
                }
            }
            TraceEvent::Gomaxprocs { procs } => {
                self.counter("GOMAXPROCS", ts, json!({ "procs": procs }));
            }
            TraceEvent::GoCreate { g, func, .. } => {
                self.funcs.insert(g, func);
            }
            TraceEvent::GoStart { g } => {
                let Some(p) = r.p else { return };
                // A slice still open means its end was not recorded.
                self.end_slice(p, ts, "unknown (no end recorded)");
                if let Some(&q) = self.on.get(&g) {
                    self.end_slice(q, ts, "unknown (started elsewhere)");
                }
                self.running.insert(p, Running { g, start: ts });
                self.on.insert(g, p);
            }
            TraceEvent::GoEnd => self.leave(r, ts, "ended"),
            TraceEvent::GoSched => self.leave(r, ts, "yielded (Gosched)"),
            TraceEvent::GoPreempt => self.leave(r, ts, "preempted"),
            TraceEvent::GoBlock { reason } => self.leave(r, ts, block_reason(reason)),
            TraceEvent::GoUnblock { .. } => {}
            TraceEvent::GcStart { seq } => {
                if self.gc.is_none() {
                    self.gc = Some((ts, seq));
                }
            }
            TraceEvent::GcDone => {
                if let Some((start, seq)) = self.gc.take() {
                    let tid = self.gc_tid();
                    let args = json!({ "seq": seq });
                    self.slice(&format!("GC {seq}"), "gc", tid, start, ts, args);
                }
            }
            TraceEvent::StwStart { kind } => {
                if self.stw.is_none() {
                    self.stw = Some((ts, kind));
                }
            }
            TraceEvent::StwDone => {
                if let Some((start, kind)) = self.stw.take() {
                    let tid = self.stw_tid();
                    let name = match kind {
                        StwKind::SweepTermination => "STW (sweep termination)",
                        StwKind::MarkTermination => "STW (mark termination)",
                    };
                    self.slice(name, "gc", tid, start, ts, json!({}));
                }
            }
            TraceEvent::MarkAssistStart => self.gc_work_start(r, ts, "mark assist"),
            TraceEvent::MarkAssistDone => self.gc_work_end(r, ts, "mark assist", json!({})),
            TraceEvent::SweepStart => self.gc_work_start(r, ts, "sweep"),
            TraceEvent::SweepDone { swept, reclaimed } => {
                let args = json!({ "swept": swept, "reclaimed": reclaimed });
                self.gc_work_end(r, ts, "sweep", args);
            }
            TraceEvent::HeapAlloc { bytes } => {
                self.heap_alloc = Some(bytes);
                self.heap_counter(ts);
            }
            TraceEvent::HeapGoal { bytes } => {
                self.heap_goal = Some(bytes);
                self.heap_counter(ts);
            }
            TraceEvent::Log { .. }
            | TraceEvent::MapGrow { .. }
            | TraceEvent::MapEvacuate { .. } => {
                let (category, message) = r.ev.as_log().expect("a log event");
                self.log(r, ts, category, &message)
            }
            TraceEvent::Region { name, start } => {
                let tid = self.p_tid(r.p);
                self.events.push(json!({
                    "ph": if start { "b" } else { "e" },
                    "name": name,
                    "cat": "region",
                    "id": r.g,
                    "pid": PID,
                    "tid": tid,
                    "ts": us(ts),
                    "args": { "goid": r.g },
                }));
            }
        }
    }

    /// The record's goroutine leaves its P: closes its slice wherever it
    /// runs (the record's P may be none).
    fn leave(&mut self, r: &TraceRecord, ts: u64, reason: &str) {
        let p = match self.on.get(&r.g) {
            Some(&p) => p,
            None => return,
        };
        self.end_slice(p, ts, reason);
    }

    fn end_slice(&mut self, p: usize, ts: u64, reason: &str) {
        let Some(run) = self.running.remove(&p) else {
            return;
        };
        self.on.remove(&run.g);
        let mut args = json!({ "goid": run.g, "reason": reason });
        if let Some(f) = self.funcs.get(&run.g) {
            args["func"] = json!(f);
        }
        let name = format!("G{}", run.g);
        self.slice(&name, "goroutine", p as u64, run.start, ts, args);
    }

    fn gc_work_start(&mut self, r: &TraceRecord, ts: u64, name: &'static str) {
        let Some(p) = r.p.or_else(|| self.on.get(&r.g).copied()) else {
            return;
        };
        // One open slice per track keeps the track's slices nested.
        self.gc_work_cut(p, ts);
        self.gc_work.insert(
            p,
            GcWork {
                name,
                g: r.g,
                start: ts,
            },
        );
    }

    fn gc_work_end(&mut self, r: &TraceRecord, ts: u64, name: &'static str, mut args: Value) {
        let found = self
            .gc_work
            .iter()
            .filter(|(_, w)| w.name == name && (name == "sweep" || w.g == r.g))
            .map(|(&p, _)| p)
            .min_by_key(|&p| (Some(p) != r.p, p));
        let Some(p) = found else { return };
        let w = self.gc_work.remove(&p).expect("found above");
        args["goid"] = json!(w.g);
        let tid = self.p_gc_tid(p);
        self.slice(name, "gc", tid, w.start, ts, args);
    }

    fn gc_work_cut(&mut self, p: usize, ts: u64) {
        if let Some(w) = self.gc_work.remove(&p) {
            let tid = self.p_gc_tid(p);
            let args = json!({ "goid": w.g, "cut": true });
            self.slice(w.name, "gc", tid, w.start, ts, args);
        }
    }

    fn log(&mut self, r: &TraceRecord, ts: u64, category: &str, message: &str) {
        if category == "map" {
            if let Some(b) = map_b(message) {
                self.counter("map B", ts, json!({ "B": b }));
            }
        }
        let global = matches!(category, "race" | "lost" | "fatal");
        let tid = self.p_tid(r.p);
        self.events.push(json!({
            "ph": "i",
            "s": if global { "g" } else { "t" },
            "name": category,
            "cat": "log",
            "pid": PID,
            "tid": tid,
            "ts": us(ts),
            "args": { "message": message, "goid": r.g },
        }));
    }

    fn heap_counter(&mut self, ts: u64) {
        // Every series in every sample: the legacy viewer reads a missing
        // one as zero.
        let mut args = Map::new();
        if let Some(a) = self.heap_alloc {
            args.insert("alloc".into(), json!(a));
        }
        if let Some(g) = self.heap_goal {
            args.insert("goal".into(), json!(g));
        }
        self.counter("heap", ts, Value::Object(args));
    }

    fn counter(&mut self, name: &str, ts: u64, args: Value) {
        self.events.push(json!({
            "ph": "C", "name": name, "pid": PID, "ts": us(ts), "args": args,
        }));
    }

    fn slice(&mut self, name: &str, cat: &str, tid: u64, start: u64, end: u64, args: Value) {
        self.events.push(json!({
            "ph": "X",
            "name": name,
            "cat": cat,
            "pid": PID,
            "tid": tid,
            "ts": us(start),
            "dur": us(end - start),
            "args": args,
        }));
    }

    /// Closes what is still open at the end (`unfinished` in the args)
    /// and adds the track names.
    fn finish(mut self, end: u64) -> Value {
        let mut ps: Vec<usize> = self.running.keys().copied().collect();
        ps.sort_unstable();
        for p in ps {
            self.end_slice(p, end, "running at trace end");
        }
        if let Some((start, seq)) = self.gc.take() {
            let tid = self.gc_tid();
            let args = json!({ "seq": seq, "unfinished": true });
            self.slice(&format!("GC {seq}"), "gc", tid, start, end, args);
        }
        if let Some((start, _)) = self.stw.take() {
            let tid = self.stw_tid();
            self.slice("STW", "gc", tid, start, end, json!({ "unfinished": true }));
        }
        let mut ps: Vec<usize> = self.gc_work.keys().copied().collect();
        ps.sort_unstable();
        for p in ps {
            self.gc_work_cut(p, end);
        }
        let mut meta = vec![json!({
            "ph": "M", "name": "process_name", "pid": PID, "args": { "name": "gort" },
        })];
        let mut tracks: Vec<(u64, String, u64)> = (0..self.nps)
            .map(|p| (p as u64, format!("P{p}"), 2 * p as u64))
            .collect();
        tracks.extend(self.extra_tracks.drain().map(|(tid, (n, s))| (tid, n, s)));
        tracks.sort_unstable_by_key(|t| t.0);
        for (tid, name, sort) in tracks {
            meta.push(json!({
                "ph": "M", "name": "thread_name", "pid": PID, "tid": tid,
                "args": { "name": name },
            }));
            meta.push(json!({
                "ph": "M", "name": "thread_sort_index", "pid": PID, "tid": tid,
                "args": { "sort_index": sort },
            }));
        }
        meta.append(&mut self.events);
        json!({ "traceEvents": meta, "displayTimeUnit": "ns" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_b_reads_the_b_word_only() {
        assert_eq!(map_b("grow B=3 -> B=4"), Some(3));
        assert_eq!(map_b("B=12"), Some(12));
        assert_eq!(map_b("oldB=2 B=5"), Some(5));
        assert_eq!(map_b("evacuate bucket 3"), None);
        assert_eq!(map_b("B=x"), None);
    }

    #[test]
    fn a_goroutine_slice_spans_start_to_block_and_names_its_reason() {
        let rec = |seq, g, ev| TraceRecord {
            seq,
            ts: 1000 * seq,
            p: Some(1),
            g,
            ev,
        };
        let records = [
            rec(0, 0, TraceEvent::GoStart { g: 5 }),
            rec(
                1,
                5,
                TraceEvent::GoBlock {
                    reason: BlockReason::Send,
                },
            ),
        ];
        let mut out = Vec::new();
        write_chrome(&records, 2, &mut out).unwrap();
        let doc: Value = serde_json::from_slice(&out).unwrap();
        let evs = doc["traceEvents"].as_array().unwrap();
        let x = evs.iter().find(|e| e["ph"] == "X").unwrap();
        assert_eq!(x["name"], "G5");
        assert_eq!(x["tid"], 1);
        assert_eq!(x["dur"], 1.0);
        assert_eq!(x["args"]["reason"], "blocked on chan send");
        let names = evs.iter().filter(|e| e["name"] == "thread_name").count();
        assert_eq!(names, 2);
    }
}
