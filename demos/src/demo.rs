//! A demo: one of the article's scenarios (or one of gort's own) as a
//! program for gort's runtime, with what the article claims, what gort
//! shows, and the name of its Go 1.19 twin under `demos/go/`; and how one
//! run of it is made: settings from `RunOpts` (seed, Ps, race detector,
//! strategy), the runtime's output captured and read as an `Outcome`.
//!
//! Every run is in deterministic mode: the seed replays it exactly
//! (`gort run DEMO --seed S`). The strategy says how goroutines switch:
//!
//! - `go` (the default): deterministic mode's own timing, which models
//!   Go's: goroutines on one P switch only where Go switches them (block,
//!   yield, exit, sysmon's 10 ms preemption), an idle P wakes with Go's
//!   measured latency, a running P's runnext is stolen only after Go's
//!   `usleep(3)`. Rates under it are meant to move as Go's do.
//! - `random`: exploration, not Go: on top of that, every switch asks
//!   the running goroutine to stop at its next safepoint with
//!   probability 1/4 (`simpreempt=4`), so goroutines on one P interleave
//!   inside runtime operations too.
//! - `pct` (with a depth d): exploration, not Go: PCT's randomized
//!   priorities with d - 1 change points (gort-scheduler's det.rs),
//!   which finds a bug of depth d among n goroutines in a run of k steps
//!   with probability at least 1 / (n k^(d-1)). k is the demo's length
//!   under `go` (seed 0), measured first (`pct_steps`).

use gort::config::RaceOptions;
use gort::{Config, Runtime, WbMode};

use crate::outcome::Outcome;

/// One demo.
#[derive(Clone, Debug)]
pub struct Demo {
    /// The name `gort run` takes.
    pub name: &'static str,
    /// Where the article makes the claim ("§2.5", "claim 1"), or "gort"
    /// for gort's own demos.
    pub section: &'static str,
    /// The claim, in English.
    pub claim: &'static str,
    /// gort's verdict on it, in one sentence.
    pub verdict: &'static str,
    /// The Go 1.19 twin, `demos/go/<twin>.go`.
    pub twin: Option<&'static str>,
    /// GOMAXPROCS when `--procs` is not given.
    pub procs: usize,
    /// Whether the race detector is on when `--race` is not given.
    pub race: bool,
    /// The program: main's body.
    pub program: fn(),
    /// Settings of the demo's own (the detector's options, GODEBUG keys),
    /// applied after the run's.
    pub configure: fn(Config) -> Config,
}

impl Demo {
    /// A demo of `program` at GOMAXPROCS=2 with the race detector on, to
    /// be completed with struct update syntax.
    pub fn new(program: fn()) -> Demo {
        Demo {
            name: "",
            section: "",
            claim: "",
            verdict: "",
            twin: None,
            procs: 2,
            race: true,
            program,
            configure: |c| c,
        }
    }
}

/// How goroutines switch (module comment).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Strategy {
    #[default]
    Go,
    Random,
    /// PCT of this depth.
    Pct(u32),
}

impl Strategy {
    pub fn name(self) -> String {
        match self {
            Strategy::Go => "go".into(),
            Strategy::Random => "random".into(),
            Strategy::Pct(d) => format!("pct(depth={d})"),
        }
    }
}

/// One run's settings.
#[derive(Clone, Debug, Default)]
pub struct RunOpts {
    pub seed: u64,
    /// GOMAXPROCS; the demo's when None.
    pub procs: Option<usize>,
    /// The race detector; the demo's when None.
    pub race: Option<bool>,
    pub strategy: Strategy,
    /// `GODEBUG=gctrace=1`.
    pub gctrace: bool,
    /// `GODEBUG=wbmode=...` (gort's own key).
    pub wbmode: Option<WbMode>,
    /// `GODEBUG=gcscanold=0` (gort's own key) when false.
    pub gcscanold: Option<bool>,
    /// Keep the explain log (`explain.rs`).
    pub explain: bool,
    /// Keep only the explain log's steps on this object (its address as
    /// reports show it): a lost object's replay.
    pub explain_focus: Option<usize>,
    /// PCT's expected run length in steps; 0: measured by `run`/`explore`
    /// (`pct_steps`).
    pub pct_steps: u64,
    /// Write an execution trace of the run here (`Config::trace_to`; the
    /// caller checks the path first with `gort::trace::check_target`).
    pub trace: Option<std::path::PathBuf>,
    /// The trace's format when not the one its extension names.
    pub trace_format: Option<gort::trace::Format>,
}

