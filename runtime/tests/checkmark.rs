//! `GODEBUG=gccheckmark=1` (the heap verifier at mark termination),
//! `gcscanold=0` (a growing map's oldbuckets left unscanned) and
//! `gcstoptheworld=1|2`, through the public API.

mod common;

use std::sync::{Arc, Mutex};

use common::{det, par, run, run_ok};
use gort::{gc, new_object, Config, Map, Ptr, Root, Runtime, Type, WaitGroup};

fn t_type() -> &'static Type {
    static T: std::sync::OnceLock<&'static Type> = std::sync::OnceLock::new();
    T.get_or_init(|| Type::new("main.T", 2, &[]))
}

fn node_type() -> &'static Type {
    static T: std::sync::OnceLock<&'static Type> = std::sync::OnceLock::new();
    T.get_or_init(|| Type::new("main.node", 2, &[0]))
}

/// A workload with concurrent map writes (growth under way during the
/// mark), linked lists, garbage and forced and paced collections.
fn busy_workload() {
    let wg = Arc::new(WaitGroup::new());
    for w in 0..4i64 {
        wg.add(1);
        let wg = wg.clone();
        gort::go!(move || {
            let m: Map<Ptr> = Map::new();
            let mut list = Ptr::NIL;
            for i in 0..3000i64 {
                let o = new_object(t_type());
                o.store(0, i as u64);
                m.insert(i, o);
                if i % 3 == 0 {
                    m.delete(i / 2);
                }
                let n = new_object(node_type());
                n.store_ptr(0, list);
                list = if i % 100 == 99 { Ptr::NIL } else { n };
                if i % 1000 == 500 && w == 0 {
                    gc();
                }
            }
            for i in 0..3000i64 {
                if let Some(o) = m.get(i) {
                    assert_eq!(o.load(0), i as u64);
                }
            }
            wg.done();
        });
    }
    wg.wait();
    gc();
}

fn checkmark(cfg: Config) -> Config {
    cfg.gccheckmark(true).gctrace(1)
}

/// Marking with the world stopped needs no write barrier: the verifier
/// finds nothing to report, in both modes.
#[test]
fn a_clean_workload_passes_the_verifier() {
    let rt = run_ok(checkmark(par(2)).gcstoptheworld(1), busy_workload);
    assert!(rt.stderr().contains("gc 1 @"), "{}", rt.stderr());
    for seed in 1..=3 {
        run_ok(checkmark(det(seed, 2)).gcstoptheworld(1), busy_workload);
    }
}

/// The concurrent mark keeps every reachable object only with the write
/// barrier: without it, this workload loses objects (a pointer loaded
/// from a bucket the mark has not scanned yet, then deleted from it, is
/// left on a scanned stack only), and the verifier says so.
#[test]
fn a_clean_concurrent_workload_passes_the_verifier() {
    let rt = run_ok(checkmark(par(2)), busy_workload);
    assert!(rt.stderr().contains("gc 1 @"), "{}", rt.stderr());
    for seed in 1..=20 {
        run_ok(checkmark(det(seed, 2)), busy_workload);
    }
}

/// What a helper goroutine saw of the map it built (addresses as heap
/// words; never on the main goroutine's stack).
#[derive(Default, Debug, Clone, Copy)]
struct Seen {
    hmap: usize,
    array: usize,
    victim: usize,
    /// Word of the victim's element slot in the bucket array.
    word: usize,
    nbuckets: usize,
    /// The line the victim was allocated at.
    at: u32,
}

/// The bucket array's words of a `map[int64]*T` (Go's layout: tophash,
/// 8 keys, 8 elements, overflow).
const BUCKET_WORDS: usize = 18;

/// Builds `map[int64]*main.T` with 40 entries in a goroutine that ends
/// (so no stack holds its words), publishes it in `global`, and asks the
/// next mark termination to lose entry 17's object.
fn build_and_lose(global: Arc<Root>, seen: Arc<Mutex<Seen>>) {
    let wg = Arc::new(WaitGroup::new());
    wg.add(1);
    let wg2 = wg.clone();
    gort::go!(move || {
        let m: Map<Ptr> = Map::new();
        let mut at = 0;
        for k in 0..40 {
            let (o, line) = (new_object(t_type()), line!());
            m.insert(k, o);
            at = line;
        }
        assert!(!m.stats().growing);
        let h = m.hmap().0;
        global.store(h);
        let victim = m.get(17).unwrap();
        let array = h.load(2) as usize;
        let nbuckets = 1usize << m.stats().b;
        let word = (0..nbuckets * BUCKET_WORDS)
            .find(|&w| Ptr(array).load(w) == victim.0 as u64)
            .unwrap();
        *seen.lock().unwrap() = Seen {
            hmap: h.0,
            array,
            victim: victim.0,
            word,
            nbuckets,
            at,
        };
        gort::rt::gc_debug_unmark(victim);
        wg2.done();
    });
    wg.wait();
}

