//! `GODEBUG=gccheckmark=1`: a heap verifier (Go's `mcheckmark.go`, made
//! to work).
//!
//! Go's checkmark mode retraverses the object graph with the world
//! stopped at mark termination and throws if it reaches an object the
//! concurrent mark left unmarked. Go 1.19's does not re-run its root jobs,
//! so its second pass finds (almost) nothing to do (gc.md §9). gort's does:
//! `gc_checkmark` runs at mark termination, world stopped, after the mark
//! is complete and before the sweep generation advances, and marks again
//! from the same roots the collector uses — the globals (`Root`s) and
//! every goroutine's stack, conservatively, word by word as `mark.rs`
//! reads them — into a visited set of its own (the mark bits are only
//! read). It follows every pointer word of every object it reaches,
//! a growing map's `oldbuckets` included whatever `GODEBUG=gcscanold`
//! says. Objects allocated during the mark are black, so they pass.
//!
//! The first reachable object whose mark bit is clear is a loss: the sweep
//! would free it while the program can still reach it. The report is Go's
//! (`runtime: checkmarks found unexpected unmarked object obj=...`,
//! `runtime: found obj at *(base+off)`, `gcDumpObject` of both objects,
//! `fatal error: checkmark found unmarked object`) plus gort's path line:
//! the root, each object on the way with its type and the field it was
//! reached through (`Type::word_names`: `.oldbuckets`, `[3].elems[5]`),
//! and the lost object's size and allocation site. The traversal takes
//! the roots in the collector's order (globals, then goroutines in
//! creation order) and follows each one through the heap, breadth first,
//! before the next: the path is a shortest one from the first root that
//! reaches the object.
//!
//! Stacks are scanned conservatively, and a conservative stack holds
//! words no precise scan would take for pointers: a slot a frame leaves
//! uninitialised still holds what an older, deeper call wrote there, and
//! runtime code computes addresses one past an object or a span (a span's
//! limit is the next span's first object). A stack scanned at mark
//! termination holds such words written after the mark scanned it,
//! pointing at garbage the mark rightly left white. So after a concurrent
//! mark the verifier's stack roots are the words each stack held when the
//! mark scanned it (recorded by `markroot_stack` when the verifier is on),
//! and what the program did after that reaches the verifier through the
//! heap, where the write barrier and allocate-black must have covered it.
//! A pointer a goroutine loads after its scan and keeps only on its stack
//! is not checked here: under a broken barrier its loss shows at its next
//! use, as `access to freed object`. With `gcstoptheworld`, nothing runs
//! between the two scans and the verifier reads the stacks as they are.
//! The mark also clears each goroutine's dead stack below the range it
//! scanned (`clear_dead_stack`; Boehm's collector clears stacks for the
//! same reason), so stale words do not keep garbage alive either.
//!
//! `debug_unmark` (exported as `gc_debug_unmark`) is how tests lose an
//! object on purpose: the next mark termination clears its mark bit just
//! before the verifier runs, as a missed write barrier would have left it.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::arena::arena_of;
use crate::mark::STACK_SLACK;
use crate::mheap::Heap;
use crate::object::{find_object, Found, Ptr, Type};

/// How the verifier first reached an object.
#[derive(Clone, Copy)]
enum Via {
    /// Registered root number `index`, whose slot is at `slot`.
    Global { index: usize, slot: usize },
    /// The word at `addr` of goroutine `goid`'s stack, scanned from `lo`.
    Stack { goid: u64, lo: usize, addr: usize },
    /// Word `word` of the object at `base`.
    Object { base: usize, word: usize },
}

/// Go's `mSpanStateNames`, for gort's span states.
fn span_state_name(state: u8) -> &'static str {
    match state {
        crate::mspan::SPAN_FREE => "mSpanDead",
        crate::mspan::SPAN_IN_USE => "mSpanInUse",
        _ => "unknown",
    }
}

/// Reads heap word `addr`.
fn load_word(addr: usize) -> u64 {
    // SAFETY: callers pass 8-aligned addresses inside an allocated slot
    // of an arena (mapped for the process's life); heap words are only
    // accessed atomically.
    unsafe { &*(addr as *const AtomicU64) }.load(Ordering::Relaxed)
}

