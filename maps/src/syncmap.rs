//! Go 1.19's `sync.Map` (sync/map.go) for `int64` keys and pointer values
//! (`any` in Go; a `Ptr` here, `Ptr::NIL` being Go's nil), on the
//! simulated heap.
//!
//! # The algorithm (as map.go)
//!
//! Two Go maps from key to `*entry` share the entries:
//!
//! * `read`, an atomically loaded pointer to an immutable `readOnly
//!   {m, amended}`: lookups in `read.m` take no lock. A published `read.m`
//!   is never written again; a new `readOnly` is published instead (only
//!   with `mu` held). `amended` says that `dirty` holds keys `read.m`
//!   lacks.
//! * `dirty`, an ordinary map touched only with `mu` held; when non-nil it
//!   holds every non-expunged entry of `read.m` plus the new keys.
//!
//! An entry is one pointer word `p`: a pointer to the boxed value (live),
//! nil (deleted; still in `dirty` if `dirty` exists), or `EXPUNGED`
//! (deleted and deliberately left out of `dirty`). `p` changes only by
//! atomic operations: `try_store`, `try_load_or_store` and `delete` are
//! CAS loops that work on any entry of `read.m` without the lock (and give
//! up on an expunged entry), `unexpunge_locked` (expunged -> nil, then the
//! entry goes back into `dirty`) and `try_expunge_locked` (nil ->
//! expunged) run with `mu` held.
//!
//! * Load / LoadAndDelete / LoadOrStore of a key missing from `read.m`
//!   while `amended`: lock, load `read` again (it may have been promoted
//!   meanwhile), consult `dirty` and count a miss (`miss_locked`). When the
//!   misses reach `len(dirty)`, `dirty` is promoted: published as the new
//!   `read` (not amended), `dirty = nil`, `misses = 0`: the O(n) copy that
//!   built `dirty` is paid for by at least n slow lookups.
//! * Store of a key in `read.m` whose entry is not expunged: one CAS, no
//!   lock. Otherwise lock; the first new key after a promotion rebuilds
//!   `dirty` from `read.m` (`dirty_locked`: expunging the deleted entries,
//!   copying the others) and publishes `read` as amended.
//! * Range promotes `dirty` at once when `read` is amended (it is O(n)
//!   anyway), then iterates `read.m` without the lock: a key is visited at
//!   most once; concurrent stores may or may not be seen.
//!
//! # Where the state lives
//!
//! Everything the collector must see is heap objects linked by pointer
//! words, as in Go: the `sync.Map` object `[read, dirty, misses]`, each
//! `sync.readOnly` `[m, amended]` (one per publication, as Go's
//! `atomic.Value.Store` boxes one), the two hmaps (`Map<Ptr>`: elements
//! are `*entry`), each `sync.entry` `[p]`, and each value box `[v]` (Go's
//! `&value`: a Store moves its `value` argument to the heap). A value
//! stored only in the map is reachable from the `sync.Map` object, which
//! is reachable from wherever the user keeps the `SyncMap` handle: a
//! goroutine's stack (scanned conservatively: the handle holds the object's
//! address inline), a heap word (`ptr()`), or a `Root`. A handle kept only
//! in a Rust-side structure (an `Arc`, a `Vec`, a closure not yet started
//! as a goroutine) is invisible to the collector, like any `Ptr`.
//!
//! The `Mutex` is Rust memory (a gort-scheduler `Mutex` is a state word and
//! a semaphore, not heap words), so it lives beside the object pointer in
//! the handle, shared through an `Arc`: `SyncMap` is `Clone`, not `Copy`;
//! every clone is the same map (Go code shares a `*sync.Map`). The mutex
//! holds no heap pointer, so nothing the collector needs is hidden there.
//!
//! # Memory order and race annotations
//!
//! Heap words are relaxed atomics. Go's atomics in this file are
//! sequentially consistent: CAS and Store are `Ptr::compare_exchange_ptr`
//! and `Ptr::swap_ptr` (SeqCst; Go's `atomic.StorePointer` is an `XCHG` on
//! amd64), which pass the write barrier first, as Go's pointer atomics do,
//! and `atomic.LoadPointer` / `atomic.Value.Load` is a relaxed load
//! followed by an acquire fence (a plain `MOV`, as Go's, on amd64). So a
//! goroutine that finds a `readOnly` or a value box through these loads
//! also sees the words written into it before it was published, on any
//! hardware. To the race detector, sync.Map itself never reports a race:
//! Go compiles the `sync` package without instrumentation
//! (`RuntimeGuard::enter_sync_pkg`), its atomics are synchronisation, and
//! `mu` orders the rest; the map operations inside it keep their own
//! `racereadpc`/`racewritepc` (map.rs), ordered by those edges.
//!
//! Every word access is a scheduler step, so deterministic mode
//! interleaves goroutines between the load of `read`, the lookup, and the
//! CAS, as two CPUs would.

