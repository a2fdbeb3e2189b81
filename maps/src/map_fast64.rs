//! Go's `map_fast64.go`: lookup, assignment and deletion specialised for
//! 8-byte keys (`map[int64]V`, `map[uint64]V`), which the compiler calls
//! instead of the generic `mapaccess2`/`mapassign`/`mapdelete`.
//!
//! The algorithms are Go's fast64 ones, which differ from the generic ones
//! in small ways a racing program can see: a lookup compares the key of
//! every slot and only then looks at its tophash (`key == k &&
//! !isEmpty(tophash[i])`), hashes nothing in a one-bucket map, and does
//! not stop at `emptyRest`; an assignment tests `isEmpty` before the key;
//! a deletion clears the element even when it holds no pointers.
//!
//! What makes them fast here is how words are reached, not what is read:
//! the header and each bucket are checked once (the goroutine's memo,
//! `H::buckets`), then accessed through a fixed-size `Words` window, so a
//! word access costs a load instead of a bounds check and a step. In a
//! deterministic run every access is still a scheduler step
//! (`STEP = true`): the access sequence, and so every interleaving, is the
//! one Go's code performs. A bucket here has Go's layout for 8-byte keys
//! and one-word elements: the tophash word, 8 keys, 8 elements and the
//! overflow pointer (18 words).
//!
//! Growth work is Go's `growWork_fast64`/`evacuate_fast64`
//! (`grow_fast64.rs`); `hashGrow` is shared with the generic path.

use gort_gc::{new_object, Obj, Words};
use gort_scheduler::explain;
use gort_scheduler::race::{self, RuntimeFn, RuntimeGuard};
use gort_scheduler::G;

use crate::explain_notes;
use crate::grow::hash_grow;
use crate::grow_fast64::grow_work_fast64;
use crate::map::*;
use crate::maptype::*;
use crate::race_fns;

/// Words of a bucket with 8-byte keys and one-word elements.
pub(crate) const BUCKET_WORDS: usize = 1 + 2 * BUCKET_CNT + 1;
const OVERFLOW_WORD: usize = BUCKET_WORDS - 1;
type Bucket = Words<BUCKET_WORDS>;
type Hdr = Words<6>;

#[inline(always)]
const fn key_word(i: usize) -> usize {
    1 + i
}
#[inline(always)]
const fn elem_word(i: usize) -> usize {
    1 + BUCKET_CNT + i
}

/// Whether maps of type `t` take these paths (Go: key size 8, element
/// size at most 128 bytes; gort's fast64 maps have one-word elements).
pub fn is_fast64(t: &MapType) -> bool {
    matches!(t.key, MapKey::Int64) && t.elem_words == 1 && t.bucket_words == BUCKET_WORDS
}

/// Deterministic mode (or no goroutine): every access is a step.
#[inline(always)]
fn stepping(g: Option<&G>) -> bool {
    HMap::stepping_g(g)
}

/// The header window.
#[inline(always)]
fn hdr(h: H) -> Hdr {
    h.0.words()
}

/// Bucket `i` of the array `a`.
#[inline(always)]
#[track_caller]
fn bucket(a: Obj, i: usize) -> Bucket {
    a.offset(i * BUCKET_WORDS).words()
}

