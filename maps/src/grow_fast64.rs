//! Go's `growWork_fast64` and `evacuate_fast64` (map_fast64.go): growth
//! work for maps on the fast64 paths, the same algorithm as `grow.rs`
//! (X/Y split by the hash bit `2^oldB`, evacuation marks, old buckets
//! cleared when no old iterator may read them, `advanceEvacuationMark`)
//! with the key hashed directly and the buckets reached through
//! fixed-size word windows, stepping only in deterministic mode (see
//! `map_fast64.rs`).

use gort_gc::{bulk_barrier_pre_write, BulkSrc, Obj, Ptr};

use crate::grow::advance_evacuation_mark;
use crate::map::*;
use crate::map_fast64::BUCKET_WORDS;
use crate::maptype::*;

type Bucket = gort_gc::Words<BUCKET_WORDS>;

/// Go's `growWork_fast64`.
#[inline(always)]
#[track_caller]
pub(crate) fn grow_work_fast64<const S: bool>(t: &MapType, h: H, bucket: usize) {
    // Make sure we evacuate the oldbucket corresponding to the bucket
    // we're about to use.
    evacuate_fast64::<S>(t, h, bucket & h.oldbucketmask());
    // Evacuate one more oldbucket to make progress on growing.
    if h.growing() {
        evacuate_fast64::<S>(t, h, h.nevacuate());
    }
}

/// Go's `evacDst` for the fast paths.
struct Dst {
    b: Bucket,
    i: usize,
}

/// Go's `evacuate_fast64`.
#[track_caller]
fn evacuate_fast64<const S: bool>(t: &MapType, h: H, oldbucket: usize) {
    gort_scheduler::explain::note("evacuate_fast64", || {
        (shown(h.addr()), {
            format!("oldbuckets[{oldbucket}] evacuated")
        })
    });
    let words = |o: Obj, i: usize| -> Bucket { o.offset(i * BUCKET_WORDS).words() };
    let old = h.oldbuckets();
    let b0 = words(old, oldbucket);
    let newbit = h.noldbuckets();
    let th0 = b0.load_field::<S>(0, 0, 8);
    if !(th0 > EMPTY_ONE && th0 < MIN_TOP_HASH) {
        crate::grow::trace_evacuate(h.addr(), oldbucket);
        // x: the low half of the new array; y: the high half (doubling).
        // Go reads `h.buckets`, the flags and `hash0` where it uses them,
        // each time: so does this (a racing writer can change them).
        let x = words(h.buckets(), oldbucket);
        let mut xy = [Dst { b: x, i: 0 }, Dst { b: x, i: 0 }];
        if !h.same_size_grow() {
            // Only calculate y pointers if we're growing bigger.
            // Otherwise GC can see bad pointers.
            xy[1].b = words(h.buckets(), oldbucket + newbit);
        }
        let mut b = b0;
        loop {
            for i in 0..BUCKET_CNT {
                let top = b.load_field::<S>(0, (i * 8) as u32, 8);
                if is_empty(top) {
                    b.store_field::<S>(0, (i * 8) as u32, 8, EVACUATED_EMPTY);
                    continue;
                }
                if top < MIN_TOP_HASH {
                    gort_scheduler::fatal("bad map state");
                }
                let k = b.load::<S>(1 + i);
                let mut use_y = 0usize;
                if !h.same_size_grow() {
                    // Compute hash to make our evacuation decision
                    // (whether we need to send this key/elem to bucket x
                    // or bucket y).
                    let hash = t.hash(k, h.hash0());
                    if hash as usize & newbit != 0 {
                        use_y = 1;
                    }
                }
                b.store_field::<S>(0, (i * 8) as u32, 8, EVACUATED_X + use_y as u64);
                let dst = &mut xy[use_y];
                if dst.i == BUCKET_CNT {
                    dst.b = newoverflow(t, h, dst.b.obj()).words();
                    dst.i = 0;
                }
                dst.b.store_field::<S>(0, (dst.i * 8) as u32, 8, top);
                // Copy key (an int64: no pointer, no barrier), then
                // `typedmemmove(t.elem, dst.e, e)`: for a one-word pointer
                // element, the bulk barrier over that word and the copy,
                // which is a barriered pointer store.
                dst.b.store::<S>(1 + dst.i, k);
                let e = b.load::<S>(1 + BUCKET_CNT + i);
                if t.elem_is_ptr {
                    dst.b
                        .store_ptr::<S>(1 + BUCKET_CNT + dst.i, Ptr(e as usize));
                } else {
                    dst.b.store::<S>(1 + BUCKET_CNT + dst.i, e);
                }
                dst.i += 1;
            }
            let ovf = h.overflow(t, b.obj());
            if ovf.is_nil() {
                break;
            }
            b = ovf.words();
        }
        // Unlink the overflow buckets & clear key/elem to help GC.
        if h.flags() & OLD_ITERATOR == 0 && t.bucket.has_pointers() {
            // Preserve b.tophash because the evacuation state is
            // maintained there. memclrHasPointers: the bulk barrier
            // shades what it clears. Go re-reads `h.oldbuckets` here.
            let b = words(h.oldbuckets(), oldbucket);
            bulk_barrier_pre_write(b.obj(), 1, BulkSrc::Zero, BUCKET_WORDS - 1);
            for w in 1..BUCKET_WORDS {
                b.store::<S>(w, 0);
            }
        }
    }
    if oldbucket == h.nevacuate() {
        advance_evacuation_mark(t, h, newbit);
    }
}
