//! A runtime's settings: the user's environment (`GOMAXPROCS`, `GODEBUG`,
//! `GOGC`, `GOTRACEBACK`, `GORACE`) or builder calls, turned into the scheduler's
//! `SchedConfig`; the collector reads its own settings (`gogc_value`,
//! `gctrace_value`) from the `Config` directly.
//!
//! gort reads the same variables as Go so that a Go programmer's habits carry
//! over, and parses them the way Go 1.19 does (`schedinit` for `GOMAXPROCS`,
//! `parsedebugvars` in runtime/runtime1.go for `GODEBUG`, `readGOGC` in
//! runtime/mgcpacer.go for `GOGC`): decimal integers with an optional `-`,
//! `GODEBUG` items split on `,` and then on the first `=`, no whitespace
//! trimming, later items overriding earlier ones.
//!
//! Where Go stays silent, gort speaks. Go ignores a bad `GOMAXPROCS`, an
//! unknown `GODEBUG` key or a malformed value without a word, which is
//! tolerable in production but ruinous in a simulator whose whole point is a
//! reproducible run: a typo in `simseed` would silently turn a replay into a
//! nondeterministic run. So every problem produces exactly one warning line,
//! and the key falls back to its default. Keys are sorted into four kinds so
//! that the warning says what the user can do about it: gort's keys (parsed
//! here), gort's keys not implemented yet, real Go keys gort does not
//! simulate (taken from Go 1.19's source), and keys nobody knows (most
//! likely typos); the first three are rows of one table, `godebug.rs`'s
//! `DEBUG_VARS`, as Go's runtime1.go keeps `dbgvars`.
//!
//! The files: `godebug.rs` (the key table and the `GODEBUG` parser),
//! `env.rs` (`GOMAXPROCS`, `GOGC` and the runtime's `atoi`), `gorace.rs`
//! (`GORACE` and `GORT_RACE`, the race detector's), `tests.rs`.
//!
//! Parsing never prints: warnings are collected in order and the runtime
//! prints them on stderr when it starts, through its own `Output`, so tests
//! can assert on them and several runtimes can coexist in one process.
//!
//! Builder calls are applied after the environment, so a test or a demo can
//! start from `Config::from_env()` and pin what it depends on.

mod env;
mod godebug;
mod gorace;

use std::sync::Arc;

use env::{atoi, AtoiError};
pub use gorace::RaceOptions;

use gort_scheduler::config::{Captured, DetConfig, Mode, Output, SchedConfig, Traceback};

/// `GOGC` when unset or unreadable (Go's `readGOGC` fallback).
const GOGC_DEFAULT: u32 = 100;

/// The settings of one runtime, built from the environment and/or builder
/// calls; `sched()` hands the scheduler its part.
#[derive(Clone, Debug)]
pub struct Config {
    gomaxprocs: usize,
    schedtrace_ms: u64,
    scheddetail: bool,
    /// `Some` switches to deterministic mode.
    simseed: Option<u64>,
    /// `None`: `DetConfig::with_seed`'s default.
    simswitch: Option<u32>,
    /// `None`: `DetConfig::with_seed`'s default.
    simpreempt: Option<u32>,
    /// PCT instead of the uniform choice of P (`simpct`).
    simpct: Option<gort_scheduler::Pct>,
    /// `GOGC`: `None` is off.
    gogc: Option<u32>,
    /// `GODEBUG=gctrace=N`: the GC prints a line per cycle when N > 0.
    gctrace: u32,
    /// `GODEBUG=wbmode=...` (gort's key): what the write barrier shades.
    wbmode: gort_gc::WbMode,
    /// `GODEBUG=gccheckmark=1`: the heap verifier at mark termination.
    gccheckmark: bool,
    /// `GODEBUG=gcscanold=0` makes it false: growing maps' oldbuckets are
    /// not scanned.
    gcscanold: bool,
    /// `GODEBUG=gcstoptheworld=N`, 0 to 2.
    gcstoptheworld: u8,
    output: Output,
    traceback: Traceback,
    /// `GORACE`: the race detector's options.
    race: RaceOptions,
    /// The race detector is on (`GORT_RACE=1`, `race(true)`).
    race_enabled: bool,
    /// The run keeps an explain log (`explain`).
    explain: Option<Arc<gort_scheduler::explain::ExplainLog>>,
    /// The run records an execution trace (`trace`, `trace_to`).
    tracer: Option<Arc<gort_scheduler::trace::Tracer>>,
    /// Where the trace is written when the run ends, and in which format
    /// (`trace_to`, `GODEBUG=simtrace=PATH`).
    trace_path: Option<(std::path::PathBuf, crate::trace::Format)>,
    warnings: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}

