//! Helpers shared by the sync tests (sync_locks.rs, sync_misc.rs).

use std::sync::atomic::{AtomicU64, Ordering};

use gort::rt::Mode;
use gort::{Config, Exit, Runtime};

pub use super::{det, par};

/// Parallel mode at 1, 2 and 4 Ps, and deterministic mode at 1 to 4 Ps
/// over several seeds.
pub fn configs() -> Vec<Config> {
    vec![
        par(1),
        par(2),
        par(4),
        det(1, 1),
        det(2, 2),
        det(3, 2),
        det(4, 3),
        det(5, 4),
        det(6, 4),
    ]
}

/// Runs `f` on a fresh runtime built from `cfg`, bounded like every gort
/// test; returns the runtime (for its captured output) and the exit.
pub fn run<F>(cfg: Config, f: F) -> (Runtime, Exit)
where
    F: FnOnce() + Send + 'static,
{
    let rt = Runtime::new(cfg);
    let e = super::run(&rt, f);
    (rt, e)
}

/// The mode and GOMAXPROCS of a runtime, for failure messages.
pub fn describe(rt: &Runtime) -> String {
    let sc = rt.config().sched();
    match sc.mode {
        Mode::Parallel => format!("parallel, GOMAXPROCS={}", sc.gomaxprocs),
        Mode::Deterministic(d) => format!("simseed={}, GOMAXPROCS={}", d.seed, sc.gomaxprocs),
    }
}

pub fn assert_ok(rt: &Runtime, e: &Exit, what: &str) {
    assert_eq!(
        e.status,
        0,
        "{what} ({}): stderr:\n{}",
        describe(rt),
        rt.stderr()
    );
}

/// A read-modify-write of `c` that loses updates unless something orders
/// it: a scheduling point (in deterministic mode, possibly a switch to
/// another P) sits between the read and the write.
pub fn racy_increment(c: &AtomicU64) {
    let v = c.load(Ordering::Relaxed);
    gort::rt::step();
    gort::preempt_point();
    c.store(v + 1, Ordering::Relaxed);
}
