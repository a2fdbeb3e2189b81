//! The real Go 1.19 runtime's outcomes for the demos' twins, as
//! `demos/go/measure.sh` measured them on this machine and wrote them to
//! `demos/go/results.tsv` (committed, with the date and `go version`):
//! never typed by hand. Every Go column gort prints comes from here, or
//! from `gort compare`, which measures afresh.
//!
//! A row counts, of `runs` runs of one program in one build (plain or
//! `-race`) at one GOMAXPROCS, the runs that reported a race (`WARNING:
//! DATA RACE`), died with a `fatal error:`, printed `LOST` (map entries
//! lost), and completed (exit status 0, nothing lost).

use crate::outcome::Outcome;

/// The committed measurement.
pub const RESULTS_TSV: &str = include_str!("../go/results.tsv");

/// Outcome counts of one program, build and GOMAXPROCS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub runs: u32,
    pub race_reported: u32,
    pub fatal_error: u32,
    pub entries_lost: u32,
    pub completed: u32,
}

impl Counts {
    /// Adds one gort run, counted as `measure.sh` counts a Go run.
    pub fn add(&mut self, o: &Outcome) {
        self.runs += 1;
        self.race_reported += (o.reported > 0) as u32;
        self.fatal_error += (o.status == 2) as u32;
        self.entries_lost += o.lost as u32;
        self.completed += (o.status == 0 && !o.lost) as u32;
    }

    /// The four counts, as `k/n`.
    pub fn cells(&self) -> [String; 4] {
        [
            self.race_reported,
            self.fatal_error,
            self.entries_lost,
            self.completed,
        ]
        .map(|k| format!("{k}/{}", self.runs))
    }
}

/// One row of results.tsv.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoRow {
    pub program: String,
    pub race: bool,
    pub procs: usize,
    pub counts: Counts,
}

/// The measurement's header (`# date go version runs=N`) and rows.
pub fn parse(tsv: &str) -> Result<(String, Vec<GoRow>), String> {
    let mut header = String::new();
    let mut rows = Vec::new();
    for (i, line) in tsv.lines().enumerate() {
        if let Some(h) = line.strip_prefix("# ") {
            header = h.to_string();
            continue;
        }
        if line.starts_with("program\t") || line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let bad = || format!("results.tsv line {}: {line:?}", i + 1);
        if f.len() != 8 {
            return Err(bad());
        }
        let n = |s: &str| s.parse::<u32>().map_err(|_| bad());
        rows.push(GoRow {
            program: f[0].to_string(),
            race: match f[1] {
                "plain" => false,
                "race" => true,
                _ => return Err(bad()),
            },
            procs: f[2].parse().map_err(|_| bad())?,
            counts: Counts {
                runs: n(f[3])?,
                race_reported: n(f[4])?,
                fatal_error: n(f[5])?,
                entries_lost: n(f[6])?,
                completed: n(f[7])?,
            },
        });
    }
    Ok((header, rows))
}

/// The committed row for `program`, `race`, `procs`.
pub fn committed(program: &str, race: bool, procs: usize) -> Option<Counts> {
    let (_, rows) = parse(RESULTS_TSV).ok()?;
    rows.into_iter()
        .find(|r| r.program == program && r.race == race && r.procs == procs)
        .map(|r| r.counts)
}

/// The committed measurement's header: when, and with which Go.
pub fn committed_header() -> String {
    parse(RESULTS_TSV).map(|(h, _)| h).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_results_parse_and_cover_every_twin() {
        let (header, rows) = parse(RESULTS_TSV).unwrap();
        assert!(header.contains("go1.19"), "{header}");
        for d in crate::scenarios::all() {
            let Some(twin) = d.twin else { continue };
            for race in [false, true] {
                for procs in [1, 2] {
                    let c = rows
                        .iter()
                        .find(|r| r.program == twin && r.race == race && r.procs == procs)
                        .unwrap_or_else(|| panic!("no row for {twin} race={race} P={procs}"));
                    assert!(c.counts.runs > 0);
                }
            }
        }
    }
}
