//! Per-P write-barrier buffers (Go's `mwbbuf.go`).
//!
//! The barrier (`mbarrier.rs`) does not shade on the spot: it appends the
//! pair (old value, new value) to the current P's `wbBuf`, 256 pairs as in
//! Go. A full buffer is flushed by the goroutine that filled it (Go's
//! `wbBufFlush` -> `wbBufFlush1`): every pointer in it is shaded —
//! greyed into the collector's queue (`mgcwork::wbbuf_shade`), nil and
//! other non-heap values skipped. Mark termination's ragged barrier
//! (`mgc::gc_mark_done`) flushes every P's buffer (`wbbuf_flush_all`), and
//! marking goes on if that shaded anything.
//!
//! Go touches a P's buffer only from that P (the ragged barrier runs the
//! flush on each P with `forEachP`). gort's ragged barrier runs on one
//! goroutine and takes the other Ps' buffers, so each buffer sits behind a
//! lock held only to append or to take the contents: never across a
//! scheduler step (deterministic mode runs every P on one thread). The
//! shading happens after the lock is released, inside a drainer
//! registration (`WorkQueue::begin`), and no safepoint lies between
//! taking a buffer and shading it, so a stop-the-world never sees buffered
//! pointers that are neither in a buffer nor in the grey queue.
//!
//! With no collection marking (the barrier turned on by a test hook, or a
//! buffer flushed after the cycle ended), a flush drops the pointers, as
//! Go's `wbBufFlush` does when `writeBarrier.needed` is false.

use std::sync::atomic::Ordering;
use std::sync::Mutex;

use crate::mheap::Heap;

/// Pairs per buffer (Go's `wbBufEntries`).
pub(crate) const WB_BUF_ENTRIES: usize = 256;
/// Pointers per pair (Go's `wbBufEntryPointers`).
const WB_BUF_ENTRY_POINTERS: usize = 2;
/// Go's `minLegalPointer`: smaller values are never heap pointers.
const MIN_LEGAL_POINTER: usize = 4096;

/// One P's buffer (Go's `wbBuf`): the pointers of the pairs put so far.
/// Alone on its cache lines, as `MCache`: every barrier locks and pushes.
#[derive(Default)]
#[repr(align(128))]
pub(crate) struct WbBuf {
    buf: Mutex<Vec<usize>>,
}

/// Go's `wbBuf.putFast` and, when the buffer fills, `wbBufFlush`: buffers
/// the pair on the current P (shaded at once off a P).
pub(crate) fn wb_buf_put(heap: &'static Heap, old: usize, new: usize) {
    let b = gort_scheduler::try_procid().and_then(|p| heap.wbbufs.get(p));
    let Some(b) = b else {
        wb_buf_flush(heap, vec![old, new]);
        return;
    };
    let full = {
        let mut v = b.buf.lock().unwrap();
        if v.capacity() == 0 {
            v.reserve_exact(WB_BUF_ENTRIES * WB_BUF_ENTRY_POINTERS);
        }
        v.push(old);
        v.push(new);
        if v.len() >= WB_BUF_ENTRIES * WB_BUF_ENTRY_POINTERS {
            Some(std::mem::replace(
                &mut *v,
                Vec::with_capacity(WB_BUF_ENTRIES * WB_BUF_ENTRY_POINTERS),
            ))
        } else {
            None
        }
    };
    if let Some(ptrs) = full {
        wb_buf_flush(heap, ptrs);
    }
}

/// Go's `wbBufFlush` + `wbBufFlush1` for pointers taken out of a buffer:
/// shades them if the collector is marking, else drops them. A scheduler
/// step. Returns how many objects the shading greyed (newly marked).
pub(crate) fn wb_buf_flush(heap: &'static Heap, ptrs: Vec<usize>) -> usize {
    gort_scheduler::step();
    if heap.gcs.phase.load(Ordering::Acquire) == crate::mgc::GC_OFF {
        return 0;
    }
    let ptrs: Vec<usize> = ptrs
        .into_iter()
        .filter(|&p| p >= MIN_LEGAL_POINTER)
        .collect();
    if ptrs.is_empty() {
        return 0;
    }
    let greyed = crate::mgcwork::wbbuf_shade(heap, &ptrs);
    // The barrier's shades, as counts per flush (one event per shade
    // would outnumber everything else in a trace).
    gort_scheduler::trace_event(|| gort_scheduler::trace::TraceEvent::Log {
        category: "barrier",
        message: format!(
            "wbBufFlush: {} pointers shaded, {greyed} objects greyed",
            ptrs.len()
        ),
    });
    greyed
}

/// The ragged barrier's flush (Go's `forEachP` running `wbBufFlush1`):
/// every P's buffer shaded. Returns how many objects that greyed.
pub(crate) fn wbbuf_flush_all(heap: &'static Heap) -> usize {
    let mut n = 0;
    for b in heap.wbbufs.iter() {
        let ptrs = {
            let mut v = b.buf.lock().unwrap();
            if v.is_empty() {
                continue;
            }
            std::mem::take(&mut *v)
        };
        n += wb_buf_flush(heap, ptrs);
    }
    n
}

/// Drops what every buffer holds (Go's `wbBuf.reset` at mark
/// termination, when the barrier goes off).
pub(crate) fn wbbuf_discard_all(heap: &Heap) {
    for b in heap.wbbufs.iter() {
        let mut v = b.buf.lock().unwrap();
        v.clear();
    }
}

/// Pointers buffered on all Ps (for tests).
pub fn debug_wbbuf_len() -> usize {
    let heap = crate::mheap::must();
    heap.wbbufs
        .iter()
        .map(|b| b.buf.lock().unwrap().len())
        .sum()
}
