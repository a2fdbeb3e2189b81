//! Per-P allocation caches (Go's `mcache`): one current span per size
//! class, so an allocation takes no lock until its span is full.
//!
//! Only the goroutine running on the P touches its mcache, between two
//! safepoints (allocation does not yield in the middle), so the slots are
//! plain owner-only state; they are atomics only so that the stop-the-
//! world collector can flush them from another thread.

use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use crate::mheap::Heap;
use crate::mspan::MSpan;
use crate::sizeclasses::NUM_SIZE_CLASSES;

/// Each P's cache is alone on its cache lines (two, for the adjacent-line
/// prefetcher): its counters are written by every allocation, and 32-byte
/// caches side by side in `Heap::mcaches` made two Ps' allocations fight
/// over one line (on gobench's `gc concurrent 2` the mutators did a third
/// fewer map writes when the vector happened to start on a line boundary).
#[repr(align(128))]
pub struct MCache {
    alloc: Box<[AtomicPtr<MSpan>]>,
    /// Objects and bytes allocated from this cache since the last flush
    /// (Go's `mcache.local_*`), folded into the heap's statistics at a
    /// refill and when the world stops.
    pub(crate) local_nalloc: AtomicU64,
    pub(crate) local_bytes: AtomicU64,
    /// Objects and bytes allocated black during the mark, small and large
    /// (Go keeps them in the P's `gcWork.bytesMarked`): counted here, not in the
    /// collector's shared counters, which two Ps allocating at once made
    /// a cache line they took turns to own on every allocation. Folded in
    /// at a refill and before mark termination reads the totals.
    pub(crate) black_objects: AtomicU64,
    pub(crate) black_bytes: AtomicU64,
}

impl MCache {
    pub fn new() -> MCache {
        MCache {
            alloc: (0..NUM_SIZE_CLASSES)
                .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                .collect(),
            local_nalloc: AtomicU64::new(0),
            local_bytes: AtomicU64::new(0),
            black_objects: AtomicU64::new(0),
            black_bytes: AtomicU64::new(0),
        }
    }

    /// The cached span of `class`, if any.
    #[inline]
    pub fn span(&self, class: u8) -> Option<&'static MSpan> {
        // SAFETY: cached spans are leaked MSpans.
        unsafe { self.alloc[class as usize].load(Ordering::Relaxed).as_ref() }
    }

    /// Go's `mcache.refill`: gives the full span back and caches a span
    /// with room.
    pub fn refill(&self, heap: &Heap, class: u8) -> &'static MSpan {
        if let Some(old) = self.span(class) {
            heap.central[class as usize].uncache_span(heap, old);
        }
        self.flush_stats(heap);
        let s = heap.central[class as usize].cache_span(heap);
        // Go's heapLive counts a cached span's free slots as allocated
        // (they are this P's to hand out without telling anyone).
        let free = s.nelems() - s.alloc_count.load(Ordering::Relaxed);
        heap.heap_live
            .fetch_add((free * s.elemsize()) as u64, Ordering::Relaxed);
        self.alloc[class as usize].store(s as *const MSpan as *mut MSpan, Ordering::Relaxed);
        s
    }

    /// Folds the local counters into the heap's.
    pub fn flush_stats(&self, heap: &Heap) {
        let n = self.local_nalloc.swap(0, Ordering::Relaxed);
        let b = self.local_bytes.swap(0, Ordering::Relaxed);
        if n != 0 {
            heap.mallocs.fetch_add(n, Ordering::Relaxed);
            heap.heap_objects.fetch_add(n, Ordering::Relaxed);
            heap.heap_alloc.fetch_add(b, Ordering::Relaxed);
            heap.total_alloc.fetch_add(b, Ordering::Relaxed);
        }
        self.flush_black(heap);
    }

    /// Folds the allocate-black counts into the collector's.
    pub(crate) fn flush_black(&self, heap: &Heap) {
        let n = self.black_objects.swap(0, Ordering::Relaxed);
        if n != 0 {
            let b = self.black_bytes.swap(0, Ordering::Relaxed);
            heap.gcs.objects_marked.fetch_add(n, Ordering::Relaxed);
            heap.gcs.bytes_marked.fetch_add(b, Ordering::Relaxed);
        }
    }

    /// Go's `mcache.releaseAll` (world stopped): every cached span goes
    /// back to its central list.
    pub fn release_all(&self, heap: &Heap) {
        self.flush_stats(heap);
        for (class, slot) in self.alloc.iter().enumerate() {
            let p = slot.swap(std::ptr::null_mut(), Ordering::Relaxed);
            // SAFETY: cached spans are leaked MSpans.
            if let Some(s) = unsafe { p.as_ref() } {
                heap.central[class].uncache_span(heap, s);
            }
        }
    }
}

impl Default for MCache {
    fn default() -> Self {
        MCache::new()
    }
}
