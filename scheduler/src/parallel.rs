//! Parallel mode: Ms are OS threads (Go's `mstart`, `schedule`, the
//! blocking half of `findRunnable`, `wakep`/`startm`/`stopm`, and sysmon).
//!
//! The thread that calls `run` becomes M0 and owns P0, where the main
//! goroutine starts. More Ms are started on demand: when a G becomes
//! runnable and some P is idle, `wakep` starts one *spinning* M (only if no
//! M is spinning already; Go's rule that keeps one thief while work exists).
//! A spinning M that finds work calls `resetspinning`, which wakes the next
//! one. An M that finds nothing gives its P back to the idle list, drops its
//! spinning state, re-checks every run queue (the last spinner must not miss
//! work that arrived meanwhile) and parks on its note (`stopm`), with a
//! timeout when a timer is pending, so an idle runtime uses no CPU.
//!
//! sysmon runs on its own thread without a P: it preempts a G that has held
//! its P for more than 10 ms (`retake`, by watching `schedtick`), starts an M
//! for overdue timers, and prints `GODEBUG=schedtrace` blocks.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::m::M;
use crate::p::{GPtr, P_GCSTOP};
use crate::sched::{Exit, Next, Sched};

/// Go's `forcePreemptNS`: the time slice after which sysmon preempts.
pub const FORCE_PREEMPT_NS: u64 = 10_000_000;

/// Runs the program whose main goroutine was queued on P0.
pub(crate) fn run(sched: &Arc<Sched>, m0: Arc<M>) -> Exit {
    crate::signal::ensure_altstack();
    let s2 = sched.clone();
    let sysmon = std::thread::Builder::new()
        .name("gort-sysmon".into())
        .spawn(move || sysmon(&s2))
        .expect("gort: cannot start sysmon thread");
    mstart(sched, &m0);
    // Wait for the other Ms: each leaves its loop at its next safepoint.
    loop {
        let handles: Vec<_> = std::mem::take(&mut *sched.threads.lock().unwrap());
        if handles.is_empty() {
            break;
        }
        for h in handles {
            let _ = h.join();
        }
    }
    sched.sysmonnote.wakeup();
    let _ = sysmon.join();
    sched.take_exit().unwrap_or(Exit {
        status: 0,
        report: String::new(),
        steps: 0,
    })
}

/// The scheduling loop of one M (Go's `schedule` called forever).
fn mstart(sched: &Sched, m: &Arc<M>) {
    while let Some((g, inherit)) = find_runnable(sched, m) {
        let p = m.p().expect("M running without a P");
        let mut next = sched.execute(m, p, g, inherit);
        loop {
            next = match next {
                Next::Find => break,
                Next::Keep(g) if !sched.is_done() => sched.resume(g),
                Next::Keep(_) => break,
                // (A `Run` comes from a fused Gosched or park, which checked
                // that the runtime is not done. Re-read the P: set_gomaxprocs may
                // have moved this M.)
                Next::Run(g, inherit) => {
                    let p = m.p().expect("M running without a P");
                    sched.execute(m, p, g, inherit)
                }
            };
        }
    }
}

