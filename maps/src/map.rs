//! Go 1.19's `hmap` (map.go): creation, lookup, assignment, deletion,
//! clearing, growth and evacuation, as operations on simulated heap words.
//!
//! The header is an ordinary 6-word heap object laid out as Go's 48-byte
//! hmap: `count`; one word packing `flags`, `B`, `noverflow` and `hash0`
//! (byte-sized fields, written field by field as Go's byte stores are);
//! `buckets`; `oldbuckets`; `nevacuate`; `extra`. Buckets, overflow
//! buckets, `mapextra` and its overflow lists are heap objects too, linked
//! by pointer words, so the collector reaches `buckets` and `oldbuckets`
//! like any other pointer. Every word read or written is a heap access and
//! so a scheduler step: in deterministic mode a goroutine can be suspended
//! anywhere inside `mapassign` or `evacuate` while another P runs.
//!
//! The algorithms follow map.go step for step (maps.md §3-§8): the lazily
//! allocated first bucket of `makemap_small`, `overLoadFactor` and
//! `tooManyOverflowBuckets`, growth only when inserting a new key while
//! not growing, `growWork` (the old bucket feeding mine, then
//! `nevacuate`'s), `evacuate` with the X/Y split and evacuation marks,
//! `advanceEvacuationMark`, `emptyRest` maintenance on delete, `hash0`
//! re-seeded when the map empties, and the best-effort `hashWriting`
//! protocol with Go's three fatal errors at Go's check sites.
//!
//! Growth and evacuation live in `grow.rs`; bucket accessors, the bucket
//! array and overflow buckets (`mapextra`) in `bmap.rs`.
//!
//! Every pointer store passes the write barrier, as in Go: plain pointer
//! stores through `store_ptr` (the compiler's `gcWriteBarrier`), copies
//! and clears of keys, elements and buckets through gort-gc's
//! `typedmemmove` and `memclr_has_pointers` (`bulkBarrierPreWrite`).
//! The race detector sees what Go's sees: `racereadpc`/`racewritepc` on
//! the hmap's first byte at each operation's entry, then nothing of the
//! operation's own accesses (`RuntimeGuard`: Go's runtime is not
//! instrumented), then the compiled code's read or write of the element
//! through the returned slot.

use gort_gc::{new_object, Obj, Ptr, Type};
use gort_scheduler::explain;
use gort_scheduler::race::{self, RuntimeFn, RuntimeGuard};
use gort_scheduler::G;

pub(crate) use crate::bmap::*;
use crate::explain_notes;
use crate::grow::{grow_work, hash_grow};
use crate::mapkey::KeyArg;
use crate::maptype::*;
use crate::probe::Probe;
use crate::race_fns;

/// hmap word indices.
pub(crate) const W_COUNT: usize = 0;
pub(crate) const W_PACKED: usize = 1;
pub(crate) const W_BUCKETS: usize = 2;
pub(crate) const W_OLDBUCKETS: usize = 3;
pub(crate) const W_NEVACUATE: usize = 4;
pub(crate) const W_EXTRA: usize = 5;

pub(crate) fn hmap_type() -> &'static Type {
    static T: std::sync::OnceLock<&'static Type> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        let names = [
            "count",
            "flags",
            "buckets",
            "oldbuckets",
            "nevacuate",
            "extra",
        ];
        Type::build("runtime.hmap", 6, &[W_BUCKETS, W_OLDBUCKETS, W_EXTRA])
            .with_word_names(names.map(String::from).to_vec())
            .with_scan_old_word(W_OLDBUCKETS)
            .leak()
    })
}
/// A map header (Go's `*hmap`); `Ptr::NIL` is the nil map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HMap(pub Ptr);

/// A snapshot of a map's growth state (for demos and traces).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MapStats {
    pub b: u8,
    pub count: usize,
    pub noverflow: u16,
    pub growing: bool,
    pub same_size_grow: bool,
    pub nevacuate: usize,
    pub flags: u8,
    pub buckets_nil: bool,
}

/// The header of a map being operated on: checked once per operation;
/// and the goroutine operating on it, whose memo (slot 0: the header,
/// slot 1: the bucket array) makes those checks cheap.
#[derive(Clone, Copy)]
pub(crate) struct H(pub(crate) Obj, pub(crate) Option<&'static G>);

impl std::fmt::Debug for H {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "H({:?})", self.0)
    }
}