/// The words of one goroutine's stack that point into an arena: its id,
/// where the scan began, and (address, value) of each word.
pub(crate) struct StackWords {
    pub(crate) goid: u64,
    pub(crate) lo: usize,
    pub(crate) words: Vec<(usize, usize)>,
}

/// The verifier: the visited set (with how each object was reached) and
/// the queue of objects to scan.
struct Checkmark<'h> {
    heap: &'h Heap,
    via: HashMap<usize, Via>,
    queue: VecDeque<(usize, &'static Type)>,
}

impl Checkmark<'_> {
    /// Go's `greyobject` in checkmark mode (`setCheckmark`): visits the
    /// object containing `v`, reached through `via`. Returns the object if
    /// it is reachable but unmarked.
    fn visit(&mut self, v: usize, via: Via) -> Option<Found> {
        // Arenas are process-wide: a word may point into another
        // runtime's heap, which this collector neither marks nor checks.
        if arena_of(v)?.owner() != self.heap.id {
            return None;
        }
        let f = find_object(v)?;
        match self.via.entry(f.base) {
            Entry::Occupied(_) => return None,
            Entry::Vacant(e) => {
                e.insert(via);
            }
        }
        if !f.span.is_marked(f.index) {
            return Some(f);
        }
        if let Some(t) = f.span.type_of(f.index) {
            if t.has_pointers() {
                self.queue.push_back((f.base, t));
            }
        }
        None
    }

    /// Scans the queue until it is empty (Go's `gcDrain`).
    fn drain(&mut self) -> Option<Found> {
        while let Some((base, ty)) = self.queue.pop_front() {
            if let Some(f) = self.scan(base, ty) {
                return Some(f);
            }
        }
        None
    }

    /// Go's `scanobject`, every pointer word (oldbuckets included).
    fn scan(&mut self, base: usize, ty: &'static Type) -> Option<Found> {
        let ew = ty.elem_words;
        let n = if ty.count == 1 {
            1
        } else {
            ty.ptrdata.div_ceil(ew * 8)
        };
        let elem_ptr_words = if ty.count == 1 { ty.ptrdata / 8 } else { ew };
        for e in 0..n {
            for w in 0..elem_ptr_words {
                if !ty.is_ptr(w) {
                    continue;
                }
                let word = e * ew + w;
                let v = load_word(base + word * 8);
                if v != 0 {
                    if let Some(f) = self.visit(v as usize, Via::Object { base, word }) {
                        return Some(f);
                    }
                }
            }
        }
        None
    }

    fn show(&self, a: usize) -> usize {
        self.heap.display_addr(a)
    }

    /// Go's `gcDumpObject(label, obj, off)`; `off` is `usize::MAX` for
    /// none.
    fn dump_object(&self, out: &mut String, label: &str, obj: usize, off: usize) {
        let _ = write!(out, "{label}={:#x}", self.show(obj));
        let Some(f) = find_object(obj) else {
            out.push_str(" s=nil\n");
            return;
        };
        let s = f.span;
        let noscan = !s.type_of(f.index).is_some_and(|t| t.has_pointers());
        let _ = writeln!(
            out,
            " s.base()={:#x} s.limit={:#x} s.spanclass={} s.elemsize={} s.state={}",
            self.show(s.base()),
            self.show(s.limit.load(Ordering::Relaxed)),
            (s.sizeclass.load(Ordering::Relaxed) as usize) << 1 | noscan as usize,
            s.elemsize(),
            span_state_name(s.state.load(Ordering::Relaxed)),
        );
        let mut skipped = false;
        let mut i = 0;
        while i < s.elemsize() {
            // For big objects, just the beginning and the words around off.
            let near = off.wrapping_sub(16 * 8) < i && i < off.wrapping_add(16 * 8);
            if !(i < 128 * 8 || near) {
                skipped = true;
                i += 8;
                continue;
            }
            if skipped {
                out.push_str(" ...\n");
                skipped = false;
            }
            let v = load_word(obj + i) as usize;
            let _ = write!(out, " *({label}+{i}) = {:#x}", self.show(v));
            if i == off {
                out.push_str(" <==");
            }
            out.push('\n');
            i += 8;
        }
        if skipped {
            out.push_str(" ...\n");
        }
    }

    /// The report for the unmarked object `f`.
    fn report(&self, f: Found) -> String {
        let mut out = String::new();
        let via = self.via[&f.base];
        let (base, off) = match via {
            Via::Global { slot, .. } => (slot, 0),
            Via::Stack { lo, addr, .. } => (lo, addr - lo),
            Via::Object { base, word } => (base, word * 8),
        };
        let _ = writeln!(
            out,
            "runtime: checkmarks found unexpected unmarked object obj={:#x}",
            self.show(f.base)
        );
        let _ = writeln!(
            out,
            "runtime: found obj at *({:#x}+{:#x})",
            match via {
                Via::Object { .. } => self.show(base),
                _ => base,
            },
            off
        );
        match via {
            Via::Object { .. } => self.dump_object(&mut out, "base", base, off),
            _ => {
                let _ = writeln!(out, "base={base:#x} s=nil");
            }
        }
        self.dump_object(&mut out, "obj", f.base, usize::MAX);
        // gort's path line: from the root to the object.
        let mut hops = Vec::new();
        let mut cur = via;
        let root = loop {
            match cur {
                Via::Global { index, .. } => break format!("global {index}"),
                Via::Stack { goid, .. } => break format!("stack of goroutine {goid}"),
                Via::Object { base, word } => {
                    let ty = find_object(base).and_then(|o| o.span.type_of(o.index));
                    hops.push(match ty {
                        Some(t) => format!(
                            "{} {:#x} {}",
                            t.display_name,
                            self.show(base),
                            t.word_name(word)
                        ),
                        None => format!("? {:#x} +{:#x}", self.show(base), word * 8),
                    });
                    cur = self.via[&base];
                }
            }
        };
        let ty = f.span.type_of(f.index);
        let site = f.span.site_of(f.index).map_or("?".to_string(), |l| {
            gort_scheduler::traceback::abs_path(&format!("{}:{}", l.file(), l.line()))
        });
        let _ = write!(out, "runtime: checkmark path: {root}");
        for h in hops.iter().rev() {
            let _ = write!(out, " -> {h}");
        }
        let _ = writeln!(
            out,
            " -> {} {:#x} ({} bytes, allocated at {site})",
            ty.map_or("?", |t| t.display_name),
            self.show(f.base),
            f.span.elemsize(),
        );
        out
    }
}

