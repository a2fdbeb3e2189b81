//! Map growth (Go's `hashGrow`, `growWork`, `evacuate`,
//! `advanceEvacuationMark`).
//!
//! `hashGrow` only allocates: a bucket array twice the size when the load
//! factor is exceeded, or the same size (`sameSizeGrow`) when there are
//! too many overflow buckets; the current array becomes `oldbuckets`. The
//! entries move later, incrementally: every assignment or deletion while
//! growing evacuates the old bucket feeding the bucket it is about to use
//! and one more (`nevacuate`'s), so the growth finishes within 2^oldB
//! writes. `evacuate` copies each entry of an old bucket chain to the low
//! (X) or high (Y) half of the new array by the hash bit `2^oldB`, leaves
//! the evacuation mark in the old tophash, and clears the old bucket's
//! keys and elements when no old iterator may still read them.
//! `advanceEvacuationMark` moves `nevacuate` past evacuated buckets (at
//! most 1024 at a time) and ends the growth by dropping `oldbuckets`.

use gort_gc::{memclr_has_pointers, typedmemmove, Obj, Ptr};
use gort_scheduler::trace::TraceEvent;

use crate::map::*;
use crate::maptype::*;

/// Go's `hashGrow`.
#[track_caller]
pub(crate) fn hash_grow(t: &MapType, h: H) {
    // If we've hit the load factor, get bigger. Otherwise, there are too
    // many overflow buckets, so keep the same number of buckets and
    // "grow" laterally.
    let mut bigger = 1u8;
    if !over_load_factor(h.count() + 1, h.b()) {
        bigger = 0;
        h.set_flags(h.flags() | SAME_SIZE_GROW);
    }
    let oldbuckets = h.0.load_ptr(W_BUCKETS);
    let (newbuckets, next_overflow) = make_bucket_array(t, h.b() + bigger);
    let mut flags = h.flags() & !(ITERATOR | OLD_ITERATOR);
    if h.flags() & ITERATOR != 0 {
        flags |= OLD_ITERATOR;
    }
    // Commit the grow (atomic wrt GC).
    let b = h.b();
    h.set_b(b + bigger);
    h.set_flags(flags);
    gort_scheduler::trace_event(|| TraceEvent::MapGrow {
        map: shown(h.addr()),
        b: b + bigger,
        same_size: bigger == 0,
    });
    gort_scheduler::explain::note("hashGrow", || {
        (shown(h.addr()), {
            if bigger == 1 {
                format!("B {b} -> {}: oldbuckets = buckets", b + 1)
            } else {
                format!("sameSizeGrow (B {b}, too many overflow buckets): oldbuckets = buckets")
            }
        })
    });
    // `h.oldbuckets = oldbuckets; h.buckets = newbuckets`: pointer stores
    // (gcWriteBarrier each).
    h.0.store_ptr(W_OLDBUCKETS, oldbuckets);
    h.0.store_ptr(W_BUCKETS, newbuckets);
    h.0.store(W_NEVACUATE, 0);
    h.set_noverflow(0);
    let x = h.extra();
    if !x.is_nil() && !x.load_ptr(X_OVERFLOW).is_nil() {
        // Promote current overflow buckets to the old generation.
        if !x.load_ptr(X_OLDOVERFLOW).is_nil() {
            gort_scheduler::fatal("oldoverflow is not nil");
        }
        x.store_ptr(X_OLDOVERFLOW, x.load_ptr(X_OVERFLOW));
        x.store_ptr(X_OVERFLOW, Ptr::NIL);
    }
    if !next_overflow.is_nil() {
        let x = create_extra(h);
        x.store_ptr(X_NEXTOVERFLOW, next_overflow);
    }
    // The actual copying of the hash table data is done incrementally by
    // growWork() and evacuate().
}

/// Go's `growWork`.
#[track_caller]
pub(crate) fn grow_work(t: &MapType, h: H, bucket: usize) {
    // Make sure we evacuate the oldbucket corresponding to the bucket
    // we're about to use.
    evacuate(t, h, bucket & h.oldbucketmask());
    // Evacuate one more oldbucket to make progress on growing.
    if h.growing() {
        evacuate(t, h, h.nevacuate());
    }
}

/// Go's `evacDst`.
struct EvacDst {
    b: Obj,
    i: usize,
}

