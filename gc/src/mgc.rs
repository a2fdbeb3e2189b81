//! The collection cycle (Go's `mgc.go`): sweep termination, concurrent
//! mark, mark termination, sweep.
//!
//! 1. `gc_start` (Go's `gcStart`), on the goroutine whose allocation
//!    crossed the trigger, or on `runtime.GC()`'s caller: stop the world
//!    (STW #1, sweep termination): finish the last cycle's sweep, flush
//!    every P's mcache, reset the mark state, snapshot the goroutines (one
//!    stack job each: goroutines created later start with nothing the
//!    barrier has not seen), then `gcphase = _GCmark`, the write barrier
//!    on, blackening enabled; start the world and wake the background mark
//!    workers (`mgcworker.rs`). Before stopping, the goroutine sweeps what
//!    the last cycle left unswept, as Go's `gcStart` does.
//! 2. Concurrent mark: the workers drain root jobs and grey objects in
//!    chunks with a safepoint between them, so the program runs beside
//!    them; allocating goroutines pay for their allocations with mark work
//!    (assists, `gc_assist_alloc`), or park until the workers' credit pays
//!    for them; new objects are allocated black; every pointer store into
//!    the heap goes through the write barrier.
//! 3. `gc_mark_done` (Go's `gcMarkDone`), when a drainer finds no work
//!    and nobody else holding any: the ragged barrier (every P's
//!    write-barrier buffer flushed; if that found pointers, marking goes
//!    on), then STW #2 and one more flush; work found then restarts the
//!    world and marking (Go 1.13's `gcMarkDone` does the same); otherwise
//! 4. mark termination (`gc_mark_termination`, world stopped):
//!    `_GCmarktermination`, mcaches flushed, `sweepgen += 2` (every span
//!    becomes unswept, large objects included), `heapLive = heapMarked`, the
//!    next goal and trigger from GOGC (`pacer.rs`), the barrier off,
//!    `_GCoff`, MemStats; the world restarts, the gctrace line is printed
//!    and `runtime.GC()` callers waiting for the cycle are woken. Spans
//!    are swept by the `bgsweep` goroutine and lazily as allocation refills
//!    (`mcentral.rs`), and `runtime.GC()` finishes the sweep before
//!    returning, as Go's does.
//!    With `GODEBUG=gccheckmark=1` the heap is verified first, before
//!    `sweepgen` moves (`mcheckmark.rs`); a loss is thrown on the
//!    goroutine once the system-stack part is done.
//!
//! `GODEBUG=gcstoptheworld=1|2` (`gc_mark_stw`): the world is not
//! restarted after sweep termination; the whole mark runs there and mark
//! termination follows (with 2, the sweep too, before the world restarts).
//! `GODEBUG=gcscanold=0` makes every scan skip hmap's `oldbuckets` word.

use gort_scheduler::trace::{StwKind, TraceEvent};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use gort_scheduler::{GPtr, WaitList, WaitReason};

use crate::gctrace::{gctrace_line, GcTrace};
use crate::mark::{drain_chunk, Marker, RootJob};
use crate::mgcwork::WorkQueue;
use crate::mgcworker::WORKER_CHUNK;
use crate::mheap::Heap;

/// Go's `gcphase` values.
pub const GC_OFF: u8 = 0;
pub const GC_MARK: u8 = 1;
pub const GC_MARKTERMINATION: u8 = 2;

/// What the last collection did, for benchmarks and demos (the figures of
/// its gctrace line, with the mark phase's object count).
#[derive(Clone, Copy, Debug, Default)]
pub struct CycleStats {
    pub num: u32,
    pub sweep_term_ns: u64,
    pub mark_ns: u64,
    pub mark_term_ns: u64,
    /// Total stop-the-world time of the cycle (Go's PauseNs entry).
    pub pause_ns: u64,
    pub marked_objects: u64,
    pub marked_bytes: u64,
    pub stack_bytes: u64,
    /// Mark CPU of assists, of dedicated and fractional workers, and of
    /// idle workers.
    pub assist_ns: u64,
    pub worker_ns: u64,
    pub idle_ns: u64,
}

/// The last collection's figures (None before the first).
pub fn last_cycle() -> Option<CycleStats> {
    *crate::mheap::must().last_cycle.lock().unwrap()
}

