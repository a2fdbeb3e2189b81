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
//! In deterministic mode every greying and every pointer word scanned in
//! the heap is a scheduler step, so a seed fixes how marking interleaves
//! with the program's stores, word by word; a stack job takes a step per
//! 64 bytes of live stack (not one per word that looks like a pointer,
//! whose count stale words can change).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::arena::{arena_of, HeapArena, ARENA_SHIFT, PAGES_PER_ARENA};
use crate::mgcwork::{Grey, WorkQueue, WORKBUF_OBJS};
use crate::mheap::Heap;
use crate::object::{find_object, Type};
use crate::sizeclasses::PAGE_SHIFT;

/// Bytes below a suspended goroutine's recorded stack pointer that may
/// hold its saved registers (platform.md: scan from the recorded address
/// minus 512 bytes, clamped to the slot).
pub const STACK_SLACK: usize = 512;

/// Deterministic mode's model of Go's mark cost beyond the steps taken:
/// per pointer word scanned and per object marked (a node of gobench's
/// tree, two pointer words, costs 38 ns: Go 1.19's mark CPU per object
/// for that heap on this machine).
const VIRTUAL_NS_PER_WORD: u64 = 8;
const VIRTUAL_NS_PER_OBJECT: u64 = 22;

/// How many pops ahead `Marker::pop` prefetches a grey object.
const PREFETCH_DEPTH: usize = 16;

