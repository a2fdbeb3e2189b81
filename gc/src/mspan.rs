//! Spans (Go's `mspan`): runs of pages holding objects of one size class,
//! or one large object.
//!
//! A span records its range, its element size and count, Go's `divMagic`
//! (so `(addr - base) * divmagic >> 32` is the slot index without a
//! division), two bitmaps of 1,024 bits (the most objects a span of Go's
//! size classes holds: 8 KiB of 8-byte objects): `alloc_bits` (slot in
//! use) and `mark_bits` (slot marked by the current cycle), and, per slot,
//! the object's type and allocation site (kept after the object is freed,
//! so a stale access can name what it touched).
//!
//! Sweeping follows Go's `sweepgen` arithmetic relative to the heap's
//! `sweepgen` sg: `sg - 2` needs sweeping, `sg - 1` is being swept, `sg` is
//! swept. Sweeping makes the mark bits the new alloc bits, poisons every
//! freed slot and clears the mark bits (`sweep.rs`).
//!
//! Every field is atomic and a span is never freed, only recycled: a racy
//! simulated program may look up a span through a stale pointer while the
//! span is being reused, which must read stale simulated state, never be a
//! Rust data race.

use std::panic::Location;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};

use crate::object::Type;

/// The most slots a span can have (8 KiB of 8-byte objects).
pub const MAX_SLOTS: usize = 1024;
const BITMAP_WORDS: usize = MAX_SLOTS / 64;

/// `single_type` of a span holding objects of several types.
const MIXED: *mut Type = std::ptr::dangling_mut::<Type>();

pub const SPAN_FREE: u8 = 0;
pub const SPAN_IN_USE: u8 = 1;

/// What a span holds: its pages and its objects' size class, size and
/// count, and Go's `divMagic` for the size.
#[derive(Clone, Copy, Debug)]
pub struct SpanLayout {
    pub npages: usize,
    /// 0 for a large object.
    pub sizeclass: u8,
    pub elemsize: usize,
    pub nelems: usize,
    pub divmagic: u32,
}

/// A span. Its layout (base, size, count) bounds every checked heap
/// access, so outside gort-gc it is read-only:
///
/// ```compile_fail
/// let s = gort_gc::arena::span_of(0x1000).unwrap();
/// s.elemsize.store(1 << 40, std::sync::atomic::Ordering::Relaxed);
/// ```
///
/// ```compile_fail
/// let s: &'static gort_gc::mspan::MSpan = Box::leak(Box::default());
/// s.set_meta(1 << 20, gort_gc::Type::new("t", 1, &[]), std::panic::Location::caller());
/// ```
#[repr(C, align(64))]
pub struct MSpan {
    // The first cache line: what `greyobject` and every checked access
    // read to find a pointer's slot (a marker following pointers into
    // random spans misses on each line it touches; in Rust's own field
    // order these were spread over four lines).
    pub(crate) state: AtomicU8,
    /// Size class (0: a large object).
    pub(crate) sizeclass: AtomicU8,
    pub(crate) divmagic: AtomicU32,
    pub(crate) base: AtomicUsize,
    /// End of the last slot (`base + nelems * elemsize`).
    pub(crate) limit: AtomicUsize,
    pub(crate) elemsize: AtomicUsize,
    /// The one type every object allocated in this span (since it was
    /// set up) has, or `MIXED`, or null before the first allocation: most
    /// spans hold one type, and reading it here instead of in `types`
    /// saves the marker a cache miss per object.
    single_type: AtomicPtr<Type>,
    pub(crate) nelems: AtomicUsize,
    pub(crate) sweepgen: AtomicU32,
    // Then the mark bits (tested first by the marker), the alloc bits,
    // and what allocation, sweeping and reports use.
    pub(crate) mark_bits: [AtomicU64; BITMAP_WORDS],
    pub(crate) alloc_bits: [AtomicU64; BITMAP_WORDS],
    pub(crate) npages: AtomicUsize,
    /// Slots below this index are not free (allocation resumes here).
    pub(crate) freeindex: AtomicUsize,
    pub(crate) alloc_count: AtomicUsize,
    /// Per slot: the object's type and where it was allocated. Arrays of
    /// `meta_cap` entries, replaced (and the old ones kept in a pool) only
    /// when the span is reused with more slots.
    types: AtomicPtr<AtomicPtr<Type>>,
    sites: AtomicPtr<AtomicPtr<Location<'static>>>,
    /// Per slot: the heap's `sweepgen` of the sweep that last freed the
    /// slot's object, 0 if none has since the span was set up. It is what
    /// tells an access to an object the collector freed (a lost object)
    /// from one through a pointer the program made up (a slot never
    /// allocated), which only reads as unallocated too.
    freed: AtomicPtr<AtomicU32>,
    meta_cap: AtomicUsize,
}

