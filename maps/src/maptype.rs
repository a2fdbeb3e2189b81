//! Map types (Go's `maptype`): key and element layout, the bucket type,
//! the hash function, and the constants of map.go.
//!
//! A bucket is Go's `bmap` laid out in simulated heap words:
//! `[8]uint8 tophash` in word 0, then 8 keys, then 8 elements, then the
//! overflow pointer in the last word — 18 words (144 bytes) for
//! `map[int64]int64`, as in Go. If neither keys nor elements hold
//! pointers the bucket type has no pointer bitmap at all (Go's noscan
//! bucket): the collector does not scan buckets, not even the overflow
//! pointer, and overflow buckets are kept alive through `mapextra`.
//!
//! Keys are int64s, strings (a two-word header whose data pointer the
//! collector follows) or pointer-free structs of any number of words;
//! elements are any heap type. As in Go, a key or element larger than 128
//! bytes is stored indirectly: its slot holds a pointer to a separately
//! allocated object (`indirectkey`/`indirectelem`). The hash is a seeded
//! 64-bit mix (Go uses AES or memhash; any seeded 64-bit hash keeps the
//! tophash and low-bit behaviour, maps.md §11); longer keys are hashed a
//! word at a time (`mapkey.rs`).

use gort_gc::Type;

pub const BUCKET_CNT_BITS: u32 = 3;
pub const BUCKET_CNT: usize = 8;
pub const LOAD_FACTOR_NUM: usize = 13;
pub const LOAD_FACTOR_DEN: usize = 2;

/// tophash values with special meaning.
pub const EMPTY_REST: u64 = 0;
pub const EMPTY_ONE: u64 = 1;
pub const EVACUATED_X: u64 = 2;
pub const EVACUATED_Y: u64 = 3;
pub const EVACUATED_EMPTY: u64 = 4;
pub const MIN_TOP_HASH: u64 = 5;

/// hmap flags.
pub const ITERATOR: u64 = 1;
pub const OLD_ITERATOR: u64 = 2;
pub const HASH_WRITING: u64 = 4;
pub const SAME_SIZE_GROW: u64 = 8;

/// Go's `noCheck`.
pub const NO_CHECK: u64 = u64::MAX;

/// Go's `maxKeySize`/`maxElemSize`: larger keys and elements are stored
/// indirectly.
pub const MAX_KEY_SIZE: usize = 128;
pub const MAX_ELEM_SIZE: usize = 128;

/// A map's key type.
#[derive(Clone, Copy, Debug)]
pub enum MapKey {
    /// `int64` (Go's fast64 maps).
    Int64,
    /// `string`: a data pointer and a length.
    String,
    /// A pointer-free struct or array: compared and hashed word by word.
    Words(&'static Type),
}

/// What a map's keys and elements are.
#[derive(Debug)]
pub struct MapType {
    pub name: &'static str,
    pub key: MapKey,
    /// The element type (Go's `t.elem`).
    pub elem: &'static Type,
    /// The key type as an object, for indirect keys (Go's `t.key`).
    pub key_type: &'static Type,
    /// Words of a key and of an element value.
    pub key_size: usize,
    pub elem_size: usize,
    /// Go's `indirectkey()` / `indirectelem()`.
    pub indirect_key: bool,
    pub indirect_elem: bool,
    /// Words per key slot and per element slot in a bucket (Go's
    /// `keysize`/`elemsize`: one pointer when indirect).
    pub key_words: usize,
    pub elem_words: usize,
    /// The key's words hold pointers (a string's data, an indirect key).
    pub key_is_ptr: bool,
    /// The element slot holds pointers (Go's `t.elem.ptrdata != 0`, or an
    /// indirect element).
    pub elem_is_ptr: bool,
    /// Go's `needkeyupdate`: an assignment to an existing key stores the
    /// new key (strings: the new one may have a smaller backing store).
    pub need_key_update: bool,
    /// Go's `t.bucket`.
    pub bucket: &'static Type,
    /// Words per bucket (Go's `t.bucketsize / 8`).
    pub bucket_words: usize,
}

/// One-word element types.
pub fn int64_type() -> &'static Type {
    static T: std::sync::OnceLock<&'static Type> = std::sync::OnceLock::new();
    T.get_or_init(|| Type::new("int64", 1, &[]))
}
pub fn pointer_type() -> &'static Type {
    static T: std::sync::OnceLock<&'static Type> = std::sync::OnceLock::new();
    T.get_or_init(|| Type::new("*T", 1, &[0]))
}
pub(crate) fn string_header_type() -> &'static Type {
    static T: std::sync::OnceLock<&'static Type> = std::sync::OnceLock::new();
    T.get_or_init(|| Type::new("string", 2, &[0]))
}