/// Memo slots (`G::obj_memo`).
pub(crate) const MEMO_HMAP: usize = 0;
pub(crate) const MEMO_BUCKETS: usize = 1;
pub(crate) const MEMO_OVERFLOW: usize = 2;
pub(crate) const MEMO_OLDBUCKETS: usize = 3;

impl HMap {
    /// The header, checked live (once per map operation).
    #[inline]
    #[track_caller]
    pub(crate) fn hdr(self) -> H {
        H(self.0.obj(), None)
    }

    /// Whether this operation's accesses are steps (deterministic mode,
    /// or no goroutine known): the generic paths then read tophash bytes
    /// one by one (`probe.rs`).
    #[inline]
    pub(crate) fn stepping_g(g: Option<&G>) -> bool {
        g.is_none_or(|g| g.is_det())
    }

    /// The header of a map operation run by goroutine `g` (from Go's
    /// prologue safepoint, `preempt_point_g`).
    #[inline(always)]
    #[track_caller]
    pub(crate) fn hdr_in(self, g: Option<&'static G>) -> H {
        self.hdr_in_s::<true>(g)
    }

    /// `hdr_in`, a step only if `S` (the fast paths in parallel mode).
    #[inline(always)]
    #[track_caller]
    pub(crate) fn hdr_in_s<const S: bool>(self, g: Option<&'static G>) -> H {
        H(self.0.obj_memo_s::<S>(g, MEMO_HMAP), g)
    }

    /// `len(m)`: the count word (no concurrency check, as in Go).
    #[track_caller]
    pub fn count(self) -> usize {
        self.hdr().count()
    }

    /// `len(m)`, nil-safe: the count word, or 0 for the nil map.
    #[track_caller]
    pub fn len(self) -> usize {
        if self.0.is_nil() {
            0
        } else {
            self.count()
        }
    }

    #[track_caller]
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// The map's growth state, read without the concurrency checks (like
    /// the probe program of maps.md §12.6 reading the hmap with unsafe).
    pub fn stats(self) -> MapStats {
        if self.0.is_nil() {
            return MapStats {
                buckets_nil: true,
                ..MapStats::default()
            };
        }
        let h = self.hdr();
        let f = h.flags();
        MapStats {
            b: h.b(),
            count: h.count(),
            noverflow: h.noverflow(),
            growing: h.growing(),
            same_size_grow: f & SAME_SIZE_GROW != 0,
            nevacuate: h.nevacuate(),
            flags: f as u8,
            buckets_nil: h.0.load_ptr(W_BUCKETS).is_nil(),
        }
    }
}

impl H {
    /// `HMap::stepping_g` for this operation's goroutine.
    #[inline]
    pub(crate) fn stepping(self) -> bool {
        HMap::stepping_g(self.1)
    }

