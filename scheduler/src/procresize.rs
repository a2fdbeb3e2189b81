//! Changing GOMAXPROCS while the program runs (Go's `runtime.GOMAXPROCS(n)`
//! and `procresize`).
//!
//! As in Go, the change happens with the world stopped: new Ps start
//! stopped and are put on the idle list by `start_the_world`; a destroyed
//! P's runnable goroutines go to the head of the global queue in the order
//! they would have run (runnext first), its timers move to the current P,
//! its dead-G cache to the global list, and it becomes `_Pdead`. If the
//! calling goroutine's own P is destroyed, it moves to P0, as Go's current M
//! takes P0. Ps are allocated up front (`MAXPROCS_CAP`) and never move, so
//! pointers to them stay valid; in deterministic mode each P keeps the
//! simulated M it was first given.

use std::sync::atomic::Ordering;

use crate::g::G;
use crate::p::{P_DEAD, P_GCSTOP};
use crate::sched::{Sched, MAXPROCS_CAP};

/// Go's `runtime.GOMAXPROCS(n)`: sets the number of Ps and returns the
/// previous value; `n == 0` (or the current value) only queries, without
/// stopping the world. gort caps `n` at `MAXPROCS_CAP` (or the initial
/// GOMAXPROCS, if larger) and says so on stderr.
pub fn set_gomaxprocs(n: usize) -> usize {
    let g = crate::proc::must_getg("set_gomaxprocs");
    let sched = g.sched();
    let old = sched.gomaxprocs();
    if n == 0 || n == old {
        return old;
    }
    let cap = sched.allp.len();
    debug_assert!(cap >= MAXPROCS_CAP);
    let n = if n > cap {
        sched.cfg.output.write_stderr(
            format!("gort: GOMAXPROCS({n}) exceeds gort's limit of {cap} Ps; using {cap}\n")
                .as_bytes(),
        );
        cap
    } else {
        n
    };
    crate::stw::stop_the_world("GOMAXPROCS");
    procresize(sched, g, n);
    crate::stw::start_the_world();
    old
}

/// Go's `procresize`, called by the goroutine `g` that stopped the world.
fn procresize(sched: &Sched, g: &G, n: usize) {
    let old = sched.gomaxprocs();
    let cur = Sched::current_p(g);
    for p in &sched.allp[old.min(n)..old.max(n)] {
        if n > old {
            // A new P: stopped now, idle once the world restarts.
            if sched.det && p.m.load(Ordering::Acquire).is_null() {
                let m = sched.new_m();
                sched.acquirep(&m, p);
            }
            p.set_status(P_GCSTOP);
        }
    }
    // The caller's P is going away: continue on P0.
    let home = if cur.id >= n {
        let p0 = &sched.allp[0];
        sched.move_running_g(g, cur, p0);
        p0
    } else {
        cur
    };
    if n < old {
        for p in &sched.allp[n..old] {
            let gs = p.drain();
            sched.runq.push_head_batch(&gs);
            for t in p.take_all_timers() {
                sched.addtimer(home, t.when, t.f, t.arg);
            }
            p.gfpurge(&sched.gfree);
            p.set_status(P_DEAD);
        }
    }
    sched.nprocs.store(n, Ordering::Release);
}
