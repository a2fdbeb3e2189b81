//! What a goroutine calls: `go`, `gosched`, `gopark`/`goready`, `sleep`,
//! `preempt_point` and the `step` hook (Go's `newproc`, `Gosched`,
//! `gopark`, `goready`, `timeSleep`, and the function-prologue check).
//!
//! Every function here finds its G from the stack pointer (`getg`), its M
//! from the G and its P from the M, as Go does with `getg().m.p`; nothing
//! is read from a thread-local, because a goroutine may resume on another
//! OS thread after any of these calls.
//!
//! Safepoints: every runtime call here compares the stack pointer with the
//! G's `stackguard0`, one compare that catches both a preemption request
//! (`stackguard0 == STACK_PREEMPT`, set by sysmon or stop-the-world) and a
//! stack about to overflow, exactly like Go's prologue check.
//!
//! Steps: in deterministic mode each runtime call and each `step()` (which
//! lower layers call at every simulated heap access) spends one unit of the
//! G's step budget; when it runs out the G yields to the driver, which
//! picks the next P. In parallel mode `step()` is one predictable branch on
//! a process-wide counter of deterministic runtimes.

use std::panic::Location;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::g::*;
use crate::p::{GPtr, P};
use crate::sched::Sched;
use crate::stack::{current_sp, getg};

/// Number of deterministic runtimes running in this process; `step()` does
/// nothing else when it is zero.
pub(crate) static DET_RUNTIMES: AtomicUsize = AtomicUsize::new(0);

pub(crate) fn must_getg(what: &str) -> &'static G {
    match getg() {
        Some(g) => g,
        None => panic!("gort: {what} called outside a goroutine"),
    }
}

/// The step hook: lower layers (heap accesses, map operations) call it so
/// deterministic mode can switch goroutines between any two of them.
#[inline(always)]
pub fn step() {
    if DET_RUNTIMES.load(Ordering::Relaxed) != 0 {
        step_slow();
    }
}

/// Kept small (few registers to save): every simulated memory access of a
/// deterministic run comes through here.
#[inline(never)]
fn step_slow() {
    if let Some(g) = getg() {
        if g.det {
            det_step(g);
        }
    }
}

/// One step of a deterministic G: count it, and hand the CPU back to the
/// driver when the budget is spent or the stack is about to overflow
/// (the countdown-and-compare of platform.md, with the rare cases out of
/// line).
#[inline(always)]
fn det_step(g: &G) {
    g.steps.set(g.steps.get() + 1);
    let b = g.budget.get().wrapping_sub(1);
    g.budget.set(b);
    let sp = current_sp();
    if b == 0 || sp < g.stack.stackguard() {
        det_step_cold(g, sp);
    }
}

#[cold]
#[inline(never)]
fn det_step_cold(g: &G, sp: usize) {
    if sp < g.stack.stackguard() {
        g.suspend(Yield::StackOverflow(sp));
    }
    if g.budget.get() == 0 {
        g.suspend(Yield::Step);
    }
}

/// A safepoint: a long loop calls this so the goroutine can be preempted
/// (Go inserts the equivalent check in every function prologue).
#[inline]
pub fn preempt_point() {
    if let Some(g) = getg() {
        safepoint(g);
    }
}

/// `preempt_point`, returning the current goroutine (None on a thread
/// that is not running one) for runtime code that keeps state in it.
///
/// # Safety
/// The G is freed when its runtime ends, and its per-goroutine state
/// (`obj_memo`) is unsynchronised: the caller must use the reference only
/// on the calling goroutine and only during the current runtime call (not
/// store it, send it to another thread or goroutine, or keep it past
/// `Runtime::run`).
///
/// ```compile_fail
/// // Not callable without `unsafe`: the reference could outlive the run.
/// let g = gort_scheduler::preempt_point_g();
/// ```
///
/// ```compile_fail
/// // Nor is `getg`, which it is built on, reachable from another crate.
/// let g = gort_scheduler::stack::getg();
/// ```
#[inline]
pub unsafe fn preempt_point_g() -> Option<&'static G> {
    let g = getg()?;
    safepoint(g);
    Some(g)
}

