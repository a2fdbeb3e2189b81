//! gort-scheduler: Go's G/M/P scheduler, with goroutines as stackful
//! coroutines, in two execution modes.
//!
//! # The algorithm (Go 1.19's proc.go, as gort runs it)
//!
//! A goroutine (G) is a corosensei coroutine on a fixed stack slot from one
//! process-wide pool (`stack`). A P is a processor's worth of scheduling
//! state: a 256-slot local run queue plus a one-slot `runnext`, a cache of
//! dead Gs, and timers (`p`). An M runs Gs on the P it holds (`m`).
//! `go f()` puts the new G in the creator's `runnext`; the creator keeps
//! running. A G gives its P back by yielding to its M (Go's `mcall`) with a
//! reason: `Gosched` and preemption go to the global queue; `gopark` waits
//! until some `goready` puts it back in the waker's `runnext`; returning is
//! `goexit`. The M then runs `findRunnable`: this P's timers, the global
//! queue once every 61 schedule ticks (fairness), `runnext`, the local ring,
//! the global queue, then stealing half of another P's ring (four passes in
//! a random order, `runnext` and timers only on the last).
//!
//! sysmon preempts a G that has held its P for 10 ms by setting its
//! `stackguard0` to `STACK_PREEMPT`; the G stops at its next safepoint (any
//! runtime call or `preempt_point()`). The same compare catches a stack
//! about to overflow (`fatal error: stack overflow`). Stop-the-world uses the
//! same request on every P (`stw`).
//!
//! # Two execution modes (DESIGN.md)
//!
//! * Parallel (`parallel`): one OS thread per P, wall-clock time, spinning
//!   and parked Ms exactly as Go manages them.
//! * Deterministic (`det`, `GODEBUG=simseed=N`): every P simulated on one
//!   thread; a seeded RNG picks the P that takes each step and when to
//!   preempt; time is virtual. Lower layers call `step()` at each simulated
//!   memory access, so goroutines on different Ps interleave inside runtime
//!   operations, and the same seed replays the same interleaving.
//!
//! Both modes share every structure and algorithm above; only the driving
//! of Ms differs.
//!
//! # No thread-locals on goroutine stacks
//!
//! A coroutine may resume on another OS thread, and LLVM may cache a
//! thread-local's address across the switch. So code running on a goroutine
//! finds its G from the stack pointer (`stack::getg`: the slot's header names
//! its owner), its M from the G and its P from the M, like Go's
//! `getg().m.p`. No lock guard or TLS borrow is held across a yield.

pub mod alloc;
pub mod assistq;
pub mod chan;
pub mod config;
mod det;
pub mod explain;
pub mod ext;
pub mod fatal;
pub mod forcegc;
pub mod g;
mod globrunq;
pub mod m;
pub mod p;
mod parallel;
pub mod proc;
mod procresize;
pub mod race;
mod sched;
mod schedtrace;
pub mod select;
pub mod sema;
mod signal;
pub mod spinlock;
pub mod stack;
pub mod stw;
pub mod suspend;
pub mod sync;
pub mod trace;
pub mod traceback;
mod util;

use std::sync::atomic::Ordering;

pub use alloc::GoAlloc;
pub use assistq::AssistQueue;
pub use chan::{after, Chan};
pub use config::{Captured, DetConfig, Mode, Output, Pct, RaceDetector, SchedConfig, Traceback};
pub use det::{PageTouch, PAGE_FAULT_NS};
pub use ext::{alloc_enter, LayerKey};
pub use forcegc::{forcegc_note_gc_end, forcegc_note_gc_start, forcegc_park, FORCEGC_PERIOD_NS};
pub use g::{ObjMemo, StartInfo, UnlockFn, WaitReason, G};
pub use p::GPtr;
pub use proc::{
    advance_virtual_clock, clear_dead_stacks, current, det_charge, det_charge_now, det_page_touch,
    det_runtimes, deterministic, fastrand, fatal, fatal_detail, for_each_goroutine_stack,
    gc_assist_add, gc_assist_credit, go, go_system, go_system_goid, go_with, goexit, goid,
    gomaxprocs, gopark, goready, gosched, goyield, nanotime, num_goroutine, off_goroutine_stack,
    poll_work, preempt_point, preempt_point_g, preempt_requested, procid, sleep, start_info, step,
    systemstack, trace_event, tracing, try_procid, write_stderr, write_stdout, GOID_BGSWEEP,
    GOID_FORCEGC,
};
pub use procresize::set_gomaxprocs;
pub use sched::{Exit, MAXPROCS_CAP};
pub use select::{block, selectgo, RecvCase, SelectCase, SendCase};
pub use sema::{Sema, WaitList};
pub use stw::{start_the_world, stop_the_world, stw_reason, world_stopped};
pub use suspend::{allgs_snapshot, gc_reset_assists, scan_goroutine_stack};
pub use sync::WaitGroup;

use crate::p::P_IDLE;
use crate::sched::Sched;

struct DetGuard;
impl Drop for DetGuard {
    fn drop(&mut self) {
        proc::DET_RUNTIMES.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Runs a program: `main` becomes goroutine 1 on P0; the run ends when it
/// returns (status 0, other goroutines are abandoned as Go abandons them),
/// or at the first panic or fatal error (status 2, with Go's report on the
/// configured stderr). Several runs may proceed at once on different
/// threads; each is independent.
pub fn run<F>(cfg: SchedConfig, start: StartInfo, main: F) -> Exit
where
    F: FnOnce() + Send + 'static,
{
    fatal::install_panic_hook();
    let sched = Sched::new(cfg);
    let p0 = &sched.allp[0];
    // In Go, runtime.main parks and resumes while it initialises (it waits
    // for the GC's background goroutines) before main.main runs, so P0's
    // schedtick is past 0 by then. Start at 1 so the 1-in-61 global check
    // does not fire on main's very first schedule, which Go never sees.
    p0.schedtick.store(1, Ordering::Relaxed);
    let exit = if sched.det {
        proc::DET_RUNTIMES.fetch_add(1, Ordering::SeqCst);
        let _guard = DetGuard;
        {
            let mut idle = sched.lock.lock().unwrap();
            for p in sched.ps().iter() {
                let m = sched.new_m();
                sched.acquirep(&m, p);
                if p.id != 0 {
                    sched.set_p_status(p, P_IDLE);
                    idle.pidle.push(p.id);
                    sched.npidle.fetch_add(1, Ordering::SeqCst);
                }
                drop(m);
            }
        }
        sched.newproc(p0, None, start, main);
        let e = det::run(&sched);
        sched.teardown();
        e
    } else {
        {
            let mut idle = sched.lock.lock().unwrap();
            for p in sched.ps().iter().skip(1).rev() {
                sched.pidleput(&mut idle, p);
            }
        }
        let m0 = sched.new_m();
        sched.acquirep(&m0, p0);
        sched.newproc(p0, None, start, main);
        let e = parallel::run(&sched, m0);
        sched.teardown();
        e
    };
    exit
}
