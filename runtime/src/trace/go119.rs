//! Go 1.19's binary execution-trace format (`go tool trace`), written from
//! gort's recorded events.
//!
//! The file is laid out as the runtime writes it (`wire`: one batch per
//! P, P -1, `traceGlobProc`, for events that happened on no P; ticks in
//! nanoseconds, frequency 1e9). This half decides what goes in it.
//!
//! Go's parser (`internal/trace`) merges the Ps' batches by repeatedly
//! taking, among the batch heads whose goroutine sequence precondition
//! holds, the one with the smallest timestamp. Output timestamps are made
//! strictly increasing in recording order (`max(ts, previous + 1)`), so
//! that merge reproduces exactly the order the events were recorded in.
//!
//! The parser then replays a state machine (goroutine and P states, GC,
//! STW, sweep and assist pairing, region nesting) and rejects the whole
//! file at the first violation. The writer runs the same machine while it
//! writes, so a stream with a gap (events lost, a trace started in the
//! middle of a run) still gives a file Go accepts: a goroutine acting
//! before its creation was recorded is declared at the start, as
//! `StartTrace` does; a P acting while stopped gets a `ProcStart`; a
//! runnable goroutine acting where it is not running gets a `GoStart`;
//! an event the parser would reject is dropped and counted in [`Stats`].

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};

use gort_scheduler::trace::{BlockReason, StwKind, TraceEvent, TraceRecord};

mod wire;

use wire::*;

/// `traceGlobProc`: the batch of events that happened on no P. Go's
/// parser attributes its events to G 0 (nothing ever starts there), which
/// is what the runtime's own unblocks and creations need.
const TRACE_GLOB_PROC: i64 = -1;

/// What the writer did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Records given.
    pub records: usize,
    /// Events written (the declarations at the start and the inserted
    /// events included; strings, stacks and batch headers excluded).
    pub events: usize,
    /// Goroutines declared at the start (`GoCreate`, and `GoWaiting` if
    /// blocked) because they act before any creation of theirs was
    /// recorded: the main goroutine, the runtime's own.
    pub initial: usize,
    /// `ProcStart`, `GoStart` and `GoPreempt` events inserted to fill a
    /// gap in the stream.
    pub inserted: usize,
    /// Creations, unblocks and logs whose acting goroutine could not be
    /// placed on a P, written as the runtime's (G 0) instead.
    pub reattributed: usize,
    /// Records dropped because Go's parser would reject them.
    pub dropped: usize,
}