/// What a run printed and came to.
#[derive(Clone, Debug)]
pub struct RunResult {
    pub outcome: Outcome,
    pub stdout: String,
    pub stderr: String,
    /// Scheduler steps the run took.
    pub steps: u64,
    /// The explain log's events, when `RunOpts::explain` asked for them.
    pub explain: Vec<gort::rt::ExplainEvent>,
}

impl RunOpts {
    /// The runtime's settings for `demo`.
    pub fn config(&self, demo: &Demo) -> Config {
        let mut c = Config::new()
            .gomaxprocs(self.procs.unwrap_or(demo.procs))
            .simseed(self.seed)
            .capture_output();
        if self.race.unwrap_or(demo.race) {
            c = c.race(true).race_opts(RaceOptions::default());
        }
        match self.strategy {
            Strategy::Go => {}
            Strategy::Random => c = c.simpreempt(4),
            Strategy::Pct(d) => c = c.simpct(d, self.pct_steps.max(1)),
        }
        if self.gctrace {
            c = c.gctrace(1);
        }
        if let Some(obj) = self.explain_focus {
            c = c.explain_focused(crate::explain::KEEP, obj);
        } else if self.explain {
            c = c.explain(crate::explain::KEEP);
        }
        let mut c = (demo.configure)(c);
        if let Some(m) = self.wbmode {
            c = c.wbmode(m);
        }
        if let Some(on) = self.gcscanold {
            c = c.gcscanold(on);
        }
        if let Some(path) = &self.trace {
            let traced = match self.trace_format {
                Some(f) => c.clone().trace_to_as(path, f),
                None => c.clone().trace_to(path),
            };
            match traced {
                Ok(traced) => c = traced,
                Err(e) => eprintln!("gort: {e}; not tracing"),
            }
        }
        c
    }
}

/// The demo's length in steps under the `go` strategy (seed 0, the
/// run's other settings): PCT's k.
pub fn pct_steps(demo: &Demo, opts: &RunOpts) -> u64 {
    let base = RunOpts {
        seed: 0,
        strategy: Strategy::Go,
        explain: false,
        explain_focus: None,
        trace: None,
        trace_format: None,
        ..opts.clone()
    };
    run(demo, &base).steps.max(1)
}

/// `opts` with PCT's k filled in, if the strategy needs it.
pub fn with_pct_steps(demo: &Demo, opts: &RunOpts) -> RunOpts {
    let mut o = opts.clone();
    if matches!(o.strategy, Strategy::Pct(_)) && o.pct_steps == 0 {
        o.pct_steps = pct_steps(demo, opts);
    }
    o
}

/// Runs `demo` once.
pub fn run(demo: &Demo, opts: &RunOpts) -> RunResult {
    let opts = &with_pct_steps(demo, opts);
    let rt = Runtime::new(opts.config(demo));
    let exit = rt.run(demo.program);
    let (stdout, stderr) = (rt.stdout(), rt.stderr());
    RunResult {
        outcome: Outcome::parse(exit.status, &stderr, &stdout),
        stdout,
        stderr,
        steps: exit.steps,
        explain: rt.config().explain_events(),
    }
}

impl RunOpts {
    /// gort's own GODEBUG settings of the run that change the collector
    /// (empty for Go's defaults), as GODEBUG would spell them.
    pub fn gc_keys(&self) -> String {
        let mut k = Vec::new();
        if let Some(m) = self.wbmode.filter(|&m| m != WbMode::Hybrid) {
            k.push(format!("wbmode={}", m.name()));
        }
        if self.gcscanold == Some(false) {
            k.push("gcscanold=0".to_string());
        }
        k.join(",")
    }
}
