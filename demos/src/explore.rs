//! Seed sweeps: a demo run over many seeds in parallel runtimes (one per
//! worker thread; deterministic runtimes run side by side in one process
//! and still replay), each seed's outcome kept as one JSON line, and the
//! table of outcomes with each one's rate and first seed, so that `gort
//! run DEMO --seed S` replays it.
//!
//! Sweeps larger than one machine are split with `Shard`: shard `i` of
//! `n` runs the `i`-th of `n` disjoint, contiguous seed ranges, a batch
//! system (a Slurm job array, a Kubernetes indexed Job) runs the shards,
//! and `merge` reads their JSON files back into the same table as one
//! big run: the records carry the demo and the run's settings, and files
//! whose settings differ are refused.

use std::collections::BTreeMap;
use std::io::Write;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::demo::{run, with_pct_steps, Demo, RunOpts};
use crate::outcome::Outcome;

/// Shard `index` of `count` (0-based: `0/4` .. `3/4`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// Parses `I/N`, with `I < N`.
    pub fn parse(s: &str) -> Result<Shard, String> {
        let bad = || format!("--shard {s}: want I/N with 0 <= I < N (shards are numbered from 0)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            i.trim().parse::<u64>().map_err(|_| bad())?,
            n.trim().parse::<u64>().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// This shard's part of `seeds`: contiguous, disjoint from the other
    /// shards', all of them together covering `seeds`.
    pub fn range(&self, seeds: Range<u64>) -> Range<u64> {
        let len = (seeds.end - seeds.start) as u128;
        let at = |k: u64| seeds.start + (len * k as u128 / self.count as u128) as u64;
        at(self.index)..at(self.index + 1)
    }
}

/// The settings every record of a sweep shares: files to merge must agree
/// on them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub demo: String,
    pub procs: usize,
    pub race: bool,
    pub strategy: String,
    /// gort's own GODEBUG keys that break the collector on purpose
    /// (`wbmode=off`, `gcscanold=0`), empty for Go's.
    #[serde(default)]
    pub godebug: String,
}

impl Settings {
    pub fn of(demo: &Demo, opts: &RunOpts) -> Settings {
        Settings {
            demo: demo.name.to_string(),
            procs: opts.procs.unwrap_or(demo.procs),
            race: opts.race.unwrap_or(demo.race),
            strategy: opts.strategy.name(),
            godebug: opts.gc_keys(),
        }
    }

    pub fn describe(&self) -> String {
        let mut s = format!(
            "{}, GOMAXPROCS={}, race detector {}, strategy {}",
            self.demo,
            self.procs,
            if self.race { "on" } else { "off" },
            self.strategy
        );
        if !self.godebug.is_empty() {
            s += &format!(", GODEBUG={}", self.godebug);
        }
        s
    }
}

/// One seed's record: a JSON line of `--json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    #[serde(flatten)]
    pub settings: Settings,
    pub seed: u64,
    pub steps: u64,
    pub outcome: Outcome,
}

/// Runs `demo` for every seed of `seeds` on `jobs` threads, calling
/// `each` with every record as it completes (in completion order, from
/// the calling thread); returns the records in seed order.
pub fn explore(
    demo: &Demo,
    template: &RunOpts,
    seeds: Range<u64>,
    jobs: usize,
    mut each: impl FnMut(&Record),
) -> Vec<Record> {
    let settings = Settings::of(demo, template);
    // PCT's k, measured once for the whole sweep.
    let template = &with_pct_steps(demo, template);
    let next = AtomicU64::new(seeds.start);
    let (tx, rx) = mpsc::channel::<Record>();
    let mut out = Vec::with_capacity((seeds.end - seeds.start) as usize);
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            let tx = tx.clone();
            let (next, settings, seeds) = (&next, &settings, seeds.clone());
            s.spawn(move || loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= seeds.end {
                    break;
                }
                let opts = RunOpts {
                    seed,
                    ..template.clone()
                };
                let r = run(demo, &opts);
                let rec = Record {
                    settings: settings.clone(),
                    seed,
                    steps: r.steps,
                    outcome: r.outcome,
                };
                if tx.send(rec).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for rec in rx {
            each(&rec);
            out.push(rec);
        }
    });
    out.sort_by_key(|r| r.seed);
    out
}

/// One row of the outcome table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub runs: u64,
    pub first_seed: u64,
}

/// The outcome table of a sweep (or of merged shards).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    pub settings: Settings,
    pub runs: u64,
    pub steps: u64,
    /// Seeds covered, in order, as ranges.
    pub seeds: Vec<Range<u64>>,
    pub rows: BTreeMap<String, Row>,
}