/// Re-marks the heap from the roots into a visited set of its own and
/// returns the report of the first reachable object the mark left
/// unmarked, if any. World stopped, on the system stack, marking done,
/// before `sweepgen` advances.
pub(crate) fn gc_checkmark(heap: &'static Heap) -> Option<String> {
    let mut c = Checkmark {
        heap,
        via: HashMap::new(),
        queue: VecDeque::new(),
    };
    // The globals, each followed through the heap before the next root,
    // so an object is named by the first root (in the collector's order)
    // that reaches it.
    let slots: Vec<usize> = heap.roots.lock().unwrap().clone();
    for (index, &slot) in slots.iter().enumerate() {
        // SAFETY: registered slots are live Boxes (unregistered in Drop).
        let v = unsafe { &*(slot as *const AtomicUsize) }.load(Ordering::Relaxed);
        if v != 0 {
            if let Some(f) = c
                .visit(v, Via::Global { index, slot })
                .or_else(|| c.drain())
            {
                return Some(c.report(f));
            }
        }
    }
    // Every goroutine's stack, conservatively: the words that point into
    // an arena, per goroutine. After a concurrent mark, the words each
    // stack held when the mark scanned it (see the module comment); after
    // a stop-the-world mark, the stacks as they are.
    let mut stacks: Vec<StackWords> =
        std::mem::take(&mut *heap.gcs.checkmark_stacks.lock().unwrap());
    stacks.sort_by_key(|s| s.goid);
    if heap.cfg.stoptheworld == 0 {
        return checkmark_stacks(c, stacks);
    }
    stacks.clear();
    // SAFETY: the world is stopped and this runs on the system stack
    // (gc_checkmark's contract), so every goroutine is suspended and each
    // [lo, hi) is the live part of one's stack, mapped and unchanging.
    unsafe {
        gort_scheduler::for_each_goroutine_stack(STACK_SLACK, |goid, lo, hi| {
            let mut words = Vec::new();
            let mut a = (lo + 7) & !7;
            while a + 8 <= hi {
                // A word of a suspended goroutine's stack (as above).
                let v = std::ptr::read_volatile(a as *const usize);
                if v != 0 && arena_of(v).is_some() {
                    words.push((a, v));
                }
                a += 8;
            }
            stacks.push(StackWords { goid, lo, words });
        })
    };
    checkmark_stacks(c, stacks)
}