impl MapType {
    /// `map[int64]V` where V is one word, a pointer if `elem_is_ptr`.
    pub fn int64_keys(name: &'static str, elem_is_ptr: bool) -> &'static MapType {
        let elem = if elem_is_ptr {
            pointer_type()
        } else {
            int64_type()
        };
        MapType::new(name, MapKey::Int64, elem)
    }

    /// The map type `map[key]elem`, laid out as Go lays it out; `name` is
    /// the bucket type's name (Go's `map.bucket[K]V`).
    pub fn new(name: &'static str, key: MapKey, elem: &'static Type) -> &'static MapType {
        let key_type = match key {
            MapKey::Int64 => int64_type(),
            MapKey::String => string_header_type(),
            MapKey::Words(t) => {
                assert!(
                    !t.has_pointers(),
                    "gort: map key type {} has pointers (unsupported)",
                    t.name
                );
                t
            }
        };
        let (key_size, elem_size) = (key_type.size / 8, elem.size / 8);
        let indirect_key = key_type.size > MAX_KEY_SIZE;
        let indirect_elem = elem.size > MAX_ELEM_SIZE;
        let key_words = if indirect_key { 1 } else { key_size };
        let elem_words = if indirect_elem { 1 } else { elem_size };
        let words = 1 + BUCKET_CNT * key_words + BUCKET_CNT * elem_words + 1;
        let mut ptrs = Vec::new();
        for i in 0..BUCKET_CNT {
            let k = 1 + i * key_words;
            if indirect_key || matches!(key, MapKey::String) {
                ptrs.push(k);
            }
            let e = 1 + BUCKET_CNT * key_words + i * elem_words;
            if indirect_elem {
                ptrs.push(e);
            } else {
                ptrs.extend((0..elem_words).filter(|&w| elem.is_ptr(w)).map(|w| e + w));
            }
        }
        let key_is_ptr = indirect_key || matches!(key, MapKey::String);
        let elem_is_ptr = indirect_elem || elem.has_pointers();
        if !ptrs.is_empty() {
            // A bucket with pointers also has its overflow word scanned.
            ptrs.push(words - 1);
        }
        // Field names for the verifier's paths: `elems[5]`, and `+0x8`
        // past the first word of a multi-word key or element.
        let slot_words = |field: &'static str, per: usize| {
            (0..BUCKET_CNT * per).map(move |w| match w % per {
                0 => format!("{field}[{}]", w / per),
                o => format!("{field}[{}]+{:#x}", w / per, o * 8),
            })
        };
        let names = std::iter::once("tophash".to_string())
            .chain(slot_words("keys", key_words))
            .chain(slot_words("elems", elem_words))
            .chain(std::iter::once("overflow".to_string()))
            .collect();
        let bucket = Type::build(name, words, &ptrs)
            .with_word_names(names)
            .leak();
        Box::leak(Box::new(MapType {
            name,
            key,
            elem,
            key_type,
            key_size,
            elem_size,
            indirect_key,
            indirect_elem,
            key_words,
            elem_words,
            key_is_ptr,
            elem_is_ptr,
            need_key_update: matches!(key, MapKey::String),
            bucket,
            bucket_words: words,
        }))
    }

    /// Word offset of key `i` in a bucket (Go's `dataOffset + i*keysize`).
    #[inline]
    pub fn key_word(&self, i: usize) -> usize {
        1 + i * self.key_words
    }
    /// Word offset of element `i`.
    #[inline]
    pub fn elem_word(&self, i: usize) -> usize {
        1 + BUCKET_CNT * self.key_words + i * self.elem_words
    }
    /// Word offset of the overflow pointer (the bucket's last word).
    #[inline]
    pub fn overflow_word(&self) -> usize {
        self.bucket_words - 1
    }
    #[inline]
    pub fn bucket_bytes(&self) -> usize {
        self.bucket_words * 8
    }

    /// Hash of an int64 key with the map's seed.
    #[inline]
    pub fn hash(&self, key: u64, seed: u32) -> u64 {
        // wyhash's mix: a 64x64->128 multiply folded, with the seed mixed
        // in first; good in both the low bits (bucket index) and the top
        // byte (tophash).
        let a = key ^ (seed as u64 ^ 0xa076_1d64_78bd_642f).wrapping_mul(0xe703_7ed1_a0b4_28db);
        let m = (a as u128).wrapping_mul(0x8ebc_6af0_9c88_c6e3u128 ^ seed as u128);
        let h = (m >> 64) as u64 ^ m as u64;
        let m2 = (h as u128).wrapping_mul(0x5899_65cc_7537_4cc3);
        (m2 >> 64) as u64 ^ m2 as u64
    }
}

