//! `gort`: the article's demos on gort's runtime, and the real Go 1.19
//! runtime beside them.
//!
//! With no command it runs the showcase (`showcase.rs`): every demo over
//! a seed sweep, plain and with the race detector, at GOMAXPROCS 1 and 2,
//! then one table of each claim, gort's rates and Go's measured ones.
//! The commands: `list`, `run` (one seed, its output as the Go program
//! would print it), `explore` (a sweep over many seeds in parallel, with
//! a table of outcomes and each one's first seed; `--shard`/`--json`
//! split it over machines), `merge` (shard files into one table) and
//! `compare` (the demo's Go twin built and run by the real runtime,
//! `compare.rs`). Usage errors exit with status 2 and one message, as
//! clap prints them; so do failures to write or read a file.

mod compare;
mod showcase;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, Parser, Subcommand, ValueEnum};
use gort::WbMode;
use gort_demos::demo::{run, Demo, RunOpts, Strategy};
use gort_demos::explore::{explore, read_records, JsonOut, Record, Settings, Shard, Table};
use gort_demos::scenarios;

#[derive(Parser)]
#[command(
    name = "gort",
    version,
    about = "Go's runtime as a simulator: the article's map and GC claims, reproducible, next to real Go 1.19",
    long_about = "Go's runtime as a simulator: the article's map and GC claims, reproducible, next \
                  to real Go 1.19.\n\nWith no command, runs the showcase: every demo over a seed \
                  sweep, then one table of claims, gort's rates and Go's measured ones."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Lists the demos, with the claim each one checks.
    List,
    /// Runs one demo once; a seed replays a run exactly.
    Run(RunArgs),
    /// Runs a demo over many seeds in parallel and tabulates the outcomes.
    Explore(ExploreArgs),
    /// Combines the --json files of shards into the table of one sweep.
    Merge(MergeArgs),
    /// Builds and runs the demo's Go 1.19 twin with the real runtime, beside gort.
    Compare(CompareArgs),
    /// Every demo over a seed sweep, then the table (the default command).
    Showcase(ShowcaseArgs),
}

/// The settings of a run that `run` and `explore` share.
#[derive(Args, Clone)]
struct Common {
    /// GOMAXPROCS (the demo's own when not given).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    procs: Option<u16>,
    /// Turns the race detector on (Go's -race).
    #[arg(long, overrides_with = "no_race")]
    race: bool,
    /// Turns the race detector off.
    #[arg(long)]
    no_race: bool,
    /// How goroutines switch: go (Go's timing, the default), random
    /// (random preemption inside runtime operations) or pct (randomized
    /// priorities with --depth - 1 change points); the last two explore,
    /// they are not Go's timing.
    #[arg(long, value_enum, default_value_t = StrategyArg::Go)]
    strategy: StrategyArg,
    /// PCT's bug depth (with --strategy pct).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=64))]
    depth: u32,
    /// GODEBUG=gctrace=1.
    #[arg(long)]
    gctrace: bool,
    /// What the write barrier shades (gort's GODEBUG=wbmode).
    #[arg(long, value_enum)]
    wbmode: Option<WbModeArg>,
    /// 0: marking skips a growing map's oldbuckets (gort's
    /// GODEBUG=gcscanold=0, a deliberate fault).
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=1))]
    gcscanold: Option<u8>,
}

#[derive(Clone, Copy, ValueEnum)]
enum StrategyArg {
    Go,
    Random,
    Pct,
}

#[derive(Clone, Copy, ValueEnum)]
enum WbModeArg {
    Hybrid,
    Dijkstra,
    Yuasa,
    Off,
}

impl Common {
    fn opts(&self, seed: u64) -> RunOpts {
        RunOpts {
            seed,
            procs: self.procs.map(usize::from),
            race: if self.race {
                Some(true)
            } else if self.no_race {
                Some(false)
            } else {
                None
            },
            strategy: match self.strategy {
                StrategyArg::Go => Strategy::Go,
                StrategyArg::Random => Strategy::Random,
                StrategyArg::Pct => Strategy::Pct(self.depth),
            },
            gctrace: self.gctrace,
            wbmode: self.wbmode.map(|m| match m {
                WbModeArg::Hybrid => WbMode::Hybrid,
                WbModeArg::Dijkstra => WbMode::Dijkstra,
                WbModeArg::Yuasa => WbMode::Yuasa,
                WbModeArg::Off => WbMode::Off,
            }),
            gcscanold: self.gcscanold.map(|v| v == 1),
            explain: false,
            explain_focus: None,
            pct_steps: 0,
            trace: None,
            trace_format: None,
        }
    }
}

