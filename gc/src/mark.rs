//! Marking (Go's `mgcmark.go`): roots, grey objects, `gcDrain`.
//!
//! Colours as in Go: white = mark bit clear; grey = mark bit set and the
//! object queued (in a drainer's local buffer or the global list,
//! `mgcwork.rs`); black = marked and scanned (objects without pointers
//! turn black at once, never queued). `greyobject` finds the object
//! containing an address (interior pointers included), sets its mark bit
//! atomically and queues it; `scanobject` greys every pointer word its
//! type's bitmap names.
//!
//! Marking runs concurrently with the program (`mgc.rs` drives the
//! cycle): mark workers and assists claim root jobs and drain grey
//! objects in bounded chunks (`drain_chunk`), between which they pass a
//! safepoint. The root jobs (Go's `markroot`): the registered roots
//! (globals), then one job per goroutine of the snapshot taken when the
//! mark began. A stack job stops its goroutine (`suspendG`, with the
//! `_Gscan` bit; a running one first reaches a safepoint), copies out the
//! words of its stack that lie in a heap arena, lets it go, and greys
//! what they point to: conservatively, each aligned word from the saved
//! stack pointer (less a slack for the registers its switch pushed) to
//! the stack base that points into an allocated object keeps it alive
//! (platform.md measured 216,000 of 216,000 live pointers found this way,
//! with ~1.1x false retention). Each stack is scanned once per cycle: the
//! hybrid write barrier is what makes that enough.
//!
//! In deterministic mode every greying and every pointer word scanned is
//! a scheduler step, so a seed fixes how marking interleaves with the
//! program's stores, word by word.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::arena::{arena_of, HeapArena, ARENA_SHIFT, PAGES_PER_ARENA};
use crate::mheap::Heap;
use crate::mgcwork::{Grey, WorkQueue, WORKBUF_OBJS};
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

/// A marking pass: one drainer's local grey buffer and counts.
///
/// ```compile_fail
/// // Reading arbitrary memory as a stack is gort-gc's own, unsafe, business.
/// gort_gc::mark::Marker::new().scan_stack(0, 64);
/// ```
pub struct Marker {
    /// Grey objects: base address and type (so scanning needs no second
    /// lookup).
    work: Vec<Grey>,
    /// The arena of the last pointer greyed (index, arena).
    last_arena: (usize, &'static HeapArena),
    pub stats: MarkStats,
    /// When recording: the objects a stack word pointed to (for tests that
    /// check exactly what conservative scanning kept).
    pub stack_hits: Option<Vec<usize>>,
    /// Deterministic mode: each greying and each pointer word scanned is a
    /// scheduler step.
    step: bool,
    /// Hand surplus grey objects to the global list (concurrent marking,
    /// where other drainers may be idle).
    share: Option<&'static WorkQueue>,
    /// The heap being marked (`Heap::id`): addresses in arenas of other
    /// heaps are not pointers to this one's objects (0: any heap).
    heap_id: usize,
}

impl Default for Marker {
    fn default() -> Self {
        Marker::new()
    }
}

impl Marker {
    /// A marker for a stop-the-world pass (no steps, nothing shared).
    pub fn new() -> Marker {
        Marker {
            work: Vec::with_capacity(4096),
            last_arena: (usize::MAX, crate::arena::first_arena_or_dummy()),
            stats: MarkStats::default(),
            stack_hits: None,
            step: false,
            share: None,
            heap_id: 0,
        }
    }

    /// A marker for the concurrent mark of `heap`'s current cycle.
    pub(crate) fn for_cycle(heap: &'static Heap) -> Marker {
        let mut m = Marker::new();
        m.step = heap.cfg.det;
        m.share = Some(&heap.gcs.work);
        m.heap_id = heap.id;
        m
    }

    /// Adds this marker's counts to the cycle's and gives back its
    /// unscanned work (Go's `gcWork.dispose`); ends a `begin`.
    pub(crate) fn finish(&mut self, heap: &Heap) {
        let g = &heap.gcs;
        g.bytes_marked
            .fetch_add(self.stats.bytes, Ordering::Relaxed);
        g.objects_marked
            .fetch_add(self.stats.objects, Ordering::Relaxed);
        g.stack_bytes
            .fetch_add(self.stats.stack_bytes, Ordering::Relaxed);
        self.stats = MarkStats::default();
        g.work.end(&mut self.work);
    }