/// This file, for tracebacks (`register_frames`).
pub(crate) const SOURCE_FILE: &str = file!();

use gort_scheduler::race::{self, RuntimeGuard};
use std::sync::atomic::{fence, Ordering};
use std::sync::{Arc, OnceLock};

use gort_gc::{new_object, Ptr, Type};
use gort_scheduler::sync::Mutex;

use crate::intmap::Map;
use crate::map::HMap;

/// `sync.Map` words.
const M_READ: usize = 0; // *readOnly (Go: read atomic.Value)
const M_DIRTY: usize = 1; // map[int64]*entry
const M_MISSES: usize = 2; // int

/// `sync.readOnly` words.
const R_M: usize = 0; // map[int64]*entry
const R_AMENDED: usize = 1; // bool

/// `sync.entry`'s one word, and a value box's.
const E_P: usize = 0;
const BOX_V: usize = 0;

/// Go's `expunged`: marks an entry deleted and left out of `dirty`.
///
/// Go uses the address of a private heap object (`new(any)`), one per
/// process. gort's heaps belong to runtimes, so a process-wide heap
/// object does not exist; instead the sentinel is the odd value 1, which
/// can never be a pointer `p` holds otherwise: `p` only ever holds nil or
/// the base of a value box from `new_object`, and object bases are 8-byte
/// aligned. It is also not an address in any arena (arenas never map page
/// 0), so the collector, scanning `p` as a pointer word, finds no object
/// there and ignores it (`find_object` returns None), and a stray
/// dereference is the nil dereference panic Go gives for any address in
/// the first page.
/// Unlike a per-map sentinel object it costs no allocation, no extra
/// pointer word and no load before each comparison.
const EXPUNGED: u64 = 1;

pub(crate) fn map_type() -> &'static Type {
    static T: OnceLock<&'static Type> = OnceLock::new();
    T.get_or_init(|| Type::new("sync.Map", 3, &[M_READ, M_DIRTY]))
}
pub(crate) fn read_only_type() -> &'static Type {
    static T: OnceLock<&'static Type> = OnceLock::new();
    T.get_or_init(|| Type::new("sync.readOnly", 2, &[R_M]))
}
pub(crate) fn entry_type() -> &'static Type {
    static T: OnceLock<&'static Type> = OnceLock::new();
    T.get_or_init(|| Type::new("sync.entry", 1, &[E_P]))
}
/// A boxed `any` (Go's is the 16-byte eface `{type, data}`; every gort
/// value is a pointer, so the box keeps only the data word).
pub(crate) fn box_type() -> &'static Type {
    static T: OnceLock<&'static Type> = OnceLock::new();
    T.get_or_init(|| Type::new("interface {}", 1, &[BOX_V]))
}

/// Go's `atomic.LoadPointer` (and `atomic.Value.Load`): a relaxed load
/// and an acquire fence.
#[inline]
#[track_caller]
fn load_acquire(p: Ptr, i: usize) -> u64 {
    let v = p.load(i);
    if gort_scheduler::race::enabled() {
        race::atomic(p.0 + i * 8, 8, true, false);
    }
    fence(Ordering::Acquire);
    v
}

/// `&value` for a Store: the value moved to the heap.
#[track_caller]
fn new_box(v: Ptr) -> u64 {
    let b = new_object(box_type());
    b.store_ptr(BOX_V, v);
    b.0 as u64
}

/// `*(*any)(p)`: the value in a box.
#[inline]
#[track_caller]
fn unbox(p: u64) -> Ptr {
    Ptr(p as usize).load_ptr(BOX_V)
}

/// Go's `newEntry(i)`: `&entry{p: unsafe.Pointer(&i)}` (two allocations:
/// the box of `i`, then the entry).
#[track_caller]
fn new_entry(i: Ptr) -> Ptr {
    let b = new_box(i);
    let e = new_object(entry_type());
    // A pointer store (gcWriteBarrier).
    e.store_ptr(E_P, Ptr(b as usize));
    e
}

/// A `*entry`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry(Ptr);

impl Entry {
    /// `atomic.LoadPointer(&e.p)`.
    #[inline]
    #[track_caller]
    fn load_p(self) -> u64 {
        load_acquire(self.0, E_P)
    }