/// Go's `maxObletBytes`: the largest piece of an object scanned at once.
const MAX_OBLET_BYTES: usize = 128 << 10;

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
pub(crate) struct Marker {
    /// Grey objects: base address and type (so scanning needs no second
    /// lookup).
    work: Vec<Grey>,
    /// The next objects to scan, taken off `work` `PREFETCH_DEPTH` pops
    /// ahead and prefetched (parallel mode; see `pop`).
    ring: std::collections::VecDeque<Grey>,
    /// The arena of the last pointer greyed (index, arena).
    last_arena: (usize, &'static HeapArena),
    pub(crate) stats: MarkStats,
    /// Deterministic mode: each greying and each pointer word scanned is a
    /// scheduler step.
    step: bool,
    /// Hand surplus grey objects to the global list (concurrent marking,
    /// where other drainers may be idle).
    share: Option<&'static WorkQueue>,
    /// The heap being marked (`Heap::id`): pointers into arenas of other
    /// runtimes' heaps are not this collector's to mark.
    heap_id: usize,
    /// Registered as a drainer with the global list (`WorkQueue::begin`):
    /// between the chunks of one stint (`keep`), a marker keeps its grey
    /// objects instead of giving them back at each chunk's end.
    held: bool,
    /// Parallel mode: hold the grey objects across chunks, until the
    /// caller's `release` or a chunk that ran out of work or was asked
    /// to stop (see `drain_chunk`).
    pub(crate) keep: bool,
}

/// The drain loops release a marker on every way out; should one still be
/// dropped holding work (a panic unwinding through runtime code), it gives
/// the work back and unregisters, since a drainer left counted as active
/// would keep the mark from ever terminating. Its unflushed counts are
/// lost (the pacer's figures, not correctness).
impl Drop for Marker {
    fn drop(&mut self) {
        if self.held {
            if let Some(q) = self.share {
                self.work.extend(self.ring.drain(..));
                q.end(&mut self.work);
            }
        }
    }
}

impl Marker {
    fn new() -> Marker {
        Marker {
            work: Vec::with_capacity(4096),
            ring: std::collections::VecDeque::with_capacity(PREFETCH_DEPTH),
            last_arena: (usize::MAX, crate::arena::first_arena_or_dummy()),
            stats: MarkStats::default(),
            step: false,
            share: None,
            heap_id: 0,
            held: false,
            keep: false,
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
        self.flush_stats(heap);
        self.work.extend(self.ring.drain(..));
        heap.gcs.work.end(&mut self.work);
        self.held = false;
    }

    /// Ends a stint of chunks that held their work (`keep`).
    pub(crate) fn release(&mut self, heap: &Heap) {
        if self.held {
            self.finish(heap);
        }
    }

    /// Adds this marker's counts to the cycle's.
    fn flush_stats(&mut self, heap: &Heap) {
        let g = &heap.gcs;
        g.bytes_marked
            .fetch_add(self.stats.bytes, Ordering::Relaxed);
        g.objects_marked
            .fetch_add(self.stats.objects, Ordering::Relaxed);
        g.stack_bytes
            .fetch_add(self.stats.stack_bytes, Ordering::Relaxed);
        self.stats = MarkStats::default();
    }

    /// Go's `greyobject`: marks the object containing `addr` (if any) and
    /// queues it for scanning if it has pointers.
    #[inline]
    pub(crate) fn greyobject(&mut self, addr: usize) {
        if self.step {
            gort_scheduler::step();
        }
        // Most pointers lead into the arena of the previous one: skip the
        // arena map for them.
        let arena = if addr >> ARENA_SHIFT == self.last_arena.0 {
            self.last_arena.1
        } else {
            match arena_of(addr) {
                Some(a) if a.owner() == self.heap_id => {
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
        // Marked already (the common case once the mark is under way): a
        // marked slot is allocated, and its bit is on the line after the
        // span's header, where the alloc bits would be one more miss.
        if span.is_marked(index) || !span.is_allocated(index) {
            return;
        }
        let f = crate::object::Found { span, index, base };
        if !f.span.try_mark(f.index) {
            return;
        }
        gort_scheduler::explain::note("greyobject", || {
            (crate::display_addr(base), "marked".to_string())
        });
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

    /// The next grey object to scan. In parallel mode objects pass through
    /// a short FIFO in which each is prefetched `PREFETCH_DEPTH` scans
    /// before its turn: grey objects reached through a map's bucket array
    /// lie in hash order, all over the heap, and scanning each the moment
    /// it is popped waits for a cache miss per object (the prefetch in
    /// `greyobject` is issued too late for a LIFO stack, whose top is the
    /// object greyed last). On gobench's tree plus a map with an entry per
    /// node this made the mark about twice as fast. Deterministic mode
    /// keeps the plain LIFO order, which seeds' interleavings and the
    /// loss table were measured with; its time is virtual anyway.
    #[inline]
    fn pop(&mut self) -> Option<Grey> {
        if self.step {
            return self.work.pop();
        }
        while self.ring.len() < PREFETCH_DEPTH {
            match self.work.pop() {
                Some(x) => {
                    prefetch(x.0);
                    self.ring.push_back(x);
                }
                None => break,
            }
        }
        self.ring.pop_front()
    }

    /// Go's `balance`: a full local buffer goes to the global list, where
    /// an idle drainer can take it.
    #[cold]
    fn share_surplus(&mut self) {
        if let Some(q) = self.share {
            // Parallel mode shares, as Go's `balance` does, only when the
            // list is empty: objects pushed to the list while it holds
            // work only move this marker's prefetched, cache-warm grey
            // objects to another CPU (two markers of gobench's tree and
            // map took 76 ms of CPU per cycle sharing at every surplus,
            // 56 ms this way; one alone takes 40). Deterministic mode
            // keeps sharing every surplus, as its seeds were measured.
            if !self.step && q.has_work() {
                return;
            }
            let rest = self.work.split_off(self.work.len() - WORKBUF_OBJS);
            q.put(rest);
        }
    }

    /// Go's `scanobject`: greys every pointer word of the object at `b`,
    /// or, for an object with more than `MAX_OBLET_BYTES` of pointer
    /// data, of the oblet at `b`: scanning the object's first oblet queues
    /// the others, so a multi-megabyte bucket array is scanned in 128 KiB
    /// pieces with safepoints between them, as in Go. Returns the pointer
    /// words examined. With `SKIP_OLD` (`GODEBUG=gcscanold=0`), a growing
    /// map's `oldbuckets` word (`Type::scan_old_word`) is left unscanned.
    #[inline]
    fn scanobject<const SKIP_OLD: bool>(&mut self, b: usize, ty: &'static Type) -> u64 {
        let ew = ty.elem_words;
        let elem_ptr_words = if ty.count == 1 { ty.ptrdata / 8 } else { ew };
        if ty.ptrdata <= MAX_OBLET_BYTES {
            // For an array, only the elements up to the last pointer word.
            let n = if ty.count == 1 {
                1
            } else {
                ty.ptrdata.div_ceil(ew * 8)
            };
            for e in 0..n {
                self.scan_words::<SKIP_OLD>(b + e * ew * 8, ty, 0, elem_ptr_words);
            }
            return (n * elem_ptr_words) as u64;
        }
        // A large object is alone in its span, at the span's base.
        let base = crate::arena::span_of(b).map_or(b, |s| s.base());
        let lo = b - base;
        if lo == 0 {
            let mut oblet = MAX_OBLET_BYTES;
            while oblet < ty.ptrdata {
                self.work.push((base + oblet, ty));
                oblet += MAX_OBLET_BYTES;
            }
            if self.work.len() >= 2 * WORKBUF_OBJS {
                self.share_surplus();
            }
        }
        let hi = (lo + MAX_OBLET_BYTES).min(ty.ptrdata);
        let eb = ew * 8;
        let mut done = 0;
        for e in lo / eb..hi.div_ceil(eb) {
            let ebase = e * eb;
            let first = lo.saturating_sub(ebase) / 8;
            let last = ((hi - ebase) / 8).min(elem_ptr_words);
            self.scan_words::<SKIP_OLD>(base + ebase, ty, first, last);
            done += last.saturating_sub(first);
        }
        done as u64
    }

    /// Greys the pointer words `[first, last)` of the element at `ebase`.
    #[inline(always)]
    fn scan_words<const SKIP_OLD: bool>(
        &mut self,
        ebase: usize,
        ty: &'static Type,
        first: usize,
        last: usize,
    ) {
        for mi in first / 64..ty.ptrmask.len() {
            let mut m = ty.ptrmask[mi];
            if mi == first / 64 {
                m &= !0u64 << (first % 64);
            }
            while m != 0 {
                let bit = m.trailing_zeros() as usize;
                m &= m - 1;
                let w = mi * 64 + bit;
                if w >= last {
                    return;
                }
                if SKIP_OLD && ty.scan_old_word == Some(w) {
                    continue;
                }
                if self.step {
                    gort_scheduler::step();
                    crate::pagetouch::touch::<false>(ebase + w * 8);
                }
                // SAFETY: word w of an element of an allocated object of
                // this type lies inside its slot, in a mapped arena; read
                // atomically.
                let v = unsafe { &*((ebase + w * 8) as *const AtomicU64) }.load(Ordering::Relaxed);
                if v != 0 {
                    self.greyobject(v as usize);
                }
            }
        }
    }

    /// Go's `gcDrain` for a stop-the-world mark: scans grey objects until
    /// none is left, honouring `GODEBUG=gcscanold=0`. Returns the pointer
    /// words examined.
    fn drain_cfg(&mut self, heap: &Heap) -> u64 {
        let mut done = 0;
        if heap.cfg.scan_old {
            while let Some((b, t)) = self.pop() {
                done += self.scanobject::<false>(b, t);
            }
        } else {
            while let Some((b, t)) = self.pop() {
                done += self.scanobject::<true>(b, t);
            }
        }
        done
    }
}

/// What a `drain_chunk` did.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Drained {
    /// Units of scan work done.
    pub(crate) units: u64,
    /// It stopped because no work was left (not because the budget ran
    /// out or the goroutine was asked to stop).
    pub(crate) out_of_work: bool,
}

/// How many grey objects or root jobs `drain_chunk` takes between two
/// polls of its goroutine's preemption request.
const PREEMPT_POLL: u32 = 16;

/// Go's `gcDrain` for at most about `budget` units of scan work (pointer
/// words and stack words examined): root jobs first, then grey objects
/// from the local buffer and the global list. Ends early, as Go's
/// `gcDrain` does, when its goroutine is asked to stop (a stop of the
/// world, a stack scan): a chunk is then no longer than 16 objects past
/// the request, which is what bounds how long a stop of the world waits
/// for a marking goroutine. Never passes a safepoint, and gives back its
/// unscanned work before returning.
pub(crate) fn drain_chunk(heap: &'static Heap, m: &mut Marker, budget: u64) -> Drained {
    if heap.cfg.scan_old {
        drain_chunk_impl::<false>(heap, m, budget)
    } else {
        drain_chunk_impl::<true>(heap, m, budget)
    }
}

fn drain_chunk_impl<const SKIP_OLD: bool>(
    heap: &'static Heap,
    m: &mut Marker,
    budget: u64,
) -> Drained {
    if !m.held {
        heap.gcs.work.begin();
        m.held = true;
    }
    let mut done = 0u64;
    let mut out_of_work = false;
    let mut poll = 0u32;
    // Root jobs are all known when the mark starts: once none is left,
    // this chunk stops asking (the counters sit on a line other drainers
    // write).
    let mut roots_left = true;
    while done < budget {
        poll += 1;
        if poll == PREEMPT_POLL {
            poll = 0;
            if gort_scheduler::preempt_requested() {
                break;
            }
        }
        if roots_left {
            if let Some(job) = heap.gcs.claim_root_job() {
                done += markroot(heap, m, job);
                continue;
            }
            roots_left = false;
        }
        if let Some((b, t)) = m.pop() {
            done += m.scanobject::<SKIP_OLD>(b, t).max(1);
            continue;
        }
        if let Some(buf) = heap.gcs.work.take() {
            m.work.extend(buf);
            continue;
        }
        out_of_work = true;
        break;
    }
    if m.step {
        gort_scheduler::det_charge(
            done * VIRTUAL_NS_PER_WORD + m.stats.objects * VIRTUAL_NS_PER_OBJECT,
        );
    }
    if m.keep && !m.step && !out_of_work && !gort_scheduler::preempt_requested() {
        m.flush_stats(heap);
    } else {
        m.finish(heap);
    }
    Drained {
        units: done,
        out_of_work,
    }
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
    let checkmark = heap.cfg.checkmark;
    let mut seen = crate::mcheckmark::StackWords {
        // SAFETY: `gp` is from this running runtime's snapshot.
        goid: unsafe { gp.goid() },
        lo: 0,
        words: Vec::new(),
    };
    let mut copy = |lo: usize, hi: usize| {
        let mut a = (lo + 7) & !7;
        bytes = hi.saturating_sub(a);
        seen.lo = lo;
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
                if checkmark {
                    seen.words.push((a, v));
                }
            }
            a += 8;
        }
        if checkmark {
            // SAFETY: the goroutine stays stopped while this runs.
            unsafe { crate::mcheckmark::clear_dead_stack(lo) };
        }
    };
    // SAFETY: `copy` only reads the range it is given; `gp` comes from the
    // snapshot of this runtime's goroutines taken when the mark began.
    if !unsafe { gort_scheduler::scan_goroutine_stack(gp, STACK_SLACK, &mut copy) } {
        return 1;
    }
    m.stats.stack_bytes += bytes as u64;
    if checkmark {
        heap.gcs.checkmark_stacks.lock().unwrap().push(seen);
    }
    if let Some(h) = heap.debug_stack_hits.lock().unwrap().as_mut() {
        h.extend(words.iter().filter_map(|&v| find_object(v)).map(|f| f.base));
    }
    // Deterministic mode: the steps of a stack job depend on the stack's
    // depth only, not on how many of its words look like pointers. A
    // conservative stack holds stale words whose values can differ with
    // what else the process did (which lazily initialised cache another
    // runtime filled first, which stack slot the goroutine got), and a
    // step per such word would let that change the interleaving.
    let step = std::mem::replace(&mut m.step, false);
    for &v in &words {
        m.greyobject(v);
    }
    m.step = step;
    if step {
        for _ in 0..bytes / STACK_BYTES_PER_STEP {
            gort_scheduler::step();
        }
    }
    (bytes / 8) as u64 + 1
}

/// Deterministic mode: a stack job takes one step per this many bytes of
/// live stack.
const STACK_BYTES_PER_STEP: usize = 64;

/// The whole mark with the world stopped (`GODEBUG=gcstoptheworld=1|2`),
/// on the system stack: the globals, every goroutine's stack
/// (conservatively), then the grey objects until none is left. Adds what
/// it marked to the cycle's counts; returns deterministic mode's model of
/// its time (the concurrent mark's cost per word and per object).
pub(crate) fn gc_mark_stw(heap: &'static Heap) -> u64 {
    let mut m = Marker::new();
    m.heap_id = heap.id;
    for v in crate::roots::root_values(heap) {
        if v != 0 {
            m.greyobject(v);
        }
    }
    // Every goroutine's stack, conservatively: the words that point into
    // an arena are copied out, then greyed.
    let mut words: Vec<usize> = Vec::new();
    let mut bytes = 0usize;
    // SAFETY: the world is stopped and this runs on the system stack, so
    // every goroutine of the runtime is suspended, and each [lo, hi) is
    // the live part of one's stack, mapped and not written meanwhile.
    unsafe {
        gort_scheduler::for_each_goroutine_stack(STACK_SLACK, |_, lo, hi| {
            let mut a = (lo + 7) & !7;
            bytes += hi.saturating_sub(a);
            while a + 8 <= hi {
                // A word of a suspended goroutine's stack (as above).
                let v = std::ptr::read_volatile(a as *const usize);
                if v != 0 && arena_of(v).is_some() {
                    words.push(v);
                }
                a += 8;
            }
            if heap.cfg.checkmark {
                crate::mcheckmark::clear_dead_stack(lo);
            }
        })
    };
    m.stats.stack_bytes += bytes as u64;
    if let Some(h) = heap.debug_stack_hits.lock().unwrap().as_mut() {
        h.extend(words.iter().filter_map(|&v| find_object(v)).map(|f| f.base));
    }
    for v in words {
        m.greyobject(v);
    }
    let units = bytes as u64 / 8 + m.drain_cfg(heap);
    let g = &heap.gcs;
    g.bytes_marked.fetch_add(m.stats.bytes, Ordering::Relaxed);
    g.objects_marked
        .fetch_add(m.stats.objects, Ordering::Relaxed);
    g.stack_bytes
        .fetch_add(m.stats.stack_bytes, Ordering::Relaxed);
    units * VIRTUAL_NS_PER_WORD + m.stats.objects * VIRTUAL_NS_PER_OBJECT
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