impl Default for MSpan {
    fn default() -> Self {
        MSpan {
            base: AtomicUsize::new(0),
            npages: AtomicUsize::new(0),
            limit: AtomicUsize::new(0),
            elemsize: AtomicUsize::new(0),
            nelems: AtomicUsize::new(0),
            divmagic: AtomicU32::new(0),
            sizeclass: AtomicU8::new(0),
            state: AtomicU8::new(SPAN_FREE),
            sweepgen: AtomicU32::new(0),
            freeindex: AtomicUsize::new(0),
            alloc_count: AtomicUsize::new(0),
            alloc_bits: Default::default(),
            mark_bits: Default::default(),
            types: AtomicPtr::new(std::ptr::null_mut()),
            single_type: AtomicPtr::new(std::ptr::null_mut()),
            sites: AtomicPtr::new(std::ptr::null_mut()),
            freed: AtomicPtr::new(std::ptr::null_mut()),
            meta_cap: AtomicUsize::new(0),
        }
    }
}

fn leak_array<T>(n: usize) -> *mut AtomicPtr<T> {
    let b: Box<[AtomicPtr<T>]> = (0..n)
        .map(|_| AtomicPtr::new(std::ptr::null_mut()))
        .collect();
    Box::leak(b).as_mut_ptr()
}

impl MSpan {
    /// (Re)initialises a span at `base` with layout `l`, swept for
    /// `sweepgen` (the caller owns it: it is not reachable by allocation).
    pub(crate) fn init(&self, base: usize, l: SpanLayout, sweepgen: u32) {
        let SpanLayout {
            npages,
            sizeclass,
            elemsize,
            nelems,
            divmagic,
        } = l;
        debug_assert!(nelems <= MAX_SLOTS);
        self.base.store(base, Ordering::Relaxed);
        self.npages.store(npages, Ordering::Relaxed);
        self.elemsize.store(elemsize, Ordering::Relaxed);
        self.nelems.store(nelems, Ordering::Relaxed);
        self.limit
            .store(base + nelems * elemsize, Ordering::Relaxed);
        self.divmagic.store(divmagic, Ordering::Relaxed);
        self.sizeclass.store(sizeclass, Ordering::Relaxed);
        self.sweepgen.store(sweepgen, Ordering::Relaxed);
        self.freeindex.store(0, Ordering::Relaxed);
        self.alloc_count.store(0, Ordering::Relaxed);
        for w in self.alloc_bits.iter().chain(self.mark_bits.iter()) {
            w.store(0, Ordering::Relaxed);
        }
        if self.meta_cap.load(Ordering::Relaxed) < nelems {
            // The old arrays stay allocated (leaked): a racy reader holding
            // them reads stale metadata, not freed memory.
            self.types.store(leak_array(nelems), Ordering::Release);
            self.sites.store(leak_array(nelems), Ordering::Release);
            let freed: Box<[AtomicU32]> = (0..nelems).map(|_| AtomicU32::new(0)).collect();
            self.freed
                .store(Box::leak(freed).as_mut_ptr(), Ordering::Release);
            self.meta_cap.store(nelems, Ordering::Release);
        } else {
            // The new layout's slots have held no object yet.
            // SAFETY: nelems <= meta_cap; the array is never freed.
            let freed =
                unsafe { std::slice::from_raw_parts(self.freed.load(Ordering::Acquire), nelems) };
            for f in freed {
                f.store(0, Ordering::Relaxed);
            }
        }
        self.single_type
            .store(std::ptr::null_mut(), Ordering::Relaxed);
        self.state.store(SPAN_IN_USE, Ordering::Release);
    }

    #[inline(always)]
    pub fn base(&self) -> usize {
        self.base.load(Ordering::Relaxed)
    }
    #[inline(always)]
    pub fn elemsize(&self) -> usize {
        self.elemsize.load(Ordering::Relaxed)
    }
    #[inline]
    pub fn nelems(&self) -> usize {
        self.nelems.load(Ordering::Relaxed)
    }
    #[inline(always)]
    pub fn in_use(&self) -> bool {
        self.state.load(Ordering::Acquire) == SPAN_IN_USE
    }

    /// The slot index of `addr`, which must lie in `[base, limit)`.
    #[inline(always)]
    pub fn obj_index(&self, addr: usize) -> usize {
        let off = addr - self.base();
        if self.sizeclass.load(Ordering::Relaxed) == 0 {
            return 0;
        }
        ((off as u64 * self.divmagic.load(Ordering::Relaxed) as u64) >> 32) as usize
    }

    /// The slot holding `addr` (interior pointers included): its index and
    /// base address, if `addr` is inside an in-use span's slots.
    #[inline(always)]
    pub fn find(&self, addr: usize) -> Option<(usize, usize)> {
        if !self.in_use() {
            return None;
        }
        let base = self.base();
        if addr < base || addr >= self.limit.load(Ordering::Relaxed) {
            return None;
        }
        let i = self.obj_index(addr);
        Some((i, base + i * self.elemsize()))
    }