#[inline]
pub(crate) fn safepoint(g: &G) {
    if g.det {
        det_step(g);
    }
    let sp = current_sp();
    if sp < g.stackguard0.load(Ordering::Relaxed) {
        morestack(g, sp);
    }
}

/// Go's `newstack` path for a failed prologue check: either a preemption
/// request or a real overflow.
#[cold]
#[inline(never)]
fn morestack(g: &G, sp: usize) {
    if g.stackguard0.load(Ordering::Acquire) == STACK_PREEMPT && sp >= g.stack.stackguard() {
        g.clear_preempt();
        // The goroutine that stopped the world owns every P until it
        // restarts it; preempting it then would leave nobody to run it (Go
        // runs the stopper with preemption disabled for the same reason).
        let sched = g.sched();
        if std::ptr::eq(sched.stw_owner.load(Ordering::Acquire), g) {
            return;
        }
        if g.preempt_scan.load(Ordering::Acquire) {
            // Go's preemptPark: stay off the run queue until the stack
            // scanner that asked has scanned and readied this G.
            g.preempt_parked.store(true, Ordering::Release);
            gopark_on(g, WaitReason::Preempted, None);
            return;
        }
        g.suspend(Yield::Preempted);
    } else {
        g.suspend(Yield::StackOverflow(sp));
    }
}

/// Where a `go` statement is and what it starts, for dumps.
#[track_caller]
pub fn start_info<F>(creator: &'static str) -> StartInfo {
    StartInfo {
        gopc: Location::caller(),
        creator,
        startfn: std::any::type_name::<F>(),
    }
}

/// Go's `go f()`: starts a goroutine on the current P's runnext.
#[track_caller]
pub fn go<F>(f: F)
where
    F: FnOnce() + Send + 'static,
{
    go_with(start_info::<F>("?"), f)
}

/// `go` with an explicit creation record (the `go!` macro fills in the
/// enclosing function's name).
pub fn go_with<F>(start: StartInfo, f: F)
where
    F: FnOnce() + Send + 'static,
{
    let g = must_getg("go");
    safepoint(g);
    if crate::race::enabled() {
        // Walked here, on the goroutine's own stack (newproc may run on
        // the system stack).
        g.race_go_stack.set(crate::race::stack_pcs());
    }
    let sched = g.sched();
    let p = Sched::current_p(g);
    let since = sched.det_now();
    newproc_det_aware(g, move || {
        sched.newproc(p, Some(g), start, f);
    });
    sched.wakep_since(since);
}

/// Runs a `go` statement's `newproc`: on the system stack in
/// deterministic mode, as Go always runs it. Finding a G and a stack
/// slot takes a path that depends on the process (a dead G to reuse, the
/// stack pool's free list or a fresh slot and its `madvise`, the Rust
/// allocator's state), and on the goroutine's stack that path would
/// leave different stale words for the conservative scan
/// (`off_goroutine_stack`). Parallel mode skips the switch: it replays
/// nothing.
fn newproc_det_aware<R>(g: &G, f: impl FnOnce() -> R) -> R {
    if g.det {
        let mut f = Some(f);
        let mut r = None;
        systemstack(&mut || r = f.take().map(|f| f()));
        r.expect("newproc ran")
    } else {
        f()
    }
}

/// Starts a runtime goroutine (Go's `go` inside the runtime, for the
/// GC's mark workers): not counted by `num_goroutine`, hidden from dumps
/// unless `GOTRACEBACK=system`. Returns it, for its creator's bookkeeping.
pub fn go_system<F>(start: StartInfo, f: F) -> GPtr
where
    F: FnOnce() + Send + 'static,
{
    go_system_goid(None, start, f)
}

/// Goroutine ids Go's runtime gives its own goroutines at start-up
/// (`forcegchelper`, `bgsweep`, `bgscavenge`); user goroutines start
/// after them.
pub const GOID_FORCEGC: u64 = 2;
pub const GOID_BGSWEEP: u64 = 3;

/// `go_system` for a runtime goroutine with one of the ids Go reserves
/// for its start-up goroutines (None: the next id, as for user ones).
pub fn go_system_goid<F>(goid: Option<u64>, start: StartInfo, f: F) -> GPtr
where
    F: FnOnce() + Send + 'static,
{
    let g = must_getg("go");
    let sched = g.sched();
    let p = Sched::current_p(g);
    let since = sched.det_now();
    let gp = newproc_det_aware(g, move || sched.newproc1(p, Some(g), start, true, goid, f));
    sched.wakep_since(since);
    gp
}

