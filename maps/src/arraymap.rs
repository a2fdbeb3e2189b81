//! `ArrayMap<K, E>`: Go's `map[[K]int64][E]int64`, keys and elements of
//! any number of words, on the generic map paths. This is where Go's
//! indirect storage shows: a key or element larger than 128 bytes (K or
//! E above 16) is allocated as its own heap object and its bucket slot
//! holds the pointer (`indirectkey`, `indirectelem`), so such a map's
//! buckets have pointers even though its keys and elements have none.

use std::collections::HashMap;
use std::sync::Mutex;

use gort_gc::Type;

use crate::iter::{mapiterinit, Hiter};
use crate::map::*;
use crate::mapkey::KeyArg;
use crate::maptype::{MapKey, MapType};

/// The map type `map[[k]int64][e]int64` (one per shape, for the process).
/// Interned process-wide, looked up off the goroutine's stack (see
/// `Type::array`).
pub fn array_map_type(k: usize, e: usize) -> &'static MapType {
    let mut t = None;
    gort_scheduler::off_goroutine_stack(&mut || t = Some(array_map_type_interned(k, e)));
    t.expect("array map type")
}

fn array_map_type_interned(k: usize, e: usize) -> &'static MapType {
    static TYPES: Mutex<Option<HashMap<(usize, usize), &'static MapType>>> = Mutex::new(None);
    let mut types = TYPES.lock().unwrap();
    let types = types.get_or_insert_with(HashMap::new);
    if let Some(&t) = types.get(&(k, e)) {
        return t;
    }
    let name = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let kt = Type::new(name(format!("[{k}]int64")), k, &[]);
    let et = Type::new(name(format!("[{e}]int64")), e, &[]);
    let t = MapType::new(
        name(format!("map.bucket[[{k}]int64][{e}]int64")),
        MapKey::Words(kt),
        et,
    );
    types.insert((k, e), t);
    t
}

/// Go's `map[[K]int64][E]int64`.
#[derive(Clone, Copy, Debug)]
pub struct ArrayMap<const K: usize, const E: usize> {
    h: HMap,
    t: &'static MapType,
}

// SAFETY: a heap address and a leaked type; heap accesses are atomic.
unsafe impl<const K: usize, const E: usize> Send for ArrayMap<K, E> {}
// SAFETY: as above.
unsafe impl<const K: usize, const E: usize> Sync for ArrayMap<K, E> {}

impl<const K: usize, const E: usize> Default for ArrayMap<K, E> {
    fn default() -> Self {
        ArrayMap::new()
    }
}

impl<const K: usize, const E: usize> ArrayMap<K, E> {
    /// `make(map[[K]int64][E]int64)`.
    pub fn new() -> Self {
        ArrayMap {
            h: makemap_small(),
            t: array_map_type(K, E),
        }
    }

    /// `make(map[[K]int64][E]int64, hint)`.
    pub fn with_hint(hint: usize) -> Self {
        let t = array_map_type(K, E);
        ArrayMap {
            h: makemap(t, hint),
            t,
        }
    }

    pub fn hmap(self) -> HMap {
        self.h
    }

    pub fn map_type(self) -> &'static MapType {
        self.t
    }

    /// `v, ok := m[k]`.
    #[track_caller]
    pub fn get(self, k: &[u64; K]) -> Option<[u64; E]> {
        let e = mapaccess2(self.t, self.h, KeyArg::Words(k))?;
        Some(std::array::from_fn(|j| e.load(j)))
    }

    /// `m[k] = v`.
    #[track_caller]
    pub fn insert(self, k: &[u64; K], v: &[u64; E]) {
        let e = mapassign(self.t, self.h, KeyArg::Words(k));
        // The compiled code's typedmemmove through mapassign's result.
        for (j, &x) in v.iter().enumerate() {
            e.store(j, x);
        }
    }

    /// `delete(m, k)`.
    #[track_caller]
    pub fn delete(self, k: &[u64; K]) {
        mapdelete(self.t, self.h, KeyArg::Words(k))
    }

    /// Go's `mapclear`.
    #[track_caller]
    pub fn clear(self) {
        mapclear(self.t, self.h)
    }

    /// `len(m)`.
    #[track_caller]
    pub fn len(self) -> usize {
        self.h.len()
    }

    #[track_caller]
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// `for k, v := range m`.
    #[track_caller]
    pub fn iter(self) -> ArrayMapIter<K, E> {
        ArrayMapIter {
            it: mapiterinit(self.t, self.h),
        }
    }

    pub fn stats(self) -> MapStats {
        self.h.stats()
    }
}

/// `for k, v := range m` over an `ArrayMap`.
#[derive(Debug)]
pub struct ArrayMapIter<const K: usize, const E: usize> {
    it: Hiter,
}

impl<const K: usize, const E: usize> Iterator for ArrayMapIter<K, E> {
    type Item = ([u64; K], [u64; E]);
    #[track_caller]
    fn next(&mut self) -> Option<Self::Item> {
        let ((ko, kw), e) = self.it.mapiternext_slot()?;
        Some((
            std::array::from_fn(|j| ko.load(kw + j)),
            std::array::from_fn(|j| e.load(j)),
        ))
    }
}