    /// `atomic.CompareAndSwapPointer(&e.p, old, new)`.
    #[inline]
    #[track_caller]
    fn cas_p(self, old: u64, new: u64) -> bool {
        // An atomic read-modify-write for the race detector
        // (`Ptr::compare_exchange_ptr`). Its write barrier (`atomicwb`) runs before the CAS.
        self.0
            .compare_exchange_ptr(E_P, Ptr(old as usize), Ptr(new as usize))
            .is_ok()
    }

    /// Go's `(*entry).load`: the value, unless deleted or expunged.
    #[track_caller]
    fn load(self) -> Option<Ptr> {
        let p = self.load_p();
        if p == 0 || p == EXPUNGED {
            return None;
        }
        Some(unbox(p))
    }

    /// Go's `tryStore`: stores box `i` unless the entry is expunged
    /// (then false, and the entry is left unchanged).
    #[track_caller]
    fn try_store(self, i: u64) -> bool {
        loop {
            let p = self.load_p();
            if p == EXPUNGED {
                return false;
            }
            if self.cas_p(p, i) {
                return true;
            }
        }
    }

    /// Go's `unexpungeLocked`: expunged -> nil. If the entry was expunged
    /// it must be put back into `dirty` before `mu` is unlocked.
    #[track_caller]
    fn unexpunge_locked(self) -> bool {
        self.cas_p(EXPUNGED, 0)
    }

    /// Go's `storeLocked`: `atomic.StorePointer(&e.p, i)`; the entry is
    /// known not to be expunged.
    #[track_caller]
    fn store_locked(self, i: u64) {
        // atomic.StorePointer, with its write barrier (to the race
        // detector a read-modify-write: a release and an acquire, where Go's
        // store only releases; the extra acquire can only add edges from
        // earlier stores of the same entry, all made under mu).
        self.0.swap_ptr(E_P, Ptr(i as usize));
    }

    /// Go's `tryLoadOrStore`: `Some((actual, loaded))`, or None if the
    /// entry is expunged (left unchanged).
    #[track_caller]
    fn try_load_or_store(self, i: Ptr) -> Option<(Ptr, bool)> {
        let p = self.load_p();
        if p == EXPUNGED {
            return None;
        }
        if p != 0 {
            return Some((unbox(p), true));
        }
        // Go copies the interface only now (`ic := i`), so that the load
        // path and the expunged path allocate nothing: the box is made
        // here.
        let ic = new_box(i);
        loop {
            if self.cas_p(0, ic) {
                return Some((i, false));
            }
            let p = self.load_p();
            if p == EXPUNGED {
                return None;
            }
            if p != 0 {
                return Some((unbox(p), true));
            }
        }
    }

    /// Go's `(*entry).delete`: live -> nil, returning the old value.
    #[track_caller]
    fn delete(self) -> Option<Ptr> {
        loop {
            let p = self.load_p();
            if p == 0 || p == EXPUNGED {
                return None;
            }
            if self.cas_p(p, 0) {
                return Some(unbox(p));
            }
        }
    }

    /// Go's `tryExpungeLocked`: nil -> expunged; whether the entry is
    /// expunged now.
    #[track_caller]
    fn try_expunge_locked(self) -> bool {
        let mut p = self.load_p();
        while p == 0 {
            if self.cas_p(0, EXPUNGED) {
                return true;
            }
            p = self.load_p();
        }
        p == EXPUNGED
    }
}

/// A loaded `readOnly` (Go copies the struct out of the `atomic.Value`).
#[derive(Clone, Copy, Debug)]
struct ReadOnly {
    m: Map<Ptr>,
    amended: bool,
}

/// Go's `sync.Map` with `int64` keys and pointer values: a handle on the
/// map's heap object plus its mutex. Clones are the same map.
///
/// `SyncMap::new()` must be called on a goroutine (it allocates). The map
/// survives collections while the handle (or the object, `ptr()`) is on a
/// goroutine's stack, in a heap object's pointer word or in a `Root`.
#[derive(Clone)]
pub struct SyncMap {
    /// The `sync.Map` object, held inline so that a handle on a goroutine
    /// stack keeps it alive.
    m: Ptr,
    /// `mu`: Rust memory, no heap pointers.
    mu: Arc<Mutex>,
}

impl std::fmt::Debug for SyncMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sync.Map@{:?}", self.m)
    }
}

impl Default for SyncMap {
    fn default() -> Self {
        SyncMap::new()
    }
}

impl SyncMap {
    /// A new, empty map (Go's zero `sync.Map`: `read` not yet stored,
    /// `dirty` nil, no misses).
    #[track_caller]
    pub fn new() -> SyncMap {
        SyncMap {
            m: new_object(map_type()),
            mu: Arc::new(Mutex::new()),
        }
    }

