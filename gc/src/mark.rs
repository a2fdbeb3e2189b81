//! Marking (Go's `mgcmark.go`, stop-the-world form): roots, grey objects,
//! `gcDrain`.
//!
//! Colours as in Go: white = mark bit clear; grey = mark bit set and the
//! object queued on the work list; black = marked and scanned (objects
//! without pointers turn black at once, never queued). `greyobject` finds
//! the object containing an address (interior pointers included), sets its
//! mark bit and queues it; `gc_drain` pops grey objects and scans the
//! pointer words their type's bitmap names. Roots: the registered roots
//! (globals), then every goroutine stack, conservatively: each aligned word
//! from the goroutine's saved stack pointer (less a slack for the
//! registers its switch pushed) to the stack base that points into an
//! allocated object keeps that object alive (platform.md measured 216,000
//! of 216,000 live pointers found this way, with ~1.1x false retention).
//! The collector's own goroutine is suspended on the system stack while
//! this runs, so its stack is frozen like the others'.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::arena::{arena_of, HeapArena, ARENA_SHIFT, PAGES_PER_ARENA};
use crate::mheap::Heap;
use crate::object::{find_object, Type};
use crate::sizeclasses::PAGE_SHIFT;

/// Bytes below a suspended goroutine's recorded stack pointer that may
/// hold its saved registers (platform.md: scan from the recorded address
/// minus 512 bytes, clamped to the slot).
pub const STACK_SLACK: usize = 512;

