//! The object model: types, pointers, and checked word access.
//!
//! A `Type` is what Go's `_type` is to the collector: a size and a pointer
//! bitmap (bit i set: word i holds a pointer). An object is an array of
//! 64-bit words in an arena, read and written with relaxed atomics, so a
//! racy simulated program corrupts simulated state and never causes Rust
//! undefined behaviour. A `Ptr` is the object's real address (a
//! `#[repr(transparent)]` word), which is what lets conservative stack
//! scanning recognise it; interior pointers are valid.
//!
//! Every access (`load`, `store`, `load_ptr`, `store_ptr`) is one `step()`
//! of the scheduler (a pointer store also passes the write barrier,
//! `mbarrier.rs`, which adds a step when it enqueues), and checks that the
//! address lies in an allocated object of an in-use span and that the
//! word is inside that object (the index compared with the words left, so
//! a huge one cannot wrap). An access to an object a sweep freed is `fatal error: access to freed
//! object`, naming the object, its type, where it was allocated, the
//! collection that freed it and where it was accessed: this is how a
//! reachable object the collector freed (what write barriers prevent)
//! becomes visible. Every other bad access (past the end of the object it
//! started from, into a slot never allocated, free pages, outside the
//! heap: what a program's own race makes of a map) is Go's `unexpected
//! fault address` / `fatal error: fault`, so the collector is not blamed
//! for it (`bad_access`). Freed memory is also poisoned (`sweep.rs`), so a read
//! that escaped the check would see `0xdeadbeefdeadbeef`, not a plausible
//! value. A freed slot can be reused by a later allocation; an access
//! through a stale pointer after that is not detected (Go cannot detect it
//! either), which is why demos that hunt lost objects check soon after the
//! collection that freed them.

use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::arena::span_of;
use crate::mspan::MSpan;

/// Written over every word of a freed object.
pub const POISON: u64 = 0xdead_beef_dead_beef;

/// A heap type: size and pointer bitmap (Go's `_type.size`, `ptrdata`,
/// `gcdata`).
pub struct Type {
    pub name: &'static str,
    pub size: usize,
    /// Bit i of word i/64: word i of one element holds a pointer.
    pub ptrmask: Box<[u64]>,
    /// Bytes up to the end of the last pointer word (0: no pointers).
    pub ptrdata: usize,
    /// Words per element: an array type repeats `ptrmask` every
    /// `elem_words` words (`count` times); a plain type has one element.
    pub elem_words: usize,
    pub count: usize,
    /// How reports name the type: `name`, or `[n]name` for an array.
    pub display_name: &'static str,
    /// Field names of the words of one element (`buckets`, `elems[5]`),
    /// for the paths the checkmark verifier prints; `None`: byte offsets.
    pub word_names: Option<Box<[String]>>,
    /// The word that holds a growing map's `oldbuckets` (hmap's), which
    /// `GODEBUG=gcscanold=0` leaves unscanned.
    pub scan_old_word: Option<usize>,
}

impl fmt::Debug for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} bytes)", self.name, self.size)
    }
}

impl Type {
    /// A type of `words` 8-byte words whose words `pointers` hold
    /// pointers. Types live for the process (leaked), like Go's.
    pub fn new(name: &'static str, words: usize, pointers: &[usize]) -> &'static Type {
        Type::build(name, words, pointers).leak()
    }

    /// `new`'s type before it is leaked, for a caller that names its
    /// words (`with_word_names`) or marks its oldbuckets word.
    pub fn build(name: &'static str, words: usize, pointers: &[usize]) -> Type {
        assert!(words > 0, "gort: type {name} has no words");
        let mut mask = vec![0u64; words.div_ceil(64)];
        let mut ptrdata = 0;
        for &w in pointers {
            assert!(w < words, "gort: pointer word {w} outside type {name}");
            mask[w / 64] |= 1 << (w % 64);
            ptrdata = ptrdata.max((w + 1) * 8);
        }
        Type {
            name,
            size: words * 8,
            ptrmask: mask.into_boxed_slice(),
            ptrdata,
            elem_words: words,
            count: 1,
            display_name: name,
            word_names: None,
            scan_old_word: None,
        }
    }

    /// Names the words of one element, in order (one name per word).
    pub fn with_word_names(mut self, names: Vec<String>) -> Type {
        assert_eq!(
            names.len(),
            self.elem_words,
            "gort: type {} has {} words, {} names given",
            self.name,
            self.elem_words,
            names.len()
        );
        self.word_names = Some(names.into_boxed_slice());
        self
    }

    /// Marks word `w` as a growing map's `oldbuckets` (see
    /// `scan_old_word`).
    pub fn with_scan_old_word(mut self, w: usize) -> Type {
        assert!(
            w < self.elem_words && self.is_ptr(w),
            "gort: oldbuckets word {w} of type {} is not a pointer word",
            self.name
        );
        self.scan_old_word = Some(w);
        self
    }

    /// Makes the type live for the process, like Go's types.
    pub fn leak(self) -> &'static Type {
        Box::leak(Box::new(self))
    }

