//! Profiling harness for maps, on the workloads of gobench's map section
//! (`../shared/bench-anchor/gobench.go`, `benchMapI64`/`benchMapPtr`):
//! `OP=hit N=1000000 OPS=20000000 cargo run --release -p gort-benches --example mapperf`.
//!
//! OP: insert (empty map, no hint), insertp (`make(map, N)`), hit, miss,
//! delete (every key, in shuffled order), iter (whole ranges), or all.
//! ELEM: i64 (`map[int64]int64`) or ptr (`map[int64]*T`, insert allocates
//! a T per key). OPS: map operations per measured op kind (whole passes of
//! N; at least one). Only the op itself is timed; the map a hit, miss or
//! delete pass needs is built untimed, so a profile of OP=hit with many
//! OPS is dominated by lookups. Inserts and lookups also print their
//! fastest pass:
//! on a shared machine, the figure to compare two builds by.
use gort::{new_object, Config, Map, MapElem, Ptr, Root, Runtime, Type};
use std::time::{Duration, Instant};

use gort_benches::workload::{make_keys, Keys};

/// The element stored for key `k`: k itself, or a new `T{a: k}`.
trait Elem: MapElem {
    fn make(k: i64, t: &'static Type) -> Self;
    fn sum(self, k: i64) -> i64;
}
impl Elem for i64 {
    fn make(k: i64, _: &'static Type) -> i64 {
        k
    }
    fn sum(self, k: i64) -> i64 {
        k ^ self
    }
}
impl Elem for Ptr {
    fn make(k: i64, t: &'static Type) -> Ptr {
        let p = new_object(t);
        p.store(0, k as u64);
        p
    }
    fn sum(self, k: i64) -> i64 {
        k + !self.is_nil() as i64
    }
}

fn build<V: Elem>(ks: &Keys, t: &'static Type, hint: Option<usize>) -> (Map<V>, Root) {
    let m = hint.map_or_else(Map::new, Map::with_hint);
    let root = Root::new(m.hmap().0);
    for &k in &ks.keys {
        m.insert(k, V::make(k, t));
    }
    (m, root)
}

/// The total time of `reps` passes of `op`, and the fastest pass (the
/// one least disturbed by other processes; inserts and lookups, else the
/// mean).
fn run<V: Elem>(op: &str, n: usize, reps: usize) -> (Duration, Duration) {
    let t = Type::new("main.T", 2, &[]);
    let ks = make_keys(n);
    let mut d = Duration::ZERO;
    let mut fastest = Duration::MAX;
    match op {
        "insert" | "insertp" => {
            for _ in 0..reps {
                let m = if op == "insert" {
                    Map::<V>::new()
                } else {
                    Map::<V>::with_hint(n)
                };
                let _root = Root::new(m.hmap().0);
                let t0 = Instant::now();
                for &k in &ks.keys {
                    m.insert(k, V::make(k, t));
                }
                let pass = t0.elapsed();
                d += pass;
                fastest = fastest.min(pass);
                assert_eq!(m.len(), n);
            }
        }
        "hit" | "miss" => {
            let (m, _root) = build::<V>(&ks, t, None);
            let keys = if op == "hit" { &ks.perm } else { &ks.miss };
            let mut c = 0usize;
            for _ in 0..reps {
                let t0 = Instant::now();
                for &k in keys {
                    c += m.get(k).is_some() as usize;
                }
                let pass = t0.elapsed();
                d += pass;
                fastest = fastest.min(pass);
            }
            assert_eq!(c, if op == "hit" { reps * n } else { 0 });
        }
        "delete" => {
            for _ in 0..reps {
                let (m, _root) = build::<V>(&ks, t, None);
                let t0 = Instant::now();
                for &k in &ks.perm {
                    m.delete(k);
                }
                d += t0.elapsed();
                assert_eq!(m.len(), 0);
            }
        }
        "iter" => {
            let (m, _root) = build::<V>(&ks, t, None);
            let mut s = 0i64;
            let t0 = Instant::now();
            for _ in 0..reps {
                let mut c = 0;
                for (k, v) in m.iter() {
                    s = s.wrapping_add(v.sum(k));
                    c += 1;
                }
                assert_eq!(c, n);
            }
            d = t0.elapsed();
            std::hint::black_box(s);
        }
        _ => panic!("unknown OP {op}"),
    }
    if fastest == Duration::MAX {
        fastest = d / reps as u32;
    }
    (d, fastest)
}

fn main() {
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let num = |k: &str, d: usize| env(k, "").parse().unwrap_or(d);
    let (op, elem) = (env("OP", "all"), env("ELEM", "i64"));
    let (n, ops) = (num("N", 1_000_000), num("OPS", 10_000_000));
    let reps = (ops / n).max(1);
    Runtime::new(Config::from_env().gomaxprocs(1)).run(move || {
        let all = ["insert", "insertp", "hit", "miss", "delete", "iter"];
        let ops: Vec<&str> = if op == "all" { all.to_vec() } else { vec![&op] };
        for op in ops {
            let (d, fastest) = match elem.as_str() {
                "ptr" => run::<Ptr>(op, n, reps),
                _ => run::<i64>(op, n, reps),
            };
            let st = gort::read_mem_stats();
            eprintln!(
                "map[int64]{elem} {op} N={n}: {:.1} ns per op ({reps} passes, fastest {:.1}, {} GCs so far)",
                d.as_nanos() as f64 / (reps * n) as f64,
                fastest.as_nanos() as f64 / n as f64,
                st.num_gc
            );
        }
    });
}