/// Go's `sys.Prefetch` in greyobject: the object will likely be scanned
/// soon by this worker, so its cache line starts loading now.
#[inline(always)]
fn prefetch(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it never faults and changes no state
    // visible to the program, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch(addr as *const i8, std::arch::x86_64::_MM_HINT_T0)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

/// What one marking pass did.
#[derive(Clone, Copy, Debug, Default)]
pub struct MarkStats {
    /// Objects marked and their bytes (slot sizes).
    pub objects: u64,
    pub bytes: u64,
    /// Stack bytes scanned.
    pub stack_bytes: u64,
}

/// A marking pass.
///
/// ```compile_fail
/// // Reading arbitrary memory as a stack is gort-gc's own, unsafe, business.
/// gort_gc::mark::Marker::new().scan_stack(0, 64);
/// ```
pub struct Marker {
    /// Grey objects: base address and type (so scanning needs no second
    /// lookup).
    work: Vec<(usize, &'static Type)>,
    /// The arena of the last pointer greyed (index, arena).
    last_arena: (usize, &'static HeapArena),
    pub stats: MarkStats,
    /// When recording: the objects a stack word pointed to (for tests that
    /// check exactly what conservative scanning kept).
    pub stack_hits: Option<Vec<usize>>,
}

impl Default for Marker {
    fn default() -> Self {
        Marker::new()
    }
}

impl Marker {
    pub fn new() -> Marker {
        Marker {
            work: Vec::with_capacity(4096),
            last_arena: (usize::MAX, crate::arena::first_arena_or_dummy()),
            stats: MarkStats::default(),
            stack_hits: None,
        }
    }

    /// Go's `greyobject`: marks the object containing `addr` (if any) and
    /// queues it for scanning if it has pointers.
    #[inline]
    pub fn greyobject(&mut self, addr: usize) {
        // Most pointers lead into the arena of the previous one: skip the
        // arena map for them.
        let arena = if addr >> ARENA_SHIFT == self.last_arena.0 {
            self.last_arena.1
        } else {
            match arena_of(addr) {
                Some(a) => {
                    self.last_arena = (addr >> ARENA_SHIFT, a);
                    a
                }
                None => return,
            }
        };
        let s = arena.spans[(addr >> PAGE_SHIFT) & (PAGES_PER_ARENA - 1)].load(Ordering::Acquire);
        // SAFETY: spans are leaked and recycled, never freed.
        let Some(span) = (unsafe { s.as_ref() }) else {
            return;
        };
        let Some((index, base)) = span.find(addr) else {
            return;
        };
        if !span.is_allocated(index) {
            return;
        }
        let f = crate::object::Found { span, index, base };
        if !f.span.try_mark(f.index) {
            return;
        }
        self.stats.objects += 1;
        self.stats.bytes += f.span.elemsize() as u64;
        if let Some(t) = f.span.type_of(f.index) {
            if t.has_pointers() {
                prefetch(f.base);
                self.work.push((f.base, t));
            }
        }
    }

    /// Go's `scanobject`: greys every pointer word of the object at `base`.
    #[inline]
    fn scanobject(&mut self, base: usize, ty: &'static Type) {
        let ew = ty.elem_words;
        // For an array, only the elements up to the last pointer word.
        let n = if ty.count == 1 {
            1
        } else {
            ty.ptrdata.div_ceil(ew * 8)
        };
        let elem_ptr_words = if ty.count == 1 { ty.ptrdata / 8 } else { ew };
        for e in 0..n {
            let ebase = base + e * ew * 8;
            for (mi, &m) in ty.ptrmask.iter().enumerate() {
                let mut m = m;
                while m != 0 {
                    let bit = m.trailing_zeros() as usize;
                    m &= m - 1;
                    let w = mi * 64 + bit;
                    if w >= elem_ptr_words {
                        break;
                    }
                    // SAFETY: word w of element e of an allocated object of
                    // this type lies inside its slot, in a mapped arena;
                    // read atomically.
                    let v =
                        unsafe { &*((ebase + w * 8) as *const AtomicU64) }.load(Ordering::Relaxed);
                    if v != 0 {
                        self.greyobject(v as usize);
                    }
                }
            }
        }
    }

    /// Go's `gcDrain`: scans grey objects until none is left.
    pub fn drain(&mut self) {
        while let Some((b, t)) = self.work.pop() {
            self.scanobject(b, t);
        }
    }

    /// Conservatively scans `[lo, hi)` of a frozen goroutine stack.
    ///
    /// # Safety
    /// `[lo, hi)` is mapped memory not written during the scan: the part of
    /// a suspended goroutine's stack slot above its guard page.
    pub(crate) unsafe fn scan_stack(&mut self, lo: usize, hi: usize) {
        let mut a = (lo + 7) & !7;
        self.stats.stack_bytes += (hi - a) as u64;
        while a + 8 <= hi {
            // SAFETY: the function's contract.
            let v = unsafe { std::ptr::read_volatile(a as *const usize) };
            if v != 0 {
                if let Some(h) = self.stack_hits.as_mut() {
                    if let Some(f) = find_object(v) {
                        h.push(f.base);
                    }
                }
                self.greyobject(v);
            }
            a += 8;
        }
    }
}

/// Marks everything reachable from the roots and every goroutine stack.
pub(crate) fn mark_roots_and_drain(heap: &Heap) -> MarkStats {
    let mut m = Marker::new();
    let recording = heap.debug_stack_hits.lock().unwrap().is_some();
    if recording {
        m.stack_hits = Some(Vec::new());
    }
    for v in crate::roots::root_values(heap) {
        if v != 0 {
            m.greyobject(v);
        }
    }
    m.drain();
    let scan = |_, lo, hi| {
        // SAFETY: [lo, hi) is the part of a suspended goroutine's slot
        // above its guard page (for_each_goroutine_stack).
        unsafe { m.scan_stack(lo, hi) };
        m.drain();
    };
    // SAFETY: the collector runs with the world stopped, on the system
    // stack of the goroutine that triggered it (mgc.rs).
    unsafe { gort_scheduler::for_each_goroutine_stack(STACK_SLACK, scan) };
    if let Some(h) = m.stack_hits.take() {
        *heap.debug_stack_hits.lock().unwrap() = Some(h);
    }
    m.stats
}

/// Makes the next collections record which objects stack words pointed to
/// (or stops recording).
pub fn debug_stack_hits(on: bool) {
    let heap = crate::mheap::must();
    *heap.debug_stack_hits.lock().unwrap() = on.then(Vec::new);
}

/// The objects stack words pointed to in the last recorded collection.
pub fn debug_take_stack_hits() -> Vec<usize> {
    let heap = crate::mheap::must();
    heap.debug_stack_hits
        .lock()
        .unwrap()
        .as_mut()
        .map(std::mem::take)
        .unwrap_or_default()
}
