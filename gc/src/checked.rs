//! Checked object handles: one liveness check, then many word accesses.
//!
//! `Ptr::obj()` does what every `Ptr` access does — finds the object the
//! pointer lies in and checks that it is allocated, else the fatal error
//! naming the object and both sites — and returns an `Obj` that remembers
//! the object's end. Accesses through the `Obj` are still scheduler steps
//! and still bounds-checked, but skip the span lookup.
//!
//! Why that is still "every access checks its object is live": an object
//! is only freed by sweeping after a collection, a collection needs every
//! goroutine at a safepoint, and neither `step()` nor an `Obj` access is a
//! safepoint. So an object that was live when the handle was made stays
//! live until its holder reaches a safepoint or allocates (an allocation
//! may collect). Runtime code such as the map makes its handles at the
//! start of an operation (after the safepoint Go's function prologue would
//! be) and makes them again after any allocation. A racy program that
//! reaches an unmarked object through a stale heap pointer after a
//! collection, before its span is lazily swept, is caught when the span
//! has been swept by then, as with per-word checks; otherwise it reads
//! poison.
//!
//! `obj_memo` makes the check itself cheap for objects a goroutine touches
//! again and again (a map's header and bucket array): the heap keeps a
//! free epoch, bumped before any object or span is freed, and a goroutine
//! remembers (in its `G`) the objects it found live with the epoch of the
//! time. Same address and same epoch: nothing has been freed since, so
//! the object is still live and its end is the one remembered — the
//! answer the span lookup would give, for a load and two compares. Any
//! sweep that frees something invalidates every memo at once, so the
//! memo never hides a freed object. The memo is the goroutine's own
//! (unsynchronised cells): `G::obj_memo` hands it out only to code running
//! on that goroutine's stack, and a caller passing another goroutine's `G`
//! gets the unmemoized check.

use std::sync::atomic::{AtomicU64, Ordering};

use gort_scheduler::G;

use crate::arena::span_of;
use crate::object::{bad_access, Ptr};

/// A pointer whose object was found live; accesses check only bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Obj {
    addr: usize,
    /// End of the object containing `addr`.
    limit: usize,
}

impl Ptr {
    /// `obj()`, or `Obj::NIL` for the nil pointer (whose accesses then
    /// fail as a nil dereference would).
    #[inline]
    #[track_caller]
    pub fn obj_or_nil(self) -> Obj {
        if self.is_nil() {
            Obj::NIL
        } else {
            self.obj()
        }
    }

    /// Checks that the pointer lies in a live object (the fatal error if
    /// not) and returns a handle for cheap word accesses.
    #[inline(always)]
    #[track_caller]
    pub fn obj(self) -> Obj {
        gort_scheduler::step();
        if let Some(span) = span_of(self.0) {
            if let Some((index, base)) = span.find(self.0) {
                // Aligned, so that every word an `Obj` reaches is.
                if span.is_allocated(index) && self.0 & 7 == 0 {
                    return Obj {
                        addr: self.0,
                        limit: base + span.elemsize(),
                    };
                }
            }
        }
        bad_access(self, 0, 0)
    }
}

/// Bumped before any object or span is freed (see the module comment).
static FREE_EPOCH: AtomicU64 = AtomicU64::new(0);

/// The free epoch (see the module comment): unchanged since a handle was
/// made, nothing has been freed since, so the handle's object is still
/// live. Lets a holder of handles across safepoints (the map iterator)
/// re-check them all with one load.
#[inline]
pub fn free_epoch() -> u64 {
    FREE_EPOCH.load(Ordering::Acquire)
}

/// Called by the sweeper and the page heap before they free anything.
#[inline]
pub(crate) fn note_free() {
    FREE_EPOCH.fetch_add(1, Ordering::AcqRel);
}