    // ---- header fields (each a heap access)
    #[inline]
    pub fn count(self) -> usize {
        self.0.load(W_COUNT) as usize
    }
    #[inline]
    pub(crate) fn set_count(self, n: usize) {
        self.0.store(W_COUNT, n as u64)
    }
    #[inline]
    pub fn flags(self) -> u64 {
        self.0.load_field(W_PACKED, 0, 8)
    }
    #[inline]
    pub(crate) fn set_flags(self, f: u64) {
        self.0.store_field(W_PACKED, 0, 8, f)
    }
    #[inline]
    pub fn b(self) -> u8 {
        self.0.load_field(W_PACKED, 8, 8) as u8
    }
    #[inline]
    pub(crate) fn set_b(self, b: u8) {
        self.0.store_field(W_PACKED, 8, 8, b as u64)
    }
    #[inline]
    pub fn noverflow(self) -> u16 {
        self.0.load_field(W_PACKED, 16, 16) as u16
    }
    #[inline]
    pub(crate) fn set_noverflow(self, n: u16) {
        self.0.store_field(W_PACKED, 16, 16, n as u64)
    }
    #[inline]
    pub(crate) fn hash0(self) -> u32 {
        self.0.load_field(W_PACKED, 32, 32) as u32
    }
    #[inline]
    pub(crate) fn set_hash0(self, h: u32) {
        self.0.store_field(W_PACKED, 32, 32, h as u64)
    }
    /// The bucket array, checked (or `Obj::NIL`).
    #[inline(always)]
    #[track_caller]
    pub fn buckets(self) -> Obj {
        self.0.load_ptr(W_BUCKETS).obj_memo(self.1, MEMO_BUCKETS)
    }
    /// The next bucket of `b`'s chain, checked (or `Obj::NIL`).
    #[inline(always)]
    #[track_caller]
    pub(crate) fn overflow(self, t: &MapType, b: Obj) -> Obj {
        b.load_ptr(t.overflow_word())
            .obj_memo2(self.1, MEMO_BUCKETS, MEMO_OVERFLOW)
    }
    #[inline]
    #[track_caller]
    pub fn oldbuckets(self) -> Obj {
        self.0
            .load_ptr(W_OLDBUCKETS)
            .obj_memo(self.1, MEMO_OLDBUCKETS)
    }
    #[inline]
    pub(crate) fn nevacuate(self) -> usize {
        self.0.load(W_NEVACUATE) as usize
    }
    #[inline]
    pub(crate) fn extra(self) -> Obj {
        self.0.load_ptr(W_EXTRA).obj_or_nil()
    }
    #[inline]
    pub fn growing(self) -> bool {
        !self.0.load_ptr(W_OLDBUCKETS).is_nil()
    }
    #[inline]
    pub(crate) fn same_size_grow(self) -> bool {
        self.flags() & SAME_SIZE_GROW != 0
    }
    /// Go's `noldbuckets`.
    pub(crate) fn noldbuckets(self) -> usize {
        let mut b = self.b();
        if !self.same_size_grow() {
            b -= 1;
        }
        bucket_shift(b)
    }
    pub(crate) fn oldbucketmask(self) -> usize {
        self.noldbuckets() - 1
    }

    /// A write operation's entry check: another writer inside its
    /// critical section is `fatal error: concurrent map writes`.
    #[inline]
    #[track_caller]
    pub(crate) fn check_no_writer(self) {
        if self.flags() & HASH_WRITING != 0 {
            explain_notes::writer_inside(self.addr());
            gort_scheduler::fatal("concurrent map writes");
        }
        explain_notes::no_writer(self.addr());
    }

    /// The header's address (the map's identity in the explain log).
    pub(crate) fn addr(self) -> usize {
        self.0.ptr().0
    }

    /// A write operation's exit: if another writer cleared our
    /// `hashWriting` meanwhile, `fatal error: concurrent map writes`;
    /// else clear it. Go clears with `h.flags &^= hashWriting`, not a
    /// flip: a writer that clears the bit between this check and the
    /// load below leaves it clear, where a flip would set it again and
    /// leave the map "writing" for good.
    #[inline]
    #[track_caller]
    pub(crate) fn end_write(self) {
        if self.flags() & HASH_WRITING == 0 {
            explain_notes::cleared_by_another(self.addr());
            gort_scheduler::fatal("concurrent map writes");
        }
        let f = self.flags();
        self.set_flags(f & !HASH_WRITING);
        explain_notes::cleared(self.addr());
    }

    /// Flips `hashWriting` as Go's `h.flags ^= hashWriting` does: a load
    /// of the flags byte and a store of it (two heap accesses, so two
    /// steps: in deterministic mode another writer can run in between and
    /// its flip be lost, as on real hardware). The store replaces only the
    /// flags byte of its word, like Go's byte store.
    #[inline]
    #[track_caller]
    pub(crate) fn xor_writing(self) {
        let f = self.flags();
        self.set_flags(f ^ HASH_WRITING);
        explain_notes::flipped(self.addr(), f);
    }
}

/// Go's `makemap_small` (`make(map[K]V)` and hints up to 8): B = 0,
/// buckets allocated by the first assignment.
pub fn makemap_small() -> HMap {
    let p = new_object(hmap_type());
    H(p.obj(), None).set_hash0(gort_scheduler::fastrand());
    HMap(p)
}

