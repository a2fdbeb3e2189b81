//! Central free lists, one per size class (Go's `mcentral`).
//!
//! Spans of a class that no P has cached sit in two sets, partial (some
//! slot free) and full, each split by sweep state the way Go splits them:
//! index `sweepgen/2 % 2` is the swept set, the other one the unswept set.
//! When a collection adds 2 to the heap's `sweepgen`, every swept span
//! becomes unswept at once, with no list to walk (Go's trick).
//!
//! `cache_span` (an mcache refill) takes a swept partial span, else sweeps
//! unswept spans until one has room (lazy sweeping: the allocation pays
//! for the sweep, as in Go; at most 100, Go's `spanBudget`), else asks the
//! heap for a new span.
//! `uncache_span` puts a span an mcache gives back into the right set.

use std::sync::atomic::Ordering;
use std::sync::Mutex;

use crate::mheap::Heap;
use crate::mspan::{MSpan, SpanLayout};
use crate::sizeclasses::{
    objects_per_span, CLASS_TO_ALLOCNPAGES, CLASS_TO_DIVMAGIC, CLASS_TO_SIZE,
};

/// Go's `spanBudget`: unswept spans one refill may sweep.
const SPAN_BUDGET: usize = 100;

#[derive(Default)]
struct Sets {
    /// [parity][0 = partial, 1 = full]
    spans: [[Vec<&'static MSpan>; 2]; 2],
}

pub struct MCentral {
    class: u8,
    sets: Mutex<Sets>,
}

impl MCentral {
    pub fn new(class: u8) -> MCentral {
        MCentral {
            class,
            sets: Mutex::new(Sets::default()),
        }
    }

    /// Go's `mcentral.cacheSpan`: a span of this class with a free slot,
    /// swept for the current cycle, now owned by the calling P's mcache.
    pub fn cache_span(&self, heap: &Heap) -> &'static MSpan {
        let sg = heap.sweepgen.load(Ordering::Acquire);
        let swept = ((sg / 2) % 2) as usize;
        let unswept = 1 - swept;
        {
            let mut sets = self.sets.lock().unwrap();
            if let Some(s) = sets.spans[swept][0].pop() {
                return s;
            }
            // Sweep unswept spans until one has room, partial ones first,
            // at most 100 (Go's `spanBudget`): past that the allocation
            // takes a new span rather than sweep on without a safepoint
            // (a stop of the world waits for it). A span whose objects all
            // died is kept and allocated from, as Go's `sweep(preserve)`
            // keeps it, not given back to the heap and asked for again.
            let mut budget = SPAN_BUDGET;
            for kind in 0..2 {
                while budget > 0 {
                    let Some(s) = sets.spans[unswept][kind].pop() else {
                        break;
                    };
                    budget -= 1;
                    if s.sweepgen
                        .compare_exchange(sg - 2, sg - 1, Ordering::AcqRel, Ordering::Acquire)
                        .is_err()
                    {
                        // Swept by someone else (finish_sweep): file it.
                        let full = s.alloc_count.load(Ordering::Relaxed) == s.nelems();
                        sets.spans[swept][full as usize].push(s);
                        continue;
                    }
                    crate::sweep::sweep_span(heap, s);
                    if s.alloc_count.load(Ordering::Relaxed) < s.nelems() {
                        return s;
                    }
                    sets.spans[swept][1].push(s);
                }
            }
        }
        let c = self.class as usize;
        let size = CLASS_TO_SIZE[c] as usize;
        heap.alloc_span(SpanLayout {
            npages: CLASS_TO_ALLOCNPAGES[c] as usize,
            sizeclass: self.class,
            elemsize: size,
            nelems: objects_per_span(self.class),
            divmagic: CLASS_TO_DIVMAGIC[c],
        })
    }

    /// Go's `mcentral.uncacheSpan`: an mcache gives `s` back.
    pub fn uncache_span(&self, heap: &Heap, s: &'static MSpan) {
        let sg = heap.sweepgen.load(Ordering::Acquire);
        let swept = ((sg / 2) % 2) as usize;
        let full = s.alloc_count.load(Ordering::Relaxed) == s.nelems();
        self.sets.lock().unwrap().spans[swept][full as usize].push(s);
    }

    /// Sweeps one unswept span of this class, filing or freeing it (the
    /// background sweeper's `sweepone`, for this class); false if none
    /// was left.
    pub fn sweep_one(&self, heap: &Heap) -> bool {
        let sg = heap.sweepgen.load(Ordering::Acquire);
        let swept = ((sg / 2) % 2) as usize;
        let unswept = 1 - swept;
        let mut sets = self.sets.lock().unwrap();
        for kind in 0..2 {
            while let Some(s) = sets.spans[unswept][kind].pop() {
                let claimed = s
                    .sweepgen
                    .compare_exchange(sg - 2, sg - 1, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok();
                if claimed && crate::sweep::sweep_span(heap, s) {
                    heap.free_span(s);
                    return true;
                }
                let full = s.alloc_count.load(Ordering::Relaxed) == s.nelems();
                sets.spans[swept][full as usize].push(s);
                if claimed {
                    return true;
                }
            }
        }
        false
    }

    /// Sweeps every unswept span of this class (Go's `finishsweep_m`, for
    /// this class), moving each to its swept set or freeing it.
    pub fn finish_sweep(&self, heap: &Heap) {
        while self.sweep_one(heap) {}
    }
}
