//! The grey-object queue shared by everyone who marks (Go's `mgcwork.go`).
//!
//! Go keeps grey objects in per-P `gcWork` buffer pairs and a global
//! lock-free list of full buffers. gort keeps the same two levels with
//! simpler containers (gc.md §11 allows it): each drainer (a mark worker,
//! an assist, the write barrier's flush) greys into a local buffer of its
//! own `Marker`, and hands full buffers of `WORKBUF_OBJS` objects to the
//! global list here, where other drainers take them. A drain never keeps
//! local work across a safepoint: it gives back what is left when it
//! stops, so between drains all grey objects are in this list.
//!
//! Termination (Go's `gcMarkDone` condition `nwait == nproc &&
//! !gcMarkWorkAvailable`): no buffer in the list, no root job left, and no
//! drainer active (one that took work counts as active until it has given
//! back everything it did not scan). `take` and `begin`/`end` update the
//! active count under the same lock as the list, so "empty and nobody
//! active" is never seen while work is in a drainer's hands.
//!
//! No scheduler step is taken while the lock is held (deterministic mode
//! runs every P on one thread).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::object::Type;

/// Objects per buffer handed between drainers (Go's workbuf holds 253).
pub const WORKBUF_OBJS: usize = 253;

/// A grey object: its base address and type (so scanning needs no second
/// lookup).
pub type Grey = (usize, &'static Type);

#[derive(Default)]
struct Inner {
    full: Vec<Vec<Grey>>,
    /// Drainers between `begin` and `end`.
    active: usize,
}

/// The global list of full buffers and the count of active drainers.
#[derive(Default)]
pub struct WorkQueue {
    inner: Mutex<Inner>,
    /// `full` is non-empty (read without the lock by pollers).
    nonempty: AtomicBool,
}

impl WorkQueue {
    /// Registers a drainer.
    pub(crate) fn begin(&self) {
        self.inner.lock().unwrap().active += 1;
    }

    /// Unregisters a drainer, giving back the work it did not scan.
    pub(crate) fn end(&self, left: &mut Vec<Grey>) {
        let mut q = self.inner.lock().unwrap();
        if !left.is_empty() {
            for c in left.chunks(WORKBUF_OBJS) {
                q.full.push(c.to_vec());
            }
            left.clear();
            self.nonempty.store(true, Ordering::Release);
        }
        q.active -= 1;
    }

    /// Publishes a full buffer.
    pub(crate) fn put(&self, buf: Vec<Grey>) {
        let mut q = self.inner.lock().unwrap();
        q.full.push(buf);
        self.nonempty.store(true, Ordering::Release);
    }

    /// Takes a buffer, if any.
    pub(crate) fn take(&self) -> Option<Vec<Grey>> {
        if !self.nonempty.load(Ordering::Acquire) {
            return None;
        }
        let mut q = self.inner.lock().unwrap();
        let b = q.full.pop();
        if q.full.is_empty() {
            self.nonempty.store(false, Ordering::Release);
        }
        b
    }

    /// Whether there is work for a drainer.
    pub(crate) fn has_work(&self) -> bool {
        self.nonempty.load(Ordering::Acquire)
    }

    /// No work listed and no drainer active.
    pub(crate) fn idle(&self) -> bool {
        let q = self.inner.lock().unwrap();
        q.full.is_empty() && q.active == 0
    }

    /// Drops everything (a new cycle starts with the world stopped).
    pub(crate) fn reset(&self) {
        let mut q = self.inner.lock().unwrap();
        q.full.clear();
        q.active = 0;
        self.nonempty.store(false, Ordering::Release);
    }
}

/// Shades the pointers a write-barrier buffer held (Go's `wbBufFlush1`):
/// each one's object is greyed, into the global list. Returns how many
/// objects that marked (0: all were black already).
pub(crate) fn wbbuf_shade(heap: &'static crate::mheap::Heap, ptrs: &[usize]) -> usize {
    let mut m = crate::mark::Marker::for_cycle(heap);
    heap.gcs.work.begin();
    for &p in ptrs {
        if p != 0 {
            m.greyobject(p);
        }
    }
    let n = m.stats.objects as usize;
    m.finish(heap);
    n
}