/// Go's `makemap(t, hint)`.
pub fn makemap(t: &MapType, hint: usize) -> HMap {
    if hint <= BUCKET_CNT {
        return makemap_small();
    }
    let p = new_object(hmap_type());
    let h = H(p.obj(), None);
    h.set_hash0(gort_scheduler::fastrand());
    let mut b = 0u8;
    while over_load_factor(hint, b) {
        b += 1;
    }
    h.set_b(b);
    if b != 0 {
        let (array, next) = make_bucket_array(t, b);
        // `h.buckets = buckets`: a pointer store (gcWriteBarrier).
        h.0.store_ptr(W_BUCKETS, array);
        if !next.is_nil() {
            let x = new_object(mapextra_type());
            x.store_ptr(X_NEXTOVERFLOW, next);
            h.0.store_ptr(W_EXTRA, x);
        }
    }
    HMap(p)
}

/// Where an element lives: word `word` of `bucket` onwards (a bucket slot,
/// or word 0 of an indirect element's own object). Go's map functions
/// return a pointer to it; the compiled caller reads or writes it.
#[derive(Clone, Copy, Debug)]
pub struct ElemSlot {
    pub bucket: Obj,
    pub word: usize,
}

impl ElemSlot {
    /// Word `j` of the element.
    #[track_caller]
    pub fn load(self, j: usize) -> u64 {
        self.bucket.load(self.word + j)
    }
    /// Stores word `j` of the element (a pointer word with `store_ptr`).
    #[track_caller]
    pub fn store(self, j: usize, v: u64) {
        self.bucket.store(self.word + j, v)
    }
    #[track_caller]
    pub fn store_ptr(self, j: usize, p: Ptr) {
        // The compiled caller's store of a pointer element (gcWriteBarrier).
        self.bucket.store_ptr(self.word + j, p)
    }
}

/// The element of slot `i` of `b` (through the pointer if indirect).
#[inline]
#[track_caller]
pub(crate) fn elem_at(t: &MapType, b: Obj, i: usize) -> ElemSlot {
    if t.indirect_elem {
        ElemSlot {
            bucket: b.load_ptr(t.elem_word(i)).obj(),
            word: 0,
        }
    } else {
        ElemSlot {
            bucket: b,
            word: t.elem_word(i),
        }
    }
}

/// Go's `mapaccess1` (`v := m[k]`): the element, or None where Go returns
/// a pointer to the zero value (the caller reads zeros).
#[track_caller]
pub fn mapaccess1(t: &MapType, h: HMap, key: KeyArg) -> Option<ElemSlot> {
    let f = race_fns::pick(t, &race_fns::MAPACCESS1, &race_fns::MAPACCESS1_FASTSTR);
    mapaccess(t, h, key, f)
}

/// Go's `mapaccess2` (generic keys; `int64` keys use `mapaccess2_fast64`):
/// the element, or None.
#[track_caller]
pub fn mapaccess2(t: &MapType, h: HMap, key: KeyArg) -> Option<ElemSlot> {
    let f = race_fns::pick(t, &race_fns::MAPACCESS2, &race_fns::MAPACCESS2_FASTSTR);
    mapaccess(t, h, key, f)
}

/// Both lookups; `f` names which for the race detector. The caller's
/// reads of the returned element are the compiled code's, instrumented.
#[inline]
#[track_caller]
fn mapaccess(t: &MapType, h: HMap, key: KeyArg, f: &'static RuntimeFn) -> Option<ElemSlot> {
    // Go's function prologue: a safepoint.
    // SAFETY: `g` (and the `H` holding it) is used only by this map
    // operation, on this goroutine, while its runtime runs.
    let g = unsafe { gort_scheduler::preempt_point_g() };
    // Go also reads the key object (raceReadObjectPC); gort's keys are
    // arguments, not memory the program shares.
    if h.0.is_nil() {
        return None;
    }
    if gort_scheduler::race::enabled() {
        race::read_pc(h.0 .0, f);
    }
    let _runtime = RuntimeGuard::enter();
    let h = h.hdr_in(g);
    if h.count() == 0 {
        return None;
    }
    if h.flags() & HASH_WRITING != 0 {
        explain_notes::reader_saw_writer(h.addr());
        gort_scheduler::fatal("concurrent map read and map write");
    }
    lookup(t, h, key)
}

