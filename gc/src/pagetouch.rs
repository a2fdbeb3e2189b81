//! First touches of the heap's OS pages, for deterministic mode's clock.
//!
//! A fresh Go process pays a page fault the first time it touches each
//! 4 KiB page of its heap, and which fault depends on the order of the
//! touches:
//!
//! - a first read maps the kernel's shared zero page;
//! - a first write allocates a page;
//! - a write after a read replaces the zero page's mapping. The old entry
//!   must then be flushed from the TLB of every CPU the process runs on:
//!   an inter-processor interrupt, which on this virtual machine costs
//!   tens of microseconds when the other vCPU runs one of the process's
//!   threads (`gort_scheduler::PageTouch`).
//!
//! Go's map reads a new bucket's `tophash` before it writes it, and a
//! lookup or the collector's scan can read a bucket page before any write
//! reaches it; so a map's first insert beside a busy P takes 15-20 us in
//! Go 1.19 on this guest, against 5 us beside an idle one.
//!
//! Each arena keeps a state byte per OS page (`HeapArena::os_pages`):
//! untouched, zero page, written. The heap accesses a deterministic
//! goroutine makes (those that are scheduler steps: word loads and
//! stores, the barrier's reads of the slots it overwrites, the mark's
//! reads of the words it scans) pass their address here, and first
//! touches are charged through `gort_scheduler::det_page_touch`. In a
//! process with no deterministic runtime this is one load of a global,
//! as `step()` is.
//!
//! Charged at span allocation instead (`mheap`): the huge pages a large
//! span covers whole (one 2 MiB fault each; their OS pages count as
//! written), and under `-race` the shadow's pages.

use std::sync::atomic::Ordering;

use gort_scheduler::PageTouch;

use crate::arena::{arena_of, HeapArena, OS_PAGES_PER_ARENA, OS_PAGE_SHIFT};

const UNTOUCHED: u8 = 0;
const ZERO_PAGE: u8 = 1;
const WRITTEN: u8 = 2;

/// A load (`WRITE` false) or store of the heap word at `addr`.
#[inline(always)]
pub(crate) fn touch<const WRITE: bool>(addr: usize) {
    if gort_scheduler::det_runtimes() {
        touch_slow::<WRITE>(addr);
    }
}

#[inline(never)]
fn touch_slow<const WRITE: bool>(addr: usize) {
    let Some(a) = arena_of(addr) else {
        return;
    };
    let t = &a.os_pages[((addr - a.base) >> OS_PAGE_SHIFT) & (OS_PAGES_PER_ARENA - 1)];
    let old = t.load(Ordering::Relaxed);
    if old == WRITTEN || (!WRITE && old == ZERO_PAGE) {
        return;
    }
    // Only a deterministic runtime's own goroutines (the driver's thread)
    // reach its arenas' states, so a plain load and store suffice.
    if !gort_scheduler::deterministic() {
        return;
    }
    t.store(if WRITE { WRITTEN } else { ZERO_PAGE }, Ordering::Relaxed);
    gort_scheduler::det_page_touch(match (WRITE, old) {
        (false, _) => PageTouch::Read,
        (true, UNTOUCHED) => PageTouch::Write,
        (true, _) => PageTouch::WriteAfterRead,
    });
}

/// OS pages `[lo, hi)` (byte offsets in `a`) count as written: their
/// fault was charged whole, as a huge page's.
pub(crate) fn mark_written(a: &HeapArena, lo: usize, hi: usize) {
    for t in &a.os_pages[lo >> OS_PAGE_SHIFT..hi >> OS_PAGE_SHIFT] {
        t.store(WRITTEN, Ordering::Relaxed);
    }
}