/// Go's `evacuate`.
#[track_caller]
fn evacuate(t: &MapType, h: H, oldbucket: usize) {
    gort_scheduler::explain::note("evacuate", || {
        (shown(h.addr()), {
            format!("oldbuckets[{oldbucket}] evacuated")
        })
    });
    let b0 = bucket_at(t, h.oldbuckets(), oldbucket);
    let newbit = h.noldbuckets();
    if !evacuated(b0) {
        trace_evacuate(h.addr(), oldbucket);
        // x: the low half of the new array; y: the high half (doubling).
        let mut xy = [
            EvacDst {
                b: bucket_at(t, h.buckets(), oldbucket),
                i: 0,
            },
            EvacDst { b: Obj::NIL, i: 0 },
        ];
        if !h.same_size_grow() {
            // Only calculate y pointers if we're growing bigger.
            // Otherwise GC can see bad pointers.
            xy[1].b = bucket_at(t, h.buckets(), oldbucket + newbit);
        }
        let mut b = b0;
        while !b.is_nil() {
            for i in 0..BUCKET_CNT {
                let top = tophash_at(b, i);
                if is_empty(top) {
                    set_tophash(b, i, EVACUATED_EMPTY);
                    continue;
                }
                if top < MIN_TOP_HASH {
                    gort_scheduler::fatal("bad map state");
                }
                let mut use_y = 0usize;
                if !h.same_size_grow() {
                    // Compute hash to make our evacuation decision
                    // (whether we need to send this key/elem to bucket x
                    // or bucket y).
                    let hash = t.hash_stored(b, i, h.hash0());
                    // Go loads the flags here for its NaN-key case
                    // (`h.flags&iterator != 0 && !t.reflexivekey()`);
                    // gort's keys are never NaN, but the load is Go's.
                    let _ = h.flags() & ITERATOR;
                    if hash as usize & newbit != 0 {
                        use_y = 1;
                    }
                }
                set_tophash(b, i, EVACUATED_X + use_y as u64);
                let dst = &mut xy[use_y];
                if dst.i == BUCKET_CNT {
                    dst.b = newoverflow(t, h, dst.b);
                    dst.i = 0;
                }
                set_tophash(dst.b, dst.i, top);
                // Copy key and elem: an indirect one's pointer is a pointer
                // store (gcWriteBarrier), a direct one is
                // `typedmemmove(t.key/t.elem, dst, src)` (the bulk barrier
                // over the destination's pointer words, then the copy).
                if t.indirect_key {
                    dst.b
                        .store_ptr(t.key_word(dst.i), b.load_ptr(t.key_word(i)));
                } else {
                    typedmemmove(t.key_type, dst.b, t.key_word(dst.i), b, t.key_word(i));
                }
                if t.indirect_elem {
                    dst.b
                        .store_ptr(t.elem_word(dst.i), b.load_ptr(t.elem_word(i)));
                } else {
                    typedmemmove(t.elem, dst.b, t.elem_word(dst.i), b, t.elem_word(i));
                }
                dst.i += 1;
            }
            b = h.overflow(t, b);
        }
        // Unlink the overflow buckets & clear key/elem to help GC.
        if h.flags() & OLD_ITERATOR == 0 && t.bucket.has_pointers() {
            // Preserve b.tophash because the evacuation state is
            // maintained there. memclrHasPointers: the bulk barrier shades
            // what it clears. Go re-reads `h.oldbuckets` here.
            let b = bucket_at(t, h.oldbuckets(), oldbucket);
            memclr_has_pointers(b, 1, t.bucket_words - 1);
        }
    }
    if oldbucket == h.nevacuate() {
        advance_evacuation_mark(t, h, newbit);
    }
}

/// Go's `advanceEvacuationMark`.
pub(crate) fn advance_evacuation_mark(t: &MapType, h: H, newbit: usize) {
    let mut n = h.nevacuate() + 1;
    h.0.store(W_NEVACUATE, n as u64);
    // Experiments suggest that 1024 is overkill by at least an order of
    // magnitude. Put it in there as a safeguard anyway, to ensure O(1)
    // behavior.
    let stop = (n + 1024).min(newbit);
    while n != stop && evacuated(bucket_at(t, h.oldbuckets(), n)) {
        n += 1;
        h.0.store(W_NEVACUATE, n as u64);
    }
    if n == newbit {
        // Growing is all done. Free old main bucket array.
        h.0.store_ptr(W_OLDBUCKETS, Ptr::NIL);
        // Can discard old overflow buckets as well. If they are still
        // referenced by an iterator, then the iterator holds a pointers to
        // the slice.
        let x = h.extra();
        if !x.is_nil() {
            x.store_ptr(X_OLDOVERFLOW, Ptr::NIL);
        }
        h.set_flags(h.flags() & !SAME_SIZE_GROW);
    }
}

/// Traces an evacuation of map `h`'s old bucket `oldbucket`.
#[inline]
pub(crate) fn trace_evacuate(h: usize, oldbucket: usize) {
    gort_scheduler::trace_event(|| TraceEvent::MapEvacuate {
        map: shown(h),
        bucket: oldbucket as u64,
    });
}
