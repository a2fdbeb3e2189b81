//! Map iteration (Go's `hiter`, `mapiterinit`, `mapiternext`).
//!
//! An iterator snapshots `B` and `buckets`, starts at a random bucket and
//! a random offset within buckets (`fastrand`, seeded in deterministic
//! mode), and walks every bucket once. While the map grows, an iterator
//! started after the growth began reads not-yet-evacuated old buckets and
//! keeps only the entries that belong to its current new bucket
//! (`checkBucket`); an entry it finds evacuated is looked up again in the
//! current table, so it returns the current value, or nothing if deleted.
//! Every entry present for the whole iteration is returned exactly once.
//! Each step checks `hashWriting`: `fatal error: concurrent map
//! iteration and map write`.
//!
//! The iterator's pointers (`buckets`, the current bucket, the overflow
//! lists) are ordinary `Ptr` fields of a value on the goroutine's stack,
//! so the collector keeps them alive like Go's hiter fields.

use gort_gc::{Obj, Ptr};

use crate::hmap::*;
use crate::mapkey::KeyArg;
use crate::maptype::*;

/// What `mapiternext` found: the entry in slot `i` of bucket `b`, or,
/// for an entry evacuated since the iteration began, its key there and
/// its current element elsewhere.
enum Entry {
    Slot(Obj, usize),
    Moved(Obj, usize, ElemSlot),
}

pub struct Hiter {
    t: &'static MapType,
    /// The header, checked at init: the iterator keeps it reachable (it is
    /// on the goroutine's stack), so it stays live for the iteration.
    h: H,
    /// Snapshot of `h.buckets` at init (keeps that array alive).
    buckets: Obj,
    bptr: Obj,
    /// Go's `hiter.overflow`/`oldoverflow`: keep a noscan map's overflow
    /// buckets alive while this iterator may walk them.
    overflow: Ptr,
    oldoverflow: Ptr,
    start_bucket: usize,
    offset: usize,
    wrapped: bool,
    b: u8,
    i: usize,
    bucket: usize,
    check_bucket: u64,
    done: bool,
}

impl std::fmt::Debug for Hiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hiter")
            .field("bucket", &self.bucket)
            .field("i", &self.i)
            .finish()
    }
}

/// Go's `mapiterinit`.
#[track_caller]
pub fn mapiterinit(t: &'static MapType, h: HMap) -> Hiter {
    // race: racereadpc(h).
    let mut it = Hiter {
        t,
        h: H(Obj::NIL, None),
        buckets: Obj::NIL,
        bptr: Obj::NIL,
        overflow: Ptr::NIL,
        oldoverflow: Ptr::NIL,
        start_bucket: 0,
        offset: 0,
        wrapped: false,
        b: 0,
        i: 0,
        bucket: 0,
        check_bucket: NO_CHECK,
        done: true,
    };
    gort_scheduler::preempt_point();
    if h.0.is_nil() {
        return it;
    }
    let h = h.hdr();
    it.h = h;
    if h.count() == 0 {
        return it;
    }
    it.done = false;
    it.b = h.b();
    it.buckets = h.buckets();
    if !t.bucket.has_pointers() {
        (it.overflow, it.oldoverflow) = overflow_lists(h);
    }
    // Decide where to start.
    let r = gort_scheduler::fastrand() as u64;
    it.start_bucket = (r & bucket_mask(it.b)) as usize;
    it.offset = ((r >> it.b) & (BUCKET_CNT as u64 - 1)) as usize;
    // Iterator state.
    it.bucket = it.start_bucket;
    // Remember we have an iterator. Can run concurrently with another
    // mapiterinit().
    if h.flags() & (ITERATOR | OLD_ITERATOR) != ITERATOR | OLD_ITERATOR {
        or_flags(h, ITERATOR | OLD_ITERATOR);
    }
    it
}

impl Hiter {
    /// Whether the iterator holds the overflow lists it snapshotted (they
    /// are roots through this value; read so the fields are not dead).
    pub fn holds_overflow_lists(&self) -> bool {
        !self.overflow.is_nil() || !self.oldoverflow.is_nil()
    }

    /// Go's `mapiternext`: the next (key, element word), or None at the
    /// end.
    #[track_caller]
    pub fn mapiternext(&mut self) -> Option<(u64, u64)> {
        if self.done {
            return None;
        }
        // SAFETY: `g` (and the `H` holding it) is used only by this map
        // operation, on this goroutine, while its runtime runs.
        let g = unsafe { gort_scheduler::preempt_point_g() };
        // Every access is a step in deterministic mode; in parallel mode,
        // where a step does nothing, the step-free accessors.
        if HMap::stepping_g(g) {
            self.next_words::<true>()
        } else {
            self.next_words::<false>()
        }
    }