    /// Go's `greyobject`: marks the object containing `addr` (if any) and
    /// queues it for scanning if it has pointers.
    #[inline]
    pub fn greyobject(&mut self, addr: usize) {
        if self.step {
            gort_scheduler::step();
        }
        // Most pointers lead into the arena of the previous one: skip the
        // arena map for them.
        let arena = if addr >> ARENA_SHIFT == self.last_arena.0 {
            self.last_arena.1
        } else {
            match arena_of(addr) {
                // Another runtime's arena (or a free one): not ours to
                // mark. Its owner cannot change while this heap marks.
                Some(a) if self.heap_id == 0 || a.owner() == self.heap_id => {
                    self.last_arena = (addr >> ARENA_SHIFT, a);
                    a
                }
                _ => return,
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
                if self.work.len() >= 2 * WORKBUF_OBJS {
                    self.share_surplus();
                }
            }
        }
    }

    /// Go's `balance`: a full local buffer goes to the global list, where
    /// an idle drainer can take it.
    #[cold]
    fn share_surplus(&mut self) {
        if let Some(q) = self.share {
            let rest = self.work.split_off(self.work.len() - WORKBUF_OBJS);
            q.put(rest);
        }
    }

    /// Go's `scanobject`: greys every pointer word of the object at `base`.
    #[inline]
    fn scanobject(&mut self, base: usize, ty: &'static Type) -> u64 {
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
                    if self.step {
                        gort_scheduler::step();
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
        (n * elem_ptr_words) as u64
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

/// Go's `gcDrain` for at most about `budget` units of scan work (pointer
/// words and stack words examined): root jobs first, then grey objects
/// from the local buffer and the global list. Returns the units done;
/// fewer than `budget` means no work was left. Never passes a safepoint,
/// and gives back its unscanned work before returning.
pub(crate) fn drain_chunk(heap: &'static Heap, m: &mut Marker, budget: u64) -> u64 {
    heap.gcs.work.begin();
    let mut done = 0u64;
    while done < budget {
        if let Some(job) = heap.gcs.claim_root_job() {
            done += markroot(heap, m, job);
            continue;
        }
        if let Some((b, t)) = m.work.pop() {
            done += m.scanobject(b, t).max(1);
            continue;
        }
        if let Some(buf) = heap.gcs.work.take() {
            m.work.extend(buf);
            continue;
        }
        break;
    }
    m.finish(heap);
    done
}

/// One root job (Go's `markroot`): the globals, or one goroutine's stack.
pub(crate) enum RootJob {
    Globals,
    Stack(gort_scheduler::GPtr),
}

fn markroot(heap: &'static Heap, m: &mut Marker, job: RootJob) -> u64 {
    match job {
        RootJob::Globals => {
            let vs = crate::roots::root_values(heap);
            for &v in &vs {
                if v != 0 {
                    m.greyobject(v);
                }
            }
            vs.len() as u64
        }
        RootJob::Stack(gp) => markroot_stack(heap, m, gp),
    }
}

/// A stack job: stop the goroutine, copy out the words of its stack that
/// lie in heap arenas, let it go, then grey what they point to.
fn markroot_stack(heap: &'static Heap, m: &mut Marker, gp: gort_scheduler::GPtr) -> u64 {
    let mut words: Vec<usize> = Vec::new();
    let mut bytes = 0usize;
    let mut copy = |lo: usize, hi: usize| {
        let mut a = (lo + 7) & !7;
        bytes = hi.saturating_sub(a);
        while a + 8 <= hi {
            // SAFETY: [lo, hi) is the live part of the stopped goroutine's
            // stack slot (scan_goroutine_stack's contract), mapped and not
            // written while this runs.
            let v = unsafe { std::ptr::read_volatile(a as *const usize) };
            // Words into other runtimes' arenas (stale words of a stack
            // slot another runtime used) are not pointers into this heap;
            // dropped here, they cost no deterministic step either.
            if v != 0 && arena_of(v).is_some_and(|a| a.owner() == heap.id) {
                words.push(v);
            }
            a += 8;
        }
    };
    // SAFETY: `copy` only reads the range it is given; `gp` comes from the
    // snapshot of this runtime's goroutines taken when the mark began.
    if !unsafe { gort_scheduler::scan_goroutine_stack(gp, STACK_SLACK, &mut copy) } {
        return 1;
    }
    m.stats.stack_bytes += bytes as u64;
    if let Some(h) = heap.debug_stack_hits.lock().unwrap().as_mut() {
        h.extend(words.iter().filter_map(|&v| find_object(v)).map(|f| f.base));
    }
    for &v in &words {
        m.greyobject(v);
    }
    (bytes / 8) as u64 + 1
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
