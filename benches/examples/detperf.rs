//! Deterministic-mode throughput: steps per second when goroutines on
//! several Ps interleave at every `step()` (the cost the heap and map layers
//! will pay per simulated memory access).
//! `N=10000000 G=4 P=2 SWITCH=8 cargo run --release -p gort-benches --example detperf`
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
    let (n, gs, procs, sw) = (
        env("N", 10_000_000),
        env("G", 4),
        env("P", 2),
        env("SWITCH", 8),
    );
    let cfg = Config::new()
        .gomaxprocs(procs as usize)
        .simseed(1)
        .simswitch(sw as u32);
    let t = Instant::now();
    Runtime::new(cfg).run(move || {
        let wg = Arc::new(WaitGroup::new());
        for _ in 0..gs {
            wg.add(1);
            let wg = wg.clone();
            gort::go!(move || {
                for _ in 0..n / gs {
                    gort::rt::step();
                }
                wg.done();
            });
        }
        wg.wait();
    });
    let el = t.elapsed();
    eprintln!(
        "det: {n} steps, {gs} goroutines, P={procs}, simswitch={sw}: {:.1} ns/step ({:.0} M steps/s)",
        el.as_nanos() as f64 / n as f64,
        n as f64 / el.as_secs_f64() / 1e6
    );
}
