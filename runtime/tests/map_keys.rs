//! Maps on Go's generic paths: string keys (`StrMap`, `map[string]V`) and
//! keys or elements of many words, stored indirectly above 128 bytes
//! (`ArrayMap`, `map[[K]int64][E]int64`): Go's bucket layouts, a
//! differential test against std's HashMap across growth and iteration,
//! string keys kept alive by the map alone through collections, and the
//! concurrent-write check on a string map in deterministic mode.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use gort::{find_object, gc, ArrayMap, Map, Ptr, Root, Runtime, StrMap};

mod common;
use common::mapdiff::{differential, for_seeds, rng, DiffMap};
use common::{det, par, run_ok};

/// The bucket sizes of maps.md §2: `map[string]int` is 8 + 128 + 64 + 8
/// = 208 bytes; a key or element above 128 bytes becomes an 8-byte
/// pointer slot.
#[test]
fn bucket_layouts_follow_go() {
    let s = <i64 as gort::MapElem>::str_map_type();
    assert_eq!(s.bucket.size, 208);
    assert_eq!((s.key_words, s.elem_words), (2, 1));
    assert!(s.key_is_ptr && !s.elem_is_ptr && s.need_key_update);
    assert!(
        s.bucket.is_ptr(1) && !s.bucket.is_ptr(2),
        "key data pointers"
    );

    let big_key = gort_maps_type(17, 1);
    assert!(big_key.indirect_key && !big_key.indirect_elem);
    assert_eq!(big_key.bucket.size, 8 + 64 + 64 + 8);
    assert!(big_key.bucket.is_ptr(1), "indirect key slots hold pointers");

    let big_elem = gort_maps_type(1, 20);
    assert!(!big_elem.indirect_key && big_elem.indirect_elem);
    assert_eq!(big_elem.bucket.size, 144);
    assert!(
        big_elem.bucket.is_ptr(9),
        "indirect element slots hold pointers"
    );

    // 128 bytes exactly is still stored in place, and pointer-free.
    let edge = gort_maps_type(16, 16);
    assert!(!edge.indirect_key && !edge.indirect_elem);
    assert_eq!(edge.bucket.size, 8 + 8 * 128 + 8 * 128 + 8);
    assert!(!edge.bucket.has_pointers());
}

fn gort_maps_type(k: usize, e: usize) -> &'static gort::rt::MapType {
    gort::rt::array_map_type(k, e)
}

/// An indirect element is its own heap object of the element type; its
/// bucket slot points at it, and it is what `get` reads.
#[test]
fn indirect_elements_are_separate_objects() {
    run_ok(par(1), || {
        let m: ArrayMap<17, 20> = ArrayMap::new();
        let _root = Root::new(m.hmap().0);
        let k: [u64; 17] = std::array::from_fn(|j| j as u64 * 3);
        let v: [u64; 20] = std::array::from_fn(|j| 100 + j as u64);
        m.insert(&k, &v);
        assert_eq!(m.get(&k), Some(v));
        let buckets = m.hmap().0.load_ptr(2);
        let t = m.map_type();
        // Slot 0 of the single bucket (B = 0): key pointer, element pointer.
        let slot = (0..8)
            .find(|&i| buckets.load(0) >> (i * 8) & 0xff >= 5)
            .expect("an occupied slot");
        let kp = Ptr(buckets.load(t.key_word(slot)) as usize);
        let ep = Ptr(buckets.load(t.elem_word(slot)) as usize);
        for (p, name, size) in [(kp, "[17]int64", 136), (ep, "[20]int64", 160)] {
            let f = find_object(p.0).expect("a separate object");
            let t = f.span.type_of(f.index).expect("typed");
            assert_eq!((f.base, t.name, t.size), (p.0, name, size));
        }
        assert_eq!(ep.load(19), 119);
    });
}

/// Random assign / delete / lookup / clear / iterate-while-mutating on a
/// `map[string]int64`, against std's HashMap, across growth and
/// same-size growth: the iteration guarantees of Go (every key present
/// throughout seen once, none twice, none never inserted).
/// `StrMap<i64>` under the shared differential test.
struct StringMap(StrMap<i64>);

impl DiffMap for StringMap {
    type K = String;
    fn insert(&self, k: &String, v: i64) {
        self.0.insert(k, v)
    }
    fn delete(&self, k: &String) {
        self.0.delete(k)
    }
    fn get(&self, k: &String) -> Option<i64> {
        self.0.get(k)
    }
    fn index(&self, k: &String) -> i64 {
        self.0.index(k)
    }
    fn clear(&self) {
        self.0.clear()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn iter(&self) -> Box<dyn Iterator<Item = (String, i64)> + '_> {
        Box::new(self.0.iter().map(|(k, v)| (k.to_string_lossy(), v)))
    }
}