    /// The name of word `w` of the object (`[3].elems[5]` in an array,
    /// `.buckets`), or its byte offset (`+0x10`) if the type names none.
    pub fn word_name(&self, w: usize) -> String {
        let (e, i) = (w / self.elem_words.max(1), w % self.elem_words.max(1));
        let elem = if self.count > 1 {
            format!("[{e}]")
        } else {
            String::new()
        };
        match self.word_names.as_ref().and_then(|n| n.get(i)) {
            Some(n) => format!("{elem}.{n}"),
            None if self.count > 1 => format!("{elem}+{:#x}", i * 8),
            None => format!("+{:#x}", w * 8),
        }
    }

    /// Go's `[n]elem` (a bucket array): `n` copies of `elem`'s layout.
    /// Array types are interned, so repeated growth does not leak types.
    ///
    /// The interning table is process-wide: the lookup runs off the
    /// goroutine's stack (`off_goroutine_stack`), so whether this process
    /// made the type before leaves no trace on the stack a collector scans.
    pub fn array(elem: &'static Type, n: usize) -> &'static Type {
        let mut t = None;
        gort_scheduler::off_goroutine_stack(&mut || t = Some(Type::array_interned(elem, n)));
        t.expect("array type")
    }

    fn array_interned(elem: &'static Type, n: usize) -> &'static Type {
        use std::collections::HashMap;
        use std::sync::Mutex;
        static ARRAYS: Mutex<Option<HashMap<(usize, usize), &'static Type>>> = Mutex::new(None);
        let mut arrays = ARRAYS.lock().unwrap();
        let arrays = arrays.get_or_insert_with(HashMap::new);
        let key = (elem as *const Type as usize, n);
        if let Some(&t) = arrays.get(&key) {
            return t;
        }
        let ptrdata = if elem.ptrdata == 0 {
            0
        } else {
            (n - 1) * elem.size + elem.ptrdata
        };
        let t: &'static Type = Box::leak(Box::new(Type {
            name: elem.name,
            size: elem.size * n,
            ptrmask: elem.ptrmask.clone(),
            ptrdata,
            elem_words: elem.elem_words,
            count: n,
            display_name: Box::leak(format!("[{n}]{}", elem.display_name).into_boxed_str()),
            word_names: elem.word_names.clone(),
            scan_old_word: None,
        }));
        arrays.insert(key, t);
        t
    }

    /// Whether word `i` holds a pointer.
    #[inline]
    pub fn is_ptr(&self, i: usize) -> bool {
        let i = i % self.elem_words;
        self.ptrmask
            .get(i / 64)
            .is_some_and(|m| m & (1 << (i % 64)) != 0)
    }

    /// Whether objects of this type need scanning (Go's `noscan`).
    pub fn has_pointers(&self) -> bool {
        self.ptrdata != 0
    }
}

/// A pointer into the simulated heap (or nil): the object's address.
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Ptr(pub usize);

impl fmt::Debug for Ptr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            write!(f, "nil")
        } else {
            write!(f, "{:#x}", self.0)
        }
    }
}

/// An object found from an address: its span, slot and base.
#[derive(Clone, Copy)]
pub struct Found {
    pub span: &'static MSpan,
    pub index: usize,
    pub base: usize,
}

