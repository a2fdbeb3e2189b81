//! Profiling harness for the Gosched path (`perf record` this binary):
//! `G=2 N=10000000 cargo run --release -p gort-benches --example goschedperf`.
use gort::{Config, Runtime, WaitGroup};
use std::sync::Arc;
use std::time::Instant;
fn main() {
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let (n, gs) = (env("N", 10_000_000), env("G", 2));
    Runtime::new(Config::new().gomaxprocs(1)).run(move || {
        let wg = Arc::new(WaitGroup::new());
        let t = Instant::now();
        for _ in 0..gs {
            wg.add(1);
            let wg = wg.clone();
            gort::go!(move || {
                for _ in 0..n {
                    gort::gosched();
                }
                wg.done();
            });
        }
        wg.wait();
        eprintln!(
            "gosched, {gs} goroutines: {:.1} ns/yield",
            t.elapsed().as_nanos() as f64 / (gs * n) as f64
        );
    });
}
