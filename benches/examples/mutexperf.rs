//! Profiling harness for an uncontended `sync.Mutex` Lock+Unlock:
//! `N=20000000 cargo run --release -p gort-benches --example mutexperf`.
use gort::{Config, Mutex, Runtime};
use std::time::Instant;
fn main() {
    let n: u64 = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000_000);
    Runtime::new(Config::new().gomaxprocs(1)).run(move || {
        let mu = Mutex::new();
        let t = Instant::now();
        for _ in 0..n {
            mu.lock();
            mu.unlock();
        }
        eprintln!(
            "mutex: {:.2} ns per Lock+Unlock",
            t.elapsed().as_nanos() as f64 / n as f64
        );
    });
}