/// The unwind payload of `goexit`: caught at the coroutine boundary and
/// treated as a normal exit, never reported as a panic.
pub(crate) struct Goexit;

/// Go's `runtime.Goexit`: ends the calling goroutine after running its
/// pending destructors (Go's deferred calls), by unwinding its stack.
/// Other goroutines are not affected; when main calls it, the program goes
/// on until every other goroutine has finished and then dies with Go's
/// `fatal error: no goroutines (main called runtime.Goexit) - deadlock!`.
pub fn goexit() -> ! {
    must_getg("goexit");
    // resume_unwind does not run the panic hook: nothing is printed.
    std::panic::resume_unwind(Box::new(Goexit))
}

/// Go's `runtime.NumGoroutine`: goroutines that exist now (not dead).
pub fn num_goroutine() -> usize {
    must_getg("num_goroutine")
        .sched()
        .ngoroutines
        .load(Ordering::SeqCst)
        .max(0) as usize
}

/// Go's `runtime.Gosched`: yield the P; the G goes to the global queue.
#[track_caller]
pub fn gosched() {
    let g = must_getg("gosched");
    g.parkloc.set(Some(Location::caller()));
    if g.det {
        g.steps.set(g.steps.get() + 1);
    }
    // (A pending preemption request is dropped by `execute`, which resets
    // stackguard0 when the G next runs, as Go's execute does.)
    g.suspend(Yield::Gosched);
}

/// Go's `goyield`: like `gosched`, but the G goes to the tail of the
/// current P's local queue instead of the global queue (semaphore
/// handoff in starvation mode uses it so the woken waiter runs next).
#[track_caller]
pub fn goyield() {
    let g = must_getg("goyield");
    g.parkloc.set(Some(Location::caller()));
    if g.det {
        g.steps.set(g.steps.get() + 1);
    }
    g.suspend(Yield::GoYield);
}

/// Go's `fatal` (a user error the runtime detected: `sync: unlock of
/// unlocked mutex`, `concurrent map writes`): prints `fatal error: msg`
/// and every goroutine, the calling one first as `[running]`, and ends the
/// run with status 2. Not a panic: nothing can recover it, and the
/// goroutine's destructors do not run.
#[track_caller]
pub fn fatal(msg: &'static str) -> ! {
    let g = must_getg("fatal");
    trace_event(|| crate::trace::TraceEvent::Log {
        // The collector's verifier and a use of a freed object: a lost
        // object, which the trace's viewers mark as such.
        category: match msg {
            "checkmark found unmarked object" | "access to freed object" => "lost",
            _ => "fatal",
        },
        message: format!("fatal error: {msg}"),
    });
    g.parkloc.set(Some(Location::caller()));
    g.fatal_msg.set(msg);
    g.suspend(Yield::Fatal);
    unreachable!("gort: a goroutine resumed after a fatal error");
}

/// Go's `os.Exit(status)`: ends the program at once with `status`,
/// whatever the other goroutines are doing; nothing more runs (deferred
/// work and destructors of the calling goroutine included).
pub fn exit(status: i32) -> ! {
    let g = must_getg("exit");
    g.suspend(Yield::Exit(status));
    unreachable!("gort: a goroutine resumed after exit");
}

/// `fatal` with `runtime: ...` lines printed before `fatal error: msg`,
/// as Go prints details of a bad pointer or a corrupted heap.
#[track_caller]
pub fn fatal_detail(detail: String, msg: &'static str) -> ! {
    let g = must_getg("fatal");
    // Leaked: the run ends with this report.
    g.fatal_detail.set(Box::leak(detail.into_boxed_str()));
    fatal(msg)
}

/// Go's `pollWork`: whether the current goroutine's P has other work
/// (a goroutine in its run queue or the global one). An idle mark worker
/// asks it between chunks, to leave the P to that work. False outside a
/// goroutine.
pub fn poll_work() -> bool {
    getg().is_some_and(|g| {
        let sched = g.sched();
        !sched.runq.is_empty() || !Sched::current_p(g).runq_empty()
    })
}

