//! Background mark workers and the pacer's choice of them (Go's
//! `gcBgMarkWorker`, `gcBgMarkStartWorkers`, and the worker half of
//! `gcControllerState.startCycle` / `findRunnableGCWorker`).
//!
//! Go keeps one mark worker goroutine per P, created at the first cycle
//! and parked between cycles ("GC worker (idle)" in dumps). Each cycle
//! the pacer aims at 25% of GOMAXPROCS for background marking: whole Ps
//! as *dedicated* workers (`int(0.25 * procs + 0.5)`, dropped by one when
//! that is more than 30% off the goal), the rest as a *fractional* goal
//! per P (at GOMAXPROCS 1, 2 and 3: no dedicated worker and 25% of each
//! P). Ps with nothing else to run mark as *idle* workers. The gctrace
//! line's `assist/background/idle` CPU figures are these three kinds.
//!
//! gort's scheduler does not know about the collector, so the choice is
//! made by the workers themselves as they wake, not by `schedule`: every
//! worker wakes when a cycle starts; the first ones claim the dedicated
//! slots and drain with only safepoints between chunks (preempted only to
//! stop the world or scan a stack, as Go's are); the others drain as
//! fractional workers, also keeping the P, while their own mark time is
//! within the fractional goal (Go's `pollFractionalWorkerExit`: 1.2x the
//! goal). Beyond it a worker marks on as an idle worker only while its P
//! has nothing else to run (Go's `pollWork`); otherwise it sleeps until
//! its share of the mark's time is back under the goal, when Go's
//! `schedule` would pick it again (at most 1 ms, to look whether the P
//! has become idle meanwhile). Yielding after every chunk instead, as
//! gort once did, shared the P round-robin with the mutators: on `gc
//! concurrent 2` 10-30 ms of "idle" mark CPU per cycle that Go's
//! (zero) does not have. A fractional
//! worker that waited in the run queue (behind mutators that sysmon
//! preempts every 10 ms) thus catches up to its share when it runs, as
//! Go's does when `schedule` picks it: on gobench's `gc concurrent 2` the
//! background share of the mark went from 1-25 ms per cycle (yielding
//! after every chunk, with assists doing the rest) to 28-64 ms, against
//! Go's 38-48 ms. Work done pays the debts of assists
//! parked for want of work (`AssistQueue::flush_credit`), and what is
//! left goes to the background credit pool assists draw on first. A
//! worker that finds no work tries to end the mark (`gc_mark_done`) and
//! otherwise naps briefly: grey objects may still come from a
//! write-barrier flush or another drainer's buffer.
//!
//! Differences from Go: the choice per wake-up rather than per
//! `schedule`, so a worker that left its P looks again after a nap
//! rather than being started the moment the P falls idle.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gort_scheduler::{AssistQueue, WaitList, WaitReason};

use crate::mark::{drain_chunk, Marker};
use crate::mheap::Heap;

/// Units of scan work a worker does between safepoints.
pub(crate) const WORKER_CHUNK: u64 = 1_000;

/// Go's `gcBackgroundUtilization`.
const BACKGROUND_UTILIZATION: f64 = 0.25;

/// Go's `maxUtilError` in `startCycle`.
const MAX_UTIL_ERROR: f64 = 0.3;

/// How long a worker that found no work waits before looking again.
const NO_WORK_NAP: Duration = Duration::from_micros(20);

/// The longest a worker that left its P to other goroutines waits before
/// looking again whether the P has become idle (Go's `schedule` would
/// start an idle worker on it at once).
const IDLE_RECHECK_NS: u64 = 1_000_000;

/// The workers' shared state, part of the collector's (`GcState`).
#[derive(Default)]
pub(crate) struct Workers {
    /// Workers created so far (Go's `gcBgMarkWorkerCount`).
    started: AtomicUsize,
    /// Cycles started, published to wake the parked workers.
    pub(crate) cycle_started: WaitList,
    /// Dedicated slots not yet claimed this cycle.
    dedicated_needed: AtomicI64,
    /// Fractional utilization goal per P (f64 bits).
    fractional_goal: AtomicU64,
    /// `nanotime` when the mark phase began.
    pub(crate) mark_start: AtomicU64,
    /// Mark CPU of idle workers this cycle (ns; virtual in deterministic
    /// mode). Dedicated and fractional time is `GcState::worker_ns`.
    pub(crate) idle_ns: AtomicU64,
    /// Background credit (bytes of allocation paid for) that no parked
    /// assist needed: Go's `bgScanCredit`.
    pub(crate) bg_credit: AtomicI64,
    /// Assists parked for want of work.
    pub(crate) assist_queue: AssistQueue,
    /// `gcstoptheworld`-style marking: no workers needed.
    pub(crate) disabled: AtomicBool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Dedicated,
    Fractional,
    Idle,
}

/// Go's `startCycle`, worker part: how many dedicated workers and what
/// fractional goal for `procs` Ps.
pub(crate) fn worker_split(procs: usize) -> (i64, f64) {
    let total = procs as f64 * BACKGROUND_UTILIZATION;
    let mut dedicated = (total + 0.5) as i64;
    let util_error = dedicated as f64 / total - 1.0;
    let mut fractional = 0.0;
    if !(-MAX_UTIL_ERROR..=MAX_UTIL_ERROR).contains(&util_error) {
        if dedicated as f64 > total {
            dedicated -= 1;
        }
        fractional = (total - dedicated as f64) / procs as f64;
    }
    (dedicated, fractional)
}

