//! Shared by the integration tests: a bounded `run`, and the scheduling
//! scenarios that are checked both offline (tests/sched.rs) and against
//! the real Go 1.19 (tests/go_compare.rs).

#![allow(dead_code)]

use std::sync::{mpsc, Arc};
use std::time::Duration;

use gort::{Config, Exit, Runtime, WaitGroup};

/// `rt.run(f)`, failing the test instead of hanging it when the scheduler
/// loses a wakeup or never preempts: a stuck test would otherwise hold CI
/// until its overall time limit.
pub fn run<F>(rt: &Runtime, f: F) -> Exit
where
    F: FnOnce() + Send + 'static,
{
    let rt = rt.clone();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(rt.run(f));
    });
    match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(e) => e,
        Err(_) => {
            panic!("the runtime did not finish within 120 s (lost wakeup or missing preemption?)")
        }
    }
}

/// Parallel mode at `procs` Ps, output captured.
pub fn par(procs: usize) -> Config {
    Config::new().gomaxprocs(procs).capture_output()
}

/// Deterministic mode with `seed` at `procs` Ps, output captured.
pub fn det(seed: u64, procs: usize) -> Config {
    Config::new()
        .gomaxprocs(procs)
        .simseed(seed)
        .capture_output()
}

/// Runs `f` on a fresh runtime built from `cfg` and asserts it exits with
/// status 0 (showing its stderr if not); returns the runtime for its
/// captured output.
pub fn run_ok<F: FnOnce() + Send + 'static>(cfg: Config, f: F) -> Runtime {
    let rt = Runtime::new(cfg);
    let e = run(&rt, f);
    assert_eq!(e.status, 0, "stderr:\n{}", rt.stderr());
    rt
}

/// `go a; go b; go c; wg.Wait()`, each printing its name: at GOMAXPROCS=1
/// Go prints c, a, b (runnext first, the displaced G at the ring's tail).
pub fn runnext_scenario() {
    let wg = Arc::new(WaitGroup::new());
    for name in ["a", "b", "c"] {
        wg.add(1);
        let wg = wg.clone();
        gort::go!(move || {
            gort::println!("{name}");
            wg.done();
        });
    }
    wg.wait();
}

/// Two goroutines printing and calling Gosched three times each: at
/// GOMAXPROCS=1 Go interleaves them strictly, y0 x0 y1 x1 y2 x2.
pub fn gosched_scenario() {
    let wg = Arc::new(WaitGroup::new());
    for name in ["x", "y"] {
        wg.add(1);
        let wg = wg.clone();
        gort::go!(move || {
            for i in 0..3 {
                gort::println!("{name}{i}");
                gort::gosched();
            }
            wg.done();
        });
    }
    wg.wait();
}
/// Waits, spinning at safepoints, until `n` goroutines have called it on
/// `line`. Goroutines that each run for less than an idle P's wake-up
/// latency otherwise take turns on the first P (Go 1.19 behaves the same);
/// a start line lets the other Ps wake and steal them, so at GOMAXPROCS
/// >= 2 what follows really runs side by side.
pub fn start_line(line: &std::sync::atomic::AtomicUsize, n: usize) {
    use std::sync::atomic::Ordering;
    line.fetch_add(1, Ordering::SeqCst);
    while line.load(Ordering::SeqCst) < n {
        gort::preempt_point();
    }
}

pub mod churn;
pub mod gorun;
pub mod mapdiff;
pub mod sync;