impl Table {
    /// Tabulates `records`, which must share their settings.
    pub fn of(records: &[Record]) -> Result<Table, String> {
        let first = records.first().ok_or("no records")?;
        let mut t = Table {
            settings: first.settings.clone(),
            runs: 0,
            steps: 0,
            seeds: Vec::new(),
            rows: BTreeMap::new(),
        };
        let mut sorted: Vec<&Record> = records.iter().collect();
        sorted.sort_by_key(|r| r.seed);
        for r in sorted {
            if r.settings != t.settings {
                return Err(format!(
                    "records of different sweeps cannot be merged: {} and {}",
                    t.settings.describe(),
                    r.settings.describe()
                ));
            }
            match t.seeds.last_mut() {
                Some(last) if last.end == r.seed => last.end += 1,
                Some(last) if last.end > r.seed => {
                    return Err(format!("seed {} appears twice", r.seed));
                }
                _ => t.seeds.push(r.seed..r.seed + 1),
            }
            t.runs += 1;
            t.steps += r.steps;
            for name in r.outcome.rows() {
                t.rows
                    .entry(name)
                    .and_modify(|row| row.runs += 1)
                    .or_insert(Row {
                        runs: 1,
                        first_seed: r.seed,
                    });
            }
        }
        Ok(t)
    }

    /// The table as gort prints it; `elapsed` adds the speed line.
    pub fn render(&self, elapsed: Option<Duration>) -> String {
        let mut s = String::new();
        let seeds: Vec<String> = self
            .seeds
            .iter()
            .map(|r| format!("{}..{}", r.start, r.end))
            .collect();
        s += &format!(
            "{}: {} runs (seeds {})\n",
            self.settings.describe(),
            self.runs,
            seeds.join(", ")
        );
        let w = self.rows.keys().map(|k| k.len()).max().unwrap_or(7).max(7);
        s += &format!(
            "{:<w$}  {:>7}  {:>7}  first seed\n",
            "outcome", "runs", "rate"
        );
        let mut rows: Vec<(&String, &Row)> = self.rows.iter().collect();
        rows.sort_by_key(|(name, row)| (std::cmp::Reverse(row.runs), (*name).clone()));
        for (name, row) in rows {
            s += &format!(
                "{:<w$}  {:>7}  {:>6.1}%  {}\n",
                name,
                row.runs,
                100.0 * row.runs as f64 / self.runs.max(1) as f64,
                row.first_seed
            );
        }
        if let Some(d) = elapsed {
            let secs = d.as_secs_f64().max(1e-9);
            s += &format!(
                "{} runs in {:.2} s: {:.1} M steps/s ({} steps)\n",
                self.runs,
                secs,
                self.steps as f64 / secs / 1e6,
                self.steps
            );
        }
        s
    }
}

/// Reads the JSON lines of shard files.
pub fn read_records(path: &std::path::Path) -> Result<Vec<Record>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))
        })
        .collect()
}

/// Writes records as JSON lines, atomically: to a temporary file beside
/// `path`, renamed over it once complete, so a failed or interrupted
/// sweep leaves no partial file.
pub struct JsonOut {
    path: std::path::PathBuf,
    tmp: std::path::PathBuf,
    file: Mutex<std::io::BufWriter<std::fs::File>>,
}

impl JsonOut {
    /// Creates the temporary file now, so an unwritable path is an error
    /// before any seed runs.
    pub fn create(path: &std::path::Path) -> Result<JsonOut, String> {
        let name = path
            .file_name()
            .ok_or_else(|| format!("--json {}: not a file name", path.display()))?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".tmp{}", std::process::id()));
        let tmp = path.with_file_name(tmp_name);
        let file = std::fs::File::create(&tmp)
            .map_err(|e| format!("--json {}: cannot write: {e}", path.display()))?;
        Ok(JsonOut {
            path: path.to_path_buf(),
            tmp,
            file: Mutex::new(std::io::BufWriter::new(file)),
        })
    }

    pub fn write(&self, rec: &Record) -> Result<(), String> {
        let line = serde_json::to_string(rec).map_err(|e| e.to_string())?;
        let mut f = self.file.lock().unwrap();
        writeln!(f, "{line}").map_err(|e| format!("--json {}: {e}", self.path.display()))
    }

    /// Flushes and renames the file into place.
    pub fn finish(self) -> Result<(), String> {
        let mut f = self.file.into_inner().unwrap();
        f.flush()
            .and_then(|_| f.get_ref().sync_all())
            .and_then(|_| std::fs::rename(&self.tmp, &self.path))
            .map_err(|e| {
                let _ = std::fs::remove_file(&self.tmp);
                format!("--json {}: {e}", self.path.display())
            })
    }

    /// Removes the temporary file (the sweep failed).
    pub fn abandon(self) {
        let _ = std::fs::remove_file(&self.tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_seeds_once() {
        for n in 1..9u64 {
            let mut next = 10;
            for i in 0..n {
                let r = Shard { index: i, count: n }.range(10..1013);
                assert_eq!(r.start, next);
                next = r.end;
            }
            assert_eq!(next, 1013);
        }
    }

    #[test]
    fn bad_shards_are_refused() {
        for s in ["3/2", "2/2", "0/0", "1", "a/2", "1/b", "-1/2"] {
            assert!(Shard::parse(s).is_err(), "{s}");
        }
        assert_eq!(Shard::parse("1/2"), Ok(Shard { index: 1, count: 2 }));
    }
}