/// Starts loading every cache line of bucket `b` but its first, whose
/// tophash word the caller loads at once. Parallel mode reads the
/// tophash word first and a key only where its tophash matches, which
/// makes a lookup in a map larger than the caches three cache misses in
/// a row (tophash, key, element); Go's loop reads the keys without
/// waiting for the tophash, so its misses overlap. With the bucket's
/// lines already on their way, gort's overlap too.
#[inline(always)]
fn prefetch_bucket(b: Bucket) {
    #[cfg(target_arch = "x86_64")]
    {
        let first = b.addr() & !63;
        let last = (b.addr() + BUCKET_WORDS * 8 - 1) & !63;
        let mut line = first + 64;
        while line <= last {
            // SAFETY: a prefetch is a hint: it never faults and changes
            // no state visible to the program, whatever the address.
            unsafe {
                std::arch::x86_64::_mm_prefetch(line as *const i8, std::arch::x86_64::_MM_HINT_T0)
            };
            line += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = b;
}

/// The slots of tophash word `tw` holding `top`. In parallel mode the
/// fast paths compare keys only there: the 8 tophash bytes are read as one
/// word (as if Go's 8 byte loads happened at one instant), and a slot
/// whose tophash differs cannot hold the key in a map no one writes
/// concurrently (equal keys have equal hashes), so the answer is Go's. A
/// program racing on the map may see a different (equally racy) outcome;
/// in deterministic mode, where races are replayed, every access is Go's.
#[inline(always)]
fn par_candidates(tw: u64, top: u64) -> u64 {
    zero_bytes(tw ^ top.wrapping_mul(0x0101_0101_0101_0101))
}

#[inline(always)]
fn tophash_s<const S: bool>(b: Bucket, i: usize) -> u64 {
    b.load_field::<S>(0, (i * 8) as u32, 8)
}

/// The next bucket of `b`'s chain, checked (or `Obj::NIL`).
#[inline(always)]
#[track_caller]
fn overflow_s<const S: bool>(h: H, b: Bucket) -> Obj {
    b.load_ptr::<S>(OVERFLOW_WORD)
        .obj_memo2_s::<S>(h.1, MEMO_BUCKETS, MEMO_OVERFLOW)
}

/// `h.buckets`, checked (or `Obj::NIL`).
#[inline(always)]
#[track_caller]
fn buckets_s<const S: bool>(h: H, hw: Hdr) -> Obj {
    hw.load_ptr::<S>(W_BUCKETS)
        .obj_memo_s::<S>(h.1, MEMO_BUCKETS)
}

/// Go's `mapaccess1_fast64` (`v := m[k]`): the element's word, or the
/// zero value (Go returns a pointer to `zeroVal`).
#[track_caller]
pub fn mapaccess1_fast64(t: &MapType, h: HMap, key: u64) -> u64 {
    mapaccess_fast64(t, h, key, &race_fns::MAPACCESS1_FAST64).unwrap_or(0)
}

/// Go's `mapaccess2_fast64`: the element's word, or None.
#[track_caller]
pub fn mapaccess2_fast64(t: &MapType, h: HMap, key: u64) -> Option<u64> {
    mapaccess_fast64(t, h, key, &race_fns::MAPACCESS2_FAST64)
}

/// With the race detector on, starts loading the shadow of the bucket's
/// elements beside the bucket itself: the element a lookup finds is read
/// through `race::read` next, and its shadow would otherwise be a miss
/// that begins only once the probe has found it. Issued at the candidate
/// slot instead, it comes too late to overlap; a miss pays for it and uses
/// none of it (BENCHMARKS.md has both).
#[inline(always)]
fn prefetch_elems_shadow(b: Bucket) {
    if race::enabled() {
        race::prefetch(b.addr() + elem_word(0) * 8, BUCKET_CNT * 8);
    }
}

/// The element's address for the race detector (0 when this runtime does
/// not run it, so no heap address is left on the goroutine's stack for
/// the conservative scan to find: asking whether any runtime of the
/// process runs it would let a `-race` runtime beside this one change
/// what this one's collector keeps).
#[inline(always)]
fn elem_addr_for_race(b: Bucket, i: usize) -> usize {
    if race::enabled_here() {
        b.addr() + elem_word(i) * 8
    } else {
        0
    }
}

/// Both lookups, `f` naming which for the race detector.
#[inline(always)]
#[track_caller]
fn mapaccess_fast64(t: &MapType, h: HMap, key: u64, f: &'static RuntimeFn) -> Option<u64> {
    // SAFETY: `g` (and the `H` holding it) is used only by this map
    // operation, on this goroutine, while its runtime runs.
    let g = unsafe { gort_scheduler::preempt_point_g() };
    if h.0.is_nil() {
        return None;
    }
    if gort_scheduler::race::enabled() {
        race::read_pc(h.0 .0, f);
    }
    let found = {
        let _runtime = RuntimeGuard::enter();
        if stepping(g) {
            access::<true>(t, h.hdr_in_s::<true>(g), key)
        } else {
            access::<false>(t, h.hdr_in_s::<false>(g), key)
        }
    };
    // The compiled code's load through the returned element pointer.
    found.map(|(v, at)| {
        if gort_scheduler::race::enabled() {
            race::read(at, 8);
        }
        v
    })
}

#[inline(always)]
#[track_caller]
fn access<const S: bool>(t: &MapType, h: H, key: u64) -> Option<(u64, usize)> {
    let hw = hdr(h);
    if hw.load::<S>(W_COUNT) == 0 {
        return None;
    }
    // Go's loads, in Go's order: flags for the check, B, then (more than
    // one bucket) hash0, B again, buckets, oldbuckets once, and the flags
    // for sameSizeGrow. They share a header word here, but a racing
    // writer can change one between two of Go's loads.
    if hw.load_field::<S>(W_PACKED, 0, 8) & HASH_WRITING != 0 {
        explain_notes::reader_saw_writer(hw.addr());
        gort_scheduler::fatal("concurrent map read and map write");
    }
    // The tophash to look for; 0 (no slot has it): not hashed.
    let mut top = 0;
    let mut b = if hw.load_field::<S>(W_PACKED, 8, 8) == 0 {
        // One-bucket table. No need to hash.
        bucket(buckets_s::<S>(h, hw), 0)
    } else {
        let hash = t.hash(key, hw.load_field::<S>(W_PACKED, 32, 32) as u32);
        top = tophash(hash);
        let mut m = bucket_mask(hw.load_field::<S>(W_PACKED, 8, 8) as u8) as usize;
        let mut b = bucket(buckets_s::<S>(h, hw), hash as usize & m);
        let c = hw.load_ptr::<S>(W_OLDBUCKETS);
        if !c.is_nil() {
            if hw.load_field::<S>(W_PACKED, 0, 8) & SAME_SIZE_GROW == 0 {
                // There used to be half as many buckets; mask down one
                // more power of two.
                m >>= 1;
            }
            let oldb = bucket(c.obj_memo_s::<S>(h.1, MEMO_OLDBUCKETS), hash as usize & m);
            let th = tophash_s::<S>(oldb, 0);
            if !(th > EMPTY_ONE && th < MIN_TOP_HASH) {
                b = oldb;
            }
        }
        b
    };
    loop {
        if S || top == 0 {
            for i in 0..BUCKET_CNT {
                if b.load::<S>(key_word(i)) == key && !is_empty(tophash_s::<S>(b, i)) {
                    return Some((b.load::<S>(elem_word(i)), elem_addr_for_race(b, i)));
                }
            }
        } else {
            // Parallel mode: only a slot whose tophash is the key's can
            // hold the key (`par_candidates`).
            prefetch_bucket(b);
            prefetch_elems_shadow(b);
            let mut cand = par_candidates(b.load::<S>(0), top);
            while cand != 0 {
                let i = slot_index(cand);
                cand &= cand - 1;
                if b.load::<S>(key_word(i)) == key {
                    return Some((b.load::<S>(elem_word(i)), elem_addr_for_race(b, i)));
                }
            }
        }
        let ovf = overflow_s::<S>(h, b);
        if ovf.is_nil() {
            return None;
        }
        b = ovf.words();
    }
}

/// Go's `mapassign_fast64`: the slot of `key`'s element (inserting the
/// key if new), which the caller writes.
#[track_caller]
pub fn mapassign_fast64(t: &MapType, h: HMap, key: u64) -> ElemSlot {
    // SAFETY: `g` (and the `H` holding it) is used only by this map
    // operation, on this goroutine, while its runtime runs.
    let g = unsafe { gort_scheduler::preempt_point_g() };
    if h.0.is_nil() {
        panic!("assignment to entry in nil map");
    }
    if gort_scheduler::race::enabled() {
        race::write_pc(h.0 .0, &race_fns::MAPASSIGN_FAST64);
    }
    explain::note("mapassign_fast64", || {
        (shown(h.0 .0), format!("m[{}] = ...: enter", key as i64))
    });
    let _runtime = RuntimeGuard::enter();
    if stepping(g) {
        assign::<true>(t, h.hdr_in_s::<true>(g), key)
    } else {
        assign::<false>(t, h.hdr_in_s::<false>(g), key)
    }
}

/// Go's `h.flags&hashWriting == 0 -> fatal; h.flags &^= hashWriting` at
/// the end of every write.
#[inline(always)]
#[track_caller]
fn end_write<const S: bool>(hw: Hdr) {
    if hw.load_field::<S>(W_PACKED, 0, 8) & HASH_WRITING == 0 {
        explain_notes::cleared_by_another(hw.addr());
        gort_scheduler::fatal("concurrent map writes");
    }
    let f = hw.load_field::<S>(W_PACKED, 0, 8);
    hw.store_field::<S>(W_PACKED, 0, 8, f & !HASH_WRITING);
    explain_notes::cleared(hw.addr());
}

/// The entry of every write: the check, the hash, then `hashWriting` set
/// (Go: after the hasher, which may panic).
#[inline(always)]
#[track_caller]
fn begin_write<const S: bool>(t: &MapType, hw: Hdr, key: u64) -> u64 {
    if hw.load_field::<S>(W_PACKED, 0, 8) & HASH_WRITING != 0 {
        explain_notes::writer_inside(hw.addr());
        gort_scheduler::fatal("concurrent map writes");
    }
    explain_notes::no_writer(hw.addr());
    let hash = t.hash(key, hw.load_field::<S>(W_PACKED, 32, 32) as u32);
    let f = hw.load_field::<S>(W_PACKED, 0, 8);
    hw.store_field::<S>(W_PACKED, 0, 8, f ^ HASH_WRITING);
    explain_notes::flipped(hw.addr(), f);
    hash
}

#[inline(always)]
#[track_caller]
fn assign<const S: bool>(t: &MapType, h: H, key: u64) -> ElemSlot {
    let hw = hdr(h);
    let hash = begin_write::<S>(t, hw, key);
    if hw.load_ptr::<S>(W_BUCKETS).is_nil() {
        // `h.buckets = newobject(t.bucket)`: a pointer store (gcWriteBarrier).
        hw.store_ptr::<S>(W_BUCKETS, new_object(t.bucket));
    }
    let slot = 'again: loop {
        let b_log = hw.load_field::<S>(W_PACKED, 8, 8) as u8;
        let bi = hash as usize & bucket_mask(b_log) as usize;
        if !hw.load_ptr::<S>(W_OLDBUCKETS).is_nil() {
            grow_work_fast64::<S>(t, h, bi);
        }
        let buckets = hw
            .load_ptr::<S>(W_BUCKETS)
            .obj_memo_s::<S>(h.1, MEMO_BUCKETS);
        let mut b = bucket(buckets, bi);
        let top = tophash(hash);
        let mut insert: Option<(Bucket, usize)> = None;
        'bucketloop: loop {
            if !S {
                // Parallel mode: the same decisions from the word, keys
                // compared only where the tophash is the key's.
                prefetch_bucket(b);
                let tw = b.load::<S>(0);
                let (mut cand, rest) = probe_slots(tw, top);
                if insert.is_none() {
                    let empty = empty_slots(tw);
                    if empty != 0 {
                        insert = Some((b, slot_index(empty)));
                    }
                }
                while cand != 0 {
                    let i = slot_index(cand);
                    cand &= cand - 1;
                    if b.load::<S>(key_word(i)) == key {
                        break 'again (b, i);
                    }
                }
                if rest {
                    break 'bucketloop;
                }
                let ovf = overflow_s::<S>(h, b);
                if ovf.is_nil() {
                    break;
                }
                b = ovf.words();
                continue;
            }
            for i in 0..BUCKET_CNT {
                let th = tophash_s::<S>(b, i);
                if is_empty(th) {
                    if insert.is_none() {
                        insert = Some((b, i));
                    }
                    if th == EMPTY_REST {
                        break 'bucketloop;
                    }
                    continue;
                }
                if b.load::<S>(key_word(i)) != key {
                    continue;
                }
                break 'again (b, i);
            }
            let ovf = overflow_s::<S>(h, b);
            if ovf.is_nil() {
                break;
            }
            b = ovf.words();
        }
        // Did not find mapping for key. Allocate new cell & add entry.
        // If we hit the max load factor or we have too many overflow
        // buckets, and we're not already in the middle of growing, start
        // growing.
        // Go's loads in Go's order: oldbuckets, count, B, then noverflow
        // and B again.
        let b_of = || hw.load_field::<S>(W_PACKED, 8, 8) as u8;
        if hw.load_ptr::<S>(W_OLDBUCKETS).is_nil()
            && (over_load_factor(hw.load::<S>(W_COUNT) as usize + 1, b_of())
                || too_many_overflow_buckets(hw.load_field::<S>(W_PACKED, 16, 16), b_of()))
        {
            hash_grow(t, h);
            continue 'again; // Growing the table invalidates everything.
        }
        let (ib, i) = match insert {
            Some(x) => x,
            // The current bucket and all the overflow buckets connected
            // to it are full, allocate a new one.
            None => (newoverflow(t, h, b.obj()).words(), 0),
        };
        set_tophash_s::<S>(ib, i, top);
        // Store the new key at the insert position.
        ib.store::<S>(key_word(i), key);
        hw.store::<S>(W_COUNT, hw.load::<S>(W_COUNT) + 1);
        break (ib, i);
    };
    end_write::<S>(hw);
    ElemSlot {
        bucket: slot.0.obj(),
        word: elem_word(slot.1),
    }
}