/// Go's `mapaccessK` (the iterator's re-lookup): no concurrency check.
pub(crate) fn mapaccess_k(t: &MapType, h: H, key: KeyArg) -> Option<ElemSlot> {
    if h.count() == 0 {
        return None;
    }
    lookup(t, h, key)
}

/// The search of `mapaccess2` and `mapaccessK`, with Go's loads in Go's
/// order: `hash0` for the hash, then `B`, `buckets`, `oldbuckets`, and
/// the flags for `sameSizeGrow` (flags, B and hash0 share a header word
/// here, but each is its own load in Go, and a racing writer can change
/// one between them).
#[track_caller]
pub(crate) fn lookup(t: &MapType, h: H, key: KeyArg) -> Option<ElemSlot> {
    let hash = t.hash_key(key, h.hash0());
    let mut m = bucket_mask(h.b()) as usize;
    let mut b = bucket_at(t, h.buckets(), hash as usize & m);
    // Go's `if c := h.oldbuckets; c != nil`: one load. A writer may end
    // the growth (oldbuckets = nil) right after it; the array read here
    // stays live until this goroutine's next safepoint.
    let c = h.0.load_ptr(W_OLDBUCKETS);
    if !c.is_nil() {
        if !h.same_size_grow() {
            // There used to be half as many buckets; mask down one more
            // power of two.
            m >>= 1;
        }
        let oldb = bucket_at(t, c.obj_memo(h.1, MEMO_OLDBUCKETS), hash as usize & m);
        if !evacuated(oldb) {
            b = oldb;
        }
    }
    let top = tophash(hash);
    let det = h.stepping();
    while !b.is_nil() {
        let mut probe = Probe::new(b, top, det);
        while let Some(i) = probe.next_candidate() {
            if t.key_equal(key, b, i) {
                return Some(elem_at(t, b, i));
            }
        }
        if probe.hit_rest() {
            return None;
        }
        b = h.overflow(t, b);
    }
    None
}

/// Go's `mapassign` (generic keys): the element's slot, inserting the key
/// if it is new; the caller writes the element.
#[track_caller]
pub fn mapassign(t: &MapType, h: HMap, key: KeyArg) -> ElemSlot {
    // SAFETY: `g` (and the `H` holding it) is used only by this map
    // operation, on this goroutine, while its runtime runs.
    let g = unsafe { gort_scheduler::preempt_point_g() };
    if h.0.is_nil() {
        panic!("assignment to entry in nil map");
    }
    if gort_scheduler::race::enabled() {
        race::write_pc(
            h.0 .0,
            race_fns::pick(t, &race_fns::MAPASSIGN, &race_fns::MAPASSIGN_FASTSTR),
        );
    }
    explain::note(
        race_fns::pick(t, &race_fns::MAPASSIGN, &race_fns::MAPASSIGN_FASTSTR)
            .name
            .trim_start_matches("runtime."),
        || (shown(h.0 .0), "m[k] = ...: enter".into()),
    );
    let _runtime = RuntimeGuard::enter();
    let h = h.hdr_in(g);
    h.check_no_writer();
    let hash = t.hash_key(key, h.hash0());
    // Set hashWriting after calling t.hasher, since t.hasher may panic,
    // in which case we have not actually done a write.
    h.xor_writing();
    if h.0.load_ptr(W_BUCKETS).is_nil() {
        // `h.buckets = newobject(t.bucket)`: a pointer store (gcWriteBarrier).
        h.0.store_ptr(W_BUCKETS, new_object(t.bucket));
    }
    let slot = 'again: loop {
        let bucket = hash as usize & bucket_mask(h.b()) as usize;
        if h.growing() {
            grow_work(t, h, bucket);
        }
        let mut b = bucket_at(t, h.buckets(), bucket);
        let top = tophash(hash);
        let det = h.stepping();
        let mut insert: Option<(Obj, usize)> = None;
        loop {
            let mut probe = Probe::new(b, top, det);
            while let Some(i) = probe.next_candidate() {
                if t.key_equal(key, b, i) {
                    // Already have a mapping for key. Update it if
                    // necessary.
                    if t.need_key_update {
                        t.update_key(b, i, key);
                    }
                    break 'again elem_at(t, b, i);
                }
            }
            if insert.is_none() {
                insert = probe.first_empty().map(|i| (b, i));
            }
            if probe.hit_rest() {
                break;
            }
            let ovf = h.overflow(t, b);
            if ovf.is_nil() {
                break;
            }
            b = ovf;
        }
        // Did not find mapping for key. Allocate new cell & add entry.
        // If we hit the max load factor or we have too many overflow
        // buckets, and we're not already in the middle of growing, start
        // growing.
        if !h.growing()
            && (over_load_factor(h.count() + 1, h.b())
                || too_many_overflow_buckets(h.noverflow() as u64, h.b()))
        {
            hash_grow(t, h);
            continue 'again; // Growing the table invalidates everything.
        }
        let (ib, i) = match insert {
            Some(x) => x,
            None => {
                // The current bucket and all the overflow buckets
                // connected to it are full, allocate a new one.
                let nb = newoverflow(t, h, b);
                (nb, 0)
            }
        };
        // Store new key/elem at insert position.
        let insertk = t.new_key_slot(ib, i);
        if t.indirect_elem {
            // The pointer to the new element object: a pointer store
            // (gcWriteBarrier).
            ib.store_ptr(t.elem_word(i), new_object(t.elem));
        }
        t.write_key(insertk, key);
        set_tophash(ib, i, top);
        h.set_count(h.count() + 1);
        break elem_at(t, ib, i);
    };
    h.end_write();
    slot
}

