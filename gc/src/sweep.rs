//! Sweeping (Go's `mgcsweep.go`): a marked cycle's mark bits become the
//! allocation bits.
//!
//! `sweep_span` is called by whoever claimed the span with the `sweepgen`
//! CAS `sg-2 -> sg-1` (an mcache refill, `finish_sweep`, or the
//! collector for large objects): every slot that was allocated but is not
//! marked is freed, poisoned (`POISON` in every word) and recorded as
//! freed by this cycle's sweep (`MSpan::set_freed`), the mark bits
//! become the alloc bits, the mark bits are cleared, `freeindex` restarts
//! at 0, and the span publishes `sweepgen = sg`. It reports whether the
//! span is now empty, so the caller can return its pages to the heap.

use gort_scheduler::trace::TraceEvent;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::mheap::Heap;
use crate::mspan::MSpan;
use crate::object::POISON;

fn poison(addr: usize, size: usize) {
    for w in 0..size / 8 {
        // SAFETY: a freed slot of an arena (mapped for the process's
        // life); heap words are only accessed atomically.
        unsafe { &*((addr + w * 8) as *const AtomicU64) }.store(POISON, Ordering::Relaxed);
    }
}

/// Sweeps `s` (claimed by the caller); true if no object survived.
pub(crate) fn sweep_span(heap: &Heap, s: &'static MSpan) -> bool {
    let n = s.nelems();
    let size = s.elemsize();
    let base = s.base();
    let mut live = 0usize;
    let mut freed = 0u64;
    let sg = heap.sweepgen.load(Ordering::Acquire);
    let words = n.div_ceil(64);
    if (0..words).any(|wi| {
        s.alloc_bits[wi].load(Ordering::Relaxed) & !s.mark_bits[wi].load(Ordering::Relaxed) != 0
    }) {
        crate::checked::note_free();
    }
    for wi in 0..words {
        let alloc = s.alloc_bits[wi].load(Ordering::Relaxed);
        let mark = s.mark_bits[wi].load(Ordering::Relaxed);
        let mut dead = alloc & !mark;
        while dead != 0 {
            let b = dead.trailing_zeros() as usize;
            dead &= dead - 1;
            poison(base + (wi * 64 + b) * size, size);
            s.set_freed(wi * 64 + b, sg);
            gort_scheduler::explain::note("sweep", || {
                (
                    heap.display_addr(base + (wi * 64 + b) * size),
                    "unmarked at the last mark termination: freed".to_string(),
                )
            });
            freed += 1;
        }
        live += mark.count_ones() as usize;
        s.alloc_bits[wi].store(mark, Ordering::Release);
        s.mark_bits[wi].store(0, Ordering::Relaxed);
    }
    s.alloc_count.store(live, Ordering::Relaxed);
    s.freeindex.store(0, Ordering::Relaxed);
    if gort_scheduler::tracing() {
        let bytes = (s.npages.load(Ordering::Relaxed) * crate::sizeclasses::PAGE_SIZE) as u64;
        heap.swept_bytes.fetch_add(bytes, Ordering::Relaxed);
        heap.reclaimed_bytes
            .fetch_add(freed * size as u64, Ordering::Relaxed);
    }
    if freed != 0 {
        heap.frees.fetch_add(freed, Ordering::Relaxed);
        heap.heap_objects.fetch_sub(freed, Ordering::Relaxed);
        heap.heap_alloc
            .fetch_sub(freed * size as u64, Ordering::Relaxed);
    }
    s.sweepgen.store(sg, Ordering::Release);
    live == 0
}

/// The collection (gctrace's `gc N`, `MemStats.NumGC` after it) whose
/// sweep runs at heap `sweepgen`: the heap starts at 2 and each mark
/// termination adds 2, before its sweep.
pub(crate) fn cycle_of_sweepgen(sweepgen: u32) -> u32 {
    sweepgen / 2 - 1
}

/// Go's `finishsweep_m`: sweeps every span still unswept.
pub(crate) fn finish_sweep(heap: &Heap) {
    for c in heap.central.iter() {
        c.finish_sweep(heap);
    }
    while sweep_large_one(heap) {}
}

/// Go's `sweepone`: sweeps one unswept span (small classes first, then
/// large objects); false when none is left. Traced as Go's sweep loops
/// are, with a `GCSweepStart`/`GCSweepDone` pair on the P (one per span
/// here: the loops that call this may change P between spans), the
/// latter with the bytes swept and reclaimed (in parallel mode, those of
/// any sweep that ran meanwhile on another P too).
pub(crate) fn sweepone(heap: &Heap) -> bool {
    if !gort_scheduler::tracing() {
        return sweepone_untraced(heap);
    }
    let swept0 = heap.swept_bytes.load(Ordering::Relaxed);
    let reclaimed0 = heap.reclaimed_bytes.load(Ordering::Relaxed);
    gort_scheduler::trace_event(|| TraceEvent::SweepStart);
    let any = sweepone_untraced(heap);
    gort_scheduler::trace_event(|| TraceEvent::SweepDone {
        swept: heap.swept_bytes.load(Ordering::Relaxed) - swept0,
        reclaimed: heap.reclaimed_bytes.load(Ordering::Relaxed) - reclaimed0,
    });
    any
}

fn sweepone_untraced(heap: &Heap) -> bool {
    heap.central.iter().any(|c| c.sweep_one(heap)) || sweep_large_one(heap)
}

/// Sweeps one unswept large-object span: frees it if its object is
/// unmarked. Large spans sit in two sets by sweep parity, as mcentral's
/// spans do, so a collection makes them all unswept by advancing
/// `sweepgen`, and their sweep (which poisons the whole object: 1.4 ms
/// for an 8 MiB bucket array) runs outside the stop-the-world pause.
pub(crate) fn sweep_large_one(heap: &Heap) -> bool {
    let sg = heap.sweepgen.load(Ordering::Acquire);
    let swept = ((sg / 2) % 2) as usize;
    let mut large = heap.large.lock().unwrap();
    while let Some(s) = large[1 - swept].pop() {
        if s.sweepgen
            .compare_exchange(sg - 2, sg - 1, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            large[swept].push(s);
            continue;
        }
        if sweep_span(heap, s) {
            heap.free_span(s);
        } else {
            large[swept].push(s);
        }
        return true;
    }
    false
}

/// Go's `bgsweep` (the runtime goroutine 3, "GC sweep wait" in dumps):
/// after each collection, sweeps the spans nobody's allocation has swept
/// yet, one at a time with a `Gosched` between them as Go's does, so the
/// next cycle's sweep termination finds little or nothing left.
pub(crate) fn bgsweep() {
    let heap = crate::mheap::must();
    let mut swept_after = heap.gcs.ended.count();
    loop {
        while sweepone(heap) {
            gort_scheduler::gosched();
        }
        heap.gcs
            .ended
            .wait_for(swept_after + 1, gort_scheduler::WaitReason::GcSweepWait);
        swept_after = heap.gcs.ended.count();
    }
}
