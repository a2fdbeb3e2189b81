//! Deterministic mode (`GODEBUG=simseed=N`): every P simulated on the one
//! thread that called `run`, every choice made by a seeded RNG.
//!
//! The driver loop plays the role of all Ms at once. Each iteration:
//! 1. runs the simulated sysmon when the virtual clock has passed its next
//!    tick (the same `retake` as parallel mode: a G that held its P for
//!    10 ms of virtual time is preempted; schedtrace prints on virtual time);
//! 2. collects the Ps that can take a step: those with a running G, and idle
//!    Ps when runnable work exists anywhere (an idle P then runs Go's
//!    `findRunnable`: timers, the 1-in-61 check, local, global, stealing);
//! 3. picks one uniformly with the RNG and resumes its G with a step budget
//!    drawn from a geometric distribution (mean `simswitch`). The G runs
//!    until it yields (Gosched, park, exit) or its budget runs out at a
//!    `step()`; in the latter case it stays `_Grunning` on its P and another
//!    P may go next, so two goroutines "on two Ps" interleave at the
//!    granularity of steps, inside runtime operations too;
//! 4. advances the virtual clock by the steps taken (`step_ns` each, at
//!    least one step per resume).
//!
//! With probability 1/`simpreempt` a switch also asks the running G to stop
//! at its next safepoint, so goroutines sharing a P interleave as well.
//! When no P can run, the clock jumps to the next timer; with no timer, it
//! is Go's `checkdead`: `fatal error: all goroutines are asleep - deadlock!`.
//!
//! Nothing here reads wall time, thread identity or addresses, so the same
//! seed gives the same interleaving, output and timestamps byte for byte.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::config::{DetConfig, Mode};
use crate::g::G;
use crate::m::M;
use crate::p::{GPtr, P, P_GCSTOP, P_IDLE, P_RUNNING};
use crate::sched::{Exit, Next, Sched};
use crate::util::{FastRand, Geometric};

/// Virtual interval between simulated sysmon ticks.
const SYSMON_TICK_NS: u64 = 20_000;

pub(crate) fn run(sched: &Arc<Sched>) -> Exit {
    crate::signal::ensure_altstack();
    let dc: DetConfig = match &sched.cfg.mode {
        Mode::Deterministic(d) => d.clone(),
        Mode::Parallel => unreachable!("det::run in parallel mode"),
    };
    let rng = FastRand::new(dc.seed);
    let runlen = Geometric::new(dc.switch_every);
    let trace_ns = sched.cfg.schedtrace_ms * 1_000_000;
    let mut next_sysmon = 0u64;
    let mut lasttrace = 0u64;
    let mut traced = false;
    let mut cands: Vec<usize> = Vec::with_capacity(sched.gomaxprocs());
    loop {
        if sched.is_done() {
            break;
        }
        let now = sched.vclock.load(Ordering::Relaxed);
        if now >= next_sysmon {
            sched.retake(now);
            next_sysmon = now + SYSMON_TICK_NS;
            if trace_ns > 0 && (!traced || lasttrace + trace_ns <= now) {
                traced = true;
                lasttrace = now;
                crate::schedtrace::schedtrace(sched, now, sched.cfg.scheddetail);
            }
        }
        if sched.gcwaiting.load(Ordering::SeqCst) {
            stop_idle_ps(sched);
        }
        cands.clear();
        // Idle Ps are candidates only if some work exists; that check walks
        // every queue, so it is made only when some P has no G.
        let mut work = None;
        let stw = sched.gcwaiting.load(Ordering::Relaxed);
        for p in sched.ps().iter() {
            let has_g = !p.curg.load(Ordering::Relaxed).is_null();
            if has_g
                || (!stw
                    && p.status() != P_GCSTOP
                    && *work.get_or_insert_with(|| work_anywhere(sched, now)))
            {
                cands.push(p.id);
            }
        }
        if cands.is_empty() {
            let next = sched.next_timer();
            if next != u64::MAX {
                sched.vclock.store(next.max(now), Ordering::Relaxed);
                continue;
            }
            report_deadlock(sched);
            break;
        }
        let p = &sched.allp[cands[rng.below(cands.len() as u64) as usize]];
        // Each simulated P keeps its own M for life (allm owns it).
        // SAFETY: p.m is set when the P is first used and never cleared in
        // this mode; Ms live as long as the Sched.
        let m = unsafe { &*p.m.load(Ordering::Relaxed) };
        let budget = runlen.sample(&rng);
        // SAFETY: curg is a G of this runtime.
        let cur = unsafe { p.curg.load(Ordering::Relaxed).as_ref() };
        let (g, next) = match cur {
            Some(g) => {
                if dc.preempt_every > 0 && rng.below(dc.preempt_every as u64) == 0 {
                    g.request_preempt();
                }
                arm(g, budget);
                let gp = GPtr::new(g);
                (g, sched.resume(gp))
            }
            None => match find_runnable(sched, m, p) {
                Some((gp, inherit)) => {
                    let g = gp.get();
                    arm(g, budget);
                    (g, sched.execute(m, p, gp, inherit))
                }
                None => {
                    make_idle(sched, p);
                    continue;
                }
            },
        };
        let steps = g.steps.get().max(1);
        // One thread owns the clock in this mode: no read-modify-write.
        // (The goroutine may have moved it itself: a collection's modelled
        // pause, `advance_virtual_clock`.)
        let cur = sched.vclock.load(Ordering::Relaxed).max(now);
        sched
            .vclock
            .store(cur + steps * dc.step_ns, Ordering::Relaxed);
        // A G that left its P leaves the P running and empty: it looks for
        // work on its next turn, or goes idle. (`Next::Run` is a parallel-
        // mode shortcut and never comes back here.)
        debug_assert!(!matches!(next, Next::Run(..)));
    }
    sched.take_exit().unwrap_or(Exit {
        status: 0,
        report: String::new(),
    })
}

