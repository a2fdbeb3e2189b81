//! Profiling harness for the channel round trip (gobench `pingpong`):
//! `P=1 N=2000000 cargo run --release -p gort-benches --example pingpongperf`
//! (`perf record` or callgrind this binary).
use gort::{Chan, Config, Runtime};
use std::time::Instant;
fn main() {
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let (n, p) = (env("N", 2_000_000), env("P", 1));
    Runtime::new(Config::new().gomaxprocs(p as usize)).run(move || {
        let (c1, c2): (Chan<u64>, Chan<u64>) = (Chan::new(0), Chan::new(0));
        let (r1, r2) = (c1.clone(), c2.clone());
        gort::go!(move || {
            for _ in 0..n {
                let v = r1.recv().unwrap();
                r2.send(v);
            }
        });
        let t = Instant::now();
        let mut s = 0u64;
        for i in 0..n {
            c1.send(i);
            s = s.wrapping_add(c2.recv().unwrap());
        }
        eprintln!(
            "pingpong P={p}: {:.1} ns/round trip ({s})",
            t.elapsed().as_nanos() as f64 / n as f64
        );
    });
}