#[derive(Args)]
struct RunArgs {
    /// The demo (`gort list`).
    #[arg(value_parser = parse_demo)]
    demo: DemoArg,
    /// The seed of the interleaving.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// After the run, the runtime steps its outcome came from: for a
    /// map's fatal error, both writers' steps on the map around the
    /// hashWriting check, with the goroutine, P, time and source line.
    #[arg(long)]
    explain: bool,
    /// Writes an execution trace of the run to PATH: .trace or .out (Go
    /// 1.19's format: `go tool trace PATH`), .json (Perfetto,
    /// chrome://tracing), .html (a timeline for any browser).
    #[arg(long, value_name = "PATH")]
    trace: Option<PathBuf>,
    /// The trace's format, whatever PATH's extension: go (Go 1.19's), json
    /// (Perfetto) or html.
    #[arg(long, value_enum, requires = "trace")]
    trace_format: Option<TraceFormatArg>,
    #[command(flatten)]
    common: Common,
}

#[derive(Clone, Copy, ValueEnum)]
enum TraceFormatArg {
    Go,
    Json,
    Html,
}

impl TraceFormatArg {
    fn format(self) -> gort::trace::Format {
        match self {
            TraceFormatArg::Go => gort::trace::Format::Go119,
            TraceFormatArg::Json => gort::trace::Format::Chrome,
            TraceFormatArg::Html => gort::trace::Format::Html,
        }
    }
}

#[derive(Args)]
struct ExploreArgs {
    /// The demo (`gort list`).
    #[arg(value_parser = parse_demo)]
    demo: DemoArg,
    /// How many seeds: 0..N (or this shard's part of them).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    seeds: u64,
    /// Runtimes run at once (default: one per CPU).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
    /// Runs only shard I of N (0 <= I < N) of the seeds.
    #[arg(long, value_parser = Shard::parse)]
    shard: Option<Shard>,
    /// Writes one JSON line per seed to PATH (for `gort merge`).
    #[arg(long)]
    json: Option<PathBuf>,
    /// After the sweep, replays the first seed of each outcome other than
    /// `completed` with an execution trace, written to
    /// DIR/DEMO-seedS.trace (Go 1.19's format: `go tool trace`).
    #[arg(long, value_name = "DIR")]
    trace: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct MergeArgs {
    /// Files written by `gort explore --json`.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Args)]
struct CompareArgs {
    /// The demo (`gort list`).
    #[arg(value_parser = parse_demo)]
    demo: DemoArg,
    /// Runs of each build and GOMAXPROCS, in Go and in gort.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
}

#[derive(Args)]
struct ShowcaseArgs {
    /// Seeds per demo, build and GOMAXPROCS.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    seeds: u64,
}

#[derive(Clone)]
struct DemoArg(Demo);

fn parse_demo(s: &str) -> Result<DemoArg, String> {
    scenarios::find(s).map(DemoArg).ok_or_else(|| {
        let names: Vec<&str> = scenarios::all().iter().map(|d| d.name).collect();
        format!("unknown demo '{s}' (the demos: {})", names.join(", "))
    })
}

/// A failure after the arguments parsed: one message, status 2.
fn fail(msg: &str) -> ! {
    eprintln!("gort: {msg}");
    std::process::exit(2);
}

fn jobs(j: Option<u16>) -> usize {
    j.map(usize::from).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    })
}

fn main() {
    let cli = Cli::parse();
    match cli.cmd.unwrap_or(Cmd::Showcase(ShowcaseArgs { seeds: 20 })) {
        Cmd::List => list(),
        Cmd::Run(a) => run_one(a),
        Cmd::Explore(a) => explore_cmd(a),
        Cmd::Merge(a) => merge(a),
        Cmd::Compare(a) => compare::compare(&a.demo.0, a.runs).unwrap_or_else(|e| fail(&e)),
        Cmd::Showcase(a) => showcase::showcase(a.seeds, jobs(None)),
    }
}

fn list() {
    for d in scenarios::all() {
        println!("{:<24} {:<8} {}", d.name, d.section, d.claim);
    }
}

