//! gort-benches: the criterion benchmarks live in `benches/`; this library
//! holds what they share.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use gort::{Config, Runtime};

/// Runs `body` as the main goroutine of a fresh runtime with `GOMAXPROCS =
/// procs` and returns the duration it measured itself (so runtime start-up
/// and teardown stay outside the measurement).
pub fn gort_run<F>(procs: usize, body: F) -> Duration
where
    F: FnOnce() -> Duration + Send + 'static,
{
    let out = Arc::new(Mutex::new(None));
    let slot = out.clone();
    let exit = Runtime::new(Config::new().gomaxprocs(procs)).run(move || {
        *slot.lock().unwrap() = Some(body());
    });
    assert_eq!(exit.status, 0, "gort run failed: {exit:?}");
    let d = out.lock().unwrap().take();
    d.expect("main goroutine did not report a duration")
}