/// Deterministic mode's model of a stop-the-world phase's fixed cost, and
/// of a step of mark work (the virtual clock charges steps at the
/// scheduler's step cost; this is only for the CPU columns).
const VIRTUAL_PHASE_NS: u64 = 5_000;

/// The collector's state for one heap (Go's `work`, `gcController` and
/// the phase globals).
#[derive(Default)]
pub(crate) struct GcState {
    /// Go's `gcphase`.
    pub(crate) phase: AtomicU8,
    /// Go's `gcBlackenEnabled`: workers and assists may mark.
    pub(crate) black_enabled: AtomicBool,
    pub(crate) work: WorkQueue,
    /// The goroutines whose stacks are this cycle's root jobs.
    stacks: Mutex<Vec<GPtr>>,
    /// Next root job (0: the globals, i: stack i-1) and their number.
    root_next: AtomicUsize,
    root_jobs: AtomicUsize,
    pub(crate) bytes_marked: AtomicU64,
    pub(crate) objects_marked: AtomicU64,
    pub(crate) stack_bytes: AtomicU64,
    /// A `gc_start` or `gc_mark_done` is running.
    starting: AtomicBool,
    mark_done_busy: AtomicBool,
    bgsweep_started: AtomicBool,
    /// Cycles started (Go's `work.cycles`); the WaitList publishes the
    /// number of cycles ended.
    cycles: AtomicU64,
    pub(crate) ended: WaitList,
    /// Mark CPU so far in this cycle (ns; virtual in deterministic mode).
    pub(crate) assist_ns: AtomicU64,
    pub(crate) worker_ns: AtomicU64,
    pub(crate) workers: crate::mgcworker::Workers,
    /// With `gccheckmark`: each goroutine's stack words as the mark's scan
    /// saw them (the verifier's stack roots).
    pub(crate) checkmark_stacks: Mutex<Vec<crate::mcheckmark::StackWords>>,
    /// The cycle being run: its gctrace figures so far.
    trace: Mutex<CycleTrace>,
}

#[derive(Default)]
struct CycleTrace {
    t: GcTrace,
    /// Start of the mark phase: nanotime and wall clock.
    mark_start_ns: u64,
    mark_start_wall: Option<Instant>,
    /// Deterministic mode, `gcstoptheworld`: the modelled time of the
    /// mark done inside mark termination.
    stw_mark_ns: u64,
}

impl GcState {
    /// Claims the next root job, if any is left.
    pub(crate) fn claim_root_job(&self) -> Option<RootJob> {
        if self.root_next.load(Ordering::Relaxed) >= self.root_jobs.load(Ordering::Relaxed) {
            return None;
        }
        let i = self.root_next.fetch_add(1, Ordering::AcqRel);
        if i >= self.root_jobs.load(Ordering::Acquire) {
            return None;
        }
        if i == 0 {
            return Some(RootJob::Globals);
        }
        self.stacks
            .lock()
            .unwrap()
            .get(i - 1)
            .copied()
            .map(RootJob::Stack)
    }

    /// Go's `gcMarkWorkAvailable`: root jobs or grey objects left.
    pub(crate) fn work_available(&self) -> bool {
        self.root_next.load(Ordering::Acquire) < self.root_jobs.load(Ordering::Acquire)
            || self.work.has_work()
    }

    /// Cycles started (Go's `work.cycles`).
    pub(crate) fn cycle(&self) -> u64 {
        self.cycles.load(Ordering::Acquire)
    }

    pub(crate) fn marking(&self) -> bool {
        self.phase.load(Ordering::Acquire) == GC_MARK
    }
}

/// Go's `runtime.GC()`: waits for a cycle in progress, runs a full one,
/// then finishes its sweep.
pub fn gc() {
    let heap = crate::mheap::must();
    let g = &heap.gcs;
    // Go's GC(): the cycle in progress (if any) does not count: it may
    // have started before the caller's last write.
    let n = g.cycles.load(Ordering::Acquire);
    g.ended.wait_for(n, WaitReason::WaitForGcCycle);
    gc_start(heap, true, n + 1);
    g.ended.wait_for(n + 1, WaitReason::WaitForGcCycle);
    gort_scheduler::systemstack(&mut || crate::sweep::finish_sweep(heap));
}

