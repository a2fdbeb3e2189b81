//! Stop-the-world and start-the-world (Go's `stopTheWorldWithSema` and
//! `startTheWorldWithSema`), called from a goroutine, as the GC will.
//!
//! The caller's P, every idle P, and (unlike Go) every P that `startm`
//! handed to a parked M not yet awake go to `_Pgcstop` at once; every running
//! G is asked to stop at its next safepoint (`preemptall`, repeated every
//! 100 µs as in Go). An M whose G stopped sees `gcwaiting` in
//! `findRunnable`, parks its P in `_Pgcstop` and counts down `stopwait`;
//! the last one wakes the stopper. In parallel mode, with no more Ps than
//! CPUs, the stopper first spins for up to 40 µs (unlike Go, which sleeps
//! on its note at once): on
//! a virtual machine the futex wake-up of a thread whose vCPU went idle
//! took 30-100 µs, longer than most stops, and made up most of gort's
//! slower pauses. A goroutine an M starts while the stop begins is asked to
//! stop too (`Sched::preempt_if_stopping`), where Go's runs on until the
//! stopper's next round. In deterministic mode the stopper yields
//! step by step while the driver runs the other Ps to their safepoints.
//! `start_the_world` puts the stopped Ps back on the idle list and wakes an
//! M; work stealing spreads the preempted Gs from the global queue.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::g::{Yield, G};
use crate::p::{P_GCSTOP, P_RUNNING};
use crate::sched::Sched;

/// How long a parallel-mode stopper spins before it sleeps (module comment).
const STOP_SPIN: Duration = Duration::from_micros(40);

fn preempt_others(sched: &Sched, me: &G) {
    for p in sched.ps().iter() {
        // SAFETY: curg is a G of this runtime.
        if let Some(g) = unsafe { p.curg.load(Ordering::SeqCst).as_ref() } {
            if !std::ptr::eq(g, me) {
                g.request_preempt();
            }
        }
    }
}

/// Ps that `startm` handed to a parked M (`nextp`) which has not woken
/// yet: the stop takes them back, as if they were still idle (scheduler
/// lock held, under which `startm` sets `nextp`). Waiting for such an M
/// instead was the longest part of a stop: a futex wake-up of an idle
/// vCPU, 90-130 us and now and then milliseconds on a virtual machine
/// (Go waits for it). The M finds no P when it wakes and parks again.
fn take_back_handoffs(sched: &Sched) {
    for m in sched.allm.lock().unwrap().iter() {
        let np = m.nextp.swap(std::ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: nextp points into sched.allp.
        if let Some(pp) = unsafe { np.as_ref() } {
            // The M was started spinning (counted in nmspinning) to look
            // for work with this P; it will not.
            if m.spinning.swap(false, Ordering::Relaxed) {
                sched.nmspinning.fetch_sub(1, Ordering::SeqCst);
            }
            pp.set_status(P_GCSTOP);
            sched.stopwait.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Stops every other P at a safepoint; returns when the world is stopped.
/// `reason` names the stop, as Go's does (for traces).
pub fn stop_the_world(reason: &'static str) {
    let g = crate::proc::must_getg("stop_the_world");
    let sched = g.sched();
    while sched.stw_busy.swap(true, Ordering::AcqRel) {
        crate::proc::gosched();
    }
    *sched.stw_reason.lock().unwrap() = reason;
    sched
        .stw_owner
        .store(g as *const G as *mut G, Ordering::Release);
    let p = Sched::current_p(g);
    {
        let mut idle = sched.lock.lock().unwrap();
        sched
            .stopwait
            .store(sched.gomaxprocs() as i64, Ordering::SeqCst);
        sched.gcwaiting.store(true, Ordering::SeqCst);
        preempt_others(sched, g);
        p.set_status(P_GCSTOP);
        sched.stopwait.fetch_sub(1, Ordering::SeqCst);
        while let Some(pp) = sched.pidleget(&mut idle) {
            pp.set_status(P_GCSTOP);
            sched.stopwait.fetch_sub(1, Ordering::SeqCst);
        }
        if !sched.det {
            take_back_handoffs(sched);
        }
    }
    // Spinning helps only while every P can have a CPU: with more Ps than
    // CPUs the spin could keep the thread being waited for off its CPU.
    if !sched.det && sched.gomaxprocs() <= crate::sync::runtime::ncpu() {
        let t = std::time::Instant::now();
        while sched.stopwait.load(Ordering::SeqCst) > 0
            && !sched.is_done()
            && t.elapsed() < STOP_SPIN
        {
            for _ in 0..64 {
                std::hint::spin_loop();
            }
        }
    }
    while sched.stopwait.load(Ordering::SeqCst) > 0 && !sched.is_done() {
        if sched.det {
            g.steps.set(g.steps.get() + 1);
            g.suspend(Yield::Step);
        } else {
            sched.stopnote.sleep(Some(Duration::from_micros(100)));
        }
        preempt_others(sched, g);
    }
}

/// Restarts the world stopped by `stop_the_world`.
pub fn start_the_world() {
    let g = crate::proc::must_getg("start_the_world");
    let sched = g.sched();
    let p = Sched::current_p(g);
    {
        let mut idle = sched.lock.lock().unwrap();
        sched.gcwaiting.store(false, Ordering::SeqCst);
        p.set_status(P_RUNNING);
        for pp in sched.ps().iter() {
            if pp.id != p.id && pp.status() == P_GCSTOP {
                sched.pidleput(&mut idle, pp);
            }
        }
    }
    sched
        .stw_owner
        .store(std::ptr::null_mut(), Ordering::Release);
    sched.stw_busy.store(false, Ordering::Release);
    sched.wakep();
}

/// The reason given to the current (or last) stop-the-world.
pub fn stw_reason() -> &'static str {
    *crate::proc::must_getg("stw_reason")
        .sched()
        .stw_reason
        .lock()
        .unwrap()
}

/// Whether a stop-the-world is in progress (for tests and the GC).
pub fn world_stopped() -> bool {
    crate::stack::getg().is_some_and(|g| g.sched().gcwaiting.load(Ordering::SeqCst))
}