/// Go's `mapdelete` (generic keys).
#[track_caller]
pub fn mapdelete(t: &MapType, h: HMap, key: KeyArg) {
    // SAFETY: `g` (and the `H` holding it) is used only by this map
    // operation, on this goroutine, while its runtime runs.
    let g = unsafe { gort_scheduler::preempt_point_g() };
    if h.0.is_nil() {
        return;
    }
    if gort_scheduler::race::enabled() {
        race::write_pc(
            h.0 .0,
            race_fns::pick(t, &race_fns::MAPDELETE, &race_fns::MAPDELETE_FASTSTR),
        );
    }
    let _runtime = RuntimeGuard::enter();
    let h = h.hdr_in(g);
    if h.count() == 0 {
        return;
    }
    h.check_no_writer();
    let hash = t.hash_key(key, h.hash0());
    h.xor_writing();
    let bucket = hash as usize & bucket_mask(h.b()) as usize;
    if h.growing() {
        grow_work(t, h, bucket);
    }
    let bfirst = bucket_at(t, h.buckets(), bucket);
    let mut b = bfirst;
    let top = tophash(hash);
    let det = h.stepping();
    'search: while !b.is_nil() {
        let mut probe = Probe::new(b, top, det);
        while let Some(i) = probe.next_candidate() {
            if !t.key_equal(key, b, i) {
                continue;
            }
            // Only clear key if there are pointers in it; the element is
            // cleared either way (memclrHasPointers, whose barrier shades
            // what it clears, or memclrNoHeapPointers).
            t.clear_key(b, i);
            t.clear_elem(b, i);
            set_tophash(b, i, EMPTY_ONE);
            // If the bucket now ends in a bunch of emptyOne states, change
            // those to emptyRest states.
            let next_is_rest = if i == BUCKET_CNT - 1 {
                let ovf = h.overflow(t, b);
                !ovf.is_nil() && tophash_at(ovf, 0) != EMPTY_REST
            } else {
                tophash_at(b, i + 1) != EMPTY_REST
            };
            if !next_is_rest {
                let (mut bb, mut ii) = (b, i as isize);
                loop {
                    set_tophash(bb, ii as usize, EMPTY_REST);
                    if ii == 0 {
                        if bb == bfirst {
                            break; // beginning of initial bucket, we're done.
                        }
                        // Find previous bucket, continue at its last entry.
                        let c = bb;
                        bb = bfirst;
                        while overflow(t, bb) != c {
                            bb = overflow(t, bb);
                        }
                        ii = BUCKET_CNT as isize - 1;
                    } else {
                        ii -= 1;
                    }
                    if tophash_at(bb, ii as usize) != EMPTY_ONE {
                        break;
                    }
                }
            }
            let n = h.count() - 1;
            h.set_count(n);
            // Reset the hash seed to make it more difficult for attackers
            // to repeatedly trigger hash collisions.
            if n == 0 {
                h.set_hash0(gort_scheduler::fastrand());
            }
            break 'search;
        }
        if probe.hit_rest() {
            break;
        }
        b = h.overflow(t, b);
    }
    h.end_write();
}