/// Go's `forcegchelper` (goroutine 2): parked until sysmon finds no
/// collection for two minutes (`gort_scheduler::forcegc`), then starts
/// one: time-triggered, fully concurrent, not a `runtime.GC()` (no
/// "(forced)" in its gctrace line; "GC forced" before it, as Go prints).
fn forcegchelper() {
    let heap = crate::mheap::must();
    loop {
        gort_scheduler::forcegc_park(heap.cfg.gogc.is_some());
        if heap.cfg.gctrace > 0 {
            gort_scheduler::write_stderr(b"GC forced\n");
        }
        if heap.gcs.phase.load(Ordering::Acquire) == GC_OFF {
            gc_start(heap, false, heap.gcs.cycles.load(Ordering::Acquire) + 1);
        }
    }
}

/// An allocation found `heapLive >= trigger` (Go's `gcTrigger{heap}`).
pub(crate) fn gc_trigger(heap: &'static Heap) {
    if heap.cfg.gogc.is_none() || heap.gcs.phase.load(Ordering::Acquire) != GC_OFF {
        return;
    }
    gc_start(heap, false, heap.gcs.cycles.load(Ordering::Acquire) + 1);
}

/// Go's `gcStart`: starts cycle number `want` unless one has been
/// started since the caller looked (`want <= cycles`).
fn gc_start(heap: &'static Heap, forced: bool, want: u64) {
    let g = &heap.gcs;
    while g.starting.swap(true, Ordering::AcqRel) {
        gort_scheduler::gosched();
    }
    if g.cycles.load(Ordering::Acquire) >= want || g.phase.load(Ordering::Acquire) != GC_OFF {
        g.starting.store(false, Ordering::Release);
        return;
    }
    let heap0 = heap.heap_live.load(Ordering::Relaxed);
    let this_goal = heap.goal.load(Ordering::Relaxed);
    // Go's gcStart sweeps what is left of the last cycle's spans before
    // stopping the world, so sweep termination finds nothing to do.
    while crate::sweep::sweepone(heap) {
        gort_scheduler::preempt_point();
    }
    let t_start = gort_scheduler::nanotime();
    let wall0 = Instant::now();
    // Go's gcStart: traceGCStart, then traceGCSTWStart(1) before the stop.
    let seq = g.cycles.load(Ordering::Acquire);
    gort_scheduler::trace_event(|| TraceEvent::GcStart { seq });
    gort_scheduler::trace_event(|| TraceEvent::HeapAlloc { bytes: heap0 });
    gort_scheduler::trace_event(|| TraceEvent::StwStart {
        kind: StwKind::SweepTermination,
    });
    gort_scheduler::stop_the_world("GC");
    let procs = gort_scheduler::gomaxprocs() as u32;
    gort_scheduler::systemstack(&mut || {
        // Sweep termination.
        crate::sweep::finish_sweep(heap);
        if heap.cfg.checkmark {
            // A goroutine created during the mark may reuse a dead one's
            // stack: no stale word of it may pass the verifier for a root.
            // SAFETY: the world is stopped; this is the system stack.
            unsafe { gort_scheduler::clear_dead_stacks() };
        }
        flush_mcaches(heap);
        // gcResetMarkState.
        g.work.reset();
        g.checkmark_stacks.lock().unwrap().clear();
        g.bytes_marked.store(0, Ordering::Relaxed);
        g.objects_marked.store(0, Ordering::Relaxed);
        g.stack_bytes.store(0, Ordering::Relaxed);
        g.assist_ns.store(0, Ordering::Relaxed);
        g.worker_ns.store(0, Ordering::Relaxed);
    });
    // gcMarkRootPrepare: the goroutines as they are now (none for a
    // stop-the-world mark, which scans them all itself).
    let stw = heap.cfg.stoptheworld > 0;
    let gs = if stw {
        Vec::new()
    } else {
        gort_scheduler::allgs_snapshot()
    };
    gort_scheduler::gc_reset_assists();
    g.root_jobs
        .store(if stw { 0 } else { 1 + gs.len() }, Ordering::Release);
    g.root_next.store(0, Ordering::Release);
    *g.stacks.lock().unwrap() = gs;
    g.cycles.fetch_add(1, Ordering::AcqRel);
    g.phase.store(GC_MARK, Ordering::Release);
    gort_scheduler::forcegc_note_gc_start();
    let n = g.cycles.load(Ordering::Acquire);
    gort_scheduler::explain::note("gcStart", || {
        (
            0,
            format!("GC {n}: the mark begins, the write barrier is on"),
        )
    });
    crate::mbarrier::set_write_barrier(heap, true);
    g.black_enabled.store(!stw, Ordering::Release);
    let mut stw1 = wall0.elapsed().as_nanos() as u64;
    if heap.cfg.det {
        stw1 = VIRTUAL_PHASE_NS;
        gort_scheduler::advance_virtual_clock(stw1);
    }
    *g.trace.lock().unwrap() = CycleTrace {
        t: GcTrace {
            heap0,
            forced,
            procs,
            start_ns: t_start,
            goal: crate::pacer::goal_for_trace(this_goal),
            stw_sweepterm_ns: stw1,
            ..GcTrace::default()
        },
        mark_start_ns: gort_scheduler::nanotime(),
        mark_start_wall: Some(Instant::now()),
        stw_mark_ns: 0,
    };
    if stw {
        gc_mark_stw(heap);
        return;
    }
    crate::mgcworker::start_cycle(heap, procs as usize);
    gort_scheduler::start_the_world();
    gort_scheduler::trace_event(|| TraceEvent::StwDone);
    g.starting.store(false, Ordering::Release);
    crate::mgcworker::gc_bg_mark_start_workers(heap, g.cycle());
}