    /// The `sync.Map` heap object (to keep in a `Root` or a heap word).
    pub fn ptr(&self) -> Ptr {
        self.m
    }

    // ---- fields

    /// `m.read.Load().(readOnly)`; the zero value before the first store.
    #[track_caller]
    fn load_read(&self) -> ReadOnly {
        let r = Ptr(load_acquire(self.m, M_READ) as usize);
        if r.is_nil() {
            return ReadOnly {
                m: Map::nil(),
                amended: false,
            };
        }
        ReadOnly {
            m: Map::from_hmap(HMap(r.load_ptr(R_M))),
            amended: r.load(R_AMENDED) != 0,
        }
    }

    /// `m.read.Store(readOnly{m: m, amended: amended})`, with `mu` held.
    #[track_caller]
    fn store_read(&self, m: Map<Ptr>, amended: bool) {
        let r = new_object(read_only_type());
        r.store_ptr(R_M, m.hmap().0);
        r.store(R_AMENDED, amended as u64);
        // atomic.Value.Store: a StorePointer, with its write barrier.
        self.m.swap_ptr(M_READ, r);
    }

    /// `m.dirty` (mu held).
    #[track_caller]
    fn dirty(&self) -> Map<Ptr> {
        Map::from_hmap(HMap(self.m.load_ptr(M_DIRTY)))
    }

    #[track_caller]
    fn set_dirty(&self, d: Map<Ptr>) {
        self.m.store_ptr(M_DIRTY, d.hmap().0)
    }

    // ---- the API

    /// Go's `Load`: the value stored for `key`, if any.
    #[track_caller]
    pub fn load(&self, key: i64) -> Option<Ptr> {
        let _sync = RuntimeGuard::enter_sync_pkg();
        let read = self.load_read();
        let mut e = read.m.get(key);
        if e.is_none() && read.amended {
            self.mu.lock();
            // Avoid reporting a spurious miss if dirty got promoted while
            // we were blocked on mu.
            let read = self.load_read();
            e = read.m.get(key);
            if e.is_none() && read.amended {
                e = self.dirty().get(key);
                // Record a miss whether or not the key was there: it takes
                // the slow path until dirty is promoted.
                self.miss_locked();
            }
            self.mu.unlock();
        }
        Entry(e?).load()
    }

    /// Go's `Store`: sets the value for `key`.
    #[track_caller]
    pub fn store(&self, key: i64, value: Ptr) {
        let _sync = RuntimeGuard::enter_sync_pkg();
        // `&value` escapes: Go moves the argument to the heap on entry.
        let v = new_box(value);
        let read = self.load_read();
        if let Some(e) = read.m.get(key) {
            if Entry(e).try_store(v) {
                return;
            }
        }

        self.mu.lock();
        let read = self.load_read();
        if let Some(e) = read.m.get(key) {
            let e = Entry(e);
            if e.unexpunge_locked() {
                // The entry was expunged: dirty is non-nil and lacks it.
                self.dirty().insert(key, e.0);
            }
            e.store_locked(v);
        } else if let Some(e) = self.dirty().get(key) {
            Entry(e).store_locked(v);
        } else {
            if !read.amended {
                // The first new key of the dirty map: make sure it exists,
                // and mark the read-only map incomplete.
                self.dirty_locked();
                self.store_read(read.m, true);
            }
            self.dirty().insert(key, new_entry(value));
        }
        self.mu.unlock();
    }

    /// Go's `LoadOrStore`: the existing value for `key` and true, or, if
    /// there is none, stores `value` and returns it and false.
    #[track_caller]
    pub fn load_or_store(&self, key: i64, value: Ptr) -> (Ptr, bool) {
        let _sync = RuntimeGuard::enter_sync_pkg();
        // Avoid locking if it's a clean hit.
        let read = self.load_read();
        if let Some(e) = read.m.get(key) {
            if let Some(r) = Entry(e).try_load_or_store(value) {
                return r;
            }
        }

        self.mu.lock();
        let read = self.load_read();
        let r;
        if let Some(e) = read.m.get(key) {
            let e = Entry(e);
            if e.unexpunge_locked() {
                self.dirty().insert(key, e.0);
            }
            // Not expunged now (only dirty_locked expunges, under mu); Go
            // ignores the ok result the same way.
            r = e.try_load_or_store(value).unwrap_or((Ptr::NIL, false));
        } else if let Some(e) = self.dirty().get(key) {
            r = Entry(e)
                .try_load_or_store(value)
                .unwrap_or((Ptr::NIL, false));
            self.miss_locked();
        } else {
            if !read.amended {
                self.dirty_locked();
                self.store_read(read.m, true);
            }
            self.dirty().insert(key, new_entry(value));
            r = (value, false);
        }
        self.mu.unlock();
        r
    }

