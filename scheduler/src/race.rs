//! The race detector's hooks: DESIGN.md's narrow interface between the
//! layers that make accesses and synchronise (this crate, the heap's
//! `Ptr`, the maps) and the detector, which lives in `gort` and is
//! installed per runtime (`SchedConfig::race`).
//!
//! What flows through here is what Go's race runtime receives
//! (reference/race.md §1): goroutine start and end (`racegostart`,
//! `racegoend`), the four synchronisation annotations on an address
//! (`raceacquire`, `racerelease`, `racereleasemerge`,
//! `racereleaseacquire`), plain and atomic accesses (`raceread`,
//! `racewrite`, the `sync/atomic` entry points) and the map's
//! `racereadpc`/`racewritepc`, which name a runtime function as the top
//! frame. Every access carries the scenario's source line
//! (`#[track_caller]`); the detector records the goroutine's stack
//! (`stack_hash`, `stack_pcs`: its frame-pointer chain) when it needs it,
//! and a report symbolizes it (`symbolize`).
//!
//! Cost when no runtime of the process has the detector on: one load of a
//! process-wide counter and a predictable branch per instrumented access
//! (`RACE_ON`). When one has, the slow path finds the goroutine, its
//! runtime's hooks, and skips what Go leaves uninstrumented: code running
//! inside the runtime (`RuntimeGuard`: the map's internals, sync.Map's
//! plain accesses, as Go's runtime and `sync` packages are compiled
//! without instrumentation), `cgo_call` regions, and the runtime's own
//! goroutines (mark workers, the scavenger).

use std::panic::Location;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::g::G;
use crate::stack::getg;

/// Runtimes of this process whose detector is on: the fast path's flag.
pub(crate) static RACE_ON: AtomicUsize = AtomicUsize::new(0);

/// The four synchronisation annotations (reference/race.md §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncOp {
    /// `raceacquire`: the goroutine's clock joins the object's.
    Acquire,
    /// `racerelease` (TSan's `ReleaseStore`): the object's clock becomes
    /// the goroutine's.
    Release,
    /// `racereleasemerge` (TSan's `Release`): the object's clock joins the
    /// goroutine's.
    ReleaseMerge,
    /// `racereleaseacquire`: both, the old object clock acquired.
    ReleaseAcquire,
}

/// One memory access as the detector receives it.
#[derive(Clone, Copy, Debug)]
pub struct Access {
    pub addr: usize,
    /// Bytes, 1..=8 within one aligned word, or more for a range.
    pub size: usize,
    pub write: bool,
    pub atomic: bool,
    /// The scenario's line that made the access (or called the runtime
    /// function that did).
    pub site: &'static Location<'static>,
    /// For `racereadpc`/`racewritepc`: the runtime function shown as the
    /// top frame (`runtime.mapassign_fast64`), with Go's file and line.
    pub pc: Option<&'static RuntimeFn>,
}

/// A runtime function as a report's top frame shows it.
#[derive(Debug)]
pub struct RuntimeFn {
    pub name: &'static str,
    /// `$GOROOT`-relative file and line of the function, as Go 1.19's
    /// symbolizer gives the function's own PC.
    pub file: &'static str,
    pub line: u32,
}

/// What the detector decides after an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Go,
    /// `halt_on_error`: a report was printed; end the program now with
    /// this status.
    Halt(i32),
}

