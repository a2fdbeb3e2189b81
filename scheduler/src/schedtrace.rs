//! `GODEBUG=schedtrace=X` and `scheddetail=1`: Go's `schedtrace` blocks.
//!
//! The summary line and the detailed P/M/G lines follow Go 1.19's
//! `schedtrace` field for field (reference/sched.md §12), so the output
//! can be read and diffed like the real runtime's. What gort does not have
//! is printed with the value Go would show for it: `syscalltick` and
//! `nmidlelocked` are 0 (no system calls, no locked threads), and every M
//! shows `mallocing=0 throwing=0 preemptoff= locks=0 dying=0 lockedg=-1`.
//! sysmon is M1, as in Go, has no P and no G, and shows `locks=2`, the locks
//! it holds while printing. In deterministic mode the
//! Ms are simulated one per P, so `threads` is GOMAXPROCS+1 and an M is idle
//! exactly when its P is.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use crate::g::G_SCAN;
use crate::sched::Sched;

/// Prints one schedtrace block, `ms` milliseconds after the first one.
pub(crate) fn schedtrace(sched: &Sched, elapsed_ns: u64, detailed: bool) {
    let s = format_schedtrace(sched, elapsed_ns / 1_000_000, detailed);
    sched.cfg.output.write_stderr(s.as_bytes());
}

pub(crate) fn format_schedtrace(sched: &Sched, ms: u64, detailed: bool) -> String {
    let mut out = String::new();
    let allm = sched.allm.lock().unwrap().clone();
    let gomaxprocs = sched.gomaxprocs();
    let (npidle, nmidle) = if sched.det {
        // Deterministic mode: an M is idle exactly when its P is.
        let n = sched
            .ps()
            .iter()
            .filter(|p| p.status() == crate::p::P_IDLE)
            .count();
        (n, n)
    } else {
        (
            sched.npidle.load(Ordering::SeqCst),
            sched.nmidle.load(Ordering::SeqCst),
        )
    };
    let _ = write!(
        out,
        "SCHED {}ms: gomaxprocs={} idleprocs={} threads={} spinningthreads={} idlethreads={} runqueue={}",
        ms,
        gomaxprocs,
        npidle,
        allm.len() + 1,
        sched.nmspinning.load(Ordering::SeqCst),
        nmidle,
        sched.runq.len()
    );
    if detailed {
        let _ = writeln!(
            out,
            // sysmonwait: Go's sysmon parks on a note when every P is idle;
            // gort's backs off to 10 ms sleeps instead and is never parked.
            " gcwaiting={} nmidlelocked=0 stopwait={} sysmonwait=0",
            sched.gcwaiting.load(Ordering::SeqCst) as u8,
            sched.stopwait.load(Ordering::SeqCst),
        );
    } else {
        out.push_str(" [");
        for (i, p) in sched.ps().iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            let _ = write!(out, "{}", p.runqsize());
        }
        out.push_str("]\n");
        return out;
    }
    for p in sched.ps().iter() {
        // SAFETY: p.m points to an M in allm (kept alive by the Arc above).
        let mut mid = unsafe { p.m.load(Ordering::Acquire).as_ref() }.map_or(-1, |m| m.id);
        if sched.det && p.status() != crate::p::P_RUNNING {
            // A simulated M keeps its P for life; an idle pair shows as
            // Go shows an idle P: no M.
            mid = -1;
        }
        let _ = writeln!(
            out,
            "  P{}: status={} schedtick={} syscalltick=0 m={} runqsize={} gfreecnt={} timerslen={}",
            p.id,
            p.status(),
            p.schedtick(),
            mid,
            p.runqsize(),
            p.gfreecnt(),
            p.timerslen()
        );
    }
    // Go walks allm from the newest M to M0; sysmon (M1) sits in that list.
    let mut ms: Vec<(i64, String)> = allm
        .iter()
        .map(|m| {
            let pid = m
                .p()
                .filter(|p| !sched.det || p.status() == crate::p::P_RUNNING)
                .map_or(-1, |p| p.id as i64);
            // SAFETY: curg is a G of this runtime.
            let curg = unsafe { m.curg.load(Ordering::Acquire).as_ref() }
                .map_or(-1, |g| g.goid() as i64);
            (
                m.id,
                format!(
                    "  M{}: p={} curg={} mallocing=0 throwing=0 preemptoff= locks=0 dying=0 spinning={} blocked={} lockedg=-1",
                    m.id,
                    pid,
                    curg,
                    m.spinning.load(Ordering::Relaxed),
                    m.blocked.load(Ordering::Relaxed)
                ),
            )
        })
        .collect();
    // sysmon prints this block holding the scheduler and allgs locks, so
    // Go shows it with locks=2; gort's sysmon holds the same two.
    ms.push((
        1,
        "  M1: p=-1 curg=-1 mallocing=0 throwing=0 preemptoff= locks=2 dying=0 spinning=false blocked=false lockedg=-1".to_string(),
    ));
    ms.sort_by_key(|(id, _)| std::cmp::Reverse(*id));
    for (_, line) in ms {
        out.push_str(&line);
        out.push('\n');
    }
    let gs = sched.allgs.lock().unwrap().clone();
    for gp in gs {
        let g = gp.get();
        let st = g.status();
        let mid = if st & !G_SCAN == crate::g::G_RUNNING {
            // SAFETY: g.m is an M of this runtime or null.
            unsafe { g.m.load(Ordering::Acquire).as_ref() }.map_or(-1, |m| m.id)
        } else {
            -1
        };
        let _ = writeln!(
            out,
            "  G{}: status={}({}) m={} lockedm=-1",
            g.goid(),
            st,
            g.waitreason().as_str(),
            mid
        );
    }
    out
}
