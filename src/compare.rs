//! `gort compare DEMO`: the demo's Go 1.19 twin (`demos/go/<twin>.go`)
//! built plain and with `-race` by the Go on the PATH, run `runs` times
//! at GOMAXPROCS 1 and 2, and counted as `demos/go/measure.sh` counts;
//! beside it, gort's counts over as many seeds with the same settings.

use std::path::{Path, PathBuf};
use std::process::Command;

use gort_demos::demo::{Demo, RunOpts};
use gort_demos::explore::explore;
use gort_demos::golden::Counts;
use gort_demos::outcome::Outcome;

/// Where the twins are: this checkout's `demos/go`.
pub fn twins_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("demos")
        .join("go")
}

/// `go version`, or why Go cannot be used.
pub fn go_version() -> Result<String, String> {
    let out = Command::new("go").arg("version").output().map_err(|e| {
        format!("compare needs Go 1.19 on the PATH (apt-get install golang-go): {e}")
    })?;
    if !out.status.success() {
        return Err("compare: `go version` failed".into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Removes the build directory however `compare` ends.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn build(src: &Path, out: &Path, race: bool) -> Result<(), String> {
    let mut c = Command::new("go");
    c.arg("build");
    if race {
        c.arg("-race");
    }
    let o = c
        .arg("-o")
        .arg(out)
        .arg(src)
        .output()
        .map_err(|e| format!("go build: {e}"))?;
    if !o.status.success() {
        return Err(format!(
            "go build {}{} failed:\n{}",
            if race { "-race " } else { "" },
            src.display(),
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    Ok(())
}

/// Runs `exe` `runs` times at `procs` and counts the outcomes.
pub fn run_go(exe: &Path, procs: usize, runs: u32) -> Result<Counts, String> {
    let mut c = Counts::default();
    for _ in 0..runs {
        let o = Command::new(exe)
            .env("GOMAXPROCS", procs.to_string())
            .output()
            .map_err(|e| format!("{}: {e}", exe.display()))?;
        // A run killed by a signal counts as dying, as a fatal error does.
        let status = o.status.code().unwrap_or(2);
        c.add(&Outcome::parse(
            status,
            &String::from_utf8_lossy(&o.stderr),
            &String::from_utf8_lossy(&o.stdout),
        ));
    }
    Ok(c)
}

/// gort's counts over seeds `0..runs`.
pub fn run_gort(demo: &Demo, race: bool, procs: usize, runs: u32, jobs: usize) -> Counts {
    let opts = RunOpts {
        procs: Some(procs),
        race: Some(race),
        ..RunOpts::default()
    };
    let mut c = Counts::default();
    for r in explore(demo, &opts, 0..runs as u64, jobs, |_| {}) {
        c.add(&r.outcome);
    }
    c
}

pub fn compare(demo: &Demo, runs: u32) -> Result<(), String> {
    let twin = demo
        .twin
        .ok_or_else(|| format!("compare: {} has no Go twin", demo.name))?;
    let version = go_version()?;
    let src = twins_dir().join(format!("{twin}.go"));
    let dir = TempDir(std::env::temp_dir().join(format!("gort-compare-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).map_err(|e| format!("{}: {e}", dir.0.display()))?;
    let (plain, race) = (dir.0.join(twin), dir.0.join(format!("{twin}.race")));
    build(&src, &plain, false)?;
    build(&src, &race, true)?;
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "gort compare {}: {} and gort, {runs} runs each ({version})",
        demo.name,
        src.display()
    );
    println!(
        "{:<12} {:<8} {:>14} {:>12} {:>13} {:>10}",
        "", "", "race reported", "fatal error", "entries lost", "completed"
    );
    for r in [false, true] {
        for procs in [1, 2] {
            let exe = if r { &race } else { &plain };
            let go = run_go(exe, procs, runs)?;
            let ours = run_gort(demo, r, procs, runs, jobs);
            let label = format!("{} P={procs}", if r { "-race" } else { "plain" });
            for (who, c) in [("Go 1.19", go), ("gort", ours)] {
                let [a, b, c2, d] = c.cells();
                let l = if who == "Go 1.19" { label.as_str() } else { "" };
                println!("{l:<12} {who:<8} {a:>14} {b:>12} {c2:>13} {d:>10}");
            }
        }
    }
    Ok(())
}