/// Go's `tophash`: the hash's top byte, moved above the reserved values.
#[inline]
pub fn tophash(hash: u64) -> u64 {
    let top = hash >> 56;
    if top < MIN_TOP_HASH {
        top + MIN_TOP_HASH
    } else {
        top
    }
}

/// Bit `8i + 7` set for each byte i of `x` that is zero, exactly (no
/// borrow runs between bytes, unlike the shorter `(x - 0x01..) & !x`
/// trick). Lets a lookup test a bucket's 8 tophash bytes at once.
#[inline]
pub fn zero_bytes(x: u64) -> u64 {
    const LO7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    !(((x & LO7).wrapping_add(LO7)) | x | LO7)
}

/// The slots of a bucket's tophash word `tw` that Go's probe loop would
/// compare keys in: tophash equal to `top`, before the first
/// `emptyRest`. Returns (candidates, whether an `emptyRest` ends the
/// chain here); candidate slot i is bit `8i + 7`.
#[inline]
pub fn probe_slots(tw: u64, top: u64) -> (u64, bool) {
    let rest = zero_bytes(tw);
    let before_rest = if rest == 0 {
        !0
    } else {
        (rest & rest.wrapping_neg()) - 1
    };
    let cand = zero_bytes(tw ^ top.wrapping_mul(0x0101_0101_0101_0101)) & before_rest;
    (cand, rest != 0)
}

/// The slots of tophash word `tw` that are empty (emptyRest or
/// emptyOne), as bits `8i + 7`.
#[inline]
pub fn empty_slots(tw: u64) -> u64 {
    zero_bytes(tw & 0xfefe_fefe_fefe_fefe)
}

