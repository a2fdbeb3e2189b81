//! `StrMap<V>`: Go's `map[string]V`, on the generic map paths (map.go's
//! `mapaccess2`, `mapassign`, `mapdelete`; Go's `map_faststr.go` variants
//! have the same semantics).
//!
//! Keys are Go strings in the simulated heap (`GoString`): an insertion
//! stores the header of a heap string (`insert` makes a heap copy of a
//! Rust `&str`, as Go's `string(b)` conversion would; `insert_string`
//! stores a string the program already has), so a key's bytes stay
//! reachable from the bucket through its data pointer. A lookup or a
//! deletion compares the bytes of the Rust `&str` with the stored strings,
//! reading them from the heap, and allocates nothing. Assigning to an
//! existing key stores the new key header (Go's `needkeyupdate` for
//! strings).

use std::marker::PhantomData;

use gort_gc::{GoString, Ptr};

use crate::intmap::MapElem;
use crate::iter::{mapiterinit, Hiter};
use crate::map::*;
use crate::mapkey::KeyArg;

/// Go's `map[string]V`.
pub struct StrMap<V: MapElem> {
    h: HMap,
    _v: PhantomData<V>,
}

impl<V: MapElem> Clone for StrMap<V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<V: MapElem> Copy for StrMap<V> {}

impl<V: MapElem> std::fmt::Debug for StrMap<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "map@{:?}", self.h.0)
    }
}

// SAFETY: a StrMap is a heap address; the simulated heap is shared by all
// goroutines of a runtime and every access to it is atomic.
unsafe impl<V: MapElem> Send for StrMap<V> {}
// SAFETY: as above.
unsafe impl<V: MapElem> Sync for StrMap<V> {}

impl<V: MapElem> Default for StrMap<V> {
    fn default() -> Self {
        StrMap::new()
    }
}

impl<V: MapElem> StrMap<V> {
    /// `make(map[string]V)`.
    pub fn new() -> StrMap<V> {
        StrMap {
            h: makemap_small(),
            _v: PhantomData,
        }
    }

    /// `make(map[string]V, hint)`.
    pub fn with_hint(hint: usize) -> StrMap<V> {
        StrMap {
            h: makemap(V::str_map_type(), hint),
            _v: PhantomData,
        }
    }

    /// A handle on an existing hmap.
    pub fn from_hmap(h: HMap) -> StrMap<V> {
        StrMap { h, _v: PhantomData }
    }

    pub fn hmap(self) -> HMap {
        self.h
    }

    /// `v, ok := m[k]`.
    #[track_caller]
    pub fn get(self, k: &str) -> Option<V> {
        let key = KeyArg::Str(k.as_bytes());
        mapaccess2(V::str_map_type(), self.h, key).map(|e| V::from_word(e.load(0)))
    }

    /// `v, ok := m[k]` for a string in the heap: hashing it reads its
    /// words, each a heap access (a step in deterministic mode), as Go's
    /// hasher reads the string's bytes.
    #[track_caller]
    pub fn get_string(self, k: GoString) -> Option<V> {
        mapaccess2(V::str_map_type(), self.h, KeyArg::HeapStr(k)).map(|e| V::from_word(e.load(0)))
    }

    /// `v := m[k]` (`mapaccess1`): the zero value for a missing key.
    #[track_caller]
    pub fn index(self, k: &str) -> V {
        let e = mapaccess1(V::str_map_type(), self.h, KeyArg::Str(k.as_bytes()));
        V::from_word(e.map_or(0, |e| e.load(0)))
    }

    /// `m[k] = v`, the key a new heap copy of `k`.
    #[track_caller]
    pub fn insert(self, k: &str, v: V) {
        self.insert_string(GoString::new(k), v)
    }

    /// `m[k] = v` for a string already in the heap.
    #[track_caller]
    pub fn insert_string(self, k: GoString, v: V) {
        let slot = mapassign(V::str_map_type(), self.h, KeyArg::HeapStr(k));
        // The compiled code's store through mapassign's result; a pointer
        // element's store passes the write barrier (gcWriteBarrier).
        if V::IS_PTR {
            slot.store_ptr(0, Ptr(v.to_word() as usize));
        } else {
            slot.store(0, v.to_word());
        }
    }

    /// `m[k] op= v` as Go compiles it: one `mapassign` (a missing key is
    /// inserted with the zero value), then a load and a store through the
    /// element pointer it returns; `f` computes the new value. Under
    /// `-race` Go's compiler rewrites it to `m[k] = m[k] op v` (order.go,
    /// when instrumenting), so the detector sees a `mapaccess1` and the
    /// element's read before the `mapassign`; so does this, when the
    /// runtime runs the detector.
    #[track_caller]
    pub fn update_string(self, k: GoString, f: impl FnOnce(V) -> V) {
        let old = if gort_scheduler::race::enabled_here() {
            let e = mapaccess1(V::str_map_type(), self.h, KeyArg::HeapStr(k));
            Some(V::from_word(e.map_or(0, |e| e.load(0))))
        } else {
            None
        };
        let slot = mapassign(V::str_map_type(), self.h, KeyArg::HeapStr(k));
        let v = f(old.unwrap_or_else(|| V::from_word(slot.load(0))));
        if V::IS_PTR {
            slot.store_ptr(0, Ptr(v.to_word() as usize));
        } else {
            slot.store(0, v.to_word());
        }
    }

    /// `delete(m, k)`.
    #[track_caller]
    pub fn delete(self, k: &str) {
        let key = KeyArg::Str(k.as_bytes());
        mapdelete(V::str_map_type(), self.h, key)
    }

    /// Go's `mapclear`.
    #[track_caller]
    pub fn clear(self) {
        mapclear(V::str_map_type(), self.h)
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

    /// `for k, v := range m`: keys as the heap strings the map holds.
    #[track_caller]
    pub fn iter(self) -> StrMapIter<V> {
        StrMapIter {
            it: mapiterinit(V::str_map_type(), self.h),
            _v: PhantomData,
        }
    }

    pub fn stats(self) -> MapStats {
        self.h.stats()
    }
}

/// `for k, v := range m` over a `StrMap`.
#[derive(Debug)]
pub struct StrMapIter<V: MapElem> {
    it: Hiter,
    _v: PhantomData<V>,
}

impl<V: MapElem> Iterator for StrMapIter<V> {
    type Item = (GoString, V);
    #[track_caller]
    fn next(&mut self) -> Option<(GoString, V)> {
        let ((ko, kw), e) = self.it.mapiternext_slot()?;
        let k = GoString {
            data: Ptr(ko.load(kw) as usize),
            len: ko.load(kw + 1) as usize,
        };
        Some((k, V::from_word(e.load(0))))
    }
}