/// Follows each goroutine's stack words through the heap, in goroutine
/// order; the report of the first unmarked object reached, if any.
fn checkmark_stacks(mut c: Checkmark<'_>, stacks: Vec<StackWords>) -> Option<String> {
    for StackWords { goid, lo, words } in stacks {
        for (addr, v) in words {
            if let Some(f) = c.visit(v, Via::Stack { goid, lo, addr }) {
                return Some(c.report(f));
            }
        }
        if let Some(f) = c.drain() {
            return Some(c.report(f));
        }
    }
    None
}

/// Zeroes the dead part of a stopped goroutine's stack: from the bottom
/// of its slot (above the guard page) up to `lo`, where the live range a
/// stack scan reads begins (the saved stack pointer less `STACK_SLACK`,
/// which platform.md measured to hold the registers the switch pushed).
/// Only words that are not zero are written, so untouched pages stay
/// uncommitted.
///
/// # Safety
/// `lo` is the low end of the live range of a goroutine that stays
/// stopped (`_Gscan`, or the world stopped) while this runs.
pub(crate) unsafe fn clear_dead_stack(lo: usize) {
    let Some(slot) = gort_scheduler::stack::slot_of(lo) else {
        return;
    };
    let mut a = slot + gort_scheduler::stack::GUARD;
    while a + 8 <= lo {
        // SAFETY: [slot + GUARD, lo) lies in the goroutine's own slot,
        // mapped, below every frame it is suspended in (the function's
        // contract): nothing live is there, and nobody else writes it.
        unsafe {
            let w = a as *mut usize;
            if std::ptr::read_volatile(w) != 0 {
                std::ptr::write_volatile(w, 0);
            }
        }
        a += 8;
    }
}

/// Makes the next mark termination clear the mark bit of the object
/// containing `p`, just before `gccheckmark` verifies the heap: the
/// object is lost as if a write barrier had been missed (freed by the
/// sweep unless the verifier stops the program first). Must be called on
/// a goroutine.
pub fn debug_unmark(p: Ptr) {
    crate::mheap::must().debug_unmark.lock().unwrap().push(p.0);
}

/// Applies `debug_unmark`'s requests (world stopped, marking done),
/// taking the objects out of the cycle's marked counts.
pub(crate) fn apply_debug_unmark(heap: &Heap) {
    let addrs = std::mem::take(&mut *heap.debug_unmark.lock().unwrap());
    for a in addrs {
        // Only this heap's objects: a pointer into another runtime's
        // arena is not this collector's to unmark.
        if arena_of(a).is_none_or(|ar| ar.owner() != heap.id) {
            continue;
        }
        let Some(f) = find_object(a) else { continue };
        let bit = 1u64 << (f.index % 64);
        let w = &f.span.mark_bits[f.index / 64];
        if w.fetch_and(!bit, Ordering::Relaxed) & bit != 0 {
            let g = &heap.gcs;
            g.bytes_marked
                .fetch_sub(f.span.elemsize() as u64, Ordering::Relaxed);
            g.objects_marked.fetch_sub(1, Ordering::Relaxed);
        }
    }
}