/// `GODEBUG=gcstoptheworld=1|2` (Go's `gcForceMode`/`gcForceBlockMode`):
/// the world stays stopped after sweep termination; the whole mark runs
/// now, on the system stack, and mark termination follows at once, so
/// gctrace's concurrent-mark clock is 0 and the mark counts in the mark
/// termination pause. (Go 1.19 restarts the world with user goroutines
/// unschedulable and every P running a dedicated worker: its
/// concurrent-mark clock is the mark's time, with no user code running.)
fn gc_mark_stw(heap: &'static Heap) {
    let g = &heap.gcs;
    // The mark phase ends as it starts.
    let (t_markterm, wall) = {
        let ct = g.trace.lock().unwrap();
        (
            ct.mark_start_ns,
            ct.mark_start_wall.unwrap_or_else(Instant::now),
        )
    };
    // The world stays stopped from sweep termination to the end of mark
    // termination; the trace shows the two stops back to back.
    gort_scheduler::trace_event(|| TraceEvent::StwDone);
    gort_scheduler::trace_event(|| TraceEvent::StwStart {
        kind: StwKind::MarkTermination,
    });
    let mut cost = 0;
    gort_scheduler::systemstack(&mut || cost = crate::mark::gc_mark_stw(heap));
    if heap.cfg.det {
        g.trace.lock().unwrap().stw_mark_ns = cost;
    }
    let (num, line) = gc_mark_termination(heap, t_markterm, wall);
    g.starting.store(false, Ordering::Release);
    end_cycle(heap, num, line);
}

fn flush_mcaches(heap: &Heap) {
    let used = heap.mcaches_used.load(Ordering::Relaxed);
    for mc in heap.mcaches[..used].iter() {
        mc.release_all(heap);
    }
}

/// Time spent since `(t0, w0)`: virtual in deterministic mode, wall
/// otherwise.
pub(crate) fn cpu_ns(heap: &Heap, t0: u64, w0: Instant) -> u64 {
    if heap.cfg.det {
        gort_scheduler::nanotime().saturating_sub(t0)
    } else {
        w0.elapsed().as_nanos() as u64
    }
}

/// Scan work units per byte of allocation (Go's `assistWorkPerByte`,
/// from `revise`): what is left of the expected scan work over what is
/// left of the runway to the goal.
pub(crate) fn assist_work_per_byte(heap: &Heap) -> f64 {
    let g = &heap.gcs;
    let live = heap.heap_live.load(Ordering::Relaxed);
    let goal = heap.goal.load(Ordering::Relaxed);
    let expected = heap.heap_marked.load(Ordering::Relaxed).max(1 << 20) / 8;
    let done_so_far = g.bytes_marked.load(Ordering::Relaxed) / 8;
    let remaining_work = expected.saturating_sub(done_so_far).max(1000);
    let runway = goal.saturating_sub(live).max(1);
    remaining_work as f64 / runway as f64
}