/// Sets this cycle's split, before the workers are woken.
pub(crate) fn start_cycle(heap: &Heap, procs: usize) {
    let w = &heap.gcs.workers;
    let (dedicated, fractional) = worker_split(procs);
    w.dedicated_needed.store(dedicated, Ordering::Release);
    w.fractional_goal
        .store(fractional.to_bits(), Ordering::Release);
    w.mark_start
        .store(gort_scheduler::nanotime(), Ordering::Release);
    w.idle_ns.store(0, Ordering::Relaxed);
    w.bg_credit.store(0, Ordering::Relaxed);
}

/// Go's `gcBgMarkStartWorkers`: one worker per P, created once (at the
/// first cycle, or when GOMAXPROCS grew), then woken for cycle `cycle`.
pub(crate) fn gc_bg_mark_start_workers(heap: &'static Heap, cycle: u64) {
    let w = &heap.gcs.workers;
    let procs = gort_scheduler::gomaxprocs();
    while w.started.load(Ordering::Acquire) < procs {
        w.started.fetch_add(1, Ordering::AcqRel);
        gort_scheduler::go_system(
            gort_scheduler::StartInfo {
                gopc: std::panic::Location::caller(),
                creator: "runtime.gcBgMarkStartWorkers",
                startfn: "runtime.gcBgMarkWorker",
            },
            gc_bg_mark_worker,
        );
    }
    w.cycle_started.advance(cycle);
}

/// Go's `gcBgMarkWorker`.
fn gc_bg_mark_worker() {
    let heap = crate::mheap::must();
    let g = &heap.gcs;
    let w = &g.workers;
    let mut served = 0;
    loop {
        w.cycle_started
            .wait_for(served + 1, WaitReason::GcWorkerIdle);
        served = w.cycle_started.count();
        if g.marking() && g.cycle() == served {
            mark_worker_cycle(heap, served);
        }
    }
}

/// One worker's part of cycle `cycle`.
fn mark_worker_cycle(heap: &'static Heap, cycle: u64) {
    let g = &heap.gcs;
    let w = &g.workers;
    let mode = if w.dedicated_needed.fetch_sub(1, Ordering::AcqRel) > 0 {
        Mode::Dedicated
    } else if f64::from_bits(w.fractional_goal.load(Ordering::Acquire)) > 0.0 {
        Mode::Fractional
    } else {
        Mode::Idle
    };
    let goal = f64::from_bits(w.fractional_goal.load(Ordering::Acquire));
    let mut self_ns = 0u64;
    let mut m = Marker::for_cycle(heap);
    m.keep = true;
    while g.marking() && g.cycle() == cycle && !w.disabled.load(Ordering::Acquire) {
        let now = gort_scheduler::nanotime();
        let elapsed = now.saturating_sub(w.mark_start.load(Ordering::Acquire));
        // Go's pollFractionalWorkerExit: past 1.2x its goal a fractional
        // worker stops, and `schedule` runs it again once its share of
        // the mark's time is back under the goal; a P with nothing else
        // to run marks meanwhile as an idle worker.
        let over_goal = mode == Mode::Fractional && self_ns as f64 > 1.2 * goal * elapsed as f64;
        let this = if over_goal { Mode::Idle } else { mode };
        if this == Mode::Idle && gort_scheduler::poll_work() {
            m.release(heap);
            let back_under = if over_goal {
                ((self_ns as f64 / goal) as u64).saturating_sub(elapsed)
            } else {
                0
            };
            gort_scheduler::sleep(Duration::from_nanos(
                back_under.clamp(NO_WORK_NAP.as_nanos() as u64, IDLE_RECHECK_NS),
            ));
            continue;
        }
        let w0 = Instant::now();
        let d = drain_chunk(heap, &mut m, WORKER_CHUNK);
        let did = d.units;
        let ns = crate::mgc::cpu_ns(heap, now, w0);
        match this {
            Mode::Idle => w.idle_ns.fetch_add(ns, Ordering::Relaxed),
            _ => g.worker_ns.fetch_add(ns, Ordering::Relaxed),
        };
        self_ns += ns;
        gc_flush_bg_credit(heap, did);
        if d.out_of_work {
            if g.work.idle() && !g.work_available() {
                crate::mgc::gc_mark_done(heap);
            }
            if g.marking() {
                gort_scheduler::sleep(NO_WORK_NAP);
            }
        } else {
            // A dedicated worker, or a fractional one within its goal,
            // keeps the P (Go's fractional worker drains until
            // `pollFractionalWorkerExit`): only a stop of the world or a
            // stack scan preempts it. An idle worker looks for other work
            // before its next chunk (above).
            gort_scheduler::preempt_point();
        }
    }
    m.release(heap);
}

/// Go's `gcFlushBgCredit`: `units` of scan work done by a worker pay the
/// debts of parked assists, then go to the background credit pool.
fn gc_flush_bg_credit(heap: &Heap, units: u64) {
    let w = &heap.gcs.workers;
    let credit = (units as f64 / crate::mgc::assist_work_per_byte(heap)) as i64;
    let left = w.assist_queue.flush_credit(credit);
    if left > 0 {
        w.bg_credit.fetch_add(left, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::worker_split;

    /// Go 1.19's `startCycle` split for GOMAXPROCS 1 to 8.
    #[test]
    fn dedicated_and_fractional_workers_as_go_splits_them() {
        let want = [
            (1, 0, 0.25),
            (2, 0, 0.25),
            (3, 0, 0.25),
            (4, 1, 0.0),
            (5, 1, 0.0),
            (6, 1, 0.5 / 6.0),
            (7, 2, 0.0),
            (8, 2, 0.0),
        ];
        for (procs, dedicated, fractional) in want {
            let (d, f) = worker_split(procs);
            assert_eq!(d, dedicated, "GOMAXPROCS={procs}");
            assert!((f - fractional).abs() < 1e-9, "GOMAXPROCS={procs}: {f}");
        }
    }
}
