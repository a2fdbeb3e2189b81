//! Allocation (Go's `mallocgc`).
//!
//! Small objects (up to 32 KiB) are rounded up to their size class and
//! taken from the current P's mcache span: the next free slot after
//! `freeindex`, no lock. When the span is full the mcache refills from the
//! class's mcentral (which sweeps lazily), and that is when the collector
//! may be triggered, as in Go (`shouldhelpgc`). Large objects get a span of
//! their own from the heap. Memory is zeroed on allocation (a swept slot
//! holds poison), word by word with atomic stores, because a racy reader
//! may be looking at the slot through a stale pointer.
//!
//! A collection is started at the top of an allocation, before the new
//! object exists, so no pointer to it can be missed; the collector itself
//! runs on the M's stack while the goroutine is suspended (`mgc.rs`).

use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::mcache::MCache;
use crate::mheap::Heap;
use crate::mspan::{MSpan, SpanLayout};
use crate::object::{Ptr, Type};
use crate::sizeclasses::{size_to_class, MAX_SMALL_SIZE, PAGE_SIZE};

/// Go's `new(T)`: a zeroed object of type `ty`, allocated at the caller's
/// location (kept for reports).
#[track_caller]
pub fn new_object(ty: &'static Type) -> Ptr {
    mallocgc(ty, Location::caller())
}

fn zero(addr: usize, size: usize) {
    for w in 0..size / 8 {
        // SAFETY: [addr, addr+size) is a slot of an arena (mapped for the
        // process's life); heap words are only accessed atomically.
        unsafe { &*((addr + w * 8) as *const AtomicU64) }.store(0, Ordering::Relaxed);
    }
}

/// The current P's id and the heap, after a safepoint.
#[inline]
fn enter() -> (usize, &'static Heap) {
    // SAFETY: the heap is used only by the allocation that asks for it, on
    // this goroutine, while its runtime runs.
    match unsafe { gort_scheduler::alloc_enter(&crate::mheap::HEAP) } {
        Some((p, Some(h))) => (p, h),
        _ => {
            crate::mheap::must();
            (gort_scheduler::procid(), crate::mheap::must())
        }
    }
}

/// Whether the collector's scan of an object of `ty` (`scanobject`: the
/// first `ptrdata` bytes, whole elements for an array) stays inside its
/// `size` bytes. `Type`'s fields are public, so a type written as a struct
/// literal is checked here rather than trusted: the scan reads raw heap
/// words, and past the object it could leave the arena.
#[inline(always)]
fn scan_fits(ty: &Type) -> bool {
    if ty.count == 1 {
        ty.ptrdata <= ty.size
    } else {
        ty.ptrdata == 0
            || ty.elem_words.checked_mul(8).is_some_and(|eb| {
                eb > 0
                    && ty
                        .ptrdata
                        .div_ceil(eb)
                        .checked_mul(eb)
                        .is_some_and(|b| b <= ty.size)
            })
    }
}

#[cold]
#[inline(never)]
fn bad_type(ty: &Type) -> ! {
    panic!(
        "gort: type {} has pointer data ({} bytes, {} words per element, {} elements) beyond its size ({} bytes)",
        ty.name, ty.ptrdata, ty.elem_words, ty.count, ty.size
    )
}