#[test]
fn a_lost_object_is_reported_with_its_path_through_buckets() {
    let rt = Runtime::new(checkmark(par(2)));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s2 = seen.clone();
    let e = run(&rt, move || {
        let global = Arc::new(Root::new(Ptr::NIL));
        build_and_lose(global.clone(), s2);
        gc();
        gort::println!("survived");
    });
    let err = rt.stderr();
    assert_eq!(e.status, 2, "{err}");
    assert!(!rt.stdout().contains("survived"));
    let s = *seen.lock().unwrap();
    let (b, slot) = (s.word / BUCKET_WORDS, s.word % BUCKET_WORDS - 9);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "runtime: checkmarks found unexpected unmarked object obj={:#x}",
            s.victim
        ),
        "{err}"
    );
    assert_eq!(
        lines[1],
        format!("runtime: found obj at *({:#x}+{:#x})", s.array, s.word * 8)
    );
    assert!(
        lines[2].starts_with(&format!("base={:#x} s.base()=", s.array))
            && lines[2].ends_with(" s.state=mSpanInUse"),
        "{}",
        lines[2]
    );
    assert!(lines.contains(&format!(" *(base+{}) = {:#x} <==", s.word * 8, s.victim).as_str()));
    let obj = lines.iter().position(|l| l.starts_with("obj=")).unwrap();
    assert!(lines[obj].starts_with(&format!("obj={:#x} s.base()=", s.victim)));
    assert!(lines[obj].contains(" s.spanclass=5 s.elemsize=16 s.state=mSpanInUse"));
    assert_eq!(lines[obj + 1], " *(obj+0) = 0x0");
    assert_eq!(lines[obj + 2], " *(obj+8) = 0x0");
    let path = format!(
        "runtime: checkmark path: global 0 -> runtime.hmap {:#x} .buckets -> [{}]map.bucket[int64]*T {:#x} [{b}].elems[{slot}] -> main.T {:#x} (16 bytes, allocated at ",
        s.hmap, s.nbuckets, s.array, s.victim
    );
    assert!(
        lines[obj + 3].starts_with(&path),
        "{}\nwant {path}",
        lines[obj + 3]
    );
    assert!(
        lines[obj + 3].ends_with(&format!("runtime/tests/checkmark.rs:{})", s.at)),
        "{}",
        lines[obj + 3]
    );
    assert_eq!(
        lines[obj + 4],
        "fatal error: checkmark found unmarked object"
    );
}

/// Overwrites the stack below the caller's frame, so dead frames hold no
/// stale copies of pointers.
#[inline(never)]
fn clobber_stack() {
    let mut buf = [0u64; 4096];
    std::hint::black_box(&mut buf);
}

/// A `map[int64]*main.T` whose growth from 2^2 to 2^3 buckets has just
/// started; returns its hmap.
#[inline(never)]
fn start_growth() -> Ptr {
    let m: Map<Ptr> = Map::new();
    let mut k = 0;
    while !m.stats().growing || m.stats().b < 3 {
        m.insert(k, new_object(t_type()));
        k += 1;
    }
    m.hmap().0
}

/// Starts a map's growth (2^2 -> 2^3 buckets) in a goroutine that ends,
/// leaving old buckets unevacuated, and publishes it in `global`.
fn grow_halfway(global: Arc<Root>) {
    let wg = Arc::new(WaitGroup::new());
    wg.add(1);
    let wg2 = wg.clone();
    gort::go!(move || {
        global.store(start_growth());
        // The next goroutine reuses this stack (Go's gfput): no stale
        // word of the map's operations may keep the old buckets alive.
        clobber_stack();
        wg2.done();
    });
    wg.wait();
}