/// The detector, as a runtime installs it. Called on the goroutine that
/// made the event, inside its runtime's run.
pub trait RaceHooks: Send + Sync {
    /// `racegostart`: `child` was just created by `parent`'s `go`
    /// statement (`None`: the main goroutine). `child` has not run yet.
    /// Runtime goroutines (`G::is_system`) come here too, as in Go, where
    /// they take a TSan thread; none of their events follow.
    /// `stack` is the `go` statement's (from `stack_pcs`; empty if not
    /// recorded).
    fn go_start(&self, parent: Option<&G>, child: &G, stack: &[usize]);
    /// `racegoend`: `g` returned.
    fn go_end(&self, g: &G);
    /// A timer is about to run on P `p` (Go's `runOneTimer`: the P's
    /// timer context, a TSan thread made by `racegostart` the first time
    /// the P runs a timer, acquires the timer).
    fn timer_run(&self, p: usize);
    /// A synchronisation annotation, made at the program's line `site`.
    fn sync(&self, g: &G, op: SyncOp, addr: usize, site: &'static Location<'static>);
    /// `g` now holds (or no longer holds) the lock at `addr` (a
    /// `sync.Mutex`, or an `RWMutex` for writing): not an annotation Go
    /// makes, but what gort's detector needs for locksets, to tell an edge
    /// through a lock both accesses held from one through an unrelated
    /// lock.
    /// `objs` are the addresses its edges go through (the mutex itself;
    /// an RWMutex's two semaphores).
    fn lock_held(&self, g: &G, addr: usize, objs: &[usize], held: bool);
    fn access(&self, g: &G, a: Access) -> Verdict;
    /// `racemalloc`: `[addr, addr+size)` is a new object; what was
    /// remembered about that memory belonged to a freed one.
    fn malloc(&self, addr: usize, size: usize);
    /// Not an annotation but a hint: the shadow of `[addr, addr+size)` is
    /// about to be checked (a map bucket's elements, one of which the
    /// operation hands to the program), so it may start loading now.
    fn prefetch(&self, addr: usize, size: usize) {
        let _ = (addr, size);
    }
    /// `racefini`, as main returns: prints the closing line (`Found N
    /// data race(s)`) if anything raced and returns the exit status (0, or
    /// `exitcode`).
    fn fini(&self) -> i32;
}

/// Whether the detector could be on (some runtime of the process has it).
#[inline(always)]
pub fn enabled() -> bool {
    RACE_ON.load(Ordering::Relaxed) != 0
}

/// Whether the current goroutine's runtime runs the detector. `enabled`
/// is the cheap process-wide test; anything that changes what a run does
/// (deterministic mode's clock) must ask this, or a run would depend on
/// another runtime of the process having the detector on.
#[inline]
pub fn enabled_here() -> bool {
    enabled() && getg().is_some_and(|g| g.sched().race.is_some())
}

/// The current goroutine and its runtime's hooks, when none of the
/// `ignore` reasons holds for it.
#[inline]
fn instrumented(ignore: u32) -> Option<(&'static G, &'static dyn RaceHooks)> {
    let g = getg()?;
    if g.race_ignore.get() & ignore != 0 || g.is_system() {
        return None;
    }
    Some((g, g.sched().race.as_deref()?))
}

#[cold]
#[inline(never)]
fn access_slow(a: Access) {
    // A compiled access is skipped in runtime, sync-package and C code; a
    // runtime function's racereadpc/racewritepc is made whoever calls it
    // (sync.Map's own map operations included), except from C.
    let ignore = if a.pc.is_some() { CGO_OR_RUNTIME } else { !0 };
    if let Some((g, h)) = instrumented(ignore) {
        if let Verdict::Halt(code) = h.access(g, a) {
            crate::proc::exit(code);
        }
    }
}

/// `raceread(addr)` of `size` bytes by scenario code.
#[inline(always)]
#[track_caller]
pub fn read(addr: usize, size: usize) {
    if enabled() {
        access_slow(Access {
            addr,
            size,
            write: false,
            atomic: false,
            site: Location::caller(),
            pc: None,
        })
    }
}

/// `racewrite(addr)` of `size` bytes by scenario code.
#[inline(always)]
#[track_caller]
pub fn write(addr: usize, size: usize) {
    if enabled() {
        access_slow(Access {
            addr,
            size,
            write: true,
            atomic: false,
            site: Location::caller(),
            pc: None,
        })
    }
}

/// `racereadpc(addr, callerpc, pc)`: a one-byte read at the start of a
/// runtime object (the hmap) by runtime function `f`, called from the
/// scenario's line.
#[inline(always)]
#[track_caller]
pub fn read_pc(addr: usize, f: &'static RuntimeFn) {
    if enabled() {
        access_slow(Access {
            addr,
            size: 1,
            write: false,
            atomic: false,
            site: Location::caller(),
            pc: Some(f),
        })
    }
}

/// `racewritepc(addr, callerpc, pc)`.
#[inline(always)]
#[track_caller]
pub fn write_pc(addr: usize, f: &'static RuntimeFn) {
    if enabled() {
        access_slow(Access {
            addr,
            size: 1,
            write: true,
            atomic: false,
            site: Location::caller(),
            pc: Some(f),
        })
    }
}

