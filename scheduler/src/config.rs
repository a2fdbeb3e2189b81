//! The scheduler's settings, already parsed and validated.
//!
//! Environment parsing (`GOMAXPROCS`, `GODEBUG`) lives in the `gort` crate,
//! which turns the user's environment or builder calls into a `SchedConfig`;
//! the scheduler itself never reads the environment, so several runtimes with
//! different settings can run in one process.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// How the Ms of a runtime execute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One OS thread per P, wall-clock time, real concurrency (Go's way).
    Parallel,
    /// Every P simulated on the calling thread; a seeded RNG picks the P
    /// that takes each step, time is virtual (`GODEBUG=simseed=N`).
    Deterministic(DetConfig),
}

/// Knobs of deterministic mode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DetConfig {
    /// The seed of the RNG that makes every scheduling choice.
    pub seed: u64,
    /// Mean number of steps a P runs before the RNG picks the next P
    /// (`GODEBUG=simswitch=N`, gort's own key); 1 switches at every step.
    pub switch_every: u32,
    /// Exploration knob (`GODEBUG=simpreempt=N`, gort's own key): with
    /// probability 1/N a switch also asks the running goroutine to stop at
    /// its next safepoint, so goroutines sharing a P interleave inside
    /// runtime operations (`mapassign`), which Go almost never does.
    /// 0 (the default) preempts only where Go does: sysmon's 10 ms slice,
    /// stop-the-world requests, blocking.
    pub preempt_every: u32,
    /// Virtual nanoseconds that one step costs. The default, 1, makes map
    /// operations take about as long in virtual time as on Go 1.19 (det.rs
    /// documents the calibration), so the 10 ms slice and an idle P's
    /// wake-up latency weigh against a program's work as on Go.
    pub step_ns: u64,
    /// Exploration (`gort explore --strategy pct`): PCT, probabilistic
    /// concurrency testing (Burckhardt et al., ASPLOS 2010), instead of
    /// the uniform choice of P (`det.rs`, "PCT").
    pub pct: Option<Pct>,
}

/// PCT's parameters: the bug depth it targets and the run's expected
/// length in steps (change points are drawn in `1..=steps`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pct {
    pub depth: u32,
    pub steps: u64,
}

impl DetConfig {
    pub fn with_seed(seed: u64) -> DetConfig {
        DetConfig {
            seed,
            switch_every: 8,
            preempt_every: 0,
            step_ns: 1,
            pct: None,
        }
    }
}

/// Where the runtime's own diagnostics (schedtrace, panics, fatal errors)
/// and the scenario's `gort::println!` output go.
#[derive(Clone, Debug, Default)]
pub enum Output {
    /// The process's stdout / stderr.
    #[default]
    Process,
    /// In-memory buffers, for tests that assert on reports in-process.
    Captured(Arc<Captured>),
}

/// Captured stdout and stderr of one runtime.
#[derive(Debug, Default)]
pub struct Captured {
    pub stdout: Mutex<Vec<u8>>,
    pub stderr: Mutex<Vec<u8>>,
}

impl Output {
    pub fn write_stdout(&self, bytes: &[u8]) {
        match self {
            Output::Process => {
                let _ = std::io::stdout().write_all(bytes);
            }
            Output::Captured(c) => c.stdout.lock().unwrap().extend_from_slice(bytes),
        }
    }
    pub fn write_stderr(&self, bytes: &[u8]) {
        match self {
            Output::Process => {
                let _ = std::io::stderr().write_all(bytes);
            }
            Output::Captured(c) => c.stderr.lock().unwrap().extend_from_slice(bytes),
        }
    }
}

/// How much a panic or fatal error prints (`GOTRACEBACK`, Go's
/// `gotraceback()`): `level` 0 prints no goroutine, 1 the scenario's frames,
/// 2 the runtime's frames too; `all` adds every other goroutine; `crash`
/// ends the process with SIGABRT after the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Traceback {
    pub level: u32,
    pub all: bool,
    pub crash: bool,
}

impl Default for Traceback {
    fn default() -> Self {
        Traceback::from_go("single").0
    }
}

impl Traceback {
    /// Go's `setTraceback`: `none`, `single` (or empty), `all`, `system`,
    /// `crash`, or a number N (level N with every goroutine). Anything else
    /// is what Go makes of it, level 0 with `all` (nothing printed); the
    /// second value says whether the word was one Go knows.
    pub fn from_go(v: &str) -> (Traceback, bool) {
        let t = |level, all, crash| Traceback { level, all, crash };
        match v {
            "none" => (t(0, false, false), true),
            "single" | "" => (t(1, false, false), true),
            "all" => (t(1, true, false), true),
            "system" => (t(2, true, false), true),
            "crash" => (t(2, true, true), true),
            _ => match v.parse::<u32>() {
                Ok(n) => (t(n, true, false), true),
                Err(_) => (t(0, true, false), false),
            },
        }
    }
}

/// Everything the scheduler needs to start.
#[derive(Clone, Debug)]
pub struct SchedConfig {
    /// Number of Ps (`GOMAXPROCS`), at least 1.
    pub gomaxprocs: usize,
    /// `GODEBUG=schedtrace=X`: print a SCHED block every X ms (0: never).
    pub schedtrace_ms: u64,
    /// `GODEBUG=scheddetail=1`: print the detailed P/M/G lines.
    pub scheddetail: bool,
    pub mode: Mode,
    pub output: Output,
    /// `GOTRACEBACK`.
    pub traceback: Traceback,
    /// The race detector, when the program runs with it (`race.rs`).
    pub race: Option<RaceDetector>,
    /// The explain log, when the run keeps one (`explain.rs`).
    pub explain: Option<Arc<crate::explain::ExplainLog>>,
    /// The execution tracer's buffers, when the run is traced
    /// (`trace.rs`).
    pub trace: Option<Arc<crate::trace::Tracer>>,
}

/// A race detector installed in a runtime.
#[derive(Clone)]
pub struct RaceDetector(pub std::sync::Arc<dyn crate::race::RaceHooks>);

impl std::fmt::Debug for RaceDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RaceDetector")
    }
}

impl Default for SchedConfig {
    fn default() -> Self {
        SchedConfig {
            gomaxprocs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            schedtrace_ms: 0,
            scheddetail: false,
            mode: Mode::Parallel,
            output: Output::Process,
            traceback: Traceback::default(),
            race: None,
            explain: None,
            trace: None,
        }
    }
}