/// Go's `findObject`: the allocated object containing `addr`, if any
/// (interior pointers included).
#[inline]
pub fn find_object(addr: usize) -> Option<Found> {
    let span = span_of(addr)?;
    let (index, base) = span.find(addr)?;
    span.is_allocated(index)
        .then_some(Found { span, index, base })
}

/// The word accessors shared by `Ptr` (checked at every access) and
/// `Obj` (checked once, `checked.rs`): each type supplies `word(i)`, the
/// checked step to the word's atomic.
macro_rules! word_ops {
    () => {
        /// Reads word `i` of the object.
        #[inline]
        #[track_caller]
        pub fn load(self, i: usize) -> u64 {
            let w = self.word(i);
            $crate::pagetouch::touch::<false>(w.as_ptr() as usize);
            if gort_scheduler::race::enabled() {
                gort_scheduler::race::read(w.as_ptr() as usize, 8);
            }
            w.load(std::sync::atomic::Ordering::Relaxed)
        }

        /// Writes word `i` of the object.
        #[inline]
        #[track_caller]
        pub fn store(self, i: usize, v: u64) {
            let w = self.word(i);
            $crate::pagetouch::touch::<true>(w.as_ptr() as usize);
            if gort_scheduler::race::enabled() {
                gort_scheduler::race::write(w.as_ptr() as usize, 8);
            }
            w.store(v, std::sync::atomic::Ordering::Relaxed)
        }

        /// Atomically XORs word `i` with `v`, returning the old value.
        #[inline]
        #[track_caller]
        pub fn fetch_xor(self, i: usize, v: u64) -> u64 {
            let w = self.word(i);
            $crate::pagetouch::touch::<true>(w.as_ptr() as usize);
            if gort_scheduler::race::enabled() {
                gort_scheduler::race::atomic(w.as_ptr() as usize, 8, true, true);
            }
            w.fetch_xor(v, std::sync::atomic::Ordering::Relaxed)
        }

        /// Atomically ORs `v` into word `i`, returning the old value (Go's
        /// `atomic.Or8` on the map's flags, for iterators).
        #[inline]
        #[track_caller]
        pub fn fetch_or(self, i: usize, v: u64) -> u64 {
            let w = self.word(i);
            $crate::pagetouch::touch::<true>(w.as_ptr() as usize);
            if gort_scheduler::race::enabled() {
                gort_scheduler::race::atomic(w.as_ptr() as usize, 8, true, true);
            }
            w.fetch_or(v, std::sync::atomic::Ordering::Relaxed)
        }

        /// Reads the `width`-bit field at bit `shift` of word `i` (a byte
        /// or half-word field Go packs into a word: a map's flags, B,
        /// tophash).
        #[inline]
        #[track_caller]
        pub fn load_field(self, i: usize, shift: u32, width: u32) -> u64 {
            let w = self.word(i);
            $crate::pagetouch::touch::<false>(w.as_ptr() as usize);
            let (off, size) = $crate::object::field_bytes(shift, width);
            if gort_scheduler::race::enabled() {
                gort_scheduler::race::read(w.as_ptr() as usize + off, size);
            }
            (w.load(std::sync::atomic::Ordering::Relaxed) >> shift)
                & $crate::object::field_mask(width)
        }

        /// Reads pointer word `i`.
        #[inline]
        #[track_caller]
        pub fn load_ptr(self, i: usize) -> $crate::object::Ptr {
            $crate::object::Ptr(self.load(i) as usize)
        }

        /// Writes pointer word `i`, after the write barrier (what Go's
        /// compiler emits for a pointer store into the heap:
        /// `gcWriteBarrier` while `writeBarrier.enabled`).
        #[inline]
        #[track_caller]
        pub fn store_ptr(self, i: usize, p: $crate::object::Ptr) {
            let w = self.word(i);
            $crate::pagetouch::touch::<true>(w.as_ptr() as usize);
            if gort_scheduler::race::enabled() {
                gort_scheduler::race::write(w.as_ptr() as usize, 8);
            }
            $crate::mbarrier::write_barrier(w, p.0);
            w.store(p.0 as u64, std::sync::atomic::Ordering::Relaxed)
        }
    };
}
pub(crate) use word_ops;