#[inline]
fn mallocgc(ty: &'static Type, site: &'static Location<'static>) -> Ptr {
    if !scan_fits(ty) {
        bad_type(ty);
    }
    let (mut p, heap) = enter();
    let size = ty.size;
    if heap.gcs.black_enabled.load(Ordering::Relaxed) {
        // Go's deductAssistCredit: pay for the allocation with mark work.
        let bal = gort_scheduler::gc_assist_add(-(size as i64));
        if bal < 0 {
            crate::mgc::gc_assist_alloc(heap, bal.unsigned_abs());
            p = enter().0;
        }
    }
    if heap.heap_live.load(Ordering::Relaxed) >= heap.trigger.load(Ordering::Relaxed) {
        crate::mgc::gc_trigger(heap);
        // The collection may have moved this goroutine to another P.
        p = enter().0;
    }
    if p >= heap.mcaches_used.load(Ordering::Relaxed) {
        heap.mcaches_used.fetch_max(p + 1, Ordering::Relaxed);
    }
    let mc = &heap.mcaches[p];
    if size > MAX_SMALL_SIZE {
        return large_alloc(heap, mc, ty, site);
    }
    let class = size_to_class(size);
    let (s, i) = match mc
        .span(class)
        .and_then(|s| s.next_free_index().map(|i| (s, i)))
    {
        Some(x) => x,
        None => refill(heap, class, mc),
    };
    s.set_allocated(i);
    // Owner-only counter (the span is this P's): no read-modify-write.
    let c = s.alloc_count.load(Ordering::Relaxed);
    s.alloc_count.store(c + 1, Ordering::Relaxed);
    s.set_meta(i, ty, site);
    let elemsize = s.elemsize();
    let addr = s.base() + i * elemsize;
    zero(addr, elemsize);
    // Go's racemalloc: the slot's earlier accesses belong to a freed object.
    gort_scheduler::race::malloc(addr, elemsize);
    if heap.gcs.phase.load(Ordering::Relaxed) != crate::mgc::GC_OFF {
        gcmarknewobject(mc, s, i, elemsize);
    }
    let n = mc.local_nalloc.load(Ordering::Relaxed);
    mc.local_nalloc.store(n + 1, Ordering::Relaxed);
    let b = mc.local_bytes.load(Ordering::Relaxed);
    mc.local_bytes.store(b + elemsize as u64, Ordering::Relaxed);
    Ptr(addr)
}

/// Go's `gcmarknewobject`: an object allocated during the mark is black
/// (it holds only nil pointers, so it needs no scan), counted in the P's
/// cache as Go counts it in the P's `gcWork` (`MCache::black_bytes`).
#[inline(always)]
fn gcmarknewobject(mc: &MCache, s: &MSpan, i: usize, size: usize) {
    if s.try_mark(i) {
        let n = mc.black_objects.load(Ordering::Relaxed);
        mc.black_objects.store(n + 1, Ordering::Relaxed);
        let b = mc.black_bytes.load(Ordering::Relaxed);
        mc.black_bytes.store(b + size as u64, Ordering::Relaxed);
    }
}

#[cold]
#[inline(never)]
fn refill(heap: &Heap, class: u8, mc: &crate::mcache::MCache) -> (&'static MSpan, usize) {
    let s = mc.refill(heap, class);
    let i = s
        .next_free_index()
        .expect("gort: mcentral handed out a full span");
    (s, i)
}

#[cold]
#[inline(never)]
fn large_alloc(
    heap: &Heap,
    mc: &MCache,
    ty: &'static Type,
    site: &'static Location<'static>,
) -> Ptr {
    let npages = ty.size.div_ceil(PAGE_SIZE);
    let bytes = npages * PAGE_SIZE;
    let s = heap.alloc_span(SpanLayout {
        npages,
        sizeclass: 0,
        elemsize: bytes,
        nelems: 1,
        divmagic: 0,
    });
    s.set_allocated(0);
    s.alloc_count.store(1, Ordering::Relaxed);
    s.freeindex.store(1, Ordering::Relaxed);
    s.set_meta(0, ty, site);
    zero(s.base(), bytes);
    gort_scheduler::race::malloc(s.base(), bytes);
    if heap.gcs.phase.load(Ordering::Relaxed) != crate::mgc::GC_OFF {
        gcmarknewobject(mc, s, 0, bytes);
    }
    let sg = heap.sweepgen.load(Ordering::Acquire);
    heap.large.lock().unwrap()[((sg / 2) % 2) as usize].push(s);
    heap.heap_live.fetch_add(bytes as u64, Ordering::Relaxed);
    heap.mallocs.fetch_add(1, Ordering::Relaxed);
    heap.heap_objects.fetch_add(1, Ordering::Relaxed);
    heap.heap_alloc.fetch_add(bytes as u64, Ordering::Relaxed);
    heap.total_alloc.fetch_add(bytes as u64, Ordering::Relaxed);
    Ptr(s.base())
}