/// A `sync/atomic` operation on the 8-byte word at `addr`: an atomic
/// access (races with plain ones, never with atomics) plus its ordering as
/// TSan gives it: a load acquires, a store releases, a read-modify-write
/// does both.
#[inline(always)]
#[track_caller]
pub fn atomic(addr: usize, size: usize, load: bool, store: bool) {
    if enabled() {
        atomic_slow(addr, size, load, store, Location::caller())
    }
}

#[cold]
#[inline(never)]
fn atomic_slow(addr: usize, size: usize, load: bool, store: bool, site: &'static Location) {
    // Atomics are annotated even inside the runtime's `sync` code
    // (sync.Map's entries): Go's sync/atomic is assembly that always calls
    // into the race runtime. Only the runtime proper and cgo skip them.
    let Some(g) = getg() else { return };
    if g.race_ignore.get() & CGO_OR_RUNTIME != 0 || g.is_system() {
        return;
    }
    let Some(h) = g.sched().race.as_deref() else {
        return;
    };
    if let Verdict::Halt(code) = h.access(
        g,
        Access {
            addr,
            size,
            write: store,
            atomic: true,
            site,
            pc: None,
        },
    ) {
        crate::proc::exit(code);
    }
    if g.race_ignore.get() & IGNORE_SYNC != 0 {
        return;
    }
    // TSan's atomics (tsan_interface_atomic.cpp, with the orders Go's
    // entry points pass): a load acquires, a store is a release store, a
    // read-modify-write (acq_rel) a release-acquire.
    let op = match (load, store) {
        (true, false) => SyncOp::Acquire,
        (false, true) => SyncOp::Release,
        _ => SyncOp::ReleaseAcquire,
    };
    h.sync(g, op, addr, site);
}

/// Go's `racemalloc` for a new heap object (any goroutine, runtime code
/// included: the memory's history is reset whoever allocates).
#[inline(always)]
pub fn malloc(addr: usize, size: usize) {
    if enabled() {
        malloc_slow(addr, size)
    }
}

/// `RaceHooks::prefetch` of the current goroutine's runtime: a hint that
/// changes nothing the detector decides.
#[inline(always)]
pub fn prefetch(addr: usize, size: usize) {
    if enabled() {
        prefetch_slow(addr, size)
    }
}

#[inline(never)]
fn prefetch_slow(addr: usize, size: usize) {
    if let Some(g) = getg() {
        if let Some(h) = g.sched().race.as_deref() {
            h.prefetch(addr, size);
        }
    }
}

#[cold]
#[inline(never)]
fn malloc_slow(addr: usize, size: usize) {
    if let Some(g) = getg() {
        if let Some(h) = g.sched().race.as_deref() {
            h.malloc(addr, size);
        }
    }
}

/// A synchronisation annotation on `addr` by the current goroutine.
#[inline(always)]
#[track_caller]
pub fn sync(op: SyncOp, addr: usize) {
    if enabled() {
        sync_slow(op, addr, Location::caller())
    }
}

/// A synchronisation annotation made by the runtime on behalf of another
/// goroutine `g` (Go's `raceacquireg`, `racereleaseg`: a channel operation
/// completing for a goroutine blocked in it).
#[inline(always)]
#[track_caller]
pub fn sync_for(g: &G, op: SyncOp, addr: usize) {
    if enabled() {
        sync_for_slow(g, op, addr, Location::caller())
    }
}

#[cold]
#[inline(never)]
fn sync_for_slow(g: &G, op: SyncOp, addr: usize, site: &'static Location<'static>) {
    if g.is_system() {
        return;
    }
    if let Some(h) = g.sched().race.as_deref() {
        h.sync(g, op, addr, site);
    }
}

#[cold]
#[inline(never)]
fn sync_slow(op: SyncOp, addr: usize, site: &'static Location<'static>) {
    let Some(g) = getg() else { return };
    if g.is_system() || g.race_ignore.get() & (CGO | IGNORE_SYNC) != 0 {
        return;
    }
    if let Some(h) = g.sched().race.as_deref() {
        h.sync(g, op, addr, site);
    }
}

/// The current goroutine took (`held`) or gave back the lock at `addr`:
/// for the detector's locksets (`RaceHooks::lock_held`). A lock taken by
/// the runtime's or the `sync` package's own code is not the program's.
#[inline(always)]
pub fn lock_held(addr: usize, objs: &[usize], held: bool) {
    if enabled() {
        lock_held_slow(addr, objs, held)
    }
}