impl Ptr {
    /// `obj()`, answered from goroutine `g`'s memo `slot` when nothing has
    /// been freed since that memo was made for an address range holding
    /// this one (one step either way, as `obj()`); else checked and
    /// remembered there. Nil gives `Obj::NIL`. `g` must be the calling
    /// goroutine for the memo to be used (`G::obj_memo`); any other `g`
    /// (or None) gets the plain check.
    #[inline(always)]
    #[track_caller]
    pub fn obj_memo(self, g: Option<&G>, slot: usize) -> Obj {
        self.obj_memo2(g, slot, slot)
    }

    /// `obj_memo` trying memo `first`, then memo `fill`, and remembering a
    /// miss in `fill` (an overflow bucket is usually one of the bucket
    /// array's preallocated spares, so the array's memo covers it).
    #[inline(always)]
    #[track_caller]
    pub fn obj_memo2(self, g: Option<&G>, first: usize, fill: usize) -> Obj {
        self.obj_memo2_s::<true>(g, first, fill)
    }

    /// `obj_memo`, whose hit is a scheduler step only if `STEP` (false for
    /// a goroutine in parallel mode, where a step does nothing; see
    /// `Words`).
    #[inline(always)]
    #[track_caller]
    pub fn obj_memo_s<const STEP: bool>(self, g: Option<&G>, slot: usize) -> Obj {
        self.obj_memo2_s::<STEP>(g, slot, slot)
    }

    /// `obj_memo2` with `obj_memo_s`'s stepping.
    #[inline(always)]
    #[track_caller]
    pub fn obj_memo2_s<const STEP: bool>(self, g: Option<&G>, first: usize, fill: usize) -> Obj {
        // Another goroutine's memo (a `&G` handed over) is not ours to
        // touch: the unmemoized check then. Nor is the memo used in
        // deterministic mode: the free epoch is shared by every runtime in
        // the process, so whether the memo hits would depend on other
        // runtimes' sweeps; the step count is the same either way, but
        // the two paths leave different words on the goroutine's stack,
        // which the conservative scan reads, and a seed must replay
        // whatever else runs in the process.
        let Some(memo) = g.filter(|g| !g.is_det()).and_then(G::obj_memo) else {
            return self.obj_or_nil();
        };
        if self.is_nil() {
            return Obj::NIL;
        }
        let epoch = FREE_EPOCH.load(Ordering::Acquire);
        for slot in [first, fill] {
            let m = &memo[slot];
            // [m.addr, m.limit) lay inside one allocated object at the
            // memo's epoch; with no free since, it still does. (`obj()`
            // also wants the pointer aligned.)
            if self.0.wrapping_sub(m.addr.get()) < m.limit.get().wrapping_sub(m.addr.get())
                && m.epoch.get() == epoch
                && self.0 & 7 == 0
            {
                if STEP {
                    gort_scheduler::step();
                }
                return Obj {
                    addr: self.0,
                    limit: m.limit.get(),
                };
            }
            if first == fill {
                break;
            }
        }
        self.obj_memo_fill(&memo[fill], epoch)
    }

    /// The memo missed: the full check, remembered. `epoch` was read
    /// before the lookup, so a free in between makes the memo stale, never
    /// wrong.
    #[inline(never)]
    #[track_caller]
    fn obj_memo_fill(self, m: &gort_scheduler::ObjMemo, epoch: u64) -> Obj {
        let o = self.obj();
        m.addr.set(self.0);
        m.limit.set(o.limit);
        m.epoch.set(epoch);
        o
    }
}

impl Obj {
    pub const NIL: Obj = Obj { addr: 0, limit: 0 };

    pub fn is_nil(self) -> bool {
        self.addr == 0
    }

    /// The address of word `i`, unchecked: for the race detector's
    /// records of an access made through a checked accessor.
    pub fn word_addr(self, i: usize) -> usize {
        self.addr.wrapping_add(i.wrapping_mul(8))
    }

    pub fn ptr(self) -> Ptr {
        Ptr(self.addr)
    }