/// Go's `gcAssistAlloc`: the current goroutine allocated `debt` bytes more
/// than its credit. It takes what it can from the background workers'
/// spare credit, then does mark work in proportion (at least Go's
/// `gcOverAssistWork`, 64 KiB worth) and keeps any surplus as credit.
/// With debt left and no work to take, it parks until the workers' credit
/// pays it or the mark ends (`gcParkAssist`).
pub(crate) fn gc_assist_alloc(heap: &'static Heap, debt: u64) {
    let g = &heap.gcs;
    let w = &g.workers;
    // Go's bgScanCredit steal.
    let pool = w.bg_credit.load(Ordering::Relaxed);
    if pool > 0 {
        let steal = pool.min(debt as i64);
        w.bg_credit.fetch_sub(steal, Ordering::Relaxed);
        gort_scheduler::gc_assist_credit(steal);
        if steal as u64 >= debt {
            return;
        }
    }
    let per_byte = assist_work_per_byte(heap);
    let debt = debt.saturating_sub(pool.max(0) as u64);
    let want = ((debt as f64 * per_byte) as u64).max(64 << 10 >> 3);
    // Go's gcDrainN stops when the goroutine is asked to preempt (a stop
    // of the world, a stack scan): the assist goes in chunks with a
    // safepoint between them.
    let mut did = 0;
    let mut m = Marker::for_cycle(heap);
    m.keep = true;
    gort_scheduler::trace_event(|| TraceEvent::MarkAssistStart);
    while did < want && g.marking() {
        let t0 = gort_scheduler::nanotime();
        let w0 = Instant::now();
        let budget = (want - did).min(WORKER_CHUNK);
        let d = drain_chunk(heap, &mut m, budget);
        g.assist_ns
            .fetch_add(cpu_ns(heap, t0, w0), Ordering::Relaxed);
        did += d.units;
        if d.out_of_work {
            break;
        }
        gort_scheduler::preempt_point();
    }
    m.release(heap);
    gort_scheduler::trace_event(|| TraceEvent::MarkAssistDone);
    // Credit: bytes of allocation the work done pays for.
    let credit = (did as f64 / per_byte) as i64;
    let balance = gort_scheduler::gc_assist_credit(credit);
    if balance >= 0 || !g.marking() {
        return;
    }
    if g.work.idle() && !g.work_available() {
        gc_mark_done(heap);
    } else {
        w.assist_queue
            .park(&|| g.black_enabled.load(Ordering::Acquire));
    }
}

/// Go's `gcMarkDone`: ends the mark if no work is left anywhere.
pub(crate) fn gc_mark_done(heap: &'static Heap) {
    let g = &heap.gcs;
    if g.mark_done_busy.swap(true, Ordering::AcqRel) {
        return;
    }
    if !g.marking() || !g.work.idle() || g.work_available() {
        g.mark_done_busy.store(false, Ordering::Release);
        return;
    }
    // The ragged barrier: every P's buffered barrier pointers shaded. Any
    // found means more marking.
    if crate::mwbbuf::wbbuf_flush_all(heap) > 0 {
        g.mark_done_busy.store(false, Ordering::Release);
        return;
    }
    let t_markterm = gort_scheduler::nanotime();
    let wall = Instant::now();
    gort_scheduler::trace_event(|| TraceEvent::StwStart {
        kind: StwKind::MarkTermination,
    });
    gort_scheduler::stop_the_world("GC mark termination");
    // Pointers buffered between the ragged barrier and the stop.
    if crate::mwbbuf::wbbuf_flush_all(heap) > 0 || !g.work.idle() || g.work_available() {
        gort_scheduler::start_the_world();
        gort_scheduler::trace_event(|| TraceEvent::StwDone);
        g.mark_done_busy.store(false, Ordering::Release);
        return;
    }
    g.black_enabled.store(false, Ordering::Release);
    g.workers.assist_queue.wake_all();
    let (num, line) = gc_mark_termination(heap, t_markterm, wall);
    g.mark_done_busy.store(false, Ordering::Release);
    end_cycle(heap, num, line);
}