#[cold]
#[inline(never)]
fn lock_held_slow(addr: usize, objs: &[usize], held: bool) {
    if let Some((g, h)) = instrumented(!0) {
        h.lock_held(g, addr, objs, held);
    }
}

/// `G::race_ignore`: the depth of runtime code (low 16 bits: the map's
/// internals may call helpers that enter again), of Go's `sync` package
/// code (next 14 bits), whether synchronisation annotations are off
/// (Go's `race.Disable`, bit 30) and whether a `cgo_call` runs (bit 31).
const RUNTIME_ONE: u32 = 1;
const RUNTIME_MASK: u32 = 0xffff;
const SYNC_PKG_ONE: u32 = 1 << 16;
const IGNORE_SYNC: u32 = 1 << 30;
const CGO: u32 = 1 << 31;
/// What hides an atomic: runtime code or C code, not `sync` package code.
const CGO_OR_RUNTIME: u32 = CGO | RUNTIME_MASK;

/// While alive, the goroutine's plain accesses are not instrumented: the
/// runtime's own code (Go compiles package runtime without `-race`
/// instrumentation, and `sync` with only function entry and exit). The
/// synchronisation such code means is annotated explicitly (`sync`).
///
/// Not `Send`: it changes the goroutine's own `race_ignore` cell, and
/// dropped on another goroutine it would change that one's from the wrong
/// thread.
///
/// ```compile_fail
/// fn send<T: Send>(_: T) {}
/// send(gort_scheduler::race::RuntimeGuard::enter());
/// ```
pub struct RuntimeGuard {
    g: Option<&'static G>,
    unit: u32,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl RuntimeGuard {
    /// For runtime code: plain accesses and atomics are skipped.
    #[inline(always)]
    pub fn enter() -> RuntimeGuard {
        Self::enter_unit(RUNTIME_ONE)
    }

    /// For Go's `sync` package code (sync.Map): plain accesses are
    /// skipped, its `sync/atomic` calls are not.
    #[inline(always)]
    pub fn enter_sync_pkg() -> RuntimeGuard {
        Self::enter_unit(SYNC_PKG_ONE)
    }

    /// Go's `race.Disable()` ... `race.Enable()` in the `sync` package
    /// (RWMutex around its internal writer mutex): synchronisation
    /// annotations are skipped. Not nested.
    #[inline(always)]
    pub fn ignore_sync() -> RuntimeGuard {
        Self::enter_unit(IGNORE_SYNC)
    }

    #[inline(always)]
    fn enter_unit(unit: u32) -> RuntimeGuard {
        let g = if enabled() { Self::mark(unit) } else { None };
        RuntimeGuard {
            g,
            unit,
            _not_send: std::marker::PhantomData,
        }
    }

    #[cold]
    #[inline(never)]
    fn mark(unit: u32) -> Option<&'static G> {
        let g = getg()?;
        g.race_ignore.set(g.race_ignore.get() + unit);
        Some(g)
    }
}

impl Drop for RuntimeGuard {
    #[inline(always)]
    fn drop(&mut self) {
        if let Some(g) = self.g {
            g.race_ignore.set(g.race_ignore.get() - self.unit);
        }
    }
}

/// The global sync object of cgo calls (Go's `racecgosync`).
static RACECGOSYNC: u8 = 0;

