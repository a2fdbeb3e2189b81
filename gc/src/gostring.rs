//! Go strings in the simulated heap: a two-word header (data pointer,
//! length in bytes) whose bytes live in a pointer-free heap object, as
//! Go's `rawstring` allocates them (`mallocgc(size, nil, false)`).
//!
//! The bytes are packed little-endian into the object's words, and the
//! unused tail of the last word is zero, so a string's words can be
//! hashed or compared a word at a time. A string header stored in a heap
//! object (a map key, a struct field) is two words, the first a pointer
//! the collector follows; the empty string has a nil data pointer. gort
//! strings always start at a word boundary of their object: there is no
//! substring sharing a backing store (`s[i:j]` would copy here).
//!
//! Reading or comparing a string's bytes is a heap access per word, and
//! so a scheduler step per word in deterministic mode, as Go's `memequal`
//! and `memhash` read memory.

use std::sync::OnceLock;

use crate::malloc::new_object;
use crate::object::{Ptr, Type};

/// A string header: `data` (nil for "") and `len` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct GoString {
    pub data: Ptr,
    pub len: usize,
}

/// The element type of string backing stores: one pointer-free word.
/// Backing stores are arrays of it (`Type::array`, interned per length).
fn string_word() -> &'static Type {
    static T: OnceLock<&'static Type> = OnceLock::new();
    T.get_or_init(|| Type::new("string", 1, &[]))
}

const SMALL: usize = 32;
static SMALL_STRING_TYPES: [OnceLock<&'static Type>; SMALL + 1] =
    [const { OnceLock::new() }; SMALL + 1];

/// Makes the string types before any goroutine runs (`crate::warm_up`).
pub(crate) fn warm_up() {
    for words in 1..=SMALL {
        string_type(words);
    }
}

/// The type of a backing store of `words` words. Strings up to 256 bytes
/// find theirs without `Type::array`'s lock (every string allocation
/// needs one).
fn string_type(words: usize) -> &'static Type {
    match SMALL_STRING_TYPES.get(words) {
        Some(t) => t.get_or_init(|| Type::array(string_word(), words)),
        None => Type::array(string_word(), words),
    }
}

/// The words of `bytes`, packed little-endian, the last one zero-padded.
#[inline]
pub fn pack_words(bytes: &[u8]) -> impl Iterator<Item = u64> + '_ {
    bytes.chunks(8).map(|c| match <[u8; 8]>::try_from(c) {
        Ok(w) => u64::from_le_bytes(w),
        // The tail, byte by byte (a variable-length copy would call memmove).
        Err(_) => c
            .iter()
            .enumerate()
            .fold(0u64, |w, (i, &b)| w | (b as u64) << (8 * i)),
    })
}

impl GoString {
    pub const EMPTY: GoString = GoString {
        data: Ptr::NIL,
        len: 0,
    };

    /// Allocates a heap copy of `s` (Go's `string(b)` conversion).
    #[track_caller]
    pub fn new(s: &str) -> GoString {
        GoString::from_bytes(s.as_bytes())
    }

    /// Allocates a heap copy of `bytes`.
    #[track_caller]
    pub fn from_bytes(bytes: &[u8]) -> GoString {
        if bytes.is_empty() {
            return GoString::EMPTY;
        }
        let p = new_object(string_type(bytes.len().div_ceil(8)));
        let o = p.obj();
        for (i, w) in pack_words(bytes).enumerate() {
            o.store(i, w);
        }
        GoString {
            data: p,
            len: bytes.len(),
        }
    }

    /// Number of words holding the bytes.
    pub fn words(self) -> usize {
        self.len.div_ceil(8)
    }

    /// Word `i` of the bytes (a heap access).
    #[track_caller]
    pub fn word(self, i: usize) -> u64 {
        self.data.load(i)
    }

    /// The bytes, read from the heap.
    #[track_caller]
    pub fn to_bytes(self) -> Vec<u8> {
        if self.len == 0 {
            return Vec::new();
        }
        let o = self.data.obj();
        let mut v = Vec::with_capacity(self.words() * 8);
        for i in 0..self.words() {
            v.extend_from_slice(&o.load(i).to_le_bytes());
        }
        v.truncate(self.len);
        v
    }

    /// The string, read from the heap (invalid UTF-8 replaced, as when Go
    /// prints a string).
    #[track_caller]
    pub fn to_string_lossy(self) -> String {
        String::from_utf8_lossy(&self.to_bytes()).into_owned()
    }

    /// Whether the heap string holds exactly `bytes` (Go's `memequal`
    /// after the length check: a word at a time, stopping at the first
    /// difference).
    #[track_caller]
    pub fn equals(self, bytes: &[u8]) -> bool {
        if self.len != bytes.len() {
            return false;
        }
        if self.len == 0 {
            return true;
        }
        let o = self.data.obj();
        pack_words(bytes).enumerate().all(|(i, w)| o.load(i) == w)
    }
}
