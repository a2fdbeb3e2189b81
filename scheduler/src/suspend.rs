//! Stopping one goroutine so the collector can scan its stack while the
//! world runs (Go's `suspendG` and `resumeG`, preempt.go).
//!
//! The concurrent mark scans each goroutine's stack once per cycle, with
//! the world running. The goroutine must be stopped meanwhile, and the
//! `_Gscan` bit is how Go owns it: OR-ed onto a `_Grunnable` or
//! `_Gwaiting` status by CAS, it makes every transition out of that state
//! (`execute`, `ready`, a cancelled park: `casgstatus`) wait until the
//! scanner clears it. A `_Grunning` goroutine is first asked to stop at
//! its next safepoint (the preemption request sysmon uses, with Go's
//! `preemptStop`: the goroutine parks as "preempted" rather than going
//! back to a run queue, from which its P could pick it again before the
//! scanner looks); the scanner waits, a step at a time in deterministic
//! mode, until it has left the CPU, takes the bit, scans, and readies it
//! (`resumeG`). A dead goroutine has nothing to scan.
//!
//! The scanner reads the stack while holding the bit and does not take a
//! scheduler step until it has released it: in deterministic mode, where
//! every P runs on one thread, no one can then ever find the bit set (a
//! waiter there could not spin). The scan itself only copies the words
//! out (`f` below); greying what they point to, which is where the
//! deterministic steps of mark work are, happens after the release. The
//! copy is a snapshot of the stack at the moment of the scan, exactly what
//! Go's scan of a stopped goroutine sees.
//!
//! A goroutine scanning its own stack (a mark assist whose root job is its
//! own stack) does it on the system stack, which freezes its registers
//! onto the stack like any other switch.

use std::sync::atomic::Ordering;

use crate::g::{G, G_DEAD, G_RUNNABLE, G_RUNNING, G_SCAN, G_WAITING};
use crate::p::GPtr;

/// Every goroutine of the current runtime (Go's `allGsSnapshot`, taken by
/// the collector with the world stopped: goroutines created later start
/// with no pointers the barrier has not seen).
pub fn allgs_snapshot() -> Vec<GPtr> {
    crate::proc::must_getg("allgs_snapshot")
        .sched()
        .allgs
        .lock()
        .unwrap()
        .clone()
}

/// Go's `gcResetMarkState` for goroutines: every one starts the cycle
/// with no assist credit or debt.
pub fn gc_reset_assists() {
    let gs = allgs_snapshot();
    for gp in gs {
        gp.get()
            .gc_assist_bytes
            .store(0, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The part of a stopped G's stack that can hold pointers: from its saved
/// stack pointer (less `slack` bytes for registers its switch pushed) to
/// the base, or the top 4 KiB of a G that has not run yet (where its
/// closure was written).
pub(crate) fn live_range(g: &G, slack: usize) -> (usize, usize) {
    let lo = g.stack.lo() + crate::stack::GUARD;
    let hi = g.stack.hi();
    let sp = g.sched_sp.get();
    let from = if sp == 0 {
        hi.saturating_sub(4096).max(lo)
    } else {
        sp.saturating_sub(slack).max(lo)
    };
    (from, hi)
}

/// Go's `suspendG` + `scanstack` + `resumeG` for the goroutine `gp` of the
/// current runtime: stops it (waiting for a running one to reach a
/// safepoint), calls `f(lo, hi)` with the live part of its stack, and lets
/// it go. Returns false if it was dead (nothing scanned). Must be called on
/// a goroutine; `f` must not take scheduler steps, park or allocate.
///
/// # Safety
/// `f` receives the address range of a stopped goroutine's stack, mapped
/// and not written while `f` runs; the caller must only read it, and `gp`
/// must be a goroutine of the calling goroutine's runtime (from
/// `allgs_snapshot`).
pub unsafe fn scan_goroutine_stack(
    gp: GPtr,
    slack: usize,
    f: &mut dyn FnMut(usize, usize),
) -> bool {
    let me = crate::proc::must_getg("scan_goroutine_stack");
    let g = gp.get();
    if std::ptr::eq(g, me) {
        // Our own stack: frozen by the switch to the system stack.
        crate::proc::systemstack(&mut || {
            let (lo, hi) = live_range(me, slack);
            f(lo, hi)
        });
        return true;
    }
    loop {
        let s = g.status();
        if s & G_SCAN != 0 {
            // Another scanner (not in deterministic mode: see above).
            std::thread::yield_now();
            continue;
        }
        match s {
            G_DEAD => {
                g.preempt_scan.store(false, Ordering::Release);
                return false;
            }
            G_RUNNABLE | G_WAITING => {
                if !g.cas_status(s, s | G_SCAN) {
                    continue;
                }
                let (lo, hi) = live_range(g, slack);
                f(lo, hi);
                g.preempt_scan.store(false, Ordering::Release);
                g.set_status(s);
                // Go's resumeG: a G that parked for this scan goes on.
                if g.preempt_parked.swap(false, Ordering::AcqRel) {
                    crate::proc::ready_g(gp);
                }
                return true;
            }
            G_RUNNING => {
                // Go's preemptStop: at its next safepoint the G parks
                // (not back to the run queue, where its P could run it
                // again first) until the scan above readies it.
                g.preempt_scan.store(true, Ordering::Release);
                g.request_preempt();
                wait_a_moment();
            }
            _ => wait_a_moment(),
        }
    }
}

/// Lets the goroutine being waited for run, and lets others scan this
/// one meanwhile: a `Gosched` (no safepoint), so the waiter itself is
/// `_Grunnable`, its registers saved on its stack, while it waits. Two
/// drainers scanning each other's stacks would otherwise wait forever:
/// each asked the other to stop, and a safepoint would park each for the
/// other's scan (Go avoids it the same way: a drainer puts itself in
/// `_Gwaiting` while it marks, so its own stack stays scannable).
fn wait_a_moment() {
    crate::proc::gosched();
}