/// `gcscanold=0`, a map growing when the collection starts: without the
/// verifier the old bucket array is freed and the next write to the map
/// (which evacuates it) touches freed memory; with it, the loss is caught
/// at mark termination, with the path through `.oldbuckets`.
#[test]
fn unscanned_oldbuckets_are_caught_by_the_verifier_or_fault_later() {
    fn scenario(global: Arc<Root>) {
        grow_halfway(global.clone());
        gc();
        let m: Map<Ptr> = Map::from_hmap(gort::rt::HMap(global.load()));
        for k in 1000..1010 {
            m.insert(k, new_object(t_type()));
        }
        gort::println!("survived");
    }
    for checked in [false, true] {
        let rt = Runtime::new(det(7, 2).gcscanold(false).gccheckmark(checked));
        let e = run(&rt, || scenario(Arc::new(Root::new(Ptr::NIL))));
        let err = rt.stderr();
        assert_eq!(e.status, 2, "{err}");
        assert!(!rt.stdout().contains("survived"));
        if checked {
            // The hmap's address as the report shows it (rebased in
            // deterministic mode): its oldbuckets word is at +0x18.
            let found = err
                .lines()
                .find_map(|l| l.strip_prefix("runtime: found obj at *("))
                .unwrap_or_else(|| panic!("{err}"));
            let hmap = found
                .strip_suffix("+0x18)")
                .unwrap_or_else(|| panic!("{err}"));
            let path = format!(
                "runtime: checkmark path: global 0 -> runtime.hmap {hmap} .oldbuckets -> [4]map.bucket[int64]*T 0x"
            );
            assert!(err.contains(&path), "want {path}\n{err}");
            assert!(
                err.contains("\nfatal error: checkmark found unmarked object\n"),
                "{err}"
            );
        } else {
            assert!(err.contains("runtime: access to freed object"), "{err}");
            assert!(
                err.contains("\nfatal error: access to freed object\n"),
                "{err}"
            );
        }
    }
    // Scanned (the default), the same program runs to its end.
    let rt = run_ok(det(7, 2).gccheckmark(true), || {
        scenario(Arc::new(Root::new(Ptr::NIL)))
    });
    assert!(rt.stdout().contains("survived"));
}

/// Parses `gc N @Ts P%: a+b+c ms clock, ...` into (N, a, b, c).
fn parse_gctrace(line: &str) -> (u32, f64, f64, f64) {
    let rest = line.strip_prefix("gc ").unwrap();
    let (n, rest) = rest.split_once(' ').unwrap();
    let (_, rest) = rest.split_once(": ").unwrap();
    let (clock, rest) = rest.split_once(" ms clock, ").unwrap();
    let v: Vec<f64> = clock.split('+').map(|x| x.parse().unwrap()).collect();
    assert_eq!(v.len(), 3, "{line}");
    assert!(
        rest.contains(" ms cpu, ") && rest.contains(" MB goal, "),
        "{line}"
    );
    assert!(
        line.ends_with(" P") || line.ends_with(" P (forced)"),
        "{line}"
    );
    (n.parse().unwrap(), v[0], v[1], v[2])
}

#[test]
fn stop_the_world_collections_collect_and_trace() {
    for stw in [1, 2] {
        for cfg in [par(2), det(3, 2)] {
            let rt = run_ok(checkmark(cfg.gcstoptheworld(stw)), || {
                busy_workload();
                // Garbage is freed, live data kept.
                let before = gort::read_mem_stats().heap_alloc;
                let keep = Root::new(new_object(node_type()));
                for _ in 0..10_000 {
                    new_object(t_type());
                }
                gc();
                let st = gort::read_mem_stats();
                assert!(st.heap_alloc <= before + (64 << 10), "{st:?}");
                assert!(!keep.load().is_nil());
                assert_eq!(keep.load().load(0), 0);
            });
            let err = rt.stderr();
            let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("gc ")).collect();
            assert!(lines.len() >= 2, "{err}");
            for (i, l) in lines.iter().enumerate() {
                let (n, _a, b, _c) = parse_gctrace(l);
                assert_eq!(n as usize, i + 1, "{l}");
                assert_eq!(b, 0.0, "concurrent mark clock: {l}");
            }
        }
    }
}

#[test]
fn the_report_ends_the_run_with_status_2_in_both_modes() {
    for cfg in [par(1), det(1, 1)] {
        let rt = Runtime::new(checkmark(cfg));
        let e = run(&rt, || {
            let global = Arc::new(Root::new(Ptr::NIL));
            build_and_lose(global.clone(), Arc::new(Mutex::new(Seen::default())));
            gc();
        });
        assert_eq!(e.status, 2);
        let err = rt.stderr();
        assert!(
            err.contains("\nfatal error: checkmark found unmarked object\n"),
            "{err}"
        );
        assert!(err.contains("\ngoroutine "), "{err}");
    }
}