#[inline(always)]
fn set_tophash_s<const S: bool>(b: Bucket, i: usize, v: u64) {
    b.store_field::<S>(0, (i * 8) as u32, 8, v)
}

/// Go's `mapdelete_fast64`.
#[track_caller]
pub fn mapdelete_fast64(t: &MapType, h: HMap, key: u64) {
    // SAFETY: `g` (and the `H` holding it) is used only by this map
    // operation, on this goroutine, while its runtime runs.
    let g = unsafe { gort_scheduler::preempt_point_g() };
    if h.0.is_nil() {
        return;
    }
    if gort_scheduler::race::enabled() {
        race::write_pc(h.0 .0, &race_fns::MAPDELETE_FAST64);
    }
    let _runtime = RuntimeGuard::enter();
    if stepping(g) {
        delete_det(t, h.hdr_in_s::<true>(g), key)
    } else {
        delete_par(t, h.hdr_in_s::<false>(g), key)
    }
}

/// The start of a deletion, shared by both modes: the check, the hash
/// and `hashWriting` set, growth work, and the key's bucket. None: the
/// map is empty.
#[inline(always)]
#[track_caller]
fn delete_start<const S: bool>(t: &MapType, h: H, key: u64) -> Option<(u64, Bucket)> {
    let hw = hdr(h);
    if hw.load::<S>(W_COUNT) == 0 {
        return None;
    }
    let hash = begin_write::<S>(t, hw, key);
    let b_log = hw.load_field::<S>(W_PACKED, 8, 8) as u8;
    let bi = hash as usize & bucket_mask(b_log) as usize;
    if !hw.load_ptr::<S>(W_OLDBUCKETS).is_nil() {
        grow_work_fast64::<S>(t, h, bi);
    }
    let buckets = hw
        .load_ptr::<S>(W_BUCKETS)
        .obj_memo_s::<S>(h.1, MEMO_BUCKETS);
    Some((hash, bucket(buckets, bi)))
}