impl Ptr {
    pub const NIL: Ptr = Ptr(0);

    pub fn is_nil(self) -> bool {
        self.0 == 0
    }

    /// The address of word `i`, after checking that it lies in a live
    /// object; else the fatal error. `i` is compared with the words left
    /// in the object, never added to the address first: `base + i*8`
    /// would wrap for a huge `i` and land before the object.
    #[inline]
    #[track_caller]
    fn word(self, i: usize) -> &'static AtomicU64 {
        gort_scheduler::step();
        if let Some(span) = span_of(self.0) {
            if let Some((index, base)) = span.find(self.0) {
                if span.is_allocated(index)
                    && self.0 & 7 == 0
                    && i < (base + span.elemsize() - self.0) / 8
                {
                    // SAFETY: `self.0 + 8i` is 8-aligned inside an allocated
                    // slot of an arena, which stays mapped for the process's
                    // life; all access to heap words is atomic.
                    return unsafe { &*((self.0 + i * 8) as *const AtomicU64) };
                }
            }
        }
        bad_access(self, i, 0)
    }

    word_ops!();

    /// Go's `atomic.CompareAndSwap` on word `i`: writes `new` if the word
    /// holds `old`; `Ok(old)` if it did, `Err(current)` if not.
    /// Sequentially consistent, like every `sync/atomic` operation in Go
    /// (its success publishes the writes before it; its load, success or
    /// not, sees the writes published before the value it reads).
    #[inline]
    #[track_caller]
    pub fn compare_exchange(self, i: usize, old: u64, new: u64) -> Result<u64, u64> {
        let w = self.word(i);
        crate::pagetouch::touch::<true>(w.as_ptr() as usize);
        if gort_scheduler::race::enabled() {
            gort_scheduler::race::atomic(w.as_ptr() as usize, 8, true, true);
        }
        w.compare_exchange(old, new, Ordering::SeqCst, Ordering::SeqCst)
    }

    /// Go's `atomic.Swap` on word `i`, returning the old value; also
    /// Go's `atomic.Store` (on amd64 an `XCHG`, this very instruction).
    /// Sequentially consistent, like `compare_exchange`.
    #[inline]
    #[track_caller]
    pub fn swap(self, i: usize, v: u64) -> u64 {
        let w = self.word(i);
        crate::pagetouch::touch::<true>(w.as_ptr() as usize);
        if gort_scheduler::race::enabled() {
            gort_scheduler::race::atomic(w.as_ptr() as usize, 8, true, true);
        }
        w.swap(v, Ordering::SeqCst)
    }

    /// `compare_exchange` of a pointer word, after the write barrier for
    /// the new value over the word's current one (Go's
    /// `sync/atomic.CompareAndSwapPointer`: `atomicwb` then the CAS; the
    /// barrier runs whether or not the CAS succeeds).
    #[inline]
    #[track_caller]
    pub fn compare_exchange_ptr(self, i: usize, old: Ptr, new: Ptr) -> Result<Ptr, Ptr> {
        let w = self.word(i);
        crate::pagetouch::touch::<true>(w.as_ptr() as usize);
        if gort_scheduler::race::enabled() {
            gort_scheduler::race::atomic(w.as_ptr() as usize, 8, true, true);
        }
        crate::mbarrier::write_barrier(w, new.0);
        w.compare_exchange(
            old.0 as u64,
            new.0 as u64,
            Ordering::SeqCst,
            Ordering::SeqCst,
        )
        .map(|v| Ptr(v as usize))
        .map_err(|v| Ptr(v as usize))
    }

    /// `swap` of a pointer word, after the write barrier (Go's
    /// `atomicstorep` / `sync/atomic.StorePointer` and `SwapPointer`).
    #[inline]
    #[track_caller]
    pub fn swap_ptr(self, i: usize, new: Ptr) -> Ptr {
        let w = self.word(i);
        crate::pagetouch::touch::<true>(w.as_ptr() as usize);
        if gort_scheduler::race::enabled() {
            gort_scheduler::race::atomic(w.as_ptr() as usize, 8, true, true);
        }
        crate::mbarrier::write_barrier(w, new.0);
        Ptr(w.swap(new.0 as u64, Ordering::SeqCst) as usize)
    }

    /// Writes such a field as Go's byte store would: the rest of the word
    /// is left as other goroutines made it (a CAS loop in parallel mode,
    /// where they may write it meanwhile).
    #[inline]
    #[track_caller]
    pub fn store_field(self, i: usize, shift: u32, width: u32, v: u64) {
        let w = self.word(i);
        crate::pagetouch::touch::<true>(w.as_ptr() as usize);
        let (off, size) = field_bytes(shift, width);
        if gort_scheduler::race::enabled() {
            gort_scheduler::race::write(w.as_ptr() as usize + off, size);
        }
        let m = field_mask(width) << shift;
        let mut old = w.load(Ordering::Relaxed);
        loop {
            let new = (old & !m) | ((v << shift) & m);
            match w.compare_exchange_weak(old, new, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(x) => old = x,
            }
        }
    }
}