/// Writes `records` (in recording order, `Tracer::take`) as a Go 1.19
/// trace of a run with `procs` Ps.
pub fn write_go119(
    records: &[TraceRecord],
    procs: usize,
    out: &mut impl Write,
) -> io::Result<Stats> {
    let mut order: Vec<&TraceRecord> = records.iter().collect();
    order.sort_by_key(|r| r.seq);
    let mut w = TraceWriter::new();
    w.stats.records = records.len();
    w.start(&order, procs as u64);
    for r in &order {
        if !w.record(r) {
            w.stats.dropped += 1;
        }
    }
    out.write_all(&w.wire.finish())?;
    Ok(w.stats)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GState {
    Runnable,
    /// On this P.
    Running(i64),
    Waiting,
    Dead,
}

/// The parser's view of a goroutine (`gdesc` plus order1007's `gState`).
struct GDesc {
    state: GState,
    /// order1007's sequence: the value the next `GoStart` or `GoUnblock`
    /// of this goroutine must carry (the runtime's `traceseq` + 1).
    seq: u64,
    /// The function it runs, for the stack of the `go` statements it
    /// executes.
    func: Option<&'static str>,
    assist: bool,
    /// Open regions, innermost last (name string ids).
    regions: Vec<u64>,
}

impl GDesc {
    fn created(func: Option<&'static str>) -> GDesc {
        GDesc {
            state: GState::Runnable,
            seq: 1,
            func,
            assist: false,
            regions: Vec::new(),
        }
    }
}

/// The parser's view of a P (`pdesc`).
#[derive(Default)]
struct PDesc {
    running: bool,
    /// The goroutine running on it, 0 if none.
    g: u64,
    sweep: bool,
}

/// The parser's state as the events written so far leave it, and the
/// file being built.
struct TraceWriter {
    wire: Wire,
    gs: HashMap<u64, GDesc>,
    ps: HashMap<i64, PDesc>,
    gc_open: bool,
    gc_count: u64,
    stw_open: bool,
    stats: Stats,
}

impl TraceWriter {
    fn new() -> TraceWriter {
        let mut gs = HashMap::new();
        // G 0 always runs, as in the parser: its assists and regions are
        // those of events done on a P running no goroutine.
        gs.insert(
            0,
            GDesc {
                state: GState::Running(TRACE_GLOB_PROC),
                ..GDesc::created(Some("runtime"))
            },
        );
        TraceWriter {
            wire: Wire::default(),
            gs,
            ps: HashMap::new(),
            gc_open: false,
            gc_count: 0,
            stw_open: false,
            stats: Stats::default(),
        }
    }

    /// `StartTrace`'s declarations: GOMAXPROCS, then a `GoCreate` for
    /// every goroutine that acts (or is started or unblocked) before its
    /// creation was recorded, with `GoWaiting` if it is first unblocked.
    /// They go on P 0, whose batch starts with no goroutine running.
    fn start(&mut self, order: &[&TraceRecord], procs: u64) {
        let mut known = HashSet::new();
        let mut initial = Vec::new();
        for r in order {
            let (target, waiting) = match r.ev {
                TraceEvent::GoStart { g } => (g, false),
                TraceEvent::GoUnblock { g } => (g, true),
                _ => (0, false),
            };
            for (g, waiting) in [(r.g, false), (target, waiting)] {
                if g != 0 && known.insert(g) {
                    initial.push((g, waiting));
                }
            }
            if let TraceEvent::GoCreate { g, .. } = r.ev {
                known.insert(g);
            }
        }
        let n = 1 + initial.len() + initial.iter().filter(|(_, w)| *w).count();
        let ts = order.first().map_or(0, |r| r.ts).saturating_sub(n as u64);
        self.emit(0, ts, EV_GOMAXPROCS, &[procs, NO_STACK], None);
        for (g, waiting) in initial {
            // Go's StartTrace gives the start PC's frame; gort knows the
            // main goroutine's only.
            let (func, stack) = if g == 1 {
                (Some("main.main"), self.stack("runtime.main", "", 0))
            } else {
                (None, NO_STACK)
            };
            self.emit(0, ts, EV_GO_CREATE, &[g, stack, NO_STACK], None);
            let mut d = GDesc::created(func);
            if waiting {
                self.emit(0, ts, EV_GO_WAITING, &[g], None);
                d.state = GState::Waiting;
                d.seq += 1;
            }
            self.gs.insert(g, d);
            self.stats.initial += 1;
        }
    }

    /// Writes one record's event, or returns false if it must be dropped.
    fn record(&mut self, r: &TraceRecord) -> bool {
        let p = r.p.map_or(TRACE_GLOB_PROC, |p| p as i64);
        let ts = r.ts;
        match r.ev {
            TraceEvent::ProcStart { m } => {
                if p == TRACE_GLOB_PROC || self.p(p).running {
                    return false;
                }
                self.emit(p, ts, EV_PROC_START, &[m], None);
                self.p(p).running = true;
            }
            TraceEvent::ProcStop => {
                let pd = self.p(p);
                // A goroutine still on the P means its leaving was lost;
                // keeping the P started keeps that goroutine valid.
                if p == TRACE_GLOB_PROC || !pd.running || pd.g != 0 {
                    return false;
                }
                self.emit(p, ts, EV_PROC_STOP, &[], None);
                self.p(p).running = false;
            }
            TraceEvent::Gomaxprocs { procs } => {
                let p = self.place_any(p, ts);
                self.emit(p, ts, EV_GOMAXPROCS, &[procs, NO_STACK], None);
            }
            TraceEvent::GoCreate {
                g,
                func,
                file,
                line,
            } => {
                if self.gs.contains_key(&g) {
                    return false;
                }
                let p = self.place_actor(r.g, p, ts);
                let new_stack = self.stack(func, file, line);
                // The `go` statement's frame: in the creator's function.
                let creator = self.p(p).g;
                let stack = match self.gs.get(&creator).and_then(|d| d.func) {
                    Some(f) if creator != 0 => self.stack(f, file, line),
                    _ => NO_STACK,
                };
                self.emit(p, ts, EV_GO_CREATE, &[g, new_stack, stack], None);
                self.gs.insert(g, GDesc::created(Some(func)));
            }
            TraceEvent::GoStart { g } => {
                if p == TRACE_GLOB_PROC || self.state(g) != Some(GState::Runnable) {
                    return false;
                }
                self.ensure_proc(p, ts);
                self.vacate(p, ts);
                self.go_start(p, g, ts);
            }
            TraceEvent::GoEnd => return self.leave(r, p, EV_GO_END, GState::Dead),
            TraceEvent::GoSched => return self.leave(r, p, EV_GO_SCHED, GState::Runnable),
            TraceEvent::GoPreempt => return self.leave(r, p, EV_GO_PREEMPT, GState::Runnable),
            TraceEvent::GoBlock { reason } => {
                let (typ, state) = match reason {
                    BlockReason::Send => (EV_GO_BLOCK_SEND, GState::Waiting),
                    BlockReason::Recv => (EV_GO_BLOCK_RECV, GState::Waiting),
                    BlockReason::Select => (EV_GO_BLOCK_SELECT, GState::Waiting),
                    BlockReason::Sync => (EV_GO_BLOCK_SYNC, GState::Waiting),
                    BlockReason::Cond => (EV_GO_BLOCK_COND, GState::Waiting),
                    BlockReason::Gc => (EV_GO_BLOCK_GC, GState::Waiting),
                    // GoStop leaves the goroutine dead for the parser.
                    BlockReason::Forever => (EV_GO_STOP, GState::Dead),
                    BlockReason::Sleep => (EV_GO_SLEEP, GState::Waiting),
                    BlockReason::Other => (EV_GO_BLOCK, GState::Waiting),
                };
                return self.leave(r, p, typ, state);
            }
            TraceEvent::GoUnblock { g } => {
                if self.state(g) != Some(GState::Waiting) {
                    return false;
                }
                let p = self.place_actor(r.g, p, ts);
                let seq = self.seq_next(g);
                self.emit(p, ts, EV_GO_UNBLOCK, &[g, seq, NO_STACK], None);
                self.set_state(g, GState::Runnable);
            }
            TraceEvent::GcStart { .. } => {
                if self.gc_open {
                    return false;
                }
                // The parser wants 0, 1, 2... from the trace's start,
                // whatever the run's cycle number.
                let p = self.place_any(p, ts);
                let seq = self.gc_count;
                self.emit(p, ts, EV_GC_START, &[seq, NO_STACK], None);
                self.gc_count += 1;
                self.gc_open = true;
            }
            TraceEvent::GcDone => {
                if !self.gc_open {
                    return false;
                }
                let p = self.place_any(p, ts);
                self.emit(p, ts, EV_GC_DONE, &[], None);
                self.gc_open = false;
            }
            TraceEvent::StwStart { kind } => {
                if self.stw_open {
                    return false;
                }
                let kind = match kind {
                    StwKind::SweepTermination => 1,
                    StwKind::MarkTermination => 0,
                };
                let p = self.place_any(p, ts);
                self.emit(p, ts, EV_GC_STW_START, &[kind], None);
                self.stw_open = true;
            }
            TraceEvent::StwDone => {
                if !self.stw_open {
                    return false;
                }
                let p = self.place_any(p, ts);
                self.emit(p, ts, EV_GC_STW_DONE, &[], None);
                self.stw_open = false;
            }
            TraceEvent::MarkAssistStart | TraceEvent::MarkAssistDone => {
                let Some(p) = self.place_acting(r, p) else {
                    return false;
                };
                let start = r.ev == TraceEvent::MarkAssistStart;
                let d = self.attributed(p);
                if start && d.assist {
                    return false;
                }
                // A done without a start is tolerated: the assist began
                // before the trace.
                d.assist = start;
                let (typ, args): (u8, &[u64]) = if start {
                    (EV_GC_MARK_ASSIST_START, &[NO_STACK])
                } else {
                    (EV_GC_MARK_ASSIST_DONE, &[])
                };
                self.emit(p, ts, typ, args, None);
            }
            TraceEvent::SweepStart => {
                let p = self.place_any(p, ts);
                if self.p(p).sweep {
                    return false;
                }
                self.emit(p, ts, EV_GC_SWEEP_START, &[NO_STACK], None);
                self.p(p).sweep = true;
            }
            TraceEvent::SweepDone { swept, reclaimed } => {
                let p = self.place_any(p, ts);
                if !self.p(p).sweep {
                    return false;
                }
                self.emit(p, ts, EV_GC_SWEEP_DONE, &[swept, reclaimed], None);
                self.p(p).sweep = false;
            }
            TraceEvent::HeapAlloc { bytes } => {
                let p = self.place_any(p, ts);
                self.emit(p, ts, EV_HEAP_ALLOC, &[bytes], None);
            }
            TraceEvent::HeapGoal { bytes } => {
                let p = self.place_any(p, ts);
                self.emit(p, ts, EV_HEAP_GOAL, &[bytes], None);
            }
            TraceEvent::Log { .. }
            | TraceEvent::MapGrow { .. }
            | TraceEvent::MapEvacuate { .. } => {
                let (category, message) = r.ev.as_log().expect("a log event");
                // A log has no state to break: rather than lose it, an
                // unplaceable one becomes the runtime's.
                let p = match self.place_acting(r, p) {
                    Some(p) => p,
                    None => {
                        self.stats.reattributed += 1;
                        TRACE_GLOB_PROC
                    }
                };
                let key = self.string(category);
                self.emit(p, ts, EV_USER_LOG, &[0, key, NO_STACK], Some(&message));
            }
            TraceEvent::Region { name, start } => {
                let Some(p) = self.place_acting(r, p) else {
                    return false;
                };
                let id = self.string(name);
                let d = self.attributed(p);
                if start {
                    d.regions.push(id);
                } else {
                    match d.regions.last() {
                        Some(&top) if top == id => {
                            d.regions.pop();
                        }
                        Some(_) => return false,
                        // Opened before the trace: the parser ignores it.
                        None => {}
                    }
                }
                // The web UI's region pages read the first frame of a
                // region's start: the goroutine's function.
                let func = self.attributed(p).func.unwrap_or("?");
                let stack = self.stack(func, "", 0);
                let args = [0, u64::from(!start), id, stack];
                self.emit(p, ts, EV_USER_REGION, &args, None);
            }
        }
        true
    }

    /// A goroutine leaving its P (`GoEnd`, `GoStop`, `GoSched`,
    /// `GoPreempt`, `GoSleep`, `GoBlock*`), into `state`.
    fn leave(&mut self, r: &TraceRecord, p: i64, typ: u8, state: GState) -> bool {
        if r.g == 0 {
            return false;
        }
        let Some(p) = self.place_g(r.g, p, r.ts) else {
            return false;
        };
        let args: &[u64] = if typ == EV_GO_END { &[] } else { &[NO_STACK] };
        self.emit(p, r.ts, typ, args, None);
        self.p(p).g = 0;
        self.set_state(r.g, state);
        if typ == EV_GO_END {
            // The parser closes a dead goroutine's regions.
            if let Some(d) = self.gs.get_mut(&r.g) {
                d.regions.clear();
            }
        }
        true
    }

    /// The batch of an event any goroutine (or none) may do.
    fn place_any(&mut self, p: i64, ts: u64) -> i64 {
        if p != TRACE_GLOB_PROC {
            self.ensure_proc(p, ts);
        }
        p
    }

    /// The batch of an event the parser attributes to the P's running
    /// goroutine: `g`'s P, starting `g` there if it is runnable (its start
    /// was lost); None if `g` cannot be running there.
    fn place_g(&mut self, g: u64, p: i64, ts: u64) -> Option<i64> {
        match self.state(g)? {
            GState::Running(q) if p == TRACE_GLOB_PROC || q == p => Some(q),
            GState::Runnable if p != TRACE_GLOB_PROC => {
                self.ensure_proc(p, ts);
                self.vacate(p, ts);
                self.go_start(p, g, ts);
                self.stats.inserted += 1;
                Some(p)
            }
            _ => None,
        }
    }

    /// The batch of an assist, region or log of the record's goroutine.
    fn place_acting(&mut self, r: &TraceRecord, p: i64) -> Option<i64> {
        if r.g == 0 {
            Some(self.place_any(p, r.ts))
        } else {
            self.place_g(r.g, p, r.ts)
        }
    }

    /// The batch of a creation or an unblock: the parser accepts the
    /// runtime (G 0) as the actor when no goroutine runs on the P, so the
    /// runtime's go to the global batch when the P is busy, and an actor
    /// that cannot be placed is written as the runtime rather than losing
    /// an event the target's state depends on.
    fn place_actor(&mut self, g: u64, p: i64, ts: u64) -> i64 {
        if g != 0 {
            if let Some(q) = self.place_g(g, p, ts) {
                return q;
            }
            self.stats.reattributed += 1;
            return TRACE_GLOB_PROC;
        }
        if p != TRACE_GLOB_PROC && self.p(p).g == 0 {
            self.ensure_proc(p, ts);
            p
        } else {
            TRACE_GLOB_PROC
        }
    }

    /// `ProcStart` before an event on a P that is not running (it was
    /// acquired before the trace began, or its start was lost).
    fn ensure_proc(&mut self, p: i64, ts: u64) {
        if !self.p(p).running {
            self.emit(p, ts, EV_PROC_START, &[p as u64], None);
            self.p(p).running = true;
            self.stats.inserted += 1;
        }
    }

    /// Frees `p` for another goroutine: the one on it lost its leaving,
    /// so it is written as preempted.
    fn vacate(&mut self, p: i64, ts: u64) {
        let g = self.p(p).g;
        if g != 0 {
            self.emit(p, ts, EV_GO_PREEMPT, &[NO_STACK], None);
            self.set_state(g, GState::Runnable);
            self.p(p).g = 0;
            self.stats.inserted += 1;
        }
    }

    fn go_start(&mut self, p: i64, g: u64, ts: u64) {
        let seq = self.seq_next(g);
        self.emit(p, ts, EV_GO_START, &[g, seq], None);
        self.set_state(g, GState::Running(p));
        self.p(p).g = g;
    }

    fn p(&mut self, p: i64) -> &mut PDesc {
        self.ps.entry(p).or_default()
    }

    fn state(&self, g: u64) -> Option<GState> {
        self.gs.get(&g).map(|d| d.state)
    }

    fn set_state(&mut self, g: u64, state: GState) {
        if let Some(d) = self.gs.get_mut(&g) {
            d.state = state;
        }
    }

    /// The sequence number `g`'s next start or unblock carries.
    fn seq_next(&mut self, g: u64) -> u64 {
        let d = self.gs.get_mut(&g).expect("sequenced goroutine exists");
        d.seq += 1;
        d.seq - 1
    }

    /// The goroutine the parser attributes an event in `p`'s batch to.
    fn attributed(&mut self, p: i64) -> &mut GDesc {
        let g = if p == TRACE_GLOB_PROC { 0 } else { self.p(p).g };
        self.gs.get_mut(&g).expect("attributed goroutine exists")
    }

    fn emit(&mut self, p: i64, ts: u64, typ: u8, args: &[u64], msg: Option<&str>) {
        self.wire.emit(p, ts, typ, args, msg);
        self.stats.events += 1;
    }

    fn string(&mut self, s: &'static str) -> u64 {
        self.wire.string(s)
    }

    fn stack(&mut self, func: &'static str, file: &'static str, line: u32) -> u64 {
        self.wire.stack(func, file, line)
    }
}

#[cfg(test)]
mod tests {
    use super::wire::tests::{decode, Decoded};
    use super::*;

    fn rec(seq: u64, p: Option<usize>, g: u64, ev: TraceEvent) -> TraceRecord {
        TraceRecord {
            seq,
            ts: seq * 10,
            p,
            g,
            ev,
        }
    }

    fn write(records: &[TraceRecord]) -> (Stats, Decoded) {
        let mut out = Vec::new();
        let stats = write_go119(records, 2, &mut out).unwrap();
        (stats, decode(&out))
    }

    #[test]
    fn main_is_declared_and_started_and_timestamps_strictly_increase() {
        let mut r = vec![rec(0, Some(0), 1, TraceEvent::GoSched)];
        r[0].ts = 0;
        let (stats, evs) = write(&r);
        let types: Vec<u8> = evs.iter().map(|e| e.1).collect();
        assert_eq!(
            types,
            [
                EV_GOMAXPROCS,
                EV_GO_CREATE,
                EV_PROC_START,
                EV_GO_START,
                EV_GO_SCHED
            ]
        );
        assert_eq!(evs[3].3, [1, 1]);
        assert!(evs.windows(2).all(|w| w[0].2 < w[1].2));
        assert_eq!((stats.initial, stats.inserted, stats.dropped), (1, 2, 0));
    }

    #[test]
    fn runtime_unblock_on_a_busy_p_goes_to_the_global_batch() {
        let r = [
            rec(0, Some(0), 0, TraceEvent::ProcStart { m: 0 }),
            rec(1, Some(0), 0, TraceEvent::GoStart { g: 1 }),
            rec(
                2,
                Some(0),
                1,
                TraceEvent::GoBlock {
                    reason: BlockReason::Recv,
                },
            ),
            rec(3, Some(0), 0, TraceEvent::GoStart { g: 2 }),
            rec(4, Some(0), 0, TraceEvent::GoUnblock { g: 1 }),
            rec(5, Some(0), 0, TraceEvent::GoUnblock { g: 1 }),
        ];
        let (stats, evs) = write(&r);
        let unblock = evs.iter().find(|e| e.1 == EV_GO_UNBLOCK).unwrap();
        assert_eq!(unblock.0, TRACE_GLOB_PROC);
        // GoCreate at seq 1, GoStart 1, GoUnblock 2.
        assert_eq!(unblock.3, [1, 2, 0]);
        assert_eq!(stats.dropped, 1, "the second unblock of a runnable G");
    }

    #[test]
    fn a_waiting_goroutine_acting_is_dropped_and_gc_seq_restarts_at_zero() {
        let r = [
            rec(0, Some(0), 0, TraceEvent::GoStart { g: 1 }),
            rec(
                1,
                Some(0),
                1,
                TraceEvent::GoBlock {
                    reason: BlockReason::Sleep,
                },
            ),
            rec(2, Some(1), 1, TraceEvent::GoEnd),
            rec(3, None, 0, TraceEvent::GcStart { seq: 7 }),
            rec(4, None, 0, TraceEvent::GcDone),
            rec(5, None, 0, TraceEvent::GcDone),
        ];
        let (stats, evs) = write(&r);
        let gc = evs.iter().find(|e| e.1 == EV_GC_START).unwrap();
        assert_eq!(gc.3, [0, 0]);
        assert_eq!(stats.dropped, 2);
        assert!(!evs.iter().any(|e| e.1 == EV_GO_END));
    }
}
