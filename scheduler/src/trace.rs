//! The execution tracer's recording side: one event stream for the whole
//! runtime (Go's `runtime/trace.go`, `traceEvent` and its emit sites),
//! which the exporters in `gort::trace` turn into Go 1.19's binary format
//! (`go tool trace`), Chrome / Perfetto JSON, and an HTML timeline.
//!
//! Events are what Go's tracer records, at the same moments: a P starting
//! and stopping (`acquirep`, `releasep`), a goroutine created, started,
//! blocked (with the reason Go's trace gives: send, receive, select,
//! sync, cond, sleep, GC), unblocked, preempted, yielding, ending; the
//! collector's cycles, stops of the world, assists and sweeps; the heap's
//! size and goal. gort adds what Go's tracer cannot see (map growth and
//! evacuation, barrier shades, race reports, lost objects, fatal errors)
//! as `Log` events with a category, which Go's viewer shows as user logs.
//!
//! Each record carries the P it happened on (or none), the goroutine
//! acting (0: the runtime), a timestamp (virtual in deterministic mode,
//! monotonic otherwise) and a global sequence number. Records go to their
//! P's buffer (a lock only that P's M takes on the hot path: no global
//! lock), or, with no P, to a shared one. The sequence number is one
//! atomic increment: it orders events that share a timestamp (every
//! event of a deterministic step) in the order they happened, and an
//! event that causes another (an unblock and the start it allows) gets
//! the smaller number, which is what Go's parser needs to merge the Ps'
//! streams.
//!
//! Off (no tracer in the config), each emit site costs one branch on an
//! `Option` the scheduler already holds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Ps with a buffer of their own; events of higher-numbered Ps (more
/// than any GOMAXPROCS gort runs) share the no-P buffer.
const MAX_TRACE_PS: usize = 256;

/// Why a goroutine blocked, as Go's trace distinguishes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BlockReason {
    /// `GoBlockSend`: a channel send.
    Send,
    /// `GoBlockRecv`: a channel receive.
    Recv,
    /// `GoBlockSelect`.
    Select,
    /// `GoBlockSync`: `semacquire` (Mutex, RWMutex, WaitGroup).
    Sync,
    /// `GoBlockCond`: `sync.Cond.Wait`.
    Cond,
    /// `GoBlockGC`: a parked assist, or waiting for a GC cycle.
    Gc,
    /// `GoStop`: blocked for good (`select {}`, a nil channel).
    Forever,
    /// `GoSleep`: `time.Sleep`.
    Sleep,
    /// `GoBlock`: any other park (the runtime's own goroutines).
    Other,
}

/// Which stop of the world (`GCSTWStart`'s kind).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StwKind {
    /// Go's kind 1.
    SweepTermination,
    /// Go's kind 0.
    MarkTermination,
}

/// One traced event.
#[derive(Clone, Debug, PartialEq)]
pub enum TraceEvent {
    /// `ProcStart`: the record's P starts running on M `m`.
    ProcStart { m: u64 },
    /// `ProcStop`: the record's P stops (no goroutine runs on it).
    ProcStop,
    /// `Gomaxprocs`.
    Gomaxprocs { procs: u64 },
    /// `GoCreate`: the record's goroutine (0: none) created `g`, which
    /// will run `func` (its `go` statement at `file:line`).
    GoCreate {
        g: u64,
        func: &'static str,
        file: &'static str,
        line: u32,
    },
    /// `GoStart`: `g` starts running on the record's P.
    GoStart { g: u64 },
    /// `GoEnd`: the record's goroutine returned.
    GoEnd,
    /// The record's goroutine parks.
    GoBlock { reason: BlockReason },
    /// `GoUnblock`: the record's goroutine (0: the runtime) made `g`
    /// runnable.
    GoUnblock { g: u64 },
    /// `GoSched`: the record's goroutine yielded (`Gosched`, `goyield`).
    GoSched,
    /// `GoPreempt`: the record's goroutine was preempted.
    GoPreempt,
    /// `GCStart`: collection number `seq` (0, 1, ... in this run).
    GcStart { seq: u64 },
    /// `GCDone`.
    GcDone,
    /// `GCSTWStart`.
    StwStart { kind: StwKind },
    /// `GCSTWDone`.
    StwDone,
    /// `GCMarkAssistStart` by the record's goroutine.
    MarkAssistStart,
    /// `GCMarkAssistDone`.
    MarkAssistDone,
    /// `GCSweepStart` on the record's P.
    SweepStart,
    /// `GCSweepDone`.
    SweepDone { swept: u64, reclaimed: u64 },
    /// `HeapAlloc`: the live heap's size.
    HeapAlloc { bytes: u64 },
    /// `HeapGoal`.
    HeapGoal { bytes: u64 },
    /// gort's own: map `map` (its header's address as reports show it)
    /// began growing to `2^b` buckets (`same_size`: the same number, to
    /// drop overflow buckets). Exported as a `map` log (`as_log`).
    MapGrow { map: usize, b: u8, same_size: bool },
    /// gort's own: old bucket `bucket` of map `map` was evacuated.
    MapEvacuate { map: usize, bucket: u64 },
    /// gort's own events, and a scenario's annotations (`trace.Log`):
    /// `category` names the kind (`map`, `barrier`, `race`, `lost`,
    /// `fatal`, or the scenario's).
    Log {
        category: &'static str,
        message: String,
    },
    /// `trace.StartRegion` (`start`) / `Region.End` of the record's
    /// goroutine.
    Region { name: &'static str, start: bool },
}

impl TraceEvent {
    /// The category and text of an event that viewers show as a log
    /// (Go's `trace.Log`): `Log` itself and gort's own structured events,
    /// which are recorded without building their text.
    pub fn as_log(&self) -> Option<(&'static str, std::borrow::Cow<'_, str>)> {
        use std::borrow::Cow;
        match self {
            TraceEvent::Log { category, message } => Some((category, Cow::Borrowed(message))),
            TraceEvent::MapGrow { map, b, same_size } => Some((
                "map",
                Cow::Owned(format!("hashGrow map {map:#x}: B={b} sameSize={same_size}")),
            )),
            TraceEvent::MapEvacuate { map, bucket } => Some((
                "map",
                Cow::Owned(format!("evacuate map {map:#x}: oldbuckets[{bucket}]")),
            )),
            _ => None,
        }
    }
}

/// One event as recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceRecord {
    /// Global order of recording (see the module comment).
    pub seq: u64,
    /// Nanoseconds: virtual time in deterministic mode, since the tracer
    /// was made otherwise.
    pub ts: u64,
    /// The P it happened on, if any.
    pub p: Option<usize>,
    /// The goroutine acting (its id), 0 for the runtime.
    pub g: u64,
    pub ev: TraceEvent,
}