/// Runs `f` as a cgo call: C code, which the detector does not see. Its
/// accesses to Go memory are not instrumented, and as in Go every cgo call
/// synchronises with every earlier one through one global object
/// (`racereleasemerge(&racecgosync)` on the way in, `raceacquire` on the
/// way out), which can hide races between the goroutines that make them.
pub fn cgo_call<R>(f: impl FnOnce() -> R) -> R {
    let addr = &RACECGOSYNC as *const u8 as usize;
    sync(SyncOp::ReleaseMerge, addr);
    let g = if enabled() { getg() } else { None };
    // A cgo call made inside another (C code calling C through Go) leaves
    // the outer one's C code unseen when it returns.
    let outer = g.is_some_and(|g| g.race_ignore.get() & CGO != 0);
    if let Some(g) = g {
        g.race_ignore.set(g.race_ignore.get() | CGO);
    }
    struct Out(Option<&'static G>, usize, bool);
    impl Drop for Out {
        fn drop(&mut self) {
            if let (Some(g), false) = (self.0, self.2) {
                g.race_ignore.set(g.race_ignore.get() & !CGO);
            }
            sync(SyncOp::Acquire, self.1);
        }
    }
    let _out = Out(g, addr, outer);
    f()
}

/// Frames of a race report's stack, at most: Go's TSan shows up to 64.
const STACK_MAX: usize = 64;

/// The return addresses of the current goroutine's stack, innermost
/// first: the stack of the access being made, for a race report (the
/// detector's own frames and the runtime's are dropped when they are
/// symbolized). Empty outside a goroutine.
pub fn stack_pcs() -> Vec<usize> {
    crate::traceback::own_stack_pcs(STACK_MAX)
}

/// What one goroutine's last `stack_hash_memo` walk read: the frame
/// records (address, saved frame pointer, return address) in order, the
/// stack they lie in, and the hash. Opaque: only a walk fills it.
#[derive(Default)]
pub struct StackMemo {
    stack: (usize, usize),
    reads: Vec<(usize, usize, usize)>,
    hash: u64,
}

/// Frames a memo keeps at most; a deeper stack is walked every time.
const MEMO_FRAMES: usize = 32;

/// A hash of the current goroutine's stack (the return addresses a walk
/// from here finds), made without collecting them: the detector looks a
/// recorded stack up by it, and collects the stack (`stack_pcs`) only
/// when it is new. `memo` is the goroutine's own: when the frame
/// records its last walk read still hold what they held (the same chain,
/// from the same frame), the hash is the memo's. Checking them is loads
/// from known addresses, which the CPU makes all at once, where a walk
/// is a chain of dependent loads: an access in a loop (its stack the
/// same every time) costs a fraction of a walk.
#[inline(never)]
pub fn stack_hash_memo(memo: &mut StackMemo) -> u64 {
    let Some(g) = getg() else { return 0 };
    let stack = (g.stack.lo() + crate::stack::GUARD, g.stack.hi());
    let start = crate::traceback::frame_pointer();
    if memo.stack == stack && memo.reads.first().is_some_and(|r| r.0 == start) {
        let same = memo.reads.iter().all(|&(fp, next, ret)| {
            // SAFETY: `fp` was read by a walk of a goroutine stack with
            // these bounds, and passed its checks: [fp, fp+16) lies in the
            // running goroutine's mapped stack (a stack's bounds are its
            // own while it runs). What it holds now may differ; that is
            // what is checked.
            unsafe {
                std::ptr::read_volatile(fp as *const usize) == next
                    && std::ptr::read_volatile((fp + 8) as *const usize) == ret
            }
        });
        if same {
            return memo.hash;
        }
    }
    memo.stack = stack;
    memo.reads.clear();
    let mut h = HASH_SEED;
    // SAFETY: the running goroutine's own stack, above its guard page;
    // the records the walk reads are this function's callers'.
    unsafe {
        crate::traceback::walk_frame_records(start, stack.0, stack.1, STACK_MAX, |fp, next, ret| {
            memo.reads.push((fp, next, ret));
            if ret != 0 {
                h = hash_step(h, ret);
            }
        })
    };
    if memo.reads.len() > MEMO_FRAMES {
        memo.reads = Vec::new();
    }
    memo.hash = h;
    h
}

const HASH_SEED: u64 = 0xcbf2_9ce4_8422_2325;

#[inline(always)]
fn hash_step(h: u64, pc: usize) -> u64 {
    (h.rotate_left(5) ^ pc as u64).wrapping_mul(0x517c_c1b7_2722_0a95)
}

/// `stack_hash` of a stack already collected (`stack_pcs`).
pub fn hash_pcs(pcs: &[usize]) -> u64 {
    pcs.iter().fold(HASH_SEED, |h, &pc| hash_step(h, pc))
}

/// The scenario's frames of `pcs` (from `stack_pcs`). Symbolization
/// needs more stack than a goroutine has, and the detector calls this
/// holding its lock, so it cannot suspend the goroutine for `systemstack`
/// (in deterministic mode another goroutine would then run and wait for
/// the lock forever): a helper thread symbolizes while this one waits.
pub fn symbolize(pcs: &[usize]) -> Vec<crate::traceback::Frame> {
    let pcs = pcs.to_vec();
    std::thread::scope(|s| {
        s.spawn(|| crate::traceback::frames_of_pcs(&pcs, false))
            .join()
            .unwrap_or_default()
    })
}