/// Whether the current goroutine has been asked to stop at its next
/// safepoint (Go's `gp.preempt`, which `gcDrain` polls between objects):
/// long runtime loops without a safepoint (the mark's drain) poll it to
/// end early. False outside a goroutine.
#[inline]
pub fn preempt_requested() -> bool {
    getg().is_some_and(|g| g.stackguard0.load(Ordering::Relaxed) == STACK_PREEMPT)
}

/// Go's `systemstack`: runs `f` on the M's own stack while the calling
/// goroutine is suspended (its registers saved on its stack, so a stack
/// scan sees every pointer it holds). `f` must not block or yield; the
/// goroutine keeps its P and resumes when `f` returns.
pub fn systemstack(f: &mut dyn FnMut()) {
    let g = must_getg("systemstack");
    // SAFETY: only the lifetime is erased: the pointer is used by
    // `after_yield` while this frame is suspended, before `suspend` returns.
    let f: *mut (dyn FnMut() + 'static) = unsafe { std::mem::transmute(f) };
    g.sysfn.set(Some(f));
    g.suspend(Yield::SystemStack);
}

/// Runs `f` on the system stack when called on a goroutine (else here).
///
/// For runtime code whose path depends on process-wide state: the arena
/// pool (a fresh arena, or one a finished runtime gave back), a
/// process-wide cache filled on first use (interned array types), a
/// process-wide lock another runtime may hold. On a goroutine's stack
/// such a path would leave different stale words below the caller's
/// frame depending on what else ran in the process, among them spilled
/// registers holding heap pointers, and the conservative stack scan
/// would keep different objects alive: a deterministic seed would not
/// replay byte for byte in a process that had run other runtimes first.
/// On the system stack the goroutine's side is the same suspend and
/// resume every time. `f` must not block on the scheduler, park or
/// allocate from the simulated heap.
pub fn off_goroutine_stack(f: &mut dyn FnMut()) {
    if getg().is_none() {
        f()
    } else {
        systemstack(f)
    }
}

/// Deterministic mode: moves the virtual clock forward by `ns` (work the
/// runtime did outside any step, such as a stop-the-world collection, whose
/// cost the caller models). Does nothing in parallel mode, where time is
/// the wall clock.
pub fn advance_virtual_clock(ns: u64) {
    if let Some(g) = getg().or_else(current_system_g) {
        let sched = g.sched();
        if sched.det {
            sched.vclock.fetch_add(ns, Ordering::Relaxed);
        }
    }
}

/// Whether the current goroutine's runtime records an execution trace
/// (`trace.rs`): lets a caller skip building an event's text.
#[inline]
pub fn tracing() -> bool {
    getg().is_some_and(|g| g.sched().cfg.trace.is_some())
}

/// Records a trace event of the current goroutine, on its P, if its
/// runtime is traced; `ev` is built only then.
#[inline]
pub fn trace_event(ev: impl FnOnce() -> crate::trace::TraceEvent) {
    if let Some(g) = getg() {
        let sched = g.sched();
        if sched.cfg.trace.is_some() {
            sched.trace(Some(Sched::current_p(g).id), g.goid(), ev);
        }
    }
}

/// Deterministic mode: charges `ns` of Go's time, beyond its steps, to the
/// work the current goroutine just did (its P pays it as a debt of steps,
/// as for a `go` statement); nothing in parallel mode.
pub fn det_charge(ns: u64) {
    if let Some(g) = getg() {
        let sched = g.sched();
        if sched.det {
            sched.det_charge_ns.fetch_add(ns, Ordering::Relaxed);
        }
    }
}

/// `det_charge`, and the goroutine stops at its next step, so that its P
/// pays the time before the goroutine goes on: for work Go does in one
/// place before the next instruction (printing a race report inside
/// `racewritepc`, before `mapassign` touches the map).
pub fn det_charge_now(ns: u64) {
    if let Some(g) = getg() {
        if g.sched().det {
            g.sched().det_charge_ns.fetch_add(ns, Ordering::Relaxed);
            g.budget.set(g.budget.get().min(1));
        }
    }
}

/// Deterministic mode: charges the current goroutine the page fault of a
/// first touch of a heap page (`det::page_touch_ns`), paid before it goes
/// on; nothing in parallel mode.
pub fn det_page_touch(t: crate::det::PageTouch) {
    if let Some(g) = getg() {
        if g.det {
            // SAFETY: a running G's m is its current M, alive while it runs.
            let m = unsafe { &*g.m.load(Ordering::Acquire) };
            let p = m.p.load(Ordering::Relaxed);
            // SAFETY: a running G's M holds its P.
            let pid = unsafe { p.as_ref() }.map_or(0, |p| p.id);
            let u = (m.fastrand() as u64) << 32 | m.fastrand() as u64;
            det_charge_now(crate::det::page_touch_ns(g.sched(), pid, t, u));
        }
    }
}

/// Whether some runtime of the process runs in deterministic mode: the
/// cheap test in front of work only that mode needs.
#[inline(always)]
pub fn det_runtimes() -> bool {
    DET_RUNTIMES.load(Ordering::Relaxed) != 0
}

/// Go's `fastrand`: the current M's random number generator (seeded from
/// the simseed in deterministic mode, so a seed replays every draw).
pub fn fastrand() -> u32 {
    let g = must_getg("fastrand");
    // SAFETY: a running G's m is its current M, alive while it runs.
    let m = unsafe { &*g.m.load(Ordering::Acquire) };
    m.fastrand()
}

/// Whether the current goroutine's runtime runs in deterministic mode.
pub fn deterministic() -> bool {
    getg().is_some_and(|g| g.det)
}

/// Calls `f(lo, hi)` for the part of every live goroutine's stack that can
/// hold pointers: from its saved stack pointer (minus `slack` bytes, for
/// registers the switch pushed below it) to the base, or the top 4 KiB of
/// a goroutine that has not run yet (where its closure was written).
///
/// # Safety
/// Every goroutine of the runtime must be suspended (the world stopped,
/// the caller on the system stack, `systemstack`): the per-goroutine
/// fields read here are written by running goroutines without
/// synchronisation.
///
/// ```compile_fail
/// gort_scheduler::for_each_goroutine_stack(0, |_, _, _| {});
/// ```
pub unsafe fn for_each_goroutine_stack(slack: usize, mut f: impl FnMut(u64, usize, usize)) {
    let Some(g) = getg().or_else(current_system_g) else {
        return;
    };
    let gs = g.sched().allgs.lock().unwrap().clone();
    for gp in gs {
        let g = gp.get();
        if g.status() & !G_SCAN == G_DEAD {
            continue;
        }
        let (from, hi) = crate::suspend::live_range(g, slack);
        f(g.goid(), from, hi);
    }
}

/// Zeroes the stacks that dead goroutines keep for reuse: Go's `gfput`
/// keeps a dead G with its stack and `newproc` hands both to the next
/// goroutine, which then finds the dead one's words in every frame slot
/// it has not written yet, where a conservative scan reads them as
/// pointers. The collector's verifier (`GODEBUG=gccheckmark=1`) clears
/// them at each cycle's start so that such words cannot pass for roots.
/// Only words that are not zero are written: untouched pages stay
/// uncommitted.
///
/// # Safety
/// The world must be stopped (no goroutine dies or is created meanwhile)
/// and the caller on a goroutine of the runtime or its system stack.
pub unsafe fn clear_dead_stacks() {
    let Some(g) = getg().or_else(current_system_g) else {
        return;
    };
    let gs = g.sched().allgs.lock().unwrap().clone();
    for gp in gs {
        let g = gp.get();
        if g.status() != G_DEAD {
            continue;
        }
        let mut a = g.stack.lo() + crate::stack::GUARD;
        while a + 8 <= g.stack.hi() {
            // SAFETY: [lo + GUARD, hi) is the dead G's own slot, mapped;
            // its coroutine was dropped when it exited and nothing runs
            // on it until `newproc` reuses it, which cannot happen while
            // the world is stopped (the function's contract).
            unsafe {
                let w = a as *mut usize;
                if std::ptr::read_volatile(w) != 0 {
                    std::ptr::write_volatile(w, 0);
                }
            }
            a += 8;
        }
    }
}

/// The goroutine whose `systemstack` call is running on this thread.
pub(crate) fn current_system_g() -> Option<&'static G> {
    let p = SYSTEM_G.with(|c| c.get());
    // SAFETY: set by `after_yield` around a systemstack call to a live G.
    unsafe { p.as_ref() }
}

