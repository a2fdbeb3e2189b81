//! Profiling harness for small-object allocation:
//! `WORDS=3 N=20000000 cargo run --release -p gort-benches --example allocperf`.
use gort::{new_object, Config, Runtime, Type};
use std::time::Instant;
fn main() {
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let (n, words) = (env("N", 20_000_000), env("WORDS", 3) as usize);
    Runtime::new(Config::from_env().gomaxprocs(1)).run(move || {
        let ty = Type::new("main.obj", words, &[]);
        let t = Instant::now();
        for i in 0..n {
            let p = new_object(ty);
            p.store(0, i);
            std::hint::black_box(p);
        }
        let st = gort::read_mem_stats();
        eprintln!(
            "alloc {} B: {:.1} ns per object ({} GCs)",
            words * 8,
            t.elapsed().as_nanos() as f64 / n as f64,
            st.num_gc
        );
    });
}
