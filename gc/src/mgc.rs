//! The collection cycle (Go's `mgc.go`), stop-the-world form.
//!
//! Go 1.19's cycle is: STW sweep termination, concurrent mark, STW mark
//! termination, concurrent sweep. gort's collector today keeps
//! the same phases and their order but runs marking with the world still
//! stopped (like Go's `GODEBUG=gcstoptheworld=1`); the concurrent mark and
//! its write barriers come next, on these same structures.
//!
//! 1. `stop_the_world("GC")`; the collector's goroutine then switches to
//!    the system stack (Go's `systemstack`), so it is suspended like every
//!    other goroutine and its own stack is scanned the same way.
//! 2. Sweep termination: sweep what the last cycle left unswept
//!    (`finishsweep_m`), flush every P's mcache back to the central lists.
//! 3. Mark: roots and stacks, then drain (`mark.rs`).
//! 4. Mark termination: `sweepgen += 2` (every span becomes unswept),
//!    large objects swept, `heapLive = heapMarked`, the next goal and
//!    trigger from GOGC (`pacer.rs`), MemStats (pause ring, NumGC).
//! 5. Start the world; print the gctrace line; sweeping of small-object
//!    spans proceeds lazily as allocation refills (`mcentral.rs`), and
//!    `runtime.GC()` finishes it before returning, as Go's does.

use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::gctrace::{gctrace_line, GcTrace};
use crate::mheap::Heap;

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
}

/// The last collection's figures (None before the first).
pub fn last_cycle() -> Option<CycleStats> {
    *crate::mheap::must().last_cycle.lock().unwrap()
}

/// Deterministic mode's model of a collection's cost: each stop-the-world
/// phase's fixed part, and the mark's cost per object (about Go's 38 ns
/// per object on the gc-tree heap, BENCHMARKS.md) and per stack word.
const VIRTUAL_PHASE_NS: u64 = 5_000;
const VIRTUAL_NS_PER_OBJECT: u64 = 38;
const VIRTUAL_NS_PER_STACK_WORD: u64 = 1;

/// Go's `runtime.GC()`: a full collection, then the sweep finished.
pub fn gc() {
    let heap = crate::mheap::must();
    gc_cycle(heap, true);
    gort_scheduler::systemstack(&mut || crate::sweep::finish_sweep(heap));
}

/// An allocation found `heapLive >= trigger` (Go's `gcTrigger{heap}`).
pub(crate) fn gc_trigger(heap: &Heap) {
    if heap.cfg.gogc.is_none() {
        return;
    }
    gc_cycle(heap, false);
}

fn gc_cycle(heap: &Heap, forced: bool) {
    // One collection at a time; a goroutine that finds one running lets it
    // finish (the world is stopped meanwhile, so it simply waits).
    if heap.gc_running.swap(true, Ordering::AcqRel) {
        while heap.gc_running.load(Ordering::Acquire) {
            gort_scheduler::gosched();
        }
        if !forced {
            return;
        }
        return gc_cycle(heap, forced);
    }
    let heap0 = heap.heap_live.load(Ordering::Relaxed);
    let this_goal = heap.goal.load(Ordering::Relaxed);
    let t_start = gort_scheduler::nanotime();
    let wall0 = Instant::now();
    gort_scheduler::stop_the_world("GC");
    let mut trace = GcTrace {
        heap0,
        forced,
        procs: gort_scheduler::gomaxprocs() as u32,
        ..GcTrace::default()
    };
    let mut pause = 0u64;
    let mut marked_objects = 0u64;
    gort_scheduler::systemstack(&mut || {
        let t0 = Instant::now();
        // Sweep termination.
        crate::sweep::finish_sweep(heap);
        let used = heap.mcaches_used.load(Ordering::Relaxed);
        for mc in heap.mcaches[..used].iter() {
            mc.release_all(heap);
        }
        let t1 = Instant::now();
        // Mark (stop-the-world here; concurrent in Go).
        let m = crate::mark::mark_roots_and_drain(heap);
        marked_objects = m.objects;
        let t2 = Instant::now();
        // Mark termination.
        trace.heap1 = heap.heap_live.load(Ordering::Relaxed);
        heap.sweepgen.fetch_add(2, Ordering::AcqRel);
        crate::sweep::sweep_large(heap);
        heap.heap_marked.store(m.bytes, Ordering::Relaxed);
        heap.heap_live.store(m.bytes, Ordering::Relaxed);
        heap.stack_scan.store(m.stack_bytes, Ordering::Relaxed);
        let goal = crate::pacer::heap_goal(m.bytes, m.stack_bytes, 0, heap.cfg.gogc);
        heap.goal.store(goal, Ordering::Relaxed);
        heap.trigger
            .store(crate::pacer::trigger(goal, m.bytes), Ordering::Relaxed);
        let t3 = Instant::now();
        trace.heap2 = m.bytes;
        // gctrace prints the goal this cycle ran against (Go's
        // `lastHeapGoal`), not the one it just set for the next.
        trace.goal = crate::pacer::goal_for_trace(this_goal);
        trace.stacks = m.stack_bytes;
        trace.stw_sweepterm_ns = (t1 - t0).as_nanos() as u64;
        trace.mark_ns = (t2 - t1).as_nanos() as u64;
        trace.stw_markterm_ns = (t3 - t2).as_nanos() as u64;
        pause = (t3 - t0).as_nanos() as u64;
    });
    let mut stw_total = wall0.elapsed().as_nanos() as u64;
    if heap.cfg.det {
        // Deterministic mode replays byte for byte, so the collector's
        // phases take modelled virtual time (Go-like costs per unit of
        // work) instead of measured wall time, and the virtual clock moves
        // on by the pause.
        let m = (marked_objects, trace.stacks);
        trace.stw_sweepterm_ns = VIRTUAL_PHASE_NS;
        trace.mark_ns = m.0 * VIRTUAL_NS_PER_OBJECT + m.1 / 8 * VIRTUAL_NS_PER_STACK_WORD;
        trace.stw_markterm_ns = VIRTUAL_PHASE_NS;
        pause = trace.stw_sweepterm_ns + trace.mark_ns + trace.stw_markterm_ns;
        stw_total = pause;
        gort_scheduler::advance_virtual_clock(pause);
    }
    gort_scheduler::start_the_world();
    let procs = trace.procs as u64;
    trace.sweepterm_cpu_ns = trace.stw_sweepterm_ns * procs;
    trace.worker_cpu_ns = trace.mark_ns * procs;
    trace.markterm_cpu_ns = trace.stw_markterm_ns * procs;
    let cpu = heap
        .gc_cpu_ns
        .fetch_add(stw_total * procs, Ordering::Relaxed)
        + stw_total * procs;
    let now = gort_scheduler::nanotime();
    trace.start_ns = t_start;
    trace.cpu_percent = ((cpu as f64 / (now.max(1) * procs) as f64) * 100.0) as u32;
    {
        let mut st = heap.stats.lock().unwrap();
        if forced {
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
        marked_objects,
        marked_bytes: trace.heap2,
        stack_bytes: trace.stacks,
    });
    heap.gc_running.store(false, Ordering::Release);
    if heap.cfg.gctrace > 0 {
        let line = gctrace_line(&trace) + "\n";
        gort_scheduler::write_stderr(line.as_bytes());
    }
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