    /// Go's `LoadAndDelete`: deletes `key`, returning its value if it had
    /// one.
    #[track_caller]
    pub fn load_and_delete(&self, key: i64) -> Option<Ptr> {
        let _sync = RuntimeGuard::enter_sync_pkg();
        let read = self.load_read();
        let mut e = read.m.get(key);
        if e.is_none() && read.amended {
            self.mu.lock();
            let read = self.load_read();
            e = read.m.get(key);
            if e.is_none() && read.amended {
                let dirty = self.dirty();
                e = dirty.get(key);
                dirty.delete(key);
                // Record a miss whether or not the key was there.
                self.miss_locked();
            }
            self.mu.unlock();
        }
        // A key of read.m stays there: only its entry becomes nil.
        Entry(e?).delete()
    }

    /// Go's `Delete`.
    #[track_caller]
    pub fn delete(&self, key: i64) {
        let _sync = RuntimeGuard::enter_sync_pkg();
        self.load_and_delete(key);
    }

    /// Go's `Range`: calls `f(key, value)` for each key present, stopping
    /// when `f` returns false. No key is visited twice; a key stored or
    /// deleted concurrently (by `f` too, which may call any method) may or
    /// may not be seen with any of its values. No lock is held while `f`
    /// runs.
    #[track_caller]
    pub fn range<F: FnMut(i64, Ptr) -> bool>(&self, mut f: F) {
        // To visit every key present when Range starts, iterate a read map
        // that is not amended: if it is, promote dirty now (Range is O(n)
        // anyway, which pays for the copy).
        let sync = RuntimeGuard::enter_sync_pkg();
        let mut read = self.load_read();
        if read.amended {
            self.mu.lock();
            read = self.load_read();
            if read.amended {
                read = ReadOnly {
                    m: self.dirty(),
                    amended: false,
                };
                self.store_read(read.m, false);
                self.set_dirty(Map::nil());
                self.m.store(M_MISSES, 0);
            }
            self.mu.unlock();
        }

        drop(sync);
        let mut it = read.m.iter();
        loop {
            // `f` is the program's code: instrumented, unlike Range's own.
            let next = {
                let _sync = RuntimeGuard::enter_sync_pkg();
                it.next().map(|(k, e)| (k, Entry(e).load()))
            };
            match next {
                None => break,
                Some((_, None)) => continue,
                Some((k, Some(v))) => {
                    if !f(k, v) {
                        break;
                    }
                }
            }
        }
    }

    // ---- with mu held

    /// Go's `missLocked`: counts a miss; once the misses reach
    /// `len(dirty)`, promotes dirty to read.
    #[track_caller]
    fn miss_locked(&self) {
        let misses = self.m.load(M_MISSES) as i64 + 1;
        self.m.store(M_MISSES, misses as u64);
        let dirty = self.dirty();
        if misses < dirty.len() as i64 {
            return;
        }
        self.store_read(dirty, false);
        self.set_dirty(Map::nil());
        self.m.store(M_MISSES, 0);
    }

    /// Go's `dirtyLocked`: if dirty is nil, rebuilds it from read.m,
    /// expunging the deleted entries and copying the others.
    #[track_caller]
    fn dirty_locked(&self) {
        if !self.dirty().hmap().0.is_nil() {
            return;
        }
        let read = self.load_read();
        // `m.dirty = make(map[any]*entry, len(read.m))`: stored at once,
        // so the map under construction is reachable from the object.
        self.set_dirty(Map::with_hint(read.m.len()));
        for (k, e) in read.m.iter() {
            if !Entry(e).try_expunge_locked() {
                self.dirty().insert(k, e);
            }
        }
    }

    /// For tests: `(misses, read.amended, len(read.m), len(dirty) or None
    /// if dirty is nil)`, read with `mu` held. `len(read.m)` counts
    /// deleted and expunged entries too (their keys stay in read.m until
    /// the next promotion).
    #[doc(hidden)]
    #[track_caller]
    pub fn debug_state(&self) -> (i64, bool, usize, Option<usize>) {
        let _sync = RuntimeGuard::enter_sync_pkg();
        self.mu.lock();
        let read = self.load_read();
        let misses = self.m.load(M_MISSES) as i64;
        let dirty = self.dirty();
        let d = (!dirty.hmap().0.is_nil()).then(|| dirty.len());
        self.mu.unlock();
        (misses, read.amended, read.m.len(), d)
    }
}