fn arm(g: &G, budget: u64) {
    g.budget.set(budget);
    g.steps.set(0);
}

/// Whether some idle P could find a G: queued work or a due timer.
fn work_anywhere(sched: &Sched, now: u64) -> bool {
    // The driver thread owns every P in this mode, so the fence-free owner
    // check is exact.
    !sched.runq.is_empty()
        || sched.ps().iter().any(|p| !p.runq_empty_owner())
        || sched.next_timer() <= now
}

/// `findRunnable` for a simulated M whose P has no G: local work first,
/// then stealing (with every other P's due timers on the last pass).
fn find_runnable(sched: &Sched, m: &M, p: &P) -> Option<(GPtr, bool)> {
    take_from_idle(sched, p);
    if let Some(x) = sched.find_runnable_local(p) {
        return Some(x);
    }
    sched.steal_work(m, p).map(|g| (g, false))
}

fn take_from_idle(sched: &Sched, p: &P) {
    if p.status() == P_IDLE {
        let mut idle = sched.lock.lock().unwrap();
        if let Some(i) = idle.pidle.iter().position(|&id| id == p.id) {
            idle.pidle.swap_remove(i);
            sched.npidle.fetch_sub(1, Ordering::SeqCst);
        }
        p.set_status(P_RUNNING);
    }
}

fn make_idle(sched: &Sched, p: &P) {
    if p.status() == P_RUNNING {
        let mut idle = sched.lock.lock().unwrap();
        idle.pidle.push(p.id);
        sched.npidle.fetch_add(1, Ordering::SeqCst);
        p.set_status(P_IDLE);
    }
}

/// During a stop-the-world, every P without a running G stops at once
/// (Go's STW takes idle Ps off the idle list; an M that finds gcwaiting
/// in `findRunnable` stops its P).
fn stop_idle_ps(sched: &Sched) {
    for p in sched.ps().iter() {
        if p.status() == P_GCSTOP || !p.curg.load(Ordering::Relaxed).is_null() {
            continue;
        }
        if p.status() == P_IDLE {
            let mut idle = sched.lock.lock().unwrap();
            if let Some(i) = idle.pidle.iter().position(|&id| id == p.id) {
                idle.pidle.swap_remove(i);
                sched.npidle.fetch_sub(1, Ordering::SeqCst);
            }
        }
        p.set_status(P_GCSTOP);
        sched.stopwait.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Go's `checkdead` verdict: nothing can ever run again.
pub(crate) fn report_deadlock(sched: &Sched) {
    if sched.ngoroutines.load(Ordering::SeqCst) <= 0 {
        sched.throw("no goroutines (main called runtime.Goexit) - deadlock!");
    } else {
        sched.throw("all goroutines are asleep - deadlock!");
    }
}