    /// A handle `words` words further into the same object (a bucket of a
    /// bucket array). Not checked here: an access through it is, against
    /// the same object's end. The address saturates instead of wrapping,
    /// so it never lands before the object, which the accesses, checking
    /// only the end, could not tell (a saturated address is past every
    /// end, so its misalignment never reaches an access).
    #[inline]
    pub fn offset(self, words: usize) -> Obj {
        Obj {
            addr: self.addr.saturating_add(words.saturating_mul(8)),
            limit: self.limit,
        }
    }

    /// The address of word `i`, if it lies before the object's end: `i` is
    /// compared with the words left, never added first (`addr + i*8`
    /// would wrap for a huge `i`); an `offset` past the end leaves none.
    #[inline(always)]
    #[track_caller]
    fn addr_of(self, i: usize) -> usize {
        if i >= self.limit.saturating_sub(self.addr) / 8 {
            bad_access(Ptr(self.addr), i, self.limit);
        }
        self.addr + i * 8
    }

    #[inline]
    #[track_caller]
    fn word(self, i: usize) -> &'static AtomicU64 {
        gort_scheduler::step();
        let a = self.addr_of(i);
        // SAFETY: `a` is 8-aligned (an aligned pointer plus whole words)
        // inside an object that was allocated when the handle was made and
        // cannot have been freed since (see the module comment); arenas
        // stay mapped; heap words are atomic.
        unsafe { &*(a as *const AtomicU64) }
    }

    crate::object::word_ops!();

    /// The atomic of word `i`, bounds-checked but not a step (the write
    /// barrier's reads of the words it is about to overwrite, and of the
    /// source of a bulk copy).
    #[inline(always)]
    #[track_caller]
    pub(crate) fn slot(self, i: usize) -> &'static AtomicU64 {
        let a = self.addr_of(i);
        // SAFETY: as in `word`.
        unsafe { &*(a as *const AtomicU64) }
    }

    /// `load`, a scheduler step only if `STEP` (see `Words`: runtime code
    /// passes false for a goroutine in parallel mode, where `step()` does
    /// nothing). Still bounds-checked.
    #[inline(always)]
    #[track_caller]
    pub fn load_s<const STEP: bool>(self, i: usize) -> u64 {
        if STEP {
            gort_scheduler::step();
        }
        let a = self.addr_of(i);
        if STEP {
            crate::pagetouch::touch::<false>(a);
        }
        // SAFETY: as in `word`.
        unsafe { &*(a as *const AtomicU64) }.load(Ordering::Relaxed)
    }

    /// `load_field` with `load_s`'s stepping.
    #[inline(always)]
    #[track_caller]
    pub fn load_field_s<const STEP: bool>(self, i: usize, shift: u32, width: u32) -> u64 {
        (self.load_s::<STEP>(i) >> shift) & crate::object::field_mask(width)
    }

    /// A field write as runtime code does it on a word it owns: a load
    /// and a store of the whole word, with no step in between (so in
    /// deterministic mode it is one indivisible access, like Go's byte
    /// store). In parallel mode a racing writer of a neighbouring field of
    /// the same word (only possible in a program that is already writing
    /// one map from two goroutines) can have its byte undone, where Go's
    /// byte store would keep it; `Ptr::store_field` is the exact, slower
    /// variant.
    #[inline]
    #[track_caller]
    pub fn store_field(self, i: usize, shift: u32, width: u32, v: u64) {
        let w = self.word(i);
        crate::pagetouch::touch::<true>(w.as_ptr() as usize);
        let (off, size) = crate::object::field_bytes(shift, width);
        if gort_scheduler::race::enabled() {
            gort_scheduler::race::write(w.as_ptr() as usize + off, size);
        }
        let m = crate::object::field_mask(width) << shift;
        let old = w.load(Ordering::Relaxed);
        w.store((old & !m) | ((v << shift) & m), Ordering::Relaxed);
    }
}

/// A window of `N` words of a live object, bounds-checked once when it is
/// made. Its accesses check the index against the constant `N` (which the
/// compiler drops where the index is provably in range, as in a bucket
/// whose layout is fixed) and are a scheduler step only when `STEP` is
/// true: runtime code chooses `STEP = false` for a goroutine in parallel
/// mode, where `step()` would do nothing, and `true` in deterministic
/// mode, where every access stays a step. So a map's fast paths (Go's
/// `map_fast64.go`) keep the exact access sequence of the slow ones, less
/// the per-access bookkeeping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Words<const N: usize> {
    addr: usize,
}

