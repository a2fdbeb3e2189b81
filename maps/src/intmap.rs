//! `Map<V>`: Go's `map[int64]V` for scenarios, a typed handle on an hmap.
//!
//! Like a Go map value, a `Map` is a reference (the hmap's address):
//! copying it copies the reference. The collector sees the hmap through
//! wherever the handle is kept — a goroutine's stack, a heap object's
//! pointer word, a `Root`; a handle kept only in a Rust collection is
//! invisible to it, like any `Ptr`.
//!
//! Each method is the Go statement it names: `m.get(k)` is
//! `v, ok := m[k]` (`mapaccess2`), `m.index(k)` is `v := m[k]`
//! (`mapaccess1`), `m.insert(k, v)` is `m[k] = v`
//! (`mapassign`, then the element store the compiled code does after the
//! call returns), `m.delete(k)` is `delete(m, k)`, `m.clear()` is Go's
//! `mapclear`, `m.len()` is `len(m)` (a plain load of `count`, no check,
//! as in Go), `m.iter()` is `for k, v := range m`.

use std::marker::PhantomData;
use std::sync::OnceLock;

use gort_gc::Ptr;

use crate::iter::{mapiterinit, Hiter};
use crate::map::*;
use crate::map_fast64::{mapaccess1_fast64, mapaccess2_fast64, mapassign_fast64, mapdelete_fast64};
use crate::maptype::{MapKey, MapType};

/// A map element kind (one word).
pub trait MapElem: Copy {
    /// The element is a pointer: stores of it pass the write barrier.
    const IS_PTR: bool = false;
    fn to_word(self) -> u64;
    fn from_word(w: u64) -> Self;
    /// The map type `map[int64]Self`.
    fn map_type() -> &'static MapType;
    /// The map type `map[string]Self`.
    fn str_map_type() -> &'static MapType;
}

impl MapElem for i64 {
    fn to_word(self) -> u64 {
        self as u64
    }
    fn from_word(w: u64) -> i64 {
        w as i64
    }
    fn map_type() -> &'static MapType {
        static T: OnceLock<&'static MapType> = OnceLock::new();
        T.get_or_init(|| MapType::int64_keys("map.bucket[int64]int64", false))
    }
    fn str_map_type() -> &'static MapType {
        static T: OnceLock<&'static MapType> = OnceLock::new();
        T.get_or_init(|| {
            MapType::new(
                "map.bucket[string]int64",
                MapKey::String,
                crate::maptype::int64_type(),
            )
        })
    }
}

impl MapElem for Ptr {
    const IS_PTR: bool = true;
    fn to_word(self) -> u64 {
        self.0 as u64
    }
    fn from_word(w: u64) -> Ptr {
        Ptr(w as usize)
    }
    fn map_type() -> &'static MapType {
        static T: OnceLock<&'static MapType> = OnceLock::new();
        T.get_or_init(|| MapType::int64_keys("map.bucket[int64]*T", true))
    }
    fn str_map_type() -> &'static MapType {
        static T: OnceLock<&'static MapType> = OnceLock::new();
        T.get_or_init(|| {
            MapType::new(
                "map.bucket[string]*T",
                MapKey::String,
                crate::maptype::pointer_type(),
            )
        })
    }
}

/// Go's `map[int64]V`.
pub struct Map<V: MapElem> {
    h: HMap,
    _v: PhantomData<V>,
}

impl<V: MapElem> Clone for Map<V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<V: MapElem> Copy for Map<V> {}

impl<V: MapElem> std::fmt::Debug for Map<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "map@{:?}", self.h.0)
    }
}

// SAFETY: a Map is a heap address; the simulated heap is shared by all
// goroutines of a runtime and every access to it is atomic.
unsafe impl<V: MapElem> Send for Map<V> {}
// SAFETY: as above.
unsafe impl<V: MapElem> Sync for Map<V> {}

impl<V: MapElem> Map<V> {
    /// `make(map[int64]V)`: `makemap_small`, buckets allocated by the
    /// first insert.
    pub fn new() -> Map<V> {
        Map {
            h: makemap_small(),
            _v: PhantomData,
        }
    }

    /// `make(map[int64]V, hint)`.
    pub fn with_hint(hint: usize) -> Map<V> {
        Map {
            h: makemap(V::map_type(), hint),
            _v: PhantomData,
        }
    }

    /// The nil map (`var m map[int64]V`): reads find nothing, an insert
    /// panics with Go's `assignment to entry in nil map`.
    pub fn nil() -> Map<V> {
        Map {
            h: HMap(Ptr::NIL),
            _v: PhantomData,
        }
    }

    /// A handle on an existing hmap (read back from a heap word).
    pub fn from_hmap(h: HMap) -> Map<V> {
        Map { h, _v: PhantomData }
    }

    pub fn hmap(self) -> HMap {
        self.h
    }

    /// `v, ok := m[k]`.
    #[track_caller]
    pub fn get(self, k: i64) -> Option<V> {
        mapaccess2_fast64(V::map_type(), self.h, k as u64).map(V::from_word)
    }

    /// `v := m[k]`: the zero value (0, nil) for a missing key.
    #[track_caller]
    pub fn index(self, k: i64) -> V {
        V::from_word(mapaccess1_fast64(V::map_type(), self.h, k as u64))
    }

    /// `m[k] = v`.
    #[track_caller]
    pub fn insert(self, k: i64, v: V) {
        let slot = mapassign_fast64(V::map_type(), self.h, k as u64);
        // The compiled code's store through mapassign's result (after the
        // call: outside the hashWriting window); a pointer element's store
        // passes the write barrier (gcWriteBarrier).
        if V::IS_PTR {
            slot.bucket.store_ptr(slot.word, Ptr(v.to_word() as usize));
        } else {
            slot.bucket.store(slot.word, v.to_word());
        }
    }

    /// `delete(m, k)`.
    #[track_caller]
    pub fn delete(self, k: i64) {
        mapdelete_fast64(V::map_type(), self.h, k as u64)
    }

    /// Go's `mapclear` (`for k := range m { delete(m, k) }`).
    #[track_caller]
    pub fn clear(self) {
        mapclear(V::map_type(), self.h)
    }

    /// `len(m)`: a load of `count`, no concurrency check (race: a read of
    /// the hmap's first word).
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
    pub fn iter(self) -> MapIter<V> {
        MapIter {
            it: mapiterinit(V::map_type(), self.h),
            _v: PhantomData,
        }
    }

    /// B, count, noverflow, growing, sameSizeGrow, nevacuate.
    pub fn stats(self) -> MapStats {
        self.h.stats()
    }
}

impl<V: MapElem> Default for Map<V> {
    fn default() -> Self {
        Map::new()
    }
}

/// `for k, v := range m`.
#[derive(Debug)]
pub struct MapIter<V: MapElem> {
    it: Hiter,
    _v: PhantomData<V>,
}

impl<V: MapElem> Iterator for MapIter<V> {
    type Item = (i64, V);
    #[track_caller]
    fn next(&mut self) -> Option<(i64, V)> {
        self.it
            .mapiternext()
            .map(|(k, e)| (k as i64, V::from_word(e)))
    }
}