/// A deletion's tophash update within one bucket, on the whole tophash
/// word `tw` (parallel mode), without a branch on the bucket's contents:
/// slot `i` becomes `emptyOne`, and if the slot after it is `emptyRest`
/// (`next_rest`) the run of `emptyOne` slots ending at `i` becomes
/// `emptyRest`, as Go's `mapdelete` loop leaves them. Returns the new word
/// and whether that run reached slot 0, where Go's loop goes on into the
/// previous bucket of the chain.
///
/// Go's loop branches on every tophash it reads, and those branches
/// mispredict often in a map larger than the caches; each one throws away
/// the next operation's already started bucket load. Computing the word
/// lets deletes overlap their cache misses as lookups do.
#[inline]
pub fn delete_tophash_word(tw: u64, i: usize, next_rest: bool) -> (u64, bool) {
    let byte = 0xffu64 << (8 * i);
    let tw1 = (tw & !byte) | (EMPTY_ONE << (8 * i));
    // Slots 0..=i, as bits.
    let upto = u64::MAX >> (56 - 8 * i);
    // Slots at or below i that are not emptyOne (their bit 8k + 7).
    let stop = !zero_bytes(tw1 ^ 0x0101_0101_0101_0101) & 0x8080_8080_8080_8080 & upto;
    // The bits at or below the highest such slot's (none: 0).
    let below = ((1u128 << (64 - stop.leading_zeros())) - 1) as u64;
    let run = upto & !below;
    let rest = (next_rest as u64).wrapping_neg();
    (tw1 & !(run & rest), next_rest && stop == 0)
}

/// The lowest slot of a `zero_bytes`-style slot mask (not 0).
#[inline]
pub fn slot_index(mask: u64) -> usize {
    (mask.trailing_zeros() / 8) as usize
}

#[inline]
pub fn is_empty(x: u64) -> bool {
    x <= EMPTY_ONE
}

/// Go's `overLoadFactor`.
#[inline]
pub fn over_load_factor(count: usize, b: u8) -> bool {
    count > BUCKET_CNT && count > LOAD_FACTOR_NUM * (bucket_shift(b) / LOAD_FACTOR_DEN)
}

/// Go's `tooManyOverflowBuckets`.
#[inline]
pub fn too_many_overflow_buckets(noverflow: u64, b: u8) -> bool {
    let b = b.min(15);
    noverflow >= 1u64 << b
}

#[inline]
pub fn bucket_shift(b: u8) -> usize {
    1usize << b
}

#[inline]
pub fn bucket_mask(b: u8) -> u64 {
    (bucket_shift(b) - 1) as u64
}

/// A map header's address as gort's reports show it (rebased in
/// deterministic mode), for the explain log.
pub(crate) fn shown(addr: usize) -> usize {
    gort_gc::display_addr(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Go's loop (map.go `mapdelete`), within one bucket.
    fn go_delete(tw: u64, i: usize, next_rest: bool) -> (u64, bool) {
        let mut b = tw.to_le_bytes();
        b[i] = EMPTY_ONE as u8;
        let mut reached = false;
        if next_rest {
            let mut ii = i;
            loop {
                b[ii] = EMPTY_REST as u8;
                if ii == 0 {
                    reached = true;
                    break;
                }
                ii -= 1;
                if b[ii] != EMPTY_ONE as u8 {
                    break;
                }
            }
        }
        (u64::from_le_bytes(b), reached)
    }

    #[test]
    fn delete_tophash_word_is_gos_loop_for_every_bucket() {
        // Every tophash word over emptyRest, emptyOne, an evacuated mark
        // and two full values, every slot, both kinds of successor.
        let vals = [EMPTY_REST, EMPTY_ONE, EVACUATED_X, MIN_TOP_HASH, 0xff];
        let mut n = 0;
        for code in 0..vals.len().pow(8) {
            let (mut c, mut tw) = (code, 0u64);
            for k in 0..8 {
                tw |= vals[c % vals.len()] << (8 * k);
                c /= vals.len();
            }
            for i in 0..BUCKET_CNT {
                for next_rest in [false, true] {
                    assert_eq!(
                        delete_tophash_word(tw, i, next_rest),
                        go_delete(tw, i, next_rest),
                        "tophash word {tw:#018x}, slot {i}, next emptyRest {next_rest}"
                    );
                    n += 1;
                }
            }
        }
        assert_eq!(n, 5usize.pow(8) * 16);
    }
}