impl Config {
    /// Go's defaults: GOMAXPROCS = number of CPUs, GOGC=100, parallel mode,
    /// no schedtrace or gctrace, output to the process's stdout/stderr.
    pub fn new() -> Config {
        let sched = SchedConfig::default();
        Config {
            gomaxprocs: sched.gomaxprocs,
            schedtrace_ms: sched.schedtrace_ms,
            scheddetail: sched.scheddetail,
            simseed: None,
            simswitch: None,
            simpreempt: None,
            simpct: None,
            gogc: Some(GOGC_DEFAULT),
            gctrace: 0,
            wbmode: gort_gc::WbMode::Hybrid,
            gccheckmark: false,
            gcscanold: true,
            gcstoptheworld: 0,
            output: sched.output,
            traceback: sched.traceback,
            race: RaceOptions::default(),
            race_enabled: false,
            explain: None,
            tracer: None,
            trace_path: None,
            warnings: Vec::new(),
        }
    }

    /// Reads `GOMAXPROCS`, `GODEBUG`, `GOTRACEBACK`, `GOGC` and `GORACE` from the
    /// process environment.
    /// A value that is not valid UTF-8 is read lossily, so it is reported as
    /// malformed rather than ignored.
    pub fn from_env() -> Config {
        Config::from_vars(|name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()))
    }

    /// Like `from_env`, but variables come from `lookup` (`None`: unset).
    pub fn from_vars(mut lookup: impl FnMut(&str) -> Option<String>) -> Config {
        let mut cfg = Config::new();
        if let Some(v) = lookup("GOMAXPROCS") {
            cfg.parse_gomaxprocs(&v);
        }
        if let Some(v) = lookup("GODEBUG") {
            cfg.parse_debug_vars(&v);
        }
        if let Some(v) = lookup("GOTRACEBACK") {
            cfg = cfg.gotraceback(&v);
        }
        if let Some(v) = lookup("GOGC") {
            cfg.parse_gogc(&v);
        }
        if let Some(v) = lookup("GORT_RACE") {
            cfg.parse_gort_race(&v);
        }
        if let Some(v) = lookup("GORACE") {
            cfg.parse_gorace(&v);
            if !cfg.race_enabled && !v.trim().is_empty() {
                cfg.warn(
                    "gort: GORACE has no effect without the race detector (GORT_RACE=1, \
                     gort's stand-in for go build -race)"
                        .to_string(),
                );
            }
        }
        cfg
    }

    /// Sets the number of Ps. As with Go's `runtime.GOMAXPROCS`, 0 leaves
    /// the current value unchanged.
    pub fn gomaxprocs(mut self, n: usize) -> Config {
        if n > 0 {
            self.gomaxprocs = n;
        }
        self
    }

    /// Prints a SCHED block every `ms` milliseconds (0: never).
    pub fn schedtrace(mut self, ms: u64) -> Config {
        self.schedtrace_ms = ms;
        self
    }

    /// Adds the per-P/M/G lines to schedtrace blocks.
    pub fn scheddetail(mut self, on: bool) -> Config {
        self.scheddetail = on;
        self
    }

    /// Switches to deterministic mode, replaying the interleaving of `seed`.
    pub fn simseed(mut self, seed: u64) -> Config {
        self.simseed = Some(seed);
        self
    }

    /// Mean number of steps a P runs before the next P is picked; only used
    /// in deterministic mode (whether `simseed` comes before or after).
    ///
    /// # Panics
    /// If `n` is 0: the scheduler must run at least one step per pick.
    pub fn simswitch(mut self, n: u32) -> Config {
        assert!(n >= 1, "gort: Config::simswitch(0): must be at least 1");
        self.simswitch = Some(n);
        self
    }

    /// A safepoint preempts with probability 1/`n` (0: only the simulated
    /// sysmon preempts); only used in deterministic mode.
    pub fn simpreempt(mut self, n: u32) -> Config {
        self.simpreempt = Some(n);
        self
    }

    /// Exploration: PCT scheduling of depth `depth` over a run of about
    /// `steps` steps (gort-scheduler's det.rs, "PCT"); only used in
    /// deterministic mode. Not Go's timing.
    pub fn simpct(mut self, depth: u32, steps: u64) -> Config {
        self.simpct = Some(gort_scheduler::Pct { depth, steps });
        self
    }

    /// Sets `GOGC`, the heap growth allowed between collections in percent
    /// of the live heap; `None` turns the collector off (`GOGC=off`).
    ///
    /// # Panics
    /// If the percentage exceeds `i32::MAX`: Go keeps `GOGC` in an int32.
    pub fn gogc(mut self, percent: Option<u32>) -> Config {
        if let Some(p) = percent {
            assert!(
                i32::try_from(p).is_ok(),
                "gort: Config::gogc(Some({p})): at most {} (Go keeps GOGC in an int32)",
                i32::MAX
            );
        }
        self.gogc = percent;
        self
    }

    /// Prints Go's gctrace line on stderr after every GC cycle when `n` is
    /// above 0 (`GODEBUG=gctrace=N`; Go 1.19 treats every N > 0 alike).
    pub fn gctrace(mut self, n: u32) -> Config {
        self.gctrace = n;
        self
    }

    /// What the write barrier shades (`GODEBUG=wbmode=...`, gort's own
    /// key): Go's `Hybrid` by default; the others lose objects on purpose.
    pub fn wbmode(mut self, mode: gort_gc::WbMode) -> Config {
        self.wbmode = mode;
        self
    }

    /// The write-barrier mode.
    pub fn wbmode_value(&self) -> gort_gc::WbMode {
        self.wbmode
    }

    /// Verifies every collection's mark at mark termination
    /// (`GODEBUG=gccheckmark=1`): a reachable object left unmarked is
    /// `fatal error: checkmark found unmarked object`, with its path.
    pub fn gccheckmark(mut self, on: bool) -> Config {
        self.gccheckmark = on;
        self
    }

    /// With `false` (`GODEBUG=gcscanold=0`), the collector does not scan
    /// a growing map's `oldbuckets`: a deliberate fault, for experiments.
    pub fn gcscanold(mut self, on: bool) -> Config {
        self.gcscanold = on;
        self
    }

    /// `GODEBUG=gcstoptheworld=N`: 1 marks with the world stopped, 2 also
    /// sweeps before the world restarts.
    ///
    /// # Panics
    /// If `n` exceeds 2.
    pub fn gcstoptheworld(mut self, n: u8) -> Config {
        assert!(n <= 2, "gort: Config::gcstoptheworld({n}): 0, 1 or 2");
        self.gcstoptheworld = n;
        self
    }

    /// `GODEBUG=gccheckmark`: whether the verifier runs.
    pub fn gccheckmark_value(&self) -> bool {
        self.gccheckmark
    }

    /// `GODEBUG=gcscanold`: whether oldbuckets are scanned (the default).
    pub fn gcscanold_value(&self) -> bool {
        self.gcscanold
    }

    /// `GODEBUG=gcstoptheworld`'s N.
    pub fn gcstoptheworld_value(&self) -> u8 {
        self.gcstoptheworld
    }

    /// `GOGC`: `Some(percent)`, or `None` when the collector is off.
    /// `GODEBUG=simseed`: the seed of deterministic mode, if it is on.
    pub fn simseed_value(&self) -> Option<u64> {
        self.simseed
    }

    pub fn gogc_value(&self) -> Option<u32> {
        self.gogc
    }

    /// The `GORACE` options (Go's defaults when unset).
    pub fn race_options(&self) -> &RaceOptions {
        &self.race
    }

    /// Turns the race detector on or off: what building with Go's `-race`
    /// does (`GORT_RACE=1` from the environment).
    pub fn race(mut self, on: bool) -> Config {
        self.race_enabled = on;
        self
    }

    /// Sets the `GORACE` options, as if parsed from `GORACE`.
    pub fn race_opts(mut self, opts: RaceOptions) -> Config {
        self.race = opts;
        self
    }

    pub fn race_enabled(&self) -> bool {
        self.race_enabled
    }

    /// `GODEBUG=gctrace=N`'s N (0: off).
    pub fn gctrace_value(&self) -> u32 {
        self.gctrace
    }

    /// How much panics and fatal errors print, as Go reads `GOTRACEBACK`:
    /// `none`, `single` (the default), `all`, `system`, `crash`, or a
    /// number. A word Go does not know is taken as Go takes it (level 0:
    /// no goroutines printed), with a warning.
    pub fn gotraceback(mut self, level: &str) -> Config {
        let (t, known) = Traceback::from_go(level);
        if !known {
            self.warn(format!(
                "gort: GOTRACEBACK={level:?} is not none, single, all, system, crash or a number; \
                 like Go 1.19, printing no goroutines"
            ));
        }
        self.traceback = t;
        self
    }

    /// Sends the runtime's output to fresh in-memory buffers, readable
    /// through `captured()`. The buffers belong to this `Config` and its
    /// clones alike: runtimes built from clones write into the same ones,
    /// so call this on each runtime's own `Config` (after cloning).
    pub fn capture_output(mut self) -> Config {
        self.output = Output::Captured(Arc::new(Captured::default()));
        self
    }

    /// Keeps an explain log of the run's last `cap` notable runtime
    /// steps (map writes and their `hashWriting` checks, growth,
    /// evacuation), read after the run with `explain_events`: what
    /// `gort run --explain` prints. Meant for deterministic mode, where
    /// the seed replays the run explained.
    pub fn explain(mut self, cap: usize) -> Config {
        self.explain = Some(gort_scheduler::explain::ExplainLog::new(cap));
        self
    }

    /// `explain`, keeping only the steps on the object at `obj` (as
    /// reports show its address) and the collector's phases: the
    /// explanation of a lost object, on a replay of the run that lost it.
    pub fn explain_focused(mut self, cap: usize, obj: usize) -> Config {
        self.explain = Some(gort_scheduler::explain::ExplainLog::focused(cap, obj));
        self
    }

    /// Records an execution trace of the run (`gort_scheduler::trace`),
    /// read after it with `trace_records`. As with `capture_output`, the
    /// recorder is shared with this `Config`'s clones: runtimes built from
    /// clones of a traced `Config` interleave their records, so call this
    /// after cloning (as `gort-demos` does).
    pub fn trace(mut self) -> Config {
        self.tracer = Some(Arc::new(gort_scheduler::trace::Tracer::new()));
        self
    }

    /// Records an execution trace and writes it to `path` when the run
    /// ends, in the format its extension names (`.trace` or `.out`: Go
    /// 1.19's, for `go tool trace`; `.json`: Chrome / Perfetto; `.html`:
    /// the timeline). The file is written whole under a temporary name
    /// and renamed, so a run that dies leaves a complete trace or none.
    /// Fails before anything runs on an unknown extension or a directory
    /// that cannot be written.
    pub fn trace_to(self, path: impl AsRef<std::path::Path>) -> Result<Config, String> {
        let path = path.as_ref();
        let format = crate::trace::check_target(path)?;
        self.trace_to_as(path, format)
    }

    /// `trace_to` in `format`, whatever the path's extension.
    pub fn trace_to_as(
        mut self,
        path: impl AsRef<std::path::Path>,
        format: crate::trace::Format,
    ) -> Result<Config, String> {
        let path = path.as_ref();
        crate::trace::check_writable(path)?;
        self.trace_path = Some((path.to_path_buf(), format));
        Ok(self.trace())
    }

    /// Where the trace is written (`trace_to`, `simtrace`).
    pub fn trace_path(&self) -> Option<&std::path::Path> {
        self.trace_path.as_ref().map(|(p, _)| p.as_path())
    }

    /// Writes what was recorded to the `trace_to` path, if any: the end
    /// of `Runtime::run`.
    pub(crate) fn write_trace(&self) -> Result<(), String> {
        let Some((path, format)) = &self.trace_path else {
            return Ok(());
        };
        let records = self.trace_records();
        crate::trace::write_file(path, *format, &records, self.gomaxprocs)
    }

    /// The trace recorded so far (empty without `trace`), in recording
    /// order; taken, so a second call returns only newer events.
    pub fn trace_records(&self) -> Vec<gort_scheduler::trace::TraceRecord> {
        self.tracer.as_ref().map_or_else(Vec::new, |t| t.take())
    }

    /// The explain log's events (empty without `explain`), oldest first.
    pub fn explain_events(&self) -> Vec<gort_scheduler::explain::Event> {
        self.explain.as_ref().map_or_else(Vec::new, |l| l.events())
    }

    /// The scheduler's part of the settings.
    pub fn sched(&self) -> SchedConfig {
        let mode = match self.simseed {
            None => Mode::Parallel,
            Some(seed) => {
                let mut det = DetConfig::with_seed(seed);
                if let Some(n) = self.simswitch {
                    det.switch_every = n;
                }
                if let Some(n) = self.simpreempt {
                    det.preempt_every = n;
                }
                det.pct = self.simpct;
                Mode::Deterministic(det)
            }
        };
        SchedConfig {
            gomaxprocs: self.gomaxprocs,
            schedtrace_ms: self.schedtrace_ms,
            scheddetail: self.scheddetail,
            mode,
            output: self.output.clone(),
            traceback: self.traceback,
            explain: self.explain.clone(),
            trace: self.tracer.clone(),
            race: self.race_enabled.then(|| {
                gort_scheduler::RaceDetector(std::sync::Arc::new(crate::race::Detector::new(
                    self.race.clone(),
                    self.output.clone(),
                    self.simseed.is_some(),
                )))
            }),
        }
    }

    /// One line per problem found in the environment, in the order found,
    /// without a trailing newline.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The buffers set up by `capture_output()`, if it was called.
    pub fn captured(&self) -> Option<Arc<Captured>> {
        match &self.output {
            Output::Captured(c) => Some(Arc::clone(c)),
            Output::Process => None,
        }
    }

    fn warn(&mut self, line: String) {
        self.warnings.push(line);
    }
}

#[cfg(test)]
mod tests;
