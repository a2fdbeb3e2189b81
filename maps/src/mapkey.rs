//! Keys in the generic map paths: what Go's `t.hasher`, `t.key.equal` and
//! the key half of `typedmemmove` do, for gort's key kinds.
//!
//! A key reaches the map as a `KeyArg` (Go passes a pointer to the key):
//! an int64, the words of a pointer-free struct, a string's bytes (with,
//! for an assignment, the heap string the map will store), or a key
//! already stored in a bucket slot (evacuation and the iterator's
//! re-lookup). Stored keys are read through the heap: a string key's bytes
//! are read a word at a time from its backing store, an indirect key
//! through its pointer, so in deterministic mode hashing or comparing a
//! stored key takes the steps Go's `memhash`/`memequal` would.
//!
//! Hashing: an int64 key uses `MapType::hash`; longer keys fold each word
//! into the hash with the same mix, then the length, so equal keys hash
//! equally however they arrive (bytes in Rust memory or words in the
//! heap).

use gort_gc::{new_object, GoString, Obj, Ptr};

use crate::maptype::*;

/// A key, as passed to `mapaccess2`, `mapassign` and `mapdelete`.
#[derive(Clone, Copy, Debug)]
pub enum KeyArg<'a> {
    /// An int64 key.
    Int(u64),
    /// A pointer-free key's words (`key_size` of them).
    Words(&'a [u64]),
    /// A string key given by its bytes in Rust memory (like a string
    /// literal, which Go keeps outside the heap): for lookups and
    /// deletions.
    Str(&'a [u8]),
    /// A string key in the heap: what an assignment stores.
    HeapStr(GoString),
    /// The key stored in slot `i` of bucket `b` of a map of the same type.
    Stored(Obj, usize),
}

impl MapType {
    /// The heap words of the key in slot `i` of `b` (through the pointer
    /// for an indirect key) and the word index where it starts.
    #[inline]
    #[track_caller]
    pub(crate) fn key_at(&self, b: Obj, i: usize) -> (Obj, usize) {
        if self.indirect_key {
            (b.load_ptr(self.key_word(i)).obj(), 0)
        } else {
            (b, self.key_word(i))
        }
    }

    /// The string header stored at word `w` of `o`.
    #[track_caller]
    fn string_at(o: Obj, w: usize) -> GoString {
        GoString {
            data: o.load_ptr(w),
            len: o.load(w + 1) as usize,
        }
    }

    /// Folds `words` (and the length) into a hash: the multi-word hasher.
    /// The seeded int64 hash of the length, then one 64x64->128-bit
    /// multiply per word (wyhash's folded multiply), then the seeded int64
    /// hash of the result, so every bit of every word reaches the tophash
    /// and the bucket index.
    #[inline]
    fn hash_words(&self, words: impl Iterator<Item = u64>, len: usize, seed: u32) -> u64 {
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        let fold = |a: u64, b: u64| {
            let m = (a as u128).wrapping_mul(b as u128);
            (m >> 64) as u64 ^ m as u64
        };
        let mut h = self.hash(len as u64, seed);
        for w in words {
            h = fold(h ^ w, K ^ 0x5851_f42d_4c95_7f2d);
        }
        self.hash(h, seed)
    }

    /// Go's `t.hasher(key, h.hash0)`.
    #[track_caller]
    pub fn hash_key(&self, key: KeyArg, seed: u32) -> u64 {
        match (self.key, key) {
            (MapKey::Int64, KeyArg::Int(k)) => self.hash(k, seed),
            (MapKey::Words(_), KeyArg::Words(ws)) => {
                self.hash_words(ws.iter().copied(), ws.len() * 8, seed)
            }
            (MapKey::String, KeyArg::Str(bytes)) => {
                self.hash_words(gort_gc::gostring::pack_words(bytes), bytes.len(), seed)
            }
            (MapKey::String, KeyArg::HeapStr(s)) => self.hash_string(s, seed),
            (_, KeyArg::Stored(b, i)) => self.hash_stored(b, i, seed),
            (k, a) => panic!("gort: key {a:?} passed to a map with {k:?} keys"),
        }
    }

    /// The hash of the key stored in slot `i` of `b`.
    #[track_caller]
    pub(crate) fn hash_stored(&self, b: Obj, i: usize, seed: u32) -> u64 {
        let (o, w) = self.key_at(b, i);
        match self.key {
            MapKey::Int64 => self.hash(o.load(w), seed),
            MapKey::Words(_) => self.hash_words(
                (0..self.key_size).map(|j| o.load(w + j)),
                self.key_size * 8,
                seed,
            ),
            MapKey::String => self.hash_string(MapType::string_at(o, w), seed),
        }
    }

    /// The hash of a heap string, its bytes read a word at a time.
    #[track_caller]
    fn hash_string(&self, s: GoString, seed: u32) -> u64 {
        let data = if s.len == 0 { Obj::NIL } else { s.data.obj() };
        self.hash_words((0..s.words()).map(|j| data.load(j)), s.len, seed)
    }

    /// Go's `t.key.equal(key, k)` for the key stored in slot `i` of `b`.
    #[track_caller]
    pub(crate) fn key_equal(&self, key: KeyArg, b: Obj, i: usize) -> bool {
        let (o, w) = self.key_at(b, i);
        match key {
            KeyArg::Int(k) => o.load(w) == k,
            KeyArg::Words(ws) => ws.iter().enumerate().all(|(j, &x)| o.load(w + j) == x),
            KeyArg::Str(bytes) => MapType::string_at(o, w).equals(bytes),
            KeyArg::HeapStr(s) => string_equal(MapType::string_at(o, w), s),
            KeyArg::Stored(b2, i2) => {
                let (o2, w2) = self.key_at(b2, i2);
                match self.key {
                    MapKey::String => {
                        string_equal(MapType::string_at(o, w), MapType::string_at(o2, w2))
                    }
                    _ => (0..self.key_size).all(|j| o.load(w + j) == o2.load(w2 + j)),
                }
            }
        }
    }

    /// The words a key occupies when stored (direct layout).
    #[track_caller]
    fn key_words_of(&self, key: KeyArg, out: &mut dyn FnMut(usize, u64)) {
        match key {
            KeyArg::Int(k) => out(0, k),
            KeyArg::Words(ws) => {
                for (j, &x) in ws.iter().enumerate() {
                    out(j, x);
                }
            }
            KeyArg::Str(_) => panic!("gort: a string key is stored from a heap string"),
            KeyArg::HeapStr(s) => {
                out(0, s.data.0 as u64);
                out(1, s.len as u64);
            }
            KeyArg::Stored(b, i) => {
                let (o, w) = self.key_at(b, i);
                for j in 0..self.key_size {
                    out(j, o.load(w + j));
                }
            }
        }
    }

    /// Where the key of the new slot `i` of `b` goes: the slot itself, or,
    /// for an indirect key, a new key object whose pointer the slot gets
    /// (Go: `kmem := newobject(t.key); *(*unsafe.Pointer)(insertk) = kmem`).
    #[track_caller]
    pub(crate) fn new_key_slot(&self, b: Obj, i: usize) -> (Obj, usize) {
        if self.indirect_key {
            let kmem = new_object(self.key_type);
            // A pointer store: the compiler's write barrier (gcWriteBarrier).
            b.store_ptr(self.key_word(i), kmem);
            (kmem.obj(), 0)
        } else {
            (b, self.key_word(i))
        }
    }

    /// Go's `typedmemmove(t.key, insertk, key)` into `new_key_slot`'s
    /// place.
    #[track_caller]
    pub(crate) fn write_key(&self, (o, w): (Obj, usize), key: KeyArg) {
        self.typedmemmove_key(o, w, key);
    }

    /// Overwrites the stored key of slot `i` with `key` (Go's
    /// `needkeyupdate` path: `typedmemmove(t.key, k, key)`).
    #[track_caller]
    pub(crate) fn update_key(&self, b: Obj, i: usize, key: KeyArg) {
        let (o, w) = self.key_at(b, i);
        self.typedmemmove_key(o, w, key);
    }

    /// Go's `typedmemmove(t.key, dst, key)`: a key with pointers (a
    /// string's data pointer) passes the bulk barrier over its destination
    /// first (`bulkBarrierPreWrite`, while the barrier is on); the words
    /// are then stored in order.
    #[track_caller]
    fn typedmemmove_key(&self, o: Obj, w: usize, key: KeyArg) {
        if self.key_type.has_pointers() && gort_gc::mbarrier::write_barrier_enabled_at(o.ptr()) {
            let mut words = vec![0u64; self.key_size];
            self.key_words_of(key, &mut |j, x| words[j] = x);
            gort_gc::typedmemmove_words(self.key_type, o, w, &words);
        } else {
            self.key_words_of(key, &mut |j, x| o.store(w + j, x));
        }
    }

    /// Clears the key of slot `i` on deletion (Go: only when it holds
    /// pointers; an indirect key's pointer is set to nil).
    #[track_caller]
    pub(crate) fn clear_key(&self, b: Obj, i: usize) {
        if self.indirect_key {
            // A pointer store (gcWriteBarrier).
            b.store_ptr(self.key_word(i), Ptr::NIL);
        } else if self.key_is_ptr {
            // memclrHasPointers: the bulk barrier shades what it clears.
            gort_gc::memclr_has_pointers(b, self.key_word(i), self.key_words);
        }
    }

    /// Clears element slot `i` on deletion (an indirect element's pointer
    /// is set to nil; a direct one is zeroed either way).
    #[track_caller]
    pub(crate) fn clear_elem(&self, b: Obj, i: usize) {
        if self.indirect_elem {
            // `*(*unsafe.Pointer)(e) = nil`: a pointer store (gcWriteBarrier).
            b.store_ptr(self.elem_word(i), Ptr::NIL);
        } else if self.elem_is_ptr {
            // memclrHasPointers: the bulk barrier shades what it clears.
            gort_gc::memclr_has_pointers(b, self.elem_word(i), self.elem_words);
        } else {
            // memclrNoHeapPointers.
            for j in 0..self.elem_words {
                b.store(self.elem_word(i) + j, 0);
            }
        }
    }
}

/// Go's `strequal`: lengths, then `memequal`, which finds the same backing
/// store equal at once and otherwise compares a word at a time.
#[track_caller]
fn string_equal(x: GoString, y: GoString) -> bool {
    x.len == y.len && (x.data == y.data || (0..x.words()).all(|j| x.word(j) == y.word(j)))
}