/// The end of a deletion that found its key: the element cleared (Go's
/// memclrHasPointers, whose bulk barrier shades what it clears, for a
/// one-word pointer element a barriered nil store; or
/// memclrNoHeapPointers: a deletion clears the element either way, and
/// int64 keys hold no pointers to clear), then the count.
#[inline(always)]
#[track_caller]
fn delete_clear_elem<const S: bool>(t: &MapType, b: Bucket, i: usize) {
    if t.elem_is_ptr {
        b.store_ptr::<S>(elem_word(i), gort_gc::Ptr::NIL);
    } else {
        b.store::<S>(elem_word(i), 0);
    }
}

#[inline(always)]
#[track_caller]
fn delete_count<const S: bool>(hw: Hdr) {
    let n = hw.load::<S>(W_COUNT) - 1;
    hw.store::<S>(W_COUNT, n);
    // Reset the hash seed to make it more difficult for attackers to
    // repeatedly trigger hash collisions.
    if n == 0 {
        hw.store_field::<S>(W_PACKED, 32, 32, gort_scheduler::fastrand() as u64);
    }
}

/// A parallel-mode deletion: Go's decisions, taken on whole tophash
/// words. Only slots whose tophash is the key's are compared
/// (`par_candidates`; a candidate is never empty), and the slot's
/// `emptyOne`/`emptyRest` update is computed on the word
/// (`delete_tophash_word`) rather than by Go's loop, whose branches on
/// the bucket's bytes stop the next operation's cache miss from starting
/// early. Only a run of `emptyRest` reaching back into an earlier bucket
/// of the chain takes Go's loop.
#[inline(always)]
#[track_caller]
fn delete_par(t: &MapType, h: H, key: u64) {
    let hw = hdr(h);
    let Some((hash, borig)) = delete_start::<false>(t, h, key) else {
        return;
    };
    let top = tophash(hash);
    let mut b = borig;
    'search: loop {
        prefetch_bucket(b);
        let tw = b.load::<false>(0);
        let mut cand = par_candidates(tw, top);
        while cand != 0 {
            let i = slot_index(cand);
            cand &= cand - 1;
            if key != b.load::<false>(key_word(i)) {
                continue;
            }
            delete_clear_elem::<false>(t, b, i);
            let next_rest = if i == BUCKET_CNT - 1 {
                let ovf = overflow_s::<false>(h, b);
                ovf.is_nil() || tophash_s::<false>(ovf.words(), 0) == EMPTY_REST
            } else {
                (tw >> (8 * (i + 1))) & 0xff == EMPTY_REST
            };
            let (tw, reached_start) = delete_tophash_word(tw, i, next_rest);
            b.store::<false>(0, tw);
            if reached_start && b != borig {
                mark_rest_before::<false>(h, borig, b);
            }
            delete_count::<false>(hw);
            break 'search;
        }
        let ovf = overflow_s::<false>(h, b);
        if ovf.is_nil() {
            break;
        }
        b = ovf.words();
    }
    end_write::<false>(hw);
}