/// A runtime's event buffers (`SchedConfig::trace`).
pub struct Tracer {
    seq: AtomicU64,
    start: Instant,
    per_p: Box<[Mutex<Vec<TraceRecord>>]>,
    other: Mutex<Vec<TraceRecord>>,
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer")
            .field("events", &self.seq.load(Ordering::Relaxed))
            .finish()
    }
}

impl Default for Tracer {
    fn default() -> Self {
        Tracer::new()
    }
}

impl Tracer {
    pub fn new() -> Tracer {
        Tracer {
            seq: AtomicU64::new(0),
            start: Instant::now(),
            per_p: (0..MAX_TRACE_PS).map(|_| Mutex::new(Vec::new())).collect(),
            other: Mutex::new(Vec::new()),
        }
    }

    /// Monotonic nanoseconds since the tracer was made (parallel mode's
    /// clock; deterministic mode passes its virtual time instead).
    pub fn wall_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// Records `ev` at `ts` on `p` by goroutine `g`.
    pub fn emit(&self, ts: u64, p: Option<usize>, g: u64, ev: TraceEvent) {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let rec = TraceRecord { seq, ts, p, g, ev };
        let buf = match p {
            Some(i) if i < MAX_TRACE_PS => &self.per_p[i],
            _ => &self.other,
        };
        buf.lock().unwrap_or_else(|e| e.into_inner()).push(rec);
    }

    /// How many events were recorded.
    pub fn len(&self) -> u64 {
        self.seq.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every record so far, in recording order (`seq`), leaving the
    /// buffers empty.
    pub fn take(&self) -> Vec<TraceRecord> {
        let mut all = Vec::new();
        for b in self.per_p.iter().chain(std::iter::once(&self.other)) {
            all.append(&mut b.lock().unwrap_or_else(|e| e.into_inner()));
        }
        all.sort_by_key(|r| r.seq);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README and BENCHMARKS.md quote a record's size (its memory is
    /// most of what tracing costs).
    #[test]
    fn a_record_is_88_bytes() {
        assert_eq!(std::mem::size_of::<TraceRecord>(), 88);
    }

    #[test]
    fn records_come_back_in_recording_order_across_ps() {
        let t = Tracer::new();
        t.emit(5, Some(1), 0, TraceEvent::ProcStart { m: 1 });
        t.emit(5, Some(0), 1, TraceEvent::GoUnblock { g: 7 });
        t.emit(6, None, 0, TraceEvent::GcStart { seq: 0 });
        t.emit(7, Some(1), 7, TraceEvent::GoEnd);
        let r = t.take();
        assert_eq!(r.iter().map(|r| r.seq).collect::<Vec<_>>(), [0, 1, 2, 3]);
        assert_eq!(r[1].p, Some(0));
        assert_eq!(r[2].p, None);
        assert!(t.take().is_empty());
        assert_eq!(t.len(), 4);
    }
}
