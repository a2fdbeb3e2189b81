//! The write barrier (Go's `mbarrier.go`, the bulk barrier of
//! `mbitmap.go` and the atomic-pointer barrier of `atomic_pointer.go`).
//!
//! # Go 1.19's hybrid barrier
//!
//! While the collector marks, the program keeps storing pointers, and a
//! store can hide an object from the marker: move the only reference to a
//! white object into an object already scanned (black), then overwrite
//! the slot the marker had not reached yet. Go's hybrid barrier (Yuasa's
//! deletion barrier plus Dijkstra's insertion barrier) runs before every
//! pointer store `*slot = ptr` into the heap or a global:
//!
//! ```text
//! shade(*slot)   // deletion: the old value stays reachable for this cycle
//! shade(ptr)     // insertion: the new value cannot hide in a black object
//! *slot = ptr
//! ```
//!
//! (The paper's version shades `ptr` only while the storing goroutine's
//! stack is still grey; Go 1.19 shades both always.) The shading is
//! buffered: the pair `(*slot, ptr)` goes into the current P's `wbBuf`
//! (`mwbbuf.rs`), flushed into the grey queue when full and by the mark
//! termination's ragged barrier.
//!
//! # Why stacks need no barrier
//!
//! A goroutine's stack is scanned once per cycle, with the goroutine
//! stopped, and is black from then on. Before its scan, a pointer it moves
//! into the heap is shaded by the insertion half. After its scan,
//! everything it referenced then is shaded, and anything it loads later
//! from the heap was reachable from a heap slot, which cannot be
//! overwritten without the deletion half shading it. So stack writes (and
//! Rust locals here) go unbarriered and mark termination rescans no stack.
//!
//! # Where the barrier is
//!
//! Every pointer store of the object API goes through it: `store_ptr` on
//! `Ptr`, `Obj` and `Words` (what Go's compiler emits for `*p = q`), the
//! atomic pointer stores (`Ptr::swap_ptr`, `Ptr::compare_exchange_ptr`,
//! Go's `atomicstorep` and `sync/atomic`'s pointer functions, which
//! sync.Map uses), and the bulk operations runtime code uses to copy and
//! clear typed memory (`typedmemmove`, `typedmemclr`,
//! `memclr_has_pointers`, all through `bulk_barrier_pre_write`, which
//! barriers each pointer word of the destination by the destination
//! object's own pointer bitmap).
//!
//! # Cost when idle
//!
//! Go tests `writeBarrier.enabled` before each store. gort keeps a
//! process-wide count of heaps whose barrier is on: when it is zero (no
//! collector marking anywhere in the process), a pointer store costs one
//! relaxed load and a branch that is always taken the same way. Otherwise
//! the slow path looks up the current runtime's heap and its own flag
//! (Go's `writeBarrier.enabled`, `Heap::wb_enabled`).
//!
//! # Experiments: `GODEBUG=wbmode`
//!
//! `WbMode` (gort's own GODEBUG key `wbmode`) chooses what is shaded:
//! `hybrid` (Go's, the default) both values, `dijkstra` only the new one,
//! `yuasa` only the old one, `off` nothing. With anything but `hybrid`,
//! objects can be lost, which is the point of the switch.
//!
//! In deterministic mode each enqueue is a scheduler step (and so is each
//! buffer flush, `mwbbuf.rs`), so a seed fixes how marking interleaves
//! with the program's stores; no lock is held across a step.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::checked::Obj;
use crate::mheap::Heap;
use crate::object::{find_object, Type};

/// What the write barrier shades (`GODEBUG=wbmode=...`, gort's own key).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum WbMode {
    /// Go 1.19's barrier: the old and the new value.
    #[default]
    Hybrid,
    /// Dijkstra's insertion barrier: the new value only.
    Dijkstra,
    /// Yuasa's deletion barrier: the old value only.
    Yuasa,
    /// No barrier at all.
    Off,
}

