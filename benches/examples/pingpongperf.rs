//! Profiling harness for the channel round trip (gobench `pingpong`):
//! `P=1 N=2000000 cargo run --release -p gort-benches --example pingpongperf`
//! (`perf record` or callgrind this binary).
use gort::{Config, Runtime};
fn main() {
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let (n, p) = (env("N", 2_000_000), env("P", 1));
    Runtime::new(Config::new().gomaxprocs(p as usize)).run(move || {
        let d = gort_benches::pingpong::gort(n);
        eprintln!(
            "pingpong P={p}: {:.1} ns/round trip",
            d.as_nanos() as f64 / n as f64
        );
    });
}