/// The bytes a `width`-bit field at bit `shift` occupies in its word, as
/// (offset, size): what the race detector sees Go's byte or half-word
/// access touch.
#[inline]
pub(crate) fn field_bytes(shift: u32, width: u32) -> (usize, usize) {
    let lo = (shift / 8) as usize;
    let hi = (shift + width.min(64 - shift)).div_ceil(8) as usize;
    (lo, hi.max(lo + 1) - lo)
}

#[inline]
pub(crate) fn field_mask(width: u32) -> u64 {
    if width >= 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    }
}

/// Where an address lies in the heap, for a report.
enum Place {
    /// In slot `index` (based at `base`) of `span`'s layout, whatever the
    /// slot's state.
    Slot {
        span: &'static MSpan,
        index: usize,
        base: usize,
    },
    /// In `span`'s pages, past its last slot.
    PastSlots(&'static MSpan),
    /// In no span: outside every arena, or in pages never handed out.
    NoSpan,
}

fn place_of(addr: usize) -> Place {
    let Some(span) = span_of(addr) else {
        return Place::NoSpan;
    };
    // The slot as the span last laid it out (a freed span keeps its layout
    // and per-slot metadata until its pages are reused).
    let base = span.base();
    if addr < base || addr >= span.limit.load(Ordering::Relaxed) {
        return Place::PastSlots(span);
    }
    let index = span.obj_index(addr);
    Place::Slot {
        span,
        index,
        base: base + index * span.elemsize(),
    }
}

/// The fatal error for an access outside any live object: word `word`
/// from `p`, where `limit` is the end of the object (or checked window)
/// the access was derived from (an `Obj`, a `Words`), or 0 for a plain
/// `Ptr` access, whose object is the one `p` points into.
///
/// Two kinds of report, kept apart on purpose. An access to a slot that
/// held an object a sweep freed is `access to freed object`, naming the
/// collection: the loss a broken write barrier causes, which a report
/// about the collector must be able to claim. Anything else — an index
/// past the end of the object, a pointer into a slot never allocated, into
/// free pages or outside the heap (what a racing program's corrupted
/// state produces, and a freed-then-reused slot cannot be told from) — is
/// Go's `unexpected fault address` / `fatal error: fault`, with the
/// pointer described in the words of Go's `badPointer`.
#[cold]
#[inline(never)]
#[track_caller]
pub(crate) fn bad_access(p: Ptr, word: usize, limit: usize) -> ! {
    let at = Location::caller();
    if p.0 < 0x1000 {
        // Go: a fault in the first page is a nil dereference (sigpanic's
        // panicmem), a panic, not a fatal error.
        panic!("runtime error: invalid memory address or nil pointer dereference");
    }
    let heap = crate::mheap::current();
    let show = |a: usize| heap.map_or(a, |h| h.display_addr(a));
    let site = |l: Option<&'static Location<'static>>| {
        l.map_or("?".to_string(), |l| {
            gort_scheduler::traceback::abs_path(&format!("{}:{}", l.file(), l.line()))
        })
    };
    // The address the access touches, as the hardware would compute it.
    let addr = p.0.wrapping_add(word.wrapping_mul(8));
    // "0x<base> (<type>, <size> bytes, allocated at <site>" for the
    // object in slot `index` (its last occupant, once freed).
    let describe = |span: &'static MSpan, index: usize, base: usize| {
        let ty = span.type_of(index);
        (
            show(base),
            format!(
                "{}, {} bytes, allocated at {}",
                ty.map_or("?", |t| t.name),
                span.elemsize(),
                site(span.site_of(index)),
            ),
        )
    };
    let span_fields = |s: &'static MSpan| {
        format!(
            "span.base()={:#x} span.limit={:#x} span.state={}",
            show(s.base()),
            show(s.limit.load(Ordering::Relaxed)),
            s.state.load(Ordering::Relaxed),
        )
    };
    // The object the access started from: the one the handle was checked
    // against, else the one `p` lies in.
    let from = place_of(if limit != 0 { limit - 1 } else { p.0 });
    let mut detail = String::new();
    let mut freed = false;
    match from {
        Place::Slot { span, index, base }
            if limit != 0 || (span.in_use() && span.is_allocated(index)) =>
        {
            let end = base + span.elemsize();
            let (base, what_obj) = describe(span, index, base);
            let line = if limit == 0 && p.0 & 7 != 0 {
                // Heap words are 8-byte atomics: gort cannot make Go's
                // unaligned access.
                format!(
                    "runtime: misaligned pointer {:#x} into object {base:#x} ({what_obj})\n",
                    show(p.0)
                )
            } else {
                // Past the end if the index is, wherever a wrapped address
                // lands.
                let what = if word >= end.saturating_sub(p.0) / 8 {
                    "past the end of object"
                } else {
                    // Inside the object but outside the window checked for
                    // this access (a runtime bug rather than a program's).
                    "outside the checked part of object"
                };
                format!(
                    "runtime: pointer {:#x} {what} {base:#x} ({what_obj}): word {word} from {:#x}\n",
                    show(addr),
                    show(p.0),
                )
            };
            detail.push_str(&line);
        }
        Place::Slot { span, index, base } => match span.freed_by(index) {
            Some(sg) => {
                freed = true;
                let (base, what_obj) = describe(span, index, base);
                detail.push_str(&format!(
                    "runtime: access to freed object {:#x} (object {base:#x}, {what_obj}, freed by the sweep of GC {})\n",
                    show(p.0),
                    crate::sweep::cycle_of_sweepgen(sg),
                ));
            }
            None if span.in_use() => detail.push_str(&format!(
                "runtime: pointer {:#x} to unallocated object {}\n",
                show(p.0),
                span_fields(span)
            )),
            None => detail.push_str(&format!(
                "runtime: pointer {:#x} to unallocated span {}\n",
                show(p.0),
                span_fields(span)
            )),
        },
        Place::PastSlots(span) => {
            let region = if span.in_use() {
                "unused region of span"
            } else {
                "unallocated span"
            };
            detail.push_str(&format!(
                "runtime: pointer {:#x} to {region} {}\n",
                show(p.0),
                span_fields(span)
            ));
        }
        // Pages of an arena that no span holds yet are an unallocated
        // span to Go (it has no span to print).
        Place::NoSpan if crate::arena::arena_of(p.0).is_some() => {
            detail.push_str(&format!(
                "runtime: pointer {:#x} to unallocated span\n",
                show(p.0)
            ));
        }
        Place::NoSpan => {
            detail.push_str(&format!(
                "runtime: pointer {:#x} not in the Go heap\n",
                show(p.0)
            ));
        }
    }
    detail.push_str(&format!(
        "runtime: accessed at {} (word {word})\n",
        gort_scheduler::traceback::abs_path(&format!("{}:{}", at.file(), at.line()))
    ));
    if freed {
        gort_scheduler::fatal_detail(detail, "access to freed object")
    }
    // Go's sigpanic, on an access the hardware would fault at.
    detail.push_str(&format!("unexpected fault address {:#x}\n", show(addr)));
    gort_scheduler::fatal_detail(detail, "fault")
}