impl WbMode {
    /// The mode named by a `wbmode` value.
    pub fn parse(s: &str) -> Option<WbMode> {
        match s {
            "hybrid" => Some(WbMode::Hybrid),
            "dijkstra" => Some(WbMode::Dijkstra),
            "yuasa" => Some(WbMode::Yuasa),
            "off" => Some(WbMode::Off),
            _ => None,
        }
    }

    /// The `wbmode` value naming this mode.
    pub fn name(self) -> &'static str {
        match self {
            WbMode::Hybrid => "hybrid",
            WbMode::Dijkstra => "dijkstra",
            WbMode::Yuasa => "yuasa",
            WbMode::Off => "off",
        }
    }
}

/// Go's `setGCPhase` half that sets `writeBarrier.enabled`: turns `heap`'s
/// barrier on or off, in the heap and in each of its arenas (the copy the
/// fast path reads; `arena::write_barrier_on_at`). Called with the world
/// stopped, so no store is between its check and its write. Turning it
/// off discards what the per-P buffers still hold (Go's `gcMark` resets
/// every `wbBuf` at mark termination).
pub(crate) fn set_write_barrier(heap: &Heap, on: bool) {
    heap.set_write_barrier_flags(on);
    if !on {
        crate::mwbbuf::wbbuf_discard_all(heap);
    }
}

/// Whether the current runtime's heap has its barrier on (false outside
/// a runtime).
pub fn write_barrier_enabled() -> bool {
    crate::mheap::current().is_some_and(|h| h.wb_enabled.load(Ordering::Acquire))
}

/// Whether a store into the heap object at `p` must pass the barrier: the
/// one check of the idle fast path (two dependent loads: the arena map
/// entry and the arena's flag).
#[inline(always)]
pub fn write_barrier_enabled_at(p: crate::object::Ptr) -> bool {
    crate::arena::write_barrier_on_at(p.0)
}

/// What the compiler emits before a pointer store `*slot = new` into the
/// heap (Go's `if writeBarrier.enabled { gcWriteBarrier(slot, new) }`).
#[inline(always)]
#[track_caller]
pub(crate) fn write_barrier(slot: &AtomicU64, new: usize) {
    if crate::arena::write_barrier_on_at(slot as *const AtomicU64 as usize) {
        write_barrier_slow(
            slot as *const AtomicU64 as usize,
            &|| slot.load(Ordering::Relaxed) as usize,
            new,
        );
    }
}