    #[inline(always)]
    pub fn is_allocated(&self, i: usize) -> bool {
        self.alloc_bits[i / 64].load(Ordering::Relaxed) & (1 << (i % 64)) != 0
    }
    #[inline]
    pub(crate) fn set_allocated(&self, i: usize) {
        let w = &self.alloc_bits[i / 64];
        // Single writer (the P that has the span cached); concurrent
        // readers only check bits.
        w.store(
            w.load(Ordering::Relaxed) | (1 << (i % 64)),
            Ordering::Release,
        );
    }
    #[inline(always)]
    pub fn is_marked(&self, i: usize) -> bool {
        self.mark_bits[i / 64].load(Ordering::Relaxed) & (1 << (i % 64)) != 0
    }
    /// Sets the mark bit; false if it was already set. Atomic (Go's
    /// `atomic.Or8`): mark workers, assists, barrier flushes and
    /// allocate-black set bits of one word concurrently. The plain load
    /// first skips the locked operation for the common already-marked case.
    #[inline]
    pub(crate) fn try_mark(&self, i: usize) -> bool {
        let w = &self.mark_bits[i / 64];
        let bit = 1 << (i % 64);
        if w.load(Ordering::Relaxed) & bit != 0 {
            return false;
        }
        w.fetch_or(bit, Ordering::Relaxed) & bit == 0
    }

    /// The next free slot at or after `freeindex`, or None when full.
    pub(crate) fn next_free_index(&self) -> Option<usize> {
        let n = self.nelems();
        let mut i = self.freeindex.load(Ordering::Relaxed);
        while i < n {
            let word = self.alloc_bits[i / 64].load(Ordering::Relaxed) >> (i % 64);
            if word == u64::MAX >> (i % 64) {
                i = (i / 64 + 1) * 64;
                continue;
            }
            let z = (!word).trailing_zeros() as usize;
            let j = i + z;
            if j >= n {
                break;
            }
            self.freeindex.store(j + 1, Ordering::Relaxed);
            return Some(j);
        }
        self.freeindex.store(n, Ordering::Relaxed);
        None
    }

    #[inline]
    pub(crate) fn set_meta(&self, i: usize, ty: &'static Type, site: &'static Location<'static>) {
        let t = ty as *const Type as *mut Type;
        let single = self.single_type.load(Ordering::Relaxed);
        if single.is_null() {
            self.single_type.store(t, Ordering::Relaxed);
        } else if single != t && single != MIXED {
            self.single_type.store(MIXED, Ordering::Relaxed);
        }
        // SAFETY: i < nelems <= meta_cap; the arrays are never freed.
        unsafe {
            (*self.types.load(Ordering::Acquire).add(i))
                .store(ty as *const Type as *mut Type, Ordering::Relaxed);
            (*self.sites.load(Ordering::Acquire).add(i)).store(
                site as *const Location<'static> as *mut Location<'static>,
                Ordering::Relaxed,
            );
        }
    }

    /// The address of slot `i`'s type entry (for prefetching).
    #[inline]
    pub fn type_slot_addr(&self, i: usize) -> usize {
        self.types.load(Ordering::Relaxed) as usize + i * 8
    }

    /// The type of slot `i` (of its last occupant, once freed).
    #[inline]
    pub fn type_of(&self, i: usize) -> Option<&'static Type> {
        let single = self.single_type.load(Ordering::Relaxed);
        if !single.is_null() && single != MIXED {
            // SAFETY: types are leaked ('static).
            return Some(unsafe { &*single });
        }
        if i >= self.meta_cap.load(Ordering::Acquire) {
            return None;
        }
        // SAFETY: i < meta_cap; arrays are never freed; types are 'static.
        unsafe {
            (*self.types.load(Ordering::Acquire).add(i))
                .load(Ordering::Relaxed)
                .as_ref()
        }
    }

    /// Records that the sweep of heap `sweepgen` freed slot `i`'s object.
    #[inline]
    pub fn set_freed(&self, i: usize, sweepgen: u32) {
        // SAFETY: i < nelems <= meta_cap (the sweeper's slots); the array
        // is never freed.
        unsafe { &*self.freed.load(Ordering::Acquire).add(i) }.store(sweepgen, Ordering::Relaxed);
    }

    /// The heap `sweepgen` of the sweep that freed slot `i`'s last
    /// occupant, or None if no sweep has freed an object there since the
    /// span was set up (the slot never held one, or holds one now).
    pub fn freed_by(&self, i: usize) -> Option<u32> {
        if i >= self.meta_cap.load(Ordering::Acquire) {
            return None;
        }
        // SAFETY: as in `type_of`.
        let sg = unsafe { &*self.freed.load(Ordering::Acquire).add(i) }.load(Ordering::Relaxed);
        (sg != 0).then_some(sg)
    }

    /// Where slot `i`'s object was allocated.
    pub fn site_of(&self, i: usize) -> Option<&'static Location<'static>> {
        if i >= self.meta_cap.load(Ordering::Acquire) {
            return None;
        }
        // SAFETY: as in `type_of`.
        unsafe {
            (*self.sites.load(Ordering::Acquire).add(i))
                .load(Ordering::Relaxed)
                .as_ref()
        }
    }
}