/// Go's `findRunnable` for an OS-thread M. Returns None when the runtime
/// is done.
fn find_runnable(sched: &Sched, m: &Arc<M>) -> Option<(GPtr, bool)> {
    'top: loop {
        if sched.is_done() {
            return None;
        }
        let Some(p) = m.p() else {
            stopm(sched, m);
            continue;
        };
        if sched.gcwaiting.load(Ordering::SeqCst) {
            gcstopm(sched, m);
            continue;
        }
        if let Some(x) = sched.find_runnable_local(p) {
            if m.spinning.load(Ordering::Relaxed) {
                resetspinning(sched, m);
            }
            return Some(x);
        }
        // Steal, if not too many Ms are spinning already.
        let busy = sched
            .gomaxprocs()
            .saturating_sub(sched.npidle.load(Ordering::SeqCst));
        if m.spinning.load(Ordering::Relaxed) || 2 * sched.nmspinning.load(Ordering::SeqCst) < busy
        {
            if !m.spinning.load(Ordering::Relaxed) {
                m.spinning.store(true, Ordering::Relaxed);
                sched.nmspinning.fetch_add(1, Ordering::SeqCst);
            }
            if let Some(g) = sched.steal_work(m, p) {
                resetspinning(sched, m);
                return Some((g, false));
            }
        }
        // Give up: release the P, then re-check everything once more.
        let mut idle = sched.lock.lock().unwrap();
        if sched.gcwaiting.load(Ordering::SeqCst) || sched.is_done() {
            continue 'top;
        }
        if !sched.runq.is_empty() {
            drop(idle);
            if let Some(g) = p.globrunqget(&sched.runq, sched.gomaxprocs(), 0) {
                if m.spinning.load(Ordering::Relaxed) {
                    resetspinning(sched, m);
                }
                return Some((g, false));
            }
            continue 'top;
        }
        let p = sched.releasep(m);
        sched.pidleput(&mut idle, p);
        drop(idle);
        let was_spinning = m.spinning.swap(false, Ordering::Relaxed);
        if was_spinning {
            sched.nmspinning.fetch_sub(1, Ordering::SeqCst);
        }
        let work = !sched.runq.is_empty() || sched.ps().iter().any(|p2| !p2.runq_empty());
        let timer_due = sched.next_timer() <= sched.nanotime();
        if work || timer_due {
            let mut idle = sched.lock.lock().unwrap();
            if let Some(pp) = sched.pidleget(&mut idle) {
                sched.acquirep(m, pp);
                drop(idle);
                if was_spinning || timer_due {
                    m.spinning.store(true, Ordering::Relaxed);
                    sched.nmspinning.fetch_add(1, Ordering::SeqCst);
                }
                continue 'top;
            }
        }
        stopm(sched, m);
    }
}

/// Go's `resetspinning`: this M found work; keep one spinner going.
fn resetspinning(sched: &Sched, m: &M) {
    m.spinning.store(false, Ordering::Relaxed);
    sched.nmspinning.fetch_sub(1, Ordering::SeqCst);
    wakep(sched);
}

/// Go's `wakep`: start a spinning M if a P is idle and nobody spins.
#[inline]
pub(crate) fn wakep(sched: &Sched) {
    // Inline: with no idle P (always at GOMAXPROCS=1, often when busy)
    // every goready pays only this load.
    if sched.npidle.load(Ordering::SeqCst) == 0 {
        return;
    }
    wakep_slow(sched);
}

#[inline(never)]
fn wakep_slow(sched: &Sched) {
    if sched.nmspinning.load(Ordering::SeqCst) != 0
        || sched
            .nmspinning
            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
    {
        return;
    }
    startm(sched, true);
}

/// Go's `startm`: give an idle P to an idle (or new) M and wake it.
fn startm(sched: &Sched, spinning: bool) {
    let mut idle = sched.lock.lock().unwrap();
    let Some(p) = sched.pidleget(&mut idle) else {
        drop(idle);
        if spinning {
            sched.nmspinning.fetch_sub(1, Ordering::SeqCst);
        }
        return;
    };
    if let Some(nm) = idle.midle.pop() {
        sched.nmidle.fetch_sub(1, Ordering::SeqCst);
        nm.spinning.store(spinning, Ordering::Relaxed);
        nm.nextp.store(p as *const _ as *mut _, Ordering::Release);
        drop(idle);
        nm.park.wakeup();
        return;
    }
    drop(idle);
    let nm = sched.new_m();
    nm.spinning.store(spinning, Ordering::Relaxed);
    sched.acquirep(&nm, p);
    let arc = sched.arc();
    let h = std::thread::Builder::new()
        .name(format!("gort-m{}", nm.id))
        .spawn(move || {
            crate::signal::ensure_altstack();
            mstart(&arc, &nm);
            if let Some(p) = nm.p() {
                p.m.store(std::ptr::null_mut(), Ordering::Release);
            }
        })
        .expect("gort: cannot start an M thread");
    sched.threads.lock().unwrap().push(h);
}