/// Go's `mapclear`.
#[track_caller]
pub fn mapclear(t: &MapType, h: HMap) {
    // SAFETY: `g` (and the `H` holding it) is used only by this map
    // operation, on this goroutine, while its runtime runs.
    let g = unsafe { gort_scheduler::preempt_point_g() };
    if h.0.is_nil() {
        return;
    }
    if gort_scheduler::race::enabled() {
        race::write_pc(h.0 .0, &race_fns::MAPCLEAR);
    }
    let _runtime = RuntimeGuard::enter();
    let h = h.hdr_in(g);
    if h.count() == 0 {
        return;
    }
    h.check_no_writer();
    h.xor_writing();
    h.set_flags(h.flags() & !SAME_SIZE_GROW);
    h.0.store_ptr(W_OLDBUCKETS, Ptr::NIL);
    h.0.store(W_NEVACUATE, 0);
    h.set_noverflow(0);
    h.set_count(0);
    h.set_hash0(gort_scheduler::fastrand());
    let x = h.extra();
    if !x.is_nil() {
        x.store_ptr(X_OVERFLOW, Ptr::NIL);
        x.store_ptr(X_OLDOVERFLOW, Ptr::NIL);
        x.store_ptr(X_NEXTOVERFLOW, Ptr::NIL);
    }
    // Re-clear the existing bucket array in place, spares included, and
    // re-derive the spare overflow buckets (Go's makeBucketArray(t, B,
    // buckets)).
    let b = h.b();
    let base = bucket_shift(b);
    let mut nbuckets = base;
    if b >= 4 {
        nbuckets += bucket_shift(b - 4);
    }
    let array = h.buckets();
    if !array.is_nil() {
        if t.bucket.has_pointers() {
            // makeBucketArray's memclrHasPointers over the whole array: the
            // bulk barrier shades what it clears.
            gort_gc::memclr_has_pointers(array, 0, nbuckets * t.bucket_words);
        } else {
            // memclrNoHeapPointers.
            for j in 0..nbuckets {
                let bk = bucket_at(t, array, j);
                for w in 0..t.bucket_words {
                    bk.store(w, 0);
                }
            }
        }
        if base != nbuckets {
            set_overflow(t, bucket_at(t, array, nbuckets - 1), array.ptr());
            let x = create_extra(h);
            x.store_ptr(X_NEXTOVERFLOW, bucket_at(t, array, base).ptr());
        }
    }
    h.end_write();
}

/// The hash seed and a bucket, for the iterator (`iter.rs`).
pub(crate) fn iter_support(h: H) -> u32 {
    h.hash0()
}

pub(crate) fn bucket_evacuated(b: Obj) -> bool {
    evacuated(b)
}
pub(crate) fn bucket_overflow(t: &MapType, b: Obj) -> Obj {
    overflow(t, b)
}
pub(crate) fn bucket(t: &MapType, array: Obj, i: usize) -> Obj {
    bucket_at(t, array, i)
}
pub(crate) fn or_flags(h: H, f: u64) {
    // Go's atomic.Or8(&h.flags, f): the only atomic flag update.
    h.0.fetch_or(W_PACKED, f);
}
pub(crate) fn oldbucketmask(h: H) -> usize {
    h.oldbucketmask()
}
pub(crate) fn same_size_growing(h: H) -> bool {
    h.same_size_grow()
}
/// The map's `extra.overflow` and `extra.oldoverflow` lists (nil if none).
pub(crate) fn overflow_lists(h: H) -> (Ptr, Ptr) {
    let x = h.extra();
    if x.is_nil() {
        (Ptr::NIL, Ptr::NIL)
    } else {
        (x.load_ptr(X_OVERFLOW), x.load_ptr(X_OLDOVERFLOW))
    }
}