/// The same for a store into a global (a `Root`'s slot).
#[inline(always)]
pub(crate) fn write_barrier_global(slot: &AtomicUsize, new: usize) {
    // A global is no arena word: its runtime's heap says (a rare store, so
    // the full lookup, the same path whatever other runtimes do).
    if write_barrier_enabled() {
        write_barrier_slow(
            slot as *const AtomicUsize as usize,
            &|| slot.load(Ordering::Relaxed),
            new,
        );
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn write_barrier_slow(slot: usize, load_old: &dyn Fn() -> usize, new: usize) {
    let Some(heap) = crate::mheap::current() else {
        return;
    };
    if !heap.wb_enabled.load(Ordering::Acquire) {
        return;
    }
    // The enqueue is a step; the old value is the one the slot holds then
    // (a read of the slot: on a page not yet touched, Go's barrier maps
    // the zero page before the store itself writes it).
    gort_scheduler::step();
    crate::pagetouch::touch::<false>(slot);
    gc_write_barrier(heap, slot, load_old(), new);
}

/// Go's `gcWriteBarrier`: the pair for the store of `new` over `old` in
/// `slot` goes into the current P's buffer, filtered by the heap's
/// `wbmode`, and into the debug record when tests ask for it.
#[track_caller]
pub(crate) fn gc_write_barrier(heap: &'static Heap, slot: usize, old: usize, new: usize) {
    explain_store(heap, slot, old, new);
    let (old, new) = match heap.cfg.wbmode {
        WbMode::Hybrid => (old, new),
        WbMode::Dijkstra => (0, new),
        WbMode::Yuasa => (old, 0),
        WbMode::Off => return,
    };
    if heap.debug_barriers_on.load(Ordering::Relaxed) {
        if let Some(v) = heap.debug_barriers.lock().unwrap().as_mut() {
            v.push((slot, old, new));
        }
    }
    crate::mwbbuf::wb_buf_put(heap, old, new);
}

/// The explain log's view of a pointer store under the barrier: one step
/// for the value it removes and one for the value it stores, each saying
/// whether this `wbmode` shades it.
#[track_caller]
fn explain_store(heap: &'static Heap, slot: usize, old: usize, new: usize) {
    let mode = heap.cfg.wbmode;
    let shades = |which_old: bool| match mode {
        WbMode::Hybrid => true,
        WbMode::Dijkstra => !which_old,
        WbMode::Yuasa => which_old,
        WbMode::Off => false,
    };
    let verdict = |s: bool| {
        if s {
            "the barrier shades it".to_string()
        } else {
            format!("the barrier (wbmode={}) does not shade it", mode.name())
        }
    };
    let where_ = || {
        let (obj, off) = match crate::object::find_object(slot) {
            Some(f) => (f.base, slot - f.base),
            None => (slot, 0),
        };
        format!("{:#x}+{:#x}", heap.display_addr(obj), off)
    };
    if old != 0 {
        gort_scheduler::explain::note("gcWriteBarrier", || {
            (
                heap.display_addr(old),
                format!("overwritten in *({}): {}", where_(), verdict(shades(true))),
            )
        });
    }
    if new != 0 {
        gort_scheduler::explain::note("gcWriteBarrier", || {
            (
                heap.display_addr(new),
                format!("stored into *({}): {}", where_(), verdict(shades(false))),
            )
        });
    }
}

/// The source of a bulk copy: Go's `src` argument of
/// `bulkBarrierPreWrite`, which is 0 for a clear.
#[derive(Clone, Copy, Debug)]
pub enum BulkSrc<'a> {
    /// A clear: the new values are nil.
    Zero,
    /// Words of a heap object, from word `.1` of the handle on.
    Obj(Obj, usize),
    /// Values held outside the heap (a key argument, Go's stack copy).
    Words(&'a [u64]),
}

impl BulkSrc<'_> {
    #[inline]
    #[track_caller]
    fn word(&self, k: usize) -> u64 {
        match *self {
            BulkSrc::Zero => 0,
            BulkSrc::Obj(o, w) => o.slot(w + k).load(Ordering::Relaxed),
            BulkSrc::Words(ws) => ws[k],
        }
    }
}

/// Go's `bulkBarrierPreWrite(dst, src, size)`: before `words` words from
/// word `dw` of `dst` are overwritten with `src`'s, the barrier for every
/// one of them that the destination object's pointer bitmap says holds a
/// pointer (old value, new value; nil new values for a clear). Nothing
/// when the barrier is off.
#[inline]
#[track_caller]
pub fn bulk_barrier_pre_write(dst: Obj, dw: usize, src: BulkSrc, words: usize) {
    if words != 0 && crate::arena::write_barrier_on_at(dst.ptr().0) {
        bulk_barrier_pre_write_slow(dst, dw, src, words);
    }
}

#[cold]
#[inline(never)]
#[track_caller]
fn bulk_barrier_pre_write_slow(dst: Obj, dw: usize, src: BulkSrc, words: usize) {
    let Some(heap) = crate::mheap::current() else {
        return;
    };
    if !heap.wb_enabled.load(Ordering::Acquire) {
        return;
    }
    // Go: only the heap (and data/BSS, which gort models as roots, not
    // words) is barriered; the destination's own bitmap names the words.
    let Some(f) = find_object(dst.ptr().0) else {
        return;
    };
    let Some(ty) = f.span.type_of(f.index) else {
        return;
    };
    if !ty.has_pointers() {
        return;
    }
    let first = (dst.ptr().0 - f.base) / 8 + dw;
    for k in 0..words {
        let w = first + k;
        if w * 8 >= ty.ptrdata {
            break;
        }
        if !ty.is_ptr(w) {
            continue;
        }
        let slot = dst.slot(dw + k);
        gort_scheduler::step();
        crate::pagetouch::touch::<false>(slot.as_ptr() as usize);
        let old = slot.load(Ordering::Relaxed) as usize;
        let new = src.word(k) as usize;
        gc_write_barrier(heap, slot as *const AtomicU64 as usize, old, new);
    }
}

/// Go's `typedmemmove(typ, dst, src)`: copies a `typ` value (its
/// `typ.size / 8` words) from word `sw` of `src` to word `dw` of `dst`,
/// after the bulk barrier on the destination when `typ` has pointers.
#[inline]
#[track_caller]
pub fn typedmemmove(typ: &Type, dst: Obj, dw: usize, src: Obj, sw: usize) {
    let n = typ.size / 8;
    if typ.has_pointers() {
        bulk_barrier_pre_write(dst, dw, BulkSrc::Obj(src, sw), n);
    }
    for j in 0..n {
        dst.store(dw + j, src.load(sw + j));
    }
}

/// `typedmemmove` from a value held outside the heap (`src`, `typ.size /
/// 8` words): Go's copy of a key argument from the caller's frame.
#[inline]
#[track_caller]
pub fn typedmemmove_words(typ: &Type, dst: Obj, dw: usize, src: &[u64]) {
    if typ.has_pointers() {
        bulk_barrier_pre_write(dst, dw, BulkSrc::Words(src), src.len());
    }
    for (j, &x) in src.iter().enumerate() {
        dst.store(dw + j, x);
    }
}

/// Go's `typedmemclr(typ, ptr)`: zeroes a `typ` value at word `dw` of
/// `dst`, after the bulk barrier (old values shaded) when `typ` has
/// pointers.
#[inline]
#[track_caller]
pub fn typedmemclr(typ: &Type, dst: Obj, dw: usize) {
    let n = typ.size / 8;
    if typ.has_pointers() {
        memclr_has_pointers(dst, dw, n);
    } else {
        for j in 0..n {
            dst.store(dw + j, 0);
        }
    }
}

/// Go's `memclrHasPointers(ptr, n)`: zeroes `words` words from word `dw`
/// of `dst` after the bulk barrier over them (their old pointer values are
/// shaded).
#[inline]
#[track_caller]
pub fn memclr_has_pointers(dst: Obj, dw: usize, words: usize) {
    bulk_barrier_pre_write(dst, dw, BulkSrc::Zero, words);
    for j in 0..words {
        dst.store(dw + j, 0);
    }
}

/// Turns the current heap's barrier on or off outside a collection (for
/// tests: with no collection marking, the buffered pointers are dropped
/// at the next flush, as Go's `wbBufFlush` drops them when
/// `writeBarrier.needed` is false). A collection's end turns it off.
pub fn debug_set_write_barrier(on: bool) {
    let heap = crate::mheap::must();
    set_write_barrier(heap, on);
}

/// Makes the current heap record every barrier enqueue, as `(slot, old,
/// new)` after the `wbmode` filter (a value the mode does not shade is
/// recorded as 0), or stops recording.
pub fn debug_record_barriers(on: bool) {
    let heap = crate::mheap::must();
    *heap.debug_barriers.lock().unwrap() = on.then(Vec::new);
    heap.debug_barriers_on.store(on, Ordering::Release);
}

/// The barrier enqueues recorded since the last call.
pub fn debug_take_barriers() -> Vec<(usize, usize, usize)> {
    let heap = crate::mheap::must();
    heap.debug_barriers
        .lock()
        .unwrap()
        .as_mut()
        .map(std::mem::take)
        .unwrap_or_default()
}