impl Obj {
    /// The `N` words from this handle's address, which must lie inside the
    /// object (else the fatal error, as for a word access past its end).
    #[inline(always)]
    #[track_caller]
    pub fn words<const N: usize>(self) -> Words<N> {
        // `addr` never wrapped (`offset` saturates), so `end` wraps only
        // for an address at the very top, and then `end < addr`.
        let end = self.addr.wrapping_add(N * 8);
        if self.addr == 0 || end > self.limit || end < self.addr {
            // The first word of the window past the end.
            let left = self.limit.saturating_sub(self.addr) / 8;
            bad_access(Ptr(self.addr), left, self.limit);
        }
        Words { addr: self.addr }
    }
}

impl<const N: usize> Words<N> {
    #[inline(always)]
    #[track_caller]
    fn word<const STEP: bool>(self, i: usize) -> &'static AtomicU64 {
        if STEP {
            gort_scheduler::step();
        }
        if i >= N {
            bad_access(Ptr(self.addr), i, self.addr + N * 8);
        }
        // SAFETY: `i < N` and `[addr, addr + 8N)` lay inside an object that
        // was live when the window was made, which cannot be freed before
        // its holder's next safepoint (module comment); arenas stay mapped;
        // heap words are atomic.
        unsafe { &*((self.addr + i * 8) as *const AtomicU64) }
    }

    pub fn addr(self) -> usize {
        self.addr
    }

    /// Back to a checked handle, limited to the window.
    #[inline(always)]
    pub fn obj(self) -> Obj {
        Obj {
            addr: self.addr,
            limit: self.addr + N * 8,
        }
    }

    #[inline(always)]
    #[track_caller]
    pub fn load<const STEP: bool>(self, i: usize) -> u64 {
        let w = self.word::<STEP>(i);
        if STEP {
            crate::pagetouch::touch::<false>(w.as_ptr() as usize);
        }
        w.load(Ordering::Relaxed)
    }
    #[inline(always)]
    #[track_caller]
    pub fn store<const STEP: bool>(self, i: usize, v: u64) {
        let w = self.word::<STEP>(i);
        if STEP {
            crate::pagetouch::touch::<true>(w.as_ptr() as usize);
        }
        w.store(v, Ordering::Relaxed)
    }
    #[inline(always)]
    #[track_caller]
    pub fn load_ptr<const STEP: bool>(self, i: usize) -> Ptr {
        Ptr(self.load::<STEP>(i) as usize)
    }
    /// Pointer store, after the write barrier (as on `Obj`).
    #[inline(always)]
    #[track_caller]
    pub fn store_ptr<const STEP: bool>(self, i: usize, p: Ptr) {
        let w = self.word::<STEP>(i);
        if STEP {
            crate::pagetouch::touch::<true>(w.as_ptr() as usize);
        }
        crate::mbarrier::write_barrier(w, p.0);
        w.store(p.0 as u64, Ordering::Relaxed)
    }
    #[inline(always)]
    #[track_caller]
    pub fn load_field<const STEP: bool>(self, i: usize, shift: u32, width: u32) -> u64 {
        (self.load::<STEP>(i) >> shift) & crate::object::field_mask(width)
    }
    /// `Obj::store_field`: one indivisible load and store of the word.
    #[inline(always)]
    #[track_caller]
    pub fn store_field<const STEP: bool>(self, i: usize, shift: u32, width: u32, v: u64) {
        let w = self.word::<STEP>(i);
        if STEP {
            crate::pagetouch::touch::<true>(w.as_ptr() as usize);
        }
        let m = crate::object::field_mask(width) << shift;
        let old = w.load(Ordering::Relaxed);
        w.store((old & !m) | ((v << shift) & m), Ordering::Relaxed);
    }
}