/// Go's `emptyRest` loop carried from the start of bucket `c` into the
/// buckets before it in the chain from `borig`: each trailing `emptyOne`
/// becomes `emptyRest`, until a slot that is not `emptyOne`.
#[inline(never)]
#[track_caller]
fn mark_rest_before<const S: bool>(h: H, borig: Bucket, mut c: Bucket) {
    while c != borig {
        // Find previous bucket, continue at its last entry.
        let mut bb = borig;
        loop {
            let next: Bucket = overflow_s::<S>(h, bb).words();
            if next == c {
                break;
            }
            bb = next;
        }
        let mut ii = BUCKET_CNT;
        loop {
            ii -= 1;
            if tophash_s::<S>(bb, ii) != EMPTY_ONE {
                return;
            }
            set_tophash_s::<S>(bb, ii, EMPTY_REST);
            if ii == 0 {
                break;
            }
        }
        c = bb;
    }
}

/// A deterministic-mode deletion: Go's `mapdelete_fast64` loop, one
/// step per access, in Go's order.
#[inline(never)]
#[track_caller]
fn delete_det(t: &MapType, h: H, key: u64) {
    const S: bool = true;
    let hw = hdr(h);
    let Some((_, borig)) = delete_start::<S>(t, h, key) else {
        return;
    };
    let mut b = borig;
    'search: loop {
        for i in 0..BUCKET_CNT {
            if key != b.load::<S>(key_word(i)) || is_empty(tophash_s::<S>(b, i)) {
                continue;
            }
            delete_clear_elem::<S>(t, b, i);
            set_tophash_s::<S>(b, i, EMPTY_ONE);
            // If the bucket now ends in a bunch of emptyOne states,
            // change those to emptyRest states.
            let not_last = if i == BUCKET_CNT - 1 {
                let ovf = overflow_s::<S>(h, b);
                !ovf.is_nil() && tophash_s::<S>(ovf.words(), 0) != EMPTY_REST
            } else {
                tophash_s::<S>(b, i + 1) != EMPTY_REST
            };
            if !not_last {
                let mut ii = i;
                loop {
                    set_tophash_s::<S>(b, ii, EMPTY_REST);
                    if ii == 0 {
                        // beginning of this bucket: on into the ones
                        // before it, if any.
                        mark_rest_before::<S>(h, borig, b);
                        break;
                    }
                    ii -= 1;
                    if tophash_s::<S>(b, ii) != EMPTY_ONE {
                        break;
                    }
                }
            }
            delete_count::<S>(hw);
            break 'search;
        }
        let ovf = overflow_s::<S>(h, b);
        if ovf.is_nil() {
            break;
        }
        b = ovf.words();
    }
    end_write::<S>(hw);
}