fn run_one(a: RunArgs) {
    let demo = &a.demo.0;
    // The trace's path first: a bad one fails before the run.
    if let Some(p) = &a.trace {
        match a.trace_format {
            Some(_) => gort::trace::check_writable(p),
            None => gort::trace::check_target(p).map(|_| ()),
        }
        .unwrap_or_else(|e| fail(&e));
    }
    let opts = RunOpts {
        explain: a.explain,
        trace: a.trace.clone(),
        trace_format: a.trace_format.map(TraceFormatArg::format),
        ..a.common.opts(a.seed)
    };
    let r = run(demo, &opts);
    if let Some(p) = &a.trace {
        eprintln!("gort run: trace written to {}", p.display());
    }
    print!("{}", r.stdout);
    eprint!("{}", r.stderr);
    if a.explain {
        let lost = r
            .outcome
            .lost
            .then(|| gort_demos::explain::lost_object(&r.stderr))
            .flatten();
        match lost {
            Some(obj) => {
                // Replay the run with the log kept on that object only.
                let again = run(
                    demo,
                    &RunOpts {
                        explain_focus: Some(obj),
                        ..opts.clone()
                    },
                );
                eprint!("{}", gort_demos::explain::render_lost(&again.explain, obj));
            }
            None => eprint!("{}", gort_demos::explain::render(&r.explain, &r.outcome)),
        }
    }
    eprintln!(
        "gort run: {}, seed {}: {}",
        Settings::of(demo, &opts).describe(),
        a.seed,
        r.outcome.rows().join(", ")
    );
    std::process::exit(r.outcome.status);
}

fn explore_cmd(a: ExploreArgs) {
    let demo = &a.demo.0;
    let template = a.common.opts(0);
    let seeds = match a.shard {
        Some(s) => s.range(0..a.seeds),
        None => 0..a.seeds,
    };
    // The output files first: an unwritable path fails before any run.
    if let Some(dir) = &a.trace {
        gort::trace::check_target(&dir.join(format!("{}-seed0.trace", demo.name)))
            .unwrap_or_else(|e| fail(&e));
    }
    let out = a
        .json
        .as_deref()
        .map(JsonOut::create)
        .transpose()
        .unwrap_or_else(|e| fail(&e));
    let bar = indicatif::ProgressBar::new(seeds.end - seeds.start);
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let t0 = Instant::now();
    let mut write_err = None;
    let records = explore(
        demo,
        &template,
        seeds.clone(),
        jobs(a.jobs),
        |rec: &Record| {
            bar.inc(1);
            if let (Some(o), None) = (&out, &write_err) {
                if let Err(e) = o.write(rec) {
                    write_err = Some(e);
                }
            }
        },
    );
    let elapsed = t0.elapsed();
    bar.finish_and_clear();
    if let Some(o) = out {
        match write_err {
            Some(e) => {
                o.abandon();
                fail(&e);
            }
            None => o.finish().unwrap_or_else(|e| fail(&e)),
        }
    }
    if records.is_empty() {
        println!(
            "{}: this shard has no seeds",
            Settings::of(demo, &template).describe()
        );
        return;
    }
    let table = Table::of(&records).unwrap_or_else(|e| fail(&e));
    print!("{}", table.render(Some(elapsed)));
    if let Some(dir) = &a.trace {
        trace_first_seeds(demo, &template, &table, dir);
    }
}

/// `explore --trace DIR`: each outcome's first seed replayed with a
/// trace, except runs that only completed.
fn trace_first_seeds(demo: &Demo, template: &RunOpts, table: &Table, dir: &std::path::Path) {
    let mut seeds: Vec<(u64, &str)> = table
        .rows
        .iter()
        .filter(|(name, _)| name.as_str() != "completed")
        .map(|(name, row)| (row.first_seed, name.as_str()))
        .collect();
    seeds.sort();
    seeds.dedup_by_key(|(s, _)| *s);
    for (seed, outcome) in seeds {
        let path = dir.join(format!("{}-seed{seed}.trace", demo.name));
        let opts = RunOpts {
            trace: Some(path.clone()),
            ..template.clone()
        };
        let mut opts = opts;
        opts.seed = seed;
        run(demo, &opts);
        println!("trace of seed {seed} ({outcome}): {}", path.display());
    }
}

fn merge(a: MergeArgs) {
    let mut all = Vec::new();
    for f in &a.files {
        all.extend(read_records(f).unwrap_or_else(|e| fail(&e)));
    }
    if all.is_empty() {
        fail("merge: the files hold no records");
    }
    let table = Table::of(&all).unwrap_or_else(|e| fail(&format!("merge: {e}")));
    print!("{}", table.render(None));
}
