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
//! Go's hiter is a stack or heap object whose pointer fields (`h`,
//! `buckets`, `bptr`, `overflow`, `oldoverflow`) the collector sees, so
//! the bucket array an iterator snapshotted stays alive after the map
//! replaced it, and so do the overflow buckets of a noscan array. A Rust
//! `Hiter` may live anywhere (boxed in a test, in a struct), where the
//! collector does not look; so its pointer words live in a heap object of
//! their own (`runtime.hiter`), registered as a root while the iteration
//! runs. A checked handle (`Obj`) is only known live until its holder's
//! next safepoint (gc/src/checked.rs): the iterator keeps its handles with
//! the heap's free epoch of the time they were checked, and at the start
//! of every `mapiternext`, after Go's prologue safepoint, re-checks them:
//! if anything was freed since, it derives them again (the fatal error if
//! one's object was freed after all); if not, they are still live (the
//! memo's argument), for one load.

use crate::race_fns;
use gort_gc::checked::free_epoch;
use gort_gc::{new_object, Obj, Ptr, Root, Type, Words};
use gort_scheduler::race::{self, RuntimeGuard};

use gort_scheduler::G;

use crate::map::*;
use crate::mapkey::KeyArg;
use crate::maptype::*;

/// What `mapiternext` found: the entry in slot `i` of bucket `b`, or,
/// for an entry evacuated since the iteration began, its key there and
/// its current element elsewhere.
enum Entry {
    Slot(Obj, usize),
    Moved(Obj, usize, ElemSlot),
}

/// Words of the `runtime.hiter` object: Go's hiter pointer fields.
const HITER_WORDS: usize = 5;
const I_H: usize = 0;
const I_BUCKETS: usize = 1;
const I_BPTR: usize = 2;
const I_OVERFLOW: usize = 3;
const I_OLDOVERFLOW: usize = 4;

pub(crate) fn hiter_type() -> &'static Type {
    static T: std::sync::OnceLock<&'static Type> = std::sync::OnceLock::new();
    T.get_or_init(|| Type::new("runtime.hiter", HITER_WORDS, &[0, 1, 2, 3, 4]))
}

/// The iterator's pointer words where the collector sees them: a
/// `runtime.hiter` heap object, kept alive by a root.
struct Hold {
    /// Registers the object as a root until dropped.
    _root: Root,
    /// The object's words. The object cannot be freed while `_root` is
    /// registered, and the heap does not move objects, so this window
    /// stays valid across safepoints (unlike a handle on a map object).
    words: Words<HITER_WORDS>,
}

impl Hold {
    /// Records pointer word `i` (the iterator's own memory, like Go's
    /// stores to `it.bptr`: not a step).
    #[inline(always)]
    fn set(&self, i: usize, p: Ptr) {
        // A pointer store into the hiter (gcWriteBarrier).
        self.words.store_ptr::<false>(i, p);
    }
    #[inline(always)]
    fn get(&self, i: usize) -> Ptr {
        self.words.load_ptr::<false>(i)
    }
}