thread_local! {
    /// The G whose systemstack function this M is running (Go's
    /// `getg().m.curg` seen from g0).
    pub(crate) static SYSTEM_G: std::cell::Cell<*const G> = const { std::cell::Cell::new(std::ptr::null()) };
}

/// Go's `gopark`: block the current G with `reason`. `unlock` runs on the
/// M once the G is off its stack; it returns false to cancel the park.
///
/// Only a `goready` of this G's `current()` wakes it (the scheduler's own
/// primitives never do); since any goroutine holding that GPtr may call
/// it, code after `gopark` must re-check the condition it waited for.
#[track_caller]
pub fn gopark(reason: WaitReason, unlock: Option<UnlockFn>) {
    let g = must_getg("gopark");
    // Marks the park as one `goready` may end. A waker takes the wake-up
    // (USER_PARKED -> TAKEN) before readying the G, and a cancelled park
    // takes it back on the M (`park_m`); either way only one of them
    // resumes the G.
    let park = (g.user_park.load(Ordering::Relaxed) & !USER_PARK_STATE) + USER_PARK_STATE + 1;
    g.user_park.store(park | USER_PARKED, Ordering::Release);
    gopark_on(g, reason, unlock);
    g.user_park.store(park | USER_PARK_NONE, Ordering::Release);
}