/// After mark termination, with the world running again: the gctrace
/// line, the `runtime.GC()` callers woken, the sweeper started.
fn end_cycle(heap: &'static Heap, num: u64, line: Option<String>) {
    if let Some(line) = line {
        gort_scheduler::write_stderr(line.as_bytes());
    }
    heap.gcs.ended.advance(num);
    gort_scheduler::forcegc_note_gc_end(gort_scheduler::nanotime());
    start_bgsweep(heap);
}

/// Go starts bgsweep in gcenable and forcegchelper in an init function,
/// both before main; gort starts them when the first collection ends
/// (there is nothing to sweep before it, and no forced collection before
/// the first: Go's trigger needs `last_gc`), with Go's goroutine ids.
fn start_bgsweep(heap: &'static Heap) {
    if !heap.gcs.bgsweep_started.swap(true, Ordering::AcqRel) {
        gort_scheduler::go_system_goid(
            Some(gort_scheduler::GOID_FORCEGC),
            gort_scheduler::StartInfo {
                gopc: std::panic::Location::caller(),
                creator: "runtime.init.6",
                startfn: "runtime.forcegchelper",
            },
            forcegchelper,
        );
        gort_scheduler::go_system_goid(
            Some(gort_scheduler::GOID_BGSWEEP),
            gort_scheduler::StartInfo {
                gopc: std::panic::Location::caller(),
                creator: "runtime.gcenable",
                startfn: "runtime.bgsweep",
            },
            crate::sweep::bgsweep,
        );
    }
}

/// Go's `gcMarkTermination`, with the world stopped by `gc_mark_done`;
/// restarts it. Returns the cycle's number among started cycles and its
/// gctrace line (when gctrace is on).
fn gc_mark_termination(
    heap: &'static Heap,
    t_markterm: u64,
    wall: Instant,
) -> (u64, Option<String>) {
    let g = &heap.gcs;
    g.phase.store(GC_MARKTERMINATION, Ordering::Release);
    let n = g.cycles.load(Ordering::Acquire);
    gort_scheduler::explain::note("gcMarkTermination", || {
        (
            0,
            format!("GC {n}: mark termination (what is unmarked now is garbage)"),
        )
    });
    let mut ct = std::mem::take(&mut *g.trace.lock().unwrap());
    let trace = &mut ct.t;
    trace.heap1 = heap.heap_live.load(Ordering::Relaxed);
    crate::mcheckmark::apply_debug_unmark(heap);
    // The world is stopped: every P's allocate-black counts are final.
    for mc in heap.mcaches[..heap.mcaches_used.load(Ordering::Relaxed)].iter() {
        mc.flush_black(heap);
    }
    let marked = g.bytes_marked.load(Ordering::Relaxed);
    let stacks = g.stack_bytes.load(Ordering::Relaxed);
    let mut failed = None;
    gort_scheduler::systemstack(&mut || {
        // gccheckmark: verify the mark before the sweep can free anything.
        if heap.cfg.checkmark {
            failed = crate::mcheckmark::gc_checkmark(heap);
            if failed.is_some() {
                return;
            }
        }
        // Spans cached during the mark hold objects allocated black; they
        // go back to their central lists to be swept like every other.
        flush_mcaches(heap);
        heap.sweepgen.fetch_add(2, Ordering::AcqRel);
        if heap.cfg.stoptheworld >= 2 {
            // gcstoptheworld=2 (Go's gcForceBlockMode): the whole sweep
            // now, before the world restarts.
            while crate::sweep::sweepone(heap) {}
        }
        heap.heap_marked.store(marked, Ordering::Relaxed);
        heap.heap_live.store(marked, Ordering::Relaxed);
        heap.stack_scan.store(stacks, Ordering::Relaxed);
        let goal = crate::pacer::heap_goal(marked, stacks, 0, heap.cfg.gogc);
        heap.goal.store(goal, Ordering::Relaxed);
        heap.trigger
            .store(crate::pacer::trigger(goal, marked), Ordering::Relaxed);
    });
    if let Some(detail) = failed {
        // Go's throw in setCheckmark, with the world stopped; on the
        // goroutine, not the system stack.
        gort_scheduler::fatal_detail(detail, "checkmark found unmarked object");
    }
    crate::mbarrier::set_write_barrier(heap, false);
    g.stacks.lock().unwrap().clear();
    g.phase.store(GC_OFF, Ordering::Release);
    trace.heap2 = marked;
    trace.stacks = stacks;
    trace.mark_ns = t_markterm.saturating_sub(ct.mark_start_ns);
    let mut stw2 = wall.elapsed().as_nanos() as u64;
    if heap.cfg.det {
        stw2 = VIRTUAL_PHASE_NS + ct.stw_mark_ns;
        gort_scheduler::advance_virtual_clock(stw2);
    } else if let Some(w) = ct.mark_start_wall {
        trace.mark_ns = (wall - w).as_nanos() as u64;
    }
    trace.stw_markterm_ns = stw2;
    gort_scheduler::trace_event(|| TraceEvent::HeapAlloc { bytes: marked });
    gort_scheduler::trace_event(|| TraceEvent::GcDone);
    gort_scheduler::trace_event(|| TraceEvent::HeapGoal {
        bytes: heap.goal.load(Ordering::Relaxed),
    });
    gort_scheduler::start_the_world();
    gort_scheduler::trace_event(|| TraceEvent::StwDone);
    let procs = trace.procs as u64;
    let pause = trace.stw_sweepterm_ns + stw2;
    trace.sweepterm_cpu_ns = trace.stw_sweepterm_ns * procs;
    trace.markterm_cpu_ns = stw2 * procs;
    trace.assist_cpu_ns = g.assist_ns.load(Ordering::Relaxed);
    trace.worker_cpu_ns = g.worker_ns.load(Ordering::Relaxed);
    trace.idle_cpu_ns = g.workers.idle_ns.load(Ordering::Relaxed);
    let gc_cpu = pause * procs + trace.assist_cpu_ns + trace.worker_cpu_ns + trace.idle_cpu_ns;
    let cpu = heap.gc_cpu_ns.fetch_add(gc_cpu, Ordering::Relaxed) + gc_cpu;
    let now = gort_scheduler::nanotime();
    trace.cpu_percent = ((cpu as f64 / (now.max(1) * procs) as f64) * 100.0) as u32;
    {
        let mut st = heap.stats.lock().unwrap();
        if trace.forced {
            st.num_forced_gc += 1;
        }
        st.record_pause(pause, now);
        trace.num = st.num_gc;
    }
    *heap.last_cycle.lock().unwrap() = Some(CycleStats {
        num: trace.num,
        sweep_term_ns: trace.stw_sweepterm_ns,
        mark_ns: trace.mark_ns,
        mark_term_ns: trace.stw_markterm_ns,
        pause_ns: pause,
        marked_objects: g.objects_marked.load(Ordering::Relaxed),
        marked_bytes: trace.heap2,
        stack_bytes: trace.stacks,
        assist_ns: trace.assist_cpu_ns,
        worker_ns: trace.worker_cpu_ns,
        idle_ns: trace.idle_cpu_ns,
    });
    let line = (heap.cfg.gctrace > 0).then(|| gctrace_line(trace) + "\n");
    (g.cycles.load(Ordering::Acquire), line)
}

