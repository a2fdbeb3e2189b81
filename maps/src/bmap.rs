//! Buckets (Go's `bmap`) and overflow buckets: the word-level accessors
//! of a bucket (tophash bytes, the overflow pointer, the evacuation test),
//! Go's `makeBucketArray` with its preallocated spare overflow buckets, and
//! `mapextra` (`createOverflow`, `incrnoverflow`, `newoverflow`): for a
//! bucket type without pointers the collector does not scan buckets, so
//! the overflow buckets are kept alive from `mapextra`'s `overflow` and
//! `oldoverflow` lists, slices of `*bmap` in the heap.

use gort_gc::{new_object, Obj, Ptr, Type};

use crate::map::*;
use crate::maptype::*;

/// mapextra word indices.
pub(crate) const X_OVERFLOW: usize = 0;
pub(crate) const X_OLDOVERFLOW: usize = 1;
pub(crate) const X_NEXTOVERFLOW: usize = 2;

pub(crate) fn mapextra_type() -> &'static Type {
    static T: std::sync::OnceLock<&'static Type> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        let names = ["overflow", "oldoverflow", "nextOverflow"];
        Type::build("runtime.mapextra", 3, &[0, 1, 2])
            .with_word_names(names.map(String::from).to_vec())
            .leak()
    })
}
/// A slice header `[]*bmap`: data, len, cap.
pub(crate) fn slice_type() -> &'static Type {
    static T: std::sync::OnceLock<&'static Type> = std::sync::OnceLock::new();
    T.get_or_init(|| Type::new("[]*runtime.bmap", 3, &[0]))
}
pub(crate) fn ptr_type() -> &'static Type {
    static T: std::sync::OnceLock<&'static Type> = std::sync::OnceLock::new();
    T.get_or_init(|| Type::new("*runtime.bmap", 1, &[0]))
}

// ---- buckets

#[inline]
pub(crate) fn bucket_at(t: &MapType, array: Obj, i: usize) -> Obj {
    array.offset(i * t.bucket_words)
}
#[inline]
#[track_caller]
pub(crate) fn tophash_at(b: Obj, i: usize) -> u64 {
    b.load_field(0, (i * 8) as u32, 8)
}
#[inline]
#[track_caller]
pub(crate) fn set_tophash(b: Obj, i: usize, v: u64) {
    b.store_field(0, (i * 8) as u32, 8, v)
}
/// The next bucket of the chain, checked (or `Obj::NIL`).
#[inline]
#[track_caller]
pub(crate) fn overflow(t: &MapType, b: Obj) -> Obj {
    b.load_ptr(t.overflow_word()).obj_or_nil()
}
#[inline]
#[track_caller]
pub(crate) fn set_overflow(t: &MapType, b: Obj, ovf: Ptr) {
    // Go's `b.setoverflow`: a pointer store (gcWriteBarrier), whether or
    // not the bucket type has pointers.
    b.store_ptr(t.overflow_word(), ovf)
}
/// Go's `evacuated(b)`: looks only at tophash[0].
#[inline]
#[track_caller]
pub(crate) fn evacuated(b: Obj) -> bool {
    let h = tophash_at(b, 0);
    h > EMPTY_ONE && h < MIN_TOP_HASH
}

/// Go's `makeBucketArray`: 2^b buckets, plus 2^(b-4) spare overflow
/// buckets when b >= 4 (gort does not round the array up to its size
/// class: maps.md §11 allows it; only the number of spares differs).
pub(crate) fn make_bucket_array(t: &MapType, b: u8) -> (Ptr, Ptr) {
    let base = bucket_shift(b);
    let mut nbuckets = base;
    if b >= 4 {
        nbuckets += bucket_shift(b - 4);
    }
    let array = new_object(Type::array(t.bucket, nbuckets));
    let mut next_overflow = Ptr::NIL;
    if base != nbuckets {
        let a = array.obj();
        next_overflow = bucket_at(t, a, base).ptr();
        // The last spare's overflow pointer is non-nil (the array start):
        // "no more spares after this one".
        set_overflow(t, bucket_at(t, a, nbuckets - 1), array);
    }
    (array, next_overflow)
}

pub(crate) fn create_extra(h: H) -> Obj {
    let x = h.extra();
    if !x.is_nil() {
        return x;
    }
    let x = new_object(mapextra_type());
    // `h.extra = new(mapextra)`: a pointer store (gcWriteBarrier).
    h.0.store_ptr(W_EXTRA, x);
    x.obj()
}

/// Go's `incrnoverflow`: exact below B = 16, then probabilistic.
pub(crate) fn incrnoverflow(h: H) {
    let b = h.b();
    if b < 16 {
        h.set_noverflow(h.noverflow().wrapping_add(1));
        return;
    }
    let mask = (1u32 << (b - 15)) - 1;
    if gort_scheduler::fastrand() & mask == 0 {
        h.set_noverflow(h.noverflow().wrapping_add(1));
    }
}

/// Appends `ovf` to the `[]*bmap` list at word `which` of `x`, with Go's
/// append growth (double the capacity).
pub(crate) fn append_overflow(x: Obj, which: usize, ovf: Ptr) {
    let mut sp = x.load_ptr(which);
    if sp.is_nil() {
        sp = new_object(slice_type());
        x.store_ptr(which, sp);
    }
    let s = sp.obj();
    let (data, len, cap) = (s.load_ptr(0), s.load(1) as usize, s.load(2) as usize);
    let data = if len == cap {
        let ncap = (cap * 2).max(4);
        let ndp = new_object(Type::array(ptr_type(), ncap));
        let (nd, old) = (ndp.obj(), data.obj_or_nil());
        for i in 0..len {
            nd.store_ptr(i, old.load_ptr(i));
        }
        s.store_ptr(0, ndp);
        s.store(2, ncap as u64);
        nd
    } else {
        data.obj()
    };
    // The appended pointer: a pointer store (gcWriteBarrier).
    data.store_ptr(len, ovf);
    s.store(1, len as u64 + 1);
}

/// Go's `newoverflow`.
pub(crate) fn newoverflow(t: &MapType, h: H, b: Obj) -> Obj {
    let x = h.extra();
    let next = if x.is_nil() {
        Obj::NIL
    } else {
        x.load_ptr(X_NEXTOVERFLOW).obj_or_nil()
    };
    let ovf = if !next.is_nil() {
        // We have preallocated overflow buckets available.
        if next.load_ptr(t.overflow_word()).is_nil() {
            // We're not at the end of the preallocated overflow buckets.
            x.store_ptr(X_NEXTOVERFLOW, next.offset(t.bucket_words).ptr());
        } else {
            // This is the last preallocated overflow bucket. Reset the
            // overflow pointer on this bucket, which was set to a non-nil
            // sentinel value.
            set_overflow(t, next, Ptr::NIL);
            x.store_ptr(X_NEXTOVERFLOW, Ptr::NIL);
        }
        next
    } else {
        new_object(t.bucket).obj()
    };
    incrnoverflow(h);
    if !t.bucket.has_pointers() {
        // Noscan buckets: keep the overflow bucket alive from mapextra.
        let x = create_extra(h);
        append_overflow(x, X_OVERFLOW, ovf.ptr());
    }
    set_overflow(t, b, ovf.ptr());
    ovf
}