    /// `mapiternext` for one-word keys and elements: reads them here.
    #[inline(always)]
    #[track_caller]
    fn next_words<const S: bool>(&mut self) -> Option<(u64, u64)> {
        let t = self.t;
        debug_assert!(t.key_words == 1 && t.elem_words == 1 && !t.indirect_elem);
        Some(match self.next_s::<S>()? {
            Entry::Slot(b, i) => (b.load_s::<S>(t.key_word(i)), b.load_s::<S>(t.elem_word(i))),
            Entry::Moved(b, i, e) => (b.load_s::<S>(t.key_word(i)), e.load(0)),
        })
    }

    /// Go's `mapiternext` for any map: where the next key is stored (its
    /// first word: `MapType::key_at`'s answer) and its element, or None at
    /// the end.
    #[track_caller]
    pub fn mapiternext_slot(&mut self) -> Option<((Obj, usize), ElemSlot)> {
        if self.done {
            return None;
        }
        gort_scheduler::preempt_point();
        let t = self.t;
        Some(match self.next_s::<true>()? {
            Entry::Slot(b, i) => (t.key_at(b, i), elem_at(t, b, i)),
            Entry::Moved(b, i, e) => (t.key_at(b, i), e),
        })
    }

    #[inline(always)]
    #[track_caller]
    fn next_s<const S: bool>(&mut self) -> Option<Entry> {
        let (t, h) = (self.t, self.h);
        // race: racereadpc(h).
        if h.0.load_field_s::<S>(W_PACKED, 0, 8) & HASH_WRITING != 0 {
            gort_scheduler::fatal("concurrent map iteration and map write");
        }
        loop {
            if self.bptr.is_nil() {
                if self.bucket == self.start_bucket && self.wrapped {
                    // end of iteration
                    self.done = true;
                    return None;
                }
                if h.growing() && self.b == h.b() {
                    // Iterator was started in the middle of a grow, and
                    // the grow isn't done yet. If the bucket we're looking
                    // at hasn't been filled in yet (i.e. the old bucket
                    // hasn't been evacuated) then we need to iterate
                    // through the old bucket and only return the ones
                    // that will be migrated to this bucket.
                    let oldbucket = self.bucket & oldbucketmask(h);
                    let b = bucket(t, h.oldbuckets(), oldbucket);
                    if !bucket_evacuated(b) {
                        self.check_bucket = self.bucket as u64;
                        self.bptr = b;
                    } else {
                        self.bptr = bucket(t, self.buckets, self.bucket);
                        self.check_bucket = NO_CHECK;
                    }
                } else {
                    self.bptr = bucket(t, self.buckets, self.bucket);
                    self.check_bucket = NO_CHECK;
                }
                self.bucket += 1;
                if self.bucket == bucket_shift(self.b) {
                    self.bucket = 0;
                    self.wrapped = true;
                }
                self.i = 0;
            }
            while self.i < BUCKET_CNT {
                let offi = (self.i + self.offset) & (BUCKET_CNT - 1);
                self.i += 1;
                let b = self.bptr;
                let top = b.load_field_s::<S>(0, (offi * 8) as u32, 8);
                if is_empty(top) || top == EVACUATED_EMPTY {
                    continue;
                }
                if self.check_bucket != NO_CHECK && !same_size_growing(h) {
                    // Special case: iterator was started during a grow to
                    // a larger size and the grow is not done yet. We're
                    // working on a bucket whose oldbucket has not been
                    // evacuated yet. Or at least, it wasn't evacuated when
                    // we started the bucket. So we're iterating through
                    // the oldbucket, skipping any keys that will go to the
                    // other new bucket (each oldbucket expands to two
                    // buckets during a grow).
                    let hash = t.hash_stored(b, offi, iter_support(h));
                    if hash & bucket_mask(self.b) != self.check_bucket {
                        continue;
                    }
                }
                if top != EVACUATED_X && top != EVACUATED_Y {
                    // This is the golden data, we can return it.
                    return Some(Entry::Slot(b, offi));
                }
                // The hash table has grown since the iterator was started.
                // The golden data for this key is now somewhere else.
                // Check the current hash table for the data. This code
                // handles the case where the key has been deleted,
                // updated, or deleted and reinserted. NOTE: we need to
                // regrab the key as it has potentially been updated to an
                // equal() but not identical key (e.g. +0.0 vs -0.0).
                match mapaccess_k(t, h, KeyArg::Stored(b, offi)) {
                    Some(e) => return Some(Entry::Moved(b, offi, e)),
                    None => continue, // key has been deleted
                }
            }
            self.bptr = bucket_overflow(t, self.bptr);
            self.i = 0;
        }
    }
}