/// Go's `stopm`: park this M until `startm` hands it a P (or a timer is
/// due, or the runtime is done).
fn stopm(sched: &Sched, m: &Arc<M>) {
    loop {
        {
            let mut idle = sched.lock.lock().unwrap();
            idle.midle.push(m.clone());
            sched.nmidle.fetch_add(1, Ordering::SeqCst);
            checkdead(sched, &idle);
        }
        if sched.is_done() {
            remove_idle(sched, m);
            return;
        }
        let now = sched.nanotime();
        let next = sched.next_timer();
        let timeout = (next != u64::MAX).then(|| Duration::from_nanos(next.saturating_sub(now)));
        m.blocked.store(true, Ordering::Relaxed);
        m.park.sleep(timeout);
        m.blocked.store(false, Ordering::Relaxed);
        remove_idle(sched, m);
        if sched.is_done() {
            return;
        }
        let np = m.nextp.swap(std::ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: nextp points into sched.allp.
        if let Some(p) = unsafe { np.as_ref() } {
            sched.acquirep(m, p);
            return;
        }
        if sched.next_timer() <= sched.nanotime() {
            let mut idle = sched.lock.lock().unwrap();
            if let Some(p) = sched.pidleget(&mut idle) {
                sched.acquirep(m, p);
                return;
            }
        }
    }
}

fn remove_idle(sched: &Sched, m: &Arc<M>) {
    let mut idle = sched.lock.lock().unwrap();
    if let Some(i) = idle.midle.iter().position(|x| Arc::ptr_eq(x, m)) {
        idle.midle.swap_remove(i);
        sched.nmidle.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Go's `gcstopm`: hand the P over to a pending stop-the-world.
fn gcstopm(sched: &Sched, m: &Arc<M>) {
    if m.spinning.swap(false, Ordering::Relaxed) {
        sched.nmspinning.fetch_sub(1, Ordering::SeqCst);
    }
    let p = sched.releasep(m);
    {
        let _idle = sched.lock.lock().unwrap();
        sched.set_p_status(p, P_GCSTOP);
        if sched.stopwait.fetch_sub(1, Ordering::SeqCst) == 1 {
            sched.stopnote.wakeup();
        }
    }
    stopm(sched, m);
}

/// Go's `checkdead` (scheduler lock held): every M is idle, no goroutine
/// can run and no timer is pending.
fn checkdead(sched: &Sched, idle: &crate::sched::Idle) {
    let workers = sched.allm.lock().unwrap().len();
    if idle.midle.len() < workers || sched.gcwaiting.load(Ordering::SeqCst) || sched.is_done() {
        return;
    }
    if !sched.runq.is_empty() || sched.ps().iter().any(|p| !p.runq_empty()) {
        return;
    }
    if sched.next_timer() != u64::MAX {
        return;
    }
    crate::det::report_deadlock(sched);
}

/// Go's `sysmon`, on its own thread.
fn sysmon(sched: &Sched) {
    let mut delay_us: u64 = 20;
    let mut idle_cycles = 0u32;
    let trace_ns = sched.cfg.schedtrace_ms * 1_000_000;
    let mut lasttrace = 0u64;
    let mut starttime = None;
    loop {
        if sched.is_done() {
            return;
        }
        let now = sched.nanotime();
        let mut sleep_ns = delay_us * 1000;
        if trace_ns > 0 {
            sleep_ns = sleep_ns.min((lasttrace + trace_ns).saturating_sub(now));
        }
        // Wake for the earliest timer: if every P is idle, or the timer's P
        // is, nobody else would run it on time.
        // (An overdue timer that no P can take yet must not make sysmon
        // spin: it keeps its normal delay then.)
        let until_timer = sched.next_timer().saturating_sub(now);
        if until_timer > 0 {
            sleep_ns = sleep_ns.min(until_timer);
        }
        sched
            .sysmon_wake_at
            .store(now.saturating_add(sleep_ns), Ordering::Release);
        if sleep_ns > 0 {
            sched.sysmonnote.sleep(Some(Duration::from_nanos(sleep_ns)));
        }
        if sched.is_done() {
            return;
        }
        let now = sched.nanotime();
        sched.sysmon_forcegc(now);
        // Go counts a cycle as busy only when retake took a P back from a
        // system call (gort has none); preempting a long-running G does
        // not count, so with every P busy sysmon backs off to 10 ms naps
        // instead of waking 50,000 times a second beside the Ms.
        sched.retake(now);
        idle_cycles += 1;
        delay_us = if idle_cycles <= 50 {
            20
        } else {
            (delay_us * 2).min(10_000)
        };
        if sched.next_timer() <= now && sched.npidle.load(Ordering::SeqCst) > 0 {
            wakep(sched);
            idle_cycles = 0;
        }
        if trace_ns > 0 && (starttime.is_none() || lasttrace + trace_ns <= now) {
            lasttrace = now;
            let t0 = *starttime.get_or_insert(now);
            crate::schedtrace::schedtrace(sched, now - t0, sched.cfg.scheddetail);
        }
    }
}
