use gort::{Config, Runtime, WaitGroup};
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let rt = Runtime::new(Config::new().gomaxprocs(1));
    rt.run(|| {
        let n = 2_000_000u64;
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

        let waves = 1000;
        let k = 1000;
        let t = Instant::now();
        for _ in 0..waves {
            let wg = Arc::new(WaitGroup::new());
            wg.add(k);
            for _ in 0..k {
                let wg = wg.clone();
                gort::go!(move || wg.done());
            }
            wg.wait();
        }
        eprintln!(
            "spawn waves: {:.1} ns/goroutine",
            t.elapsed().as_nanos() as f64 / (waves * k) as f64
        );
        for _ in 0..3 {
            let k = 100_000;
            let t = Instant::now();
            let wg = Arc::new(WaitGroup::new());
            wg.add(k);
            for _ in 0..k {
                let wg = wg.clone();
                gort::go!(move || wg.done());
            }
            wg.wait();
            eprintln!(
                "spawn 100k: {:.1} ns/goroutine",
                t.elapsed().as_nanos() as f64 / k as f64
            );
        }
    });
}