/// `gopark` for the scheduler's own primitives, whose waiters only their
/// wakers ready (through `ready_g`): `goready` refuses these Gs, so a
/// wake-up cannot reach a waiter whose sudog is still queued.
#[track_caller]
pub(crate) fn park(reason: WaitReason, unlock: Option<UnlockFn>) {
    gopark_on(must_getg("gopark"), reason, unlock);
}

/// `gopark` for a caller that already has its own G.
#[track_caller]
#[inline]
pub(crate) fn gopark_on(g: &G, reason: WaitReason, unlock: Option<UnlockFn>) {
    g.parkloc.set(Some(Location::caller()));
    if g.det {
        g.steps.set(g.steps.get() + 1);
        if !g.is_system() {
            g.sched().det_first_park();
        }
    }
    g.park_reason.set(reason);
    g.park_unlock.set(unlock);
    g.suspend(Yield::Park);
}

/// Go's `goready`: make a G parked by `gopark` runnable on the caller's
/// P (runnext).
///
/// `gp` is checked before it is used: it must be a goroutine of the
/// caller's runtime (a GPtr kept from another run, or from another
/// runtime, names nothing here), parked by `gopark` and not yet readied.
/// Anything else is Go's `fatal error: bad g->status in ready`, never a
/// wake-up of a goroutine blocked elsewhere (in a channel operation,
/// `sleep`, a mutex), whose waiter records would then be left dangling.
/// The check takes the runtime's goroutine-list lock; the scheduler's own
/// primitives use an unchecked path.
#[track_caller]
pub fn goready(gp: GPtr) {
    let me = must_getg("goready");
    let sched = me.sched();
    if !sched.allgs.lock().unwrap().contains(&gp) {
        fatal_detail(
            format!(
                "runtime: gp: gp={:#x} is not a goroutine of this runtime\n",
                gp.0.as_ptr() as usize
            ),
            "bad g->status in ready",
        );
    }
    // Gs are only freed at the runtime's teardown, and the caller is a
    // goroutine of this runtime: a member of allgs is alive.
    let g = gp.get();
    let w = g.user_park.load(Ordering::Acquire);
    if w & USER_PARK_STATE != USER_PARKED
        || g.user_park
            .compare_exchange(
                w,
                (w & !USER_PARK_STATE) | USER_PARK_TAKEN,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
    {
        fatal_detail(
            format!(
                "runtime: gp: gp={:#x}, goid={}, gp->atomicstatus={} (not parked by gopark)\n",
                gp.0.as_ptr() as usize,
                g.goid(),
                g.status()
            ),
            "bad g->status in ready",
        );
    }
    goready_on(me, gp);
}

/// `goready` for the scheduler's own primitives: `gp` is a waiter they
/// dequeued, parked by `park`.
pub(crate) fn ready_g(gp: GPtr) {
    goready_on(must_getg("goready"), gp);
}

/// `goready` for a caller that already has its own G (`me`).
#[inline]
pub(crate) fn goready_on(me: &G, gp: GPtr) {
    me.sched().ready(gp, Sched::current_p(me), true);
}

/// The calling goroutine's G, after a safepoint: what a blocking
/// primitive starts with (one `getg` for the whole operation).
#[inline]
pub(crate) fn getg_safepoint(what: &str) -> &'static G {
    let g = must_getg(what);
    safepoint(g);
    g
}

