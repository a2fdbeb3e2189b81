//! GC torture: the churn workload (tests/common/churn.rs) over seed ranges.

mod common;
use common::churn::{self, Params};

#[test]
fn probe() {
    let p = Params { threads: 2, moves: std::env::var("MOVES").is_ok(), ops: std::env::var("OPS").map(|v| v.parse().unwrap()).unwrap_or(160), ..Params::default() };
    let seeds = churn::seeds_from_env(0..4);
    let r = churn::sweep(seeds, "", &p);
    for run in &r.runs {
        eprintln!("{} {:?} {:?} {}", run.seed, run.elapsed, run.outcome, run.stdout.trim());
    }
    eprintln!("{}", r.summary());
}