pub struct Hiter {
    t: &'static MapType,
    /// Go's hiter pointer fields (`h`, `buckets`, `bptr`, `overflow`,
    /// `oldoverflow`) for the collector, while the iteration runs.
    hold: Option<Hold>,
    /// The header (kept alive by `hold`).
    h: H,
    /// Snapshot of `h.buckets` at init (kept alive by `hold`).
    buckets: Obj,
    /// The bucket being walked, or nil (kept alive by `hold`).
    bptr: Obj,
    /// `free_epoch()` when the handles above were last checked.
    epoch: u64,
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
    if race::enabled() && !h.0.is_nil() {
        race::read_pc(h.0 .0, &race_fns::MAPITERINIT);
    }
    let _runtime = RuntimeGuard::enter();
    let mut it = Hiter {
        t,
        hold: None,
        h: H(Obj::NIL, None),
        buckets: Obj::NIL,
        bptr: Obj::NIL,
        epoch: 0,
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
    // Go's caller allocates the hiter before mapiterinit (when it escapes):
    // the allocation, which may collect, comes before any handle on the map.
    let p = new_object(hiter_type());
    let hold = Hold {
        _root: Root::new(p),
        words: p.obj().words(),
    };
    // Read before the handles are checked: a free in between makes them
    // look stale, never live when they are not.
    it.epoch = free_epoch();
    let h = h.hdr();
    if h.count() == 0 {
        return it;
    }
    it.done = false;
    it.h = h;
    it.b = h.b();
    it.buckets = h.buckets();
    hold.set(I_H, h.0.ptr());
    hold.set(I_BUCKETS, it.buckets.ptr());
    if !t.bucket.has_pointers() {
        let (overflow, oldoverflow) = overflow_lists(h);
        hold.set(I_OVERFLOW, overflow);
        hold.set(I_OLDOVERFLOW, oldoverflow);
    }
    it.hold = Some(hold);
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
    /// Whether the iterator holds the overflow lists it snapshotted (for
    /// the collector, in its `runtime.hiter` object).
    pub fn holds_overflow_lists(&self) -> bool {
        self.hold
            .as_ref()
            .is_some_and(|o| !o.get(I_OVERFLOW).is_nil() || !o.get(I_OLDOVERFLOW).is_nil())
    }

    /// The bucket being walked becomes `b` (nil: none), for the
    /// collector too.
    #[inline(always)]
    fn set_bptr(&mut self, b: Obj) {
        if b.ptr() != self.bptr.ptr() {
            self.bptr = b;
            if let Some(o) = &self.hold {
                o.set(I_BPTR, b.ptr());
            }
        }
    }

    /// Re-checks the handles after a safepoint: unchanged if nothing has
    /// been freed since they were checked, else derived again, checked.
    /// When stepping (deterministic mode) they are always derived again:
    /// the free epoch is shared by every runtime in the process, and a
    /// re-check taken or skipped because of another runtime's sweep would
    /// change this one's steps, and so its interleaving, breaking replay.
    #[inline(always)]
    #[track_caller]
    fn recheck<const S: bool>(&mut self, g: Option<&'static G>) {
        self.h.1 = g;
        let epoch = free_epoch();
        if S || epoch != self.epoch {
            self.rederive(epoch);
        }
    }

    #[inline(never)]
    #[track_caller]
    fn rederive(&mut self, epoch: u64) {
        self.h.0 = self.h.0.ptr().obj();
        self.buckets = self.buckets.ptr().obj_or_nil();
        self.bptr = self.bptr.ptr().obj_or_nil();
        self.epoch = epoch;
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
        self.race_read_h();
        // Every access is a step in deterministic mode; in parallel mode,
        // where a step does nothing, the step-free accessors.
        if HMap::stepping_g(g) {
            self.next_words::<true>(g)
        } else {
            self.next_words::<false>(g)
        }
    }

    /// `mapiternext` for one-word keys and elements: reads them here.
    #[inline(always)]
    #[track_caller]
    fn next_words<const S: bool>(&mut self, g: Option<&'static G>) -> Option<(u64, u64)> {
        let t = self.t;
        debug_assert!(t.key_words == 1 && t.elem_words == 1 && !t.indirect_elem);
        let entry = {
            let _runtime = RuntimeGuard::enter();
            self.next_s::<S>(g)?
        };
        // The range loop's loads of the key and the element through the
        // iterator's pointers: the compiled code's, instrumented.
        Some(match entry {
            Entry::Slot(b, i) => {
                if gort_scheduler::race::enabled() {
                    race::read(b.word_addr(t.key_word(i)), 8);
                }
                if gort_scheduler::race::enabled() {
                    race::read(b.word_addr(t.elem_word(i)), 8);
                }
                (b.load_s::<S>(t.key_word(i)), b.load_s::<S>(t.elem_word(i)))
            }
            Entry::Moved(b, i, e) => {
                if gort_scheduler::race::enabled() {
                    race::read(b.word_addr(t.key_word(i)), 8);
                }
                (b.load_s::<S>(t.key_word(i)), e.load(0))
            }
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
        // SAFETY: `g` is used only by this call, on this goroutine, while
        // its runtime runs.
        let g = unsafe { gort_scheduler::preempt_point_g() };
        self.race_read_h();
        let t = self.t;
        let entry = {
            let _runtime = RuntimeGuard::enter();
            self.next_s::<true>(g)?
        };
        Some(match entry {
            Entry::Slot(b, i) => (t.key_at(b, i), elem_at(t, b, i)),
            Entry::Moved(b, i, e) => (t.key_at(b, i), e),
        })
    }

    /// `mapiternext`'s `racereadpc(h)`, made on every call.
    #[inline(always)]
    #[track_caller]
    fn race_read_h(&self) {
        if race::enabled() && !self.h.0.is_nil() {
            race::read_pc(self.h.0.ptr().0, &race_fns::MAPITERNEXT);
        }
    }

    /// Go's `mapiternext` proper. Runs after a safepoint: its handles
    /// are re-checked first (`recheck`).
    #[inline(always)]
    #[track_caller]
    fn next_s<const S: bool>(&mut self, g: Option<&'static G>) -> Option<Entry> {
        let t = self.t;
        self.recheck::<S>(g);
        let h = self.h;
        if h.0.load_field_s::<S>(W_PACKED, 0, 8) & HASH_WRITING != 0 {
            gort_scheduler::fatal("concurrent map iteration and map write");
        }
        let mut bptr = self.bptr;
        loop {
            if bptr.is_nil() {
                if self.bucket == self.start_bucket && self.wrapped {
                    // end of iteration
                    self.finish();
                    return None;
                }
                let buckets = self.buckets;
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
                        bptr = b;
                    } else {
                        bptr = bucket(t, buckets, self.bucket);
                        self.check_bucket = NO_CHECK;
                    }
                } else {
                    bptr = bucket(t, buckets, self.bucket);
                    self.check_bucket = NO_CHECK;
                }
                self.bucket += 1;
                if self.bucket == bucket_shift(self.b) {
                    self.bucket = 0;
                    self.wrapped = true;
                }
                self.i = 0;
            }
            if let Some(e) = self.walk_bucket::<S>(h, bptr) {
                self.set_bptr(bptr);
                return Some(e);
            }
            bptr = bucket_overflow(t, bptr);
            self.i = 0;
        }
    }

    /// The end of the iteration: nothing left to keep alive.
    #[cold]
    #[inline(never)]
    fn finish(&mut self) {
        self.done = true;
        self.bptr = Obj::NIL;
        self.hold = None;
    }

    /// The rest of bucket `b` from slot `self.i`: the next entry to
    /// return, or None.
    #[inline(always)]
    #[track_caller]
    fn walk_bucket<const S: bool>(&mut self, h: H, b: Obj) -> Option<Entry> {
        let t = self.t;
        while self.i < BUCKET_CNT {
            let offi = (self.i + self.offset) & (BUCKET_CNT - 1);
            self.i += 1;
            let top = b.load_field_s::<S>(0, (offi * 8) as u32, 8);
            if is_empty(top) || top == EVACUATED_EMPTY {
                continue;
            }
            if self.check_bucket != NO_CHECK && !same_size_growing(h) {
                // Special case: iterator was started during a grow to a
                // larger size and the grow is not done yet. We're working
                // on a bucket whose oldbucket has not been evacuated yet.
                // Or at least, it wasn't evacuated when we started the
                // bucket. So we're iterating through the oldbucket,
                // skipping any keys that will go to the other new bucket
                // (each oldbucket expands to two buckets during a grow).
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
            // The golden data for this key is now somewhere else. Check
            // the current hash table for the data. This code handles the
            // case where the key has been deleted, updated, or deleted and
            // reinserted. NOTE: we need to regrab the key as it has
            // potentially been updated to an equal() but not identical key
            // (e.g. +0.0 vs -0.0).
            if let Some(e) = mapaccess_k(t, h, KeyArg::Stored(b, offi)) {
                return Some(Entry::Moved(b, offi, e));
            }
            // The key has been deleted.
        }
        None
    }
}