/// The current goroutine, as a pointer a primitive can store and later
/// pass to `goready`.
pub fn current() -> GPtr {
    GPtr::new(must_getg("current"))
}

/// The current goroutine's id (1 for main).
pub fn goid() -> u64 {
    must_getg("goid").goid()
}

/// Go's `nanotime` as seen by the current goroutine: wall-clock in
/// parallel mode, virtual in deterministic mode.
pub fn nanotime() -> u64 {
    must_getg("nanotime").sched().nanotime()
}

/// Go's `time.Sleep`: park with reason `sleep` on a timer of the current
/// P. The timer is added by the unlock function, after the G is parked,
/// so it cannot fire too early to find it (Go's `resetForSleep`).
#[track_caller]
pub fn sleep(d: Duration) {
    let g = must_getg("sleep");
    if d.is_zero() {
        safepoint(g);
        return;
    }
    g.sleep_ns.set(d.as_nanos().min(u64::MAX as u128) as u64);
    park(
        WaitReason::Sleep,
        Some(UnlockFn {
            f: reset_for_sleep,
            arg: g as *const G as usize,
        }),
    );
}

/// # Safety
/// `arg` is the address of the parking G, alive for its runtime's life.
unsafe fn reset_for_sleep(arg: usize) -> bool {
    // SAFETY: see the function contract.
    let g = unsafe { &*(arg as *const G) };
    let sched = g.sched();
    let p = Sched::current_p(g);
    let when = sched.nanotime().saturating_add(g.sleep_ns.get());
    sched.addtimer(p, when, wake_sleeper, arg);
    true
}

fn wake_sleeper(sched: &Sched, p: &P, arg: usize) {
    // SAFETY: the timer's argument is a G of this runtime.
    let g = unsafe { &*(arg as *const G) };
    sched.ready(GPtr::new(g), p, true);
}

/// Writes to the running program's stdout (the process's, or the captured
/// buffer of a runtime configured to capture), as Go's `os.Stdout.Write`.
pub fn write_stdout(bytes: &[u8]) {
    must_getg("write_stdout")
        .sched()
        .cfg
        .output
        .write_stdout(bytes);
}

/// Writes to the running program's stderr.
pub fn write_stderr(bytes: &[u8]) {
    must_getg("write_stderr")
        .sched()
        .cfg
        .output
        .write_stderr(bytes);
}

/// The runtime's GOMAXPROCS, as `runtime.GOMAXPROCS(0)` returns it.
pub fn gomaxprocs() -> usize {
    must_getg("gomaxprocs").sched().gomaxprocs()
}

/// The id of the P the current goroutine runs on (what Go's internal
/// `procPin` returns), for demos that show where work ran.
pub fn procid() -> usize {
    Sched::current_p(must_getg("procid")).id
}

/// `procid` without a safepoint, or None on a thread not running a
/// goroutine: the P whose per-P buffers (Go's `p.wbBuf`) runtime code may
/// use until its next step or safepoint.
#[inline]
pub fn try_procid() -> Option<usize> {
    getg().map(|g| Sched::current_p(g).id)
}

/// Go's `gcAssistBytes` bookkeeping for the current goroutine: adds
/// `delta` (negative: bytes allocated, positive: credit earned by mark
/// work) and returns the new balance; 0 outside a goroutine.
#[inline]
pub fn gc_assist_add(delta: i64) -> i64 {
    match getg() {
        Some(g) => g.gc_assist_bytes.fetch_add(delta, Ordering::Relaxed) + delta,
        None => 0,
    }
}

/// Credit earned by an assist's mark work; returns the new balance.
pub fn gc_assist_credit(bytes: i64) -> i64 {
    gc_assist_add(bytes)
}