/// Go's `runtime.ReadMemStats` (the fields gort keeps).
pub fn read_mem_stats() -> crate::mstats::MemStats {
    let heap = crate::mheap::must();
    let mut st = heap.stats.lock().unwrap().clone();
    let (mut n, mut b) = (0, 0);
    for mc in heap.mcaches[..heap.mcaches_used.load(Ordering::Relaxed)].iter() {
        n += mc.local_nalloc.load(Ordering::Relaxed);
        b += mc.local_bytes.load(Ordering::Relaxed);
    }
    st.mallocs = heap.mallocs.load(Ordering::Relaxed) + n;
    st.frees = heap.frees.load(Ordering::Relaxed);
    st.heap_objects = heap.heap_objects.load(Ordering::Relaxed) + n;
    st.heap_alloc = heap.heap_alloc.load(Ordering::Relaxed) + b;
    st.alloc = st.heap_alloc;
    st.total_alloc = heap.total_alloc.load(Ordering::Relaxed) + b;
    st.heap_sys = heap.heap_sys();
    st.sys = st.heap_sys;
    st.heap_inuse =
        (heap.pages_in_use.load(Ordering::Relaxed) * crate::sizeclasses::PAGE_SIZE) as u64;
    st.heap_idle = st.heap_sys.saturating_sub(st.heap_inuse);
    st.next_gc = heap.goal.load(Ordering::Relaxed);
    st
}
