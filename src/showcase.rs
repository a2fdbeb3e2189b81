//! The showcase (`gort` with no command): every demo over seeds `0..N`,
//! plain and with the race detector, at GOMAXPROCS 1 and 2 (strategy
//! `go`), counted as `demos/go/measure.sh` counts Go's runs; beside each
//! count, real Go 1.19's from the committed measurement
//! (`gort_demos::golden`); then one line per claim: the verdict, and
//! whether gort agrees with Go on everything Go can observe (a race
//! reported or not, a fatal error or not, entries lost or not, per build
//! and GOMAXPROCS). A disagreement is printed, never hidden.

use std::time::Instant;

use gort_demos::golden::{self, Counts};
use gort_demos::scenarios;

use crate::compare::run_gort;

/// Where gort and Go disagree on what Go can observe.
fn disagreements(label: &str, ours: &Counts, go: &Counts) -> Vec<String> {
    let mut d = Vec::new();
    for (what, a, b) in [
        ("race reported", ours.race_reported, go.race_reported),
        ("fatal error", ours.fatal_error, go.fatal_error),
        ("entries lost", ours.entries_lost, go.entries_lost),
    ] {
        if (a > 0) != (b > 0) {
            d.push(format!(
                "{label}: {what} {a}/{} in gort, {b}/{} in Go",
                ours.runs, go.runs
            ));
        }
    }
    d
}

pub fn showcase(seeds: u64, jobs: usize) {
    let t0 = Instant::now();
    println!(
        "gort showcase: each demo over seeds 0..{seeds} (strategy go), beside real Go 1.19 \
         ({})\n",
        golden::committed_header()
    );
    let mut summary = Vec::new();
    for d in scenarios::all() {
        println!("{} ({}): {}", d.name, d.section, d.claim);
        println!(
            "  {:<10} {:<8} {:>14} {:>12} {:>13} {:>10}",
            "", "", "race reported", "fatal error", "entries lost", "completed"
        );
        let mut dis = Vec::new();
        for race in [false, true] {
            for procs in [1, 2] {
                let label = format!("{} P={procs}", if race { "-race" } else { "plain" });
                let ours = run_gort(&d, race, procs, seeds as u32, jobs);
                let go = d.twin.and_then(|t| golden::committed(t, race, procs));
                let [a, b, c, e] = ours.cells();
                println!(
                    "  {label:<10} {:<8} {a:>14} {b:>12} {c:>13} {e:>10}",
                    "gort"
                );
                if let Some(go) = go {
                    let [a, b, c, e] = go.cells();
                    println!(
                        "  {:<10} {:<8} {a:>14} {b:>12} {c:>13} {e:>10}",
                        "", "Go 1.19"
                    );
                    dis.extend(disagreements(&label, &ours, &go));
                }
            }
        }
        println!("  verdict: {}", d.verdict);
        if dis.is_empty() {
            println!("  gort and Go agree on every observable outcome.\n");
        } else {
            for x in &dis {
                println!("  DISAGREES: {x}");
            }
            println!();
        }
        summary.push((d.section, d.name, dis.len()));
    }
    println!("claim          demo                      agreement with Go 1.19");
    for (section, name, n) in summary {
        let a = if n == 0 {
            "agrees".to_string()
        } else {
            format!("{n} disagreement(s), listed above")
        };
        println!("{section:<14} {name:<25} {a}");
    }
    println!("\n({:.1} s)", t0.elapsed().as_secs_f64());
}