/// Keys of many lengths, sharing prefixes and word boundaries.
fn string_key(r: u64) -> String {
    format!("{}{r}", "k".repeat((r % 19) as usize))
}

#[test]
fn string_keys_differential_against_std_hashmap() {
    for_seeds(par(1), 0..100, |seed, fail| {
        let mut rnd = rng(seed);
        let m = StringMap(if rnd(2) == 0 {
            StrMap::new()
        } else {
            StrMap::with_hint(rnd(200) as usize)
        });
        let keyspace = [20u64, 200, 2000][rnd(3) as usize];
        differential(&m, &mut rnd, string_key, keyspace, 1500, fail);
    });
}

/// The empty string (a nil data pointer) and keys longer than a word and
/// than 256 bytes are keys like any other; a string key is read back
/// byte for byte.
#[test]
fn empty_and_long_string_keys() {
    run_ok(par(1), || {
        let m: StrMap<i64> = StrMap::new();
        let long = "x".repeat(300) + "end";
        let keys = ["", "a", "exactly8", "nine byte", long.as_str()];
        for (i, k) in keys.iter().enumerate() {
            m.insert(k, i as i64 + 10);
        }
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(m.get(k), Some(i as i64 + 10), "{k:?}");
        }
        assert_eq!(m.get("exactly9"), None);
        assert_eq!(m.get(&"x".repeat(303)), None);
        let mut got: Vec<String> = m.iter().map(|(k, _)| k.to_string_lossy()).collect();
        got.sort();
        let mut want: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        want.sort();
        assert_eq!(got, want);
        m.delete("");
        assert_eq!(m.get(""), None);
        assert_eq!(m.len(), keys.len() - 1);
    });
}

/// The same in deterministic mode, where the generic paths read tophash
/// bytes one at a time as Go's loop does (`probe.rs`) instead of a word at
/// once.
#[test]
fn string_keys_differential_in_deterministic_mode() {
    for_seeds(det(7, 1), 0..10, |seed, fail| {
        let mut rnd = rng(seed + 500);
        let m = StringMap(StrMap::new());
        let keyspace = [20u64, 300][rnd(2) as usize];
        differential(&m, &mut rnd, string_key, keyspace, 800, fail);
    });
}

/// The same for indirect keys and elements (`map[[17]int64][20]int64`),
/// with keys differing only in their last word, and a direct multi-word
/// map (`map[[2]int64][3]int64`).
#[test]
fn wide_and_indirect_keys_differential_against_std_hashmap() {
    fn check<const K: usize, const E: usize>(seeds: u64) -> Vec<String> {
        let mut out = Vec::new();
        for seed in 0..seeds {
            let mut rnd = rng(seed + 1000);
            let m: ArrayMap<K, E> = ArrayMap::new();
            let mut want: HashMap<[u64; K], [u64; E]> = HashMap::new();
            let keyspace = [20u64, 300][rnd(2) as usize];
            let key =
                |r: u64| -> [u64; K] { std::array::from_fn(|j| if j + 1 == K { r } else { 42 }) };
            for op in 0..800 {
                let k = key(rnd(keyspace));
                match rnd(10) {
                    0..=4 => {
                        let v: [u64; E] = std::array::from_fn(|j| rnd(1000) + j as u64);
                        m.insert(&k, &v);
                        want.insert(k, v);
                    }
                    5..=6 => {
                        m.delete(&k);
                        want.remove(&k);
                    }
                    _ => {
                        if m.get(&k) != want.get(&k).copied() {
                            out.push(format!("[{K}]/[{E}] seed {seed} op {op}: get"));
                        }
                    }
                }
            }
            let got: HashMap<[u64; K], [u64; E]> = m.iter().collect();
            if got != want || m.len() != want.len() {
                out.push(format!("[{K}]/[{E}] seed {seed}: final contents differ"));
            }
        }
        out
    }
    let bad = Arc::new(Mutex::new(Vec::new()));
    let b = bad.clone();
    run_ok(par(1), move || {
        let mut v = check::<17, 20>(40);
        v.extend(check::<2, 3>(40));
        *b.lock().unwrap() = v;
    });
    let bad = bad.lock().unwrap();
    assert!(bad.is_empty(), "{:?}", &bad[..bad.len().min(10)]);
}

