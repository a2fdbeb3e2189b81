//! The differential map test shared by tests/maps.rs (int64 keys) and
//! tests/map_keys.rs (string keys): random assign / delete / lookup /
//! clear / iterate-while-mutating against std's HashMap, checking Go's
//! iteration guarantees (every key present for the whole iteration seen
//! exactly once, none twice, none that was never inserted).

use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use gort::Config;

/// A gort map under test, with int64 elements.
pub trait DiffMap {
    type K: Hash + Eq + Clone + Debug;
    fn insert(&self, k: &Self::K, v: i64);
    fn delete(&self, k: &Self::K);
    /// `v, ok := m[k]`.
    fn get(&self, k: &Self::K) -> Option<i64>;
    /// `v := m[k]`.
    fn index(&self, k: &Self::K) -> i64;
    fn clear(&self);
    fn len(&self) -> usize;
    /// `for k, v := range m`, lazily (the test mutates the map between
    /// steps).
    fn iter(&self) -> Box<dyn Iterator<Item = (Self::K, i64)> + '_>;
}

/// A xorshift stream for one seed: `rnd(n)` is in `0..n`.
pub fn rng(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    }
}

/// Runs `ops` random operations on `m` and a HashMap model; keys are
/// `key(r)` for r in `0..keyspace`. Reports each mismatch through `fail`.
pub fn differential<M: DiffMap>(
    m: &M,
    rnd: &mut impl FnMut(u64) -> u64,
    key: impl Fn(u64) -> M::K,
    keyspace: u64,
    ops: usize,
    fail: &mut dyn FnMut(String),
) {
    let mut want: HashMap<M::K, i64> = HashMap::new();
    let mut ever: HashSet<M::K> = HashSet::new();
    for op in 0..ops {
        let k = key(rnd(keyspace));
        match rnd(100) {
            0..=44 => {
                let v = rnd(1 << 40) as i64;
                m.insert(&k, v);
                want.insert(k.clone(), v);
                ever.insert(k);
            }
            45..=69 => {
                m.delete(&k);
                want.remove(&k);
            }
            70..=94 => {
                if m.get(&k) != want.get(&k).copied() {
                    fail(format!("op {op}: get({k:?})"));
                }
                if m.index(&k) != want.get(&k).copied().unwrap_or(0) {
                    fail(format!("op {op}: index({k:?})"));
                }
            }
            95 => {
                m.clear();
                want.clear();
            }
            _ => {
                // Iterate while inserting and deleting.
                let before: HashSet<M::K> = want.keys().cloned().collect();
                let mut seen: HashSet<M::K> = HashSet::new();
                let mut deleted: HashSet<M::K> = HashSet::new();
                for (ik, iv) in m.iter() {
                    // A key deleted and re-inserted during the iteration
                    // may legitimately come back.
                    if !seen.insert(ik.clone()) && !deleted.contains(&ik) {
                        fail(format!("op {op}: key {ik:?} seen twice"));
                    }
                    if !ever.contains(&ik) {
                        fail(format!("op {op}: key {ik:?} never inserted"));
                    }
                    if want.get(&ik) != Some(&iv) {
                        fail(format!("op {op}: key {ik:?} has {iv}"));
                    }
                    if rnd(3) == 0 {
                        let nk = key(rnd(keyspace));
                        m.insert(&nk, 7);
                        want.insert(nk.clone(), 7);
                        ever.insert(nk);
                    }
                    if rnd(4) == 0 {
                        let dk = key(rnd(keyspace));
                        m.delete(&dk);
                        want.remove(&dk);
                        deleted.insert(dk);
                    }
                }
                for k in before {
                    if want.contains_key(&k) && !deleted.contains(&k) && !seen.contains(&k) {
                        fail(format!(
                            "op {op}: key {k:?} present throughout but not seen"
                        ));
                    }
                }
            }
        }
        if m.len() != want.len() {
            fail(format!("op {op}: len {} want {}", m.len(), want.len()));
            return;
        }
    }
    let got: HashMap<M::K, i64> = m.iter().collect();
    if got != want {
        fail("final contents differ".to_string());
    }
}

/// Runs `per_seed(seed, fail)` for every seed on one runtime built from
/// `cfg`, and asserts that no seed reported a mismatch.
pub fn for_seeds(
    cfg: Config,
    seeds: std::ops::Range<u64>,
    per_seed: impl Fn(u64, &mut dyn FnMut(String)) + Send + 'static,
) {
    let mismatches = Arc::new(Mutex::new(Vec::<String>::new()));
    let mm = mismatches.clone();
    super::run_ok(cfg, move || {
        for seed in seeds {
            per_seed(seed, &mut |what: String| {
                mm.lock().unwrap().push(format!("seed {seed}: {what}"))
            });
        }
    });
    let mm = mismatches.lock().unwrap();
    assert!(
        mm.is_empty(),
        "{} mismatches: {:?}",
        mm.len(),
        &mm[..mm.len().min(10)]
    );
}
