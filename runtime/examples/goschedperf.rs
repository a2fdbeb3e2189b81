use gort::{Config, Runtime, WaitGroup};
use std::sync::Arc;
use std::time::Instant;
fn main() {
    Runtime::new(Config::new().gomaxprocs(1)).run(|| {
        let n: u64 = std::env::var("N")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000_000);
        let wg = Arc::new(WaitGroup::new());
        let t = Instant::now();
        for _ in 0..2 {
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
            "gosched: {:.1} ns/yield",
            t.elapsed().as_nanos() as f64 / (2 * n) as f64
        );
    });
}