/// The map is the only thing that reaches its string keys and indirect
/// objects: they survive collections during growth with their bytes
/// intact, and the old key strings replaced by `needkeyupdate` become
/// garbage.
#[test]
fn keys_reachable_only_from_the_map_survive_collections() {
    run_ok(par(1), || {
        let m: StrMap<i64> = StrMap::new();
        let _root = Root::new(m.hmap().0);
        let a: ArrayMap<17, 20> = ArrayMap::new();
        let _aroot = Root::new(a.hmap().0);
        for i in 0..20_000i64 {
            m.insert(&format!("key-{i}-{}", "x".repeat((i % 13) as usize)), i);
            if i % 4 == 0 {
                a.insert(&std::array::from_fn(|j| (i as u64) << j), &[i as u64; 20]);
            }
            if i % 5000 == 0 {
                gc();
            }
        }
        gc();
        for i in 0..20_000i64 {
            let k = format!("key-{i}-{}", "x".repeat((i % 13) as usize));
            assert_eq!(m.get(&k), Some(i), "{k}");
        }
        for (k, v) in m.iter() {
            let s = k.to_string_lossy();
            let i: i64 = s.split('-').nth(1).unwrap().parse().unwrap();
            assert_eq!(v, i, "{s}");
        }
        for i in (0..20_000i64).step_by(4) {
            let k: [u64; 17] = std::array::from_fn(|j| (i as u64) << j);
            assert_eq!(a.get(&k), Some([i as u64; 20]));
        }
        // Overwriting every value stores new key strings; the old ones are
        // freed by the next collection.
        let before = gort::read_mem_stats().frees;
        for i in 0..20_000i64 {
            m.insert(&format!("key-{i}-{}", "x".repeat((i % 13) as usize)), -i);
        }
        gc();
        gc();
        // 20,000 replaced key strings (a stale word on this goroutine's
        // conservatively scanned stack may keep a few of them).
        let freed = gort::read_mem_stats().frees - before;
        assert!(freed >= 19_900, "only {freed} objects freed");
        assert_eq!(m.get("key-7-xxxxxxx"), Some(-7));
    });
}

/// Growth does not depend on the key type: a string map grows at the
/// inserts where an int64 map does.
#[test]
fn string_maps_grow_like_int_maps() {
    run_ok(par(1), || {
        let (s, i): (StrMap<i64>, Map<i64>) = (StrMap::new(), Map::new());
        let (mut bs, mut bi) = (Vec::new(), Vec::new());
        for n in 0..10_000i64 {
            s.insert(&n.to_string(), n);
            i.insert(n, n);
            bs.push(s.stats().b);
            bi.push(i.stats().b);
        }
        assert_eq!(bs, bi);
        assert_eq!(s.stats().b, 11);
    });
}

/// Two goroutines on two Ps write one `map[string]int64` in
/// deterministic mode, from a start line (so both run at once): some seeds end in Go's fatal error, some complete,
/// and a seed replays its outcome.
#[test]
fn concurrent_string_map_writes_are_detected_on_some_seeds() {
    fn once(seed: u64) -> (i32, String) {
        let rt = Runtime::new(det(seed, 2).simswitch(40));
        let e = common::run(&rt, || {
            let m: StrMap<i64> = StrMap::new();
            for i in 0..40 {
                m.insert(&i.to_string(), i);
            }
            let wg = Arc::new(gort::WaitGroup::new());
            wg.add(2);
            let line = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            for g in 0..2i64 {
                let (wg, line) = (wg.clone(), line.clone());
                gort::go!(move || {
                    // As in map_races.rs: each P's first spans are made
                    // (page faults) before the writers line up.
                    StrMap::<i64>::new().insert(&format!("w{g}"), g);
                    common::start_line(&line, 2);
                    for i in 0..3i64 {
                        m.insert(&format!("g{g}-{i}"), i);
                    }
                    wg.done();
                });
            }
            wg.wait();
        });
        let err = rt.stderr();
        let first = err.lines().next().unwrap_or("").to_string();
        (e.status, first)
    }
    let outcomes: Vec<(i32, String)> = (0..40).map(once).collect();
    let fatal = outcomes.iter().filter(|(s, _)| *s == 2).count();
    assert!(fatal > 0 && fatal < 40, "{fatal} of 40 seeds fatal");
    for (s, first) in &outcomes {
        if *s == 2 {
            assert_eq!(first, "fatal error: concurrent map writes");
        }
    }
    for seed in 0..4 {
        assert_eq!(once(seed), outcomes[seed as usize], "seed {seed} replays");
    }
}
