//! The G: one goroutine, its states and wait reasons (Go's `runtime2.go`).
//!
//! A G is allocated once and never freed while its runtime lives: dead Gs
//! (with their stack slot) go to a free list and are reused by `newproc`, as
//! in Go (`gfput`/`gfget`), and `allgs` keeps every G for dumps and
//! scheddetail. A G's fields are written by the M that currently owns it
//! (running it, or holding it while it moves between queues); ownership is
//! handed over through the run queues and the status CAS, which give the
//! needed happens-before edges. Fields read by other threads (status,
//! stackguard0, goid for dumps) are atomics.

use std::cell::{Cell, UnsafeCell};
use std::panic::Location;
use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};

use corosensei::{Coroutine, Yielder};

use crate::m::M;
use crate::sched::Sched;
use crate::stack::{CoStack, SlotStack};

/// Go's G status values (`_Gidle` ... `_Gpreempted`); `_Gscan` is OR-ed on
/// while the GC owns the stack.
pub const G_IDLE: u32 = 0;
pub const G_RUNNABLE: u32 = 1;
pub const G_RUNNING: u32 = 2;
pub const G_SYSCALL: u32 = 3;
pub const G_WAITING: u32 = 4;
pub const G_DEAD: u32 = 6;
pub const G_PREEMPTED: u32 = 9;
pub const G_SCAN: u32 = 0x1000;

/// Go's `stackPreempt`: stored in `stackguard0` to make the next safepoint's
/// stack check fail, which is how a preemption request reaches a G.
pub const STACK_PREEMPT: usize = 0xfffffffffffffade;

/// Why a goroutine is waiting (Go's `waitReason`), printed in goroutine
/// dumps and scheddetail exactly as Go 1.19 spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum WaitReason {
    Zero = 0,
    GcAssistMarking,
    IoWait,
    ChanReceiveNilChan,
    ChanSendNilChan,
    DumpingHeap,
    GarbageCollection,
    GarbageCollectionScan,
    Panicwait,
    Select,
    SelectNoCases,
    GcAssistWait,
    GcSweepWait,
    GcScavengeWait,
    ChanReceive,
    ChanSend,
    FinalizerWait,
    ForceGcIdle,
    Semacquire,
    Sleep,
    SyncCondWait,
    TimerGoroutineIdle,
    TraceReaderBlocked,
    WaitForGcCycle,
    GcWorkerIdle,
    Preempted,
    DebugCall,
}

impl WaitReason {
    const ALL: [WaitReason; 27] = [
        WaitReason::Zero,
        WaitReason::GcAssistMarking,
        WaitReason::IoWait,
        WaitReason::ChanReceiveNilChan,
        WaitReason::ChanSendNilChan,
        WaitReason::DumpingHeap,
        WaitReason::GarbageCollection,
        WaitReason::GarbageCollectionScan,
        WaitReason::Panicwait,
        WaitReason::Select,
        WaitReason::SelectNoCases,
        WaitReason::GcAssistWait,
        WaitReason::GcSweepWait,
        WaitReason::GcScavengeWait,
        WaitReason::ChanReceive,
        WaitReason::ChanSend,
        WaitReason::FinalizerWait,
        WaitReason::ForceGcIdle,
        WaitReason::Semacquire,
        WaitReason::Sleep,
        WaitReason::SyncCondWait,
        WaitReason::TimerGoroutineIdle,
        WaitReason::TraceReaderBlocked,
        WaitReason::WaitForGcCycle,
        WaitReason::GcWorkerIdle,
        WaitReason::Preempted,
        WaitReason::DebugCall,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WaitReason::Zero => "",
            WaitReason::GcAssistMarking => "GC assist marking",
            WaitReason::IoWait => "IO wait",
            WaitReason::ChanReceiveNilChan => "chan receive (nil chan)",
            WaitReason::ChanSendNilChan => "chan send (nil chan)",
            WaitReason::DumpingHeap => "dumping heap",
            WaitReason::GarbageCollection => "garbage collection",
            WaitReason::GarbageCollectionScan => "garbage collection scan",
            WaitReason::Panicwait => "panicwait",
            WaitReason::Select => "select",
            WaitReason::SelectNoCases => "select (no cases)",
            WaitReason::GcAssistWait => "GC assist wait",
            WaitReason::GcSweepWait => "GC sweep wait",
            WaitReason::GcScavengeWait => "GC scavenge wait",
            WaitReason::ChanReceive => "chan receive",
            WaitReason::ChanSend => "chan send",
            WaitReason::FinalizerWait => "finalizer wait",
            WaitReason::ForceGcIdle => "force gc (idle)",
            WaitReason::Semacquire => "semacquire",
            WaitReason::Sleep => "sleep",
            WaitReason::SyncCondWait => "sync.Cond.Wait",
            WaitReason::TimerGoroutineIdle => "timer goroutine (idle)",
            WaitReason::TraceReaderBlocked => "trace reader (blocked)",
            WaitReason::WaitForGcCycle => "wait for GC cycle",
            WaitReason::GcWorkerIdle => "GC worker (idle)",
            WaitReason::Preempted => "preempted",
            WaitReason::DebugCall => "debug call",
        }
    }

    fn from_u8(v: u8) -> WaitReason {
        WaitReason::ALL[v as usize]
    }
}

/// What a goroutine tells its M when it switches back to the scheduler
/// (Go's `mcall` targets: `gosched_m`, `gopreempt_m`, `park_m`).
#[derive(Clone, Copy, Debug)]
pub enum Yield {
    /// Deterministic mode only: the step budget ran out. The G stays
    /// `_Grunning` on its P; the driver lets another P take the next step.
    Step,
    /// `Gosched`: to the global run queue.
    Gosched,
    /// A preemption request was honoured at a safepoint (sysmon's time
    /// slice, stop-the-world): to the global run queue.
    Preempted,
    /// `gopark`: wait for the reason in `G::park_reason`; the G's
    /// `park_unlock` runs on the M after the G is off its stack (Go's
    /// `unlockf`), and if it returns false the G resumes at once. (Kept in
    /// the G rather than here: a small `Yield` is cheaper to pass on every
    /// switch.)
    Park,
    /// Go's `systemstack`: run the function in `G::sysfn` on the M's own
    /// stack, then resume this G. While it runs, the G is suspended, so its
    /// registers are saved on its stack and the whole stack can be scanned.
    SystemStack,
    /// Go's `goyield` (a semaphore handoff): to the tail of this P's
    /// local queue, so the G that was just handed ownership runs first.
    GoYield,
    /// Go's `fatal`/`throw` raised by the goroutine itself (misuse of a
    /// sync primitive, concurrent map writes): the message is in
    /// `G::fatal_msg`; the G never runs again.
    Fatal,
    /// Go's `os.Exit(status)`: the program ends now with that status and
    /// no report (the race detector's `halt_on_error`).
    Exit(i32),
    /// The safepoint found the stack pointer below `stackguard0`.
    StackOverflow(usize),
}

/// Go's `unlockf` with its argument: called on the M after the parking G
/// has switched away, so a waker can never see a half-parked G.
///
/// Built only through the `unsafe` `new`: the runtime calls `f(arg)`, and
/// safe code could otherwise pair any `unsafe fn(usize) -> bool` with an
/// argument that breaks its contract:
///
/// ```compile_fail
/// unsafe fn f(_: usize) -> bool { true }
/// let u = gort_scheduler::UnlockFn { f, arg: 0 };
/// ```
#[derive(Clone, Copy, Debug)]
pub struct UnlockFn {
    pub(crate) f: unsafe fn(usize) -> bool,
    pub(crate) arg: usize,
}

impl UnlockFn {
    /// # Safety
    /// Calling `f(arg)` once, on the M, after the parking goroutine has
    /// switched away and before it is readied, must be sound; it returns
    /// false to cancel the park (the goroutine then resumes at once).
    pub unsafe fn new(f: unsafe fn(usize) -> bool, arg: usize) -> UnlockFn {
        UnlockFn { f, arg }
    }
}

/// A goroutine's coroutine: it returns how its function ended (a caught
/// panic payload, or `Goexit`'s).
pub type GCoroutine = Coroutine<(), Yield, Result<(), Box<dyn std::any::Any + Send>>, CoStack>;
pub type GYielder = Yielder<(), Yield>;

/// Where a goroutine was created and what it runs, for dumps and panics.
#[derive(Clone, Copy, Debug)]
pub struct StartInfo {
    /// The `go` statement's location (Go's `gopc`).
    pub gopc: &'static Location<'static>,
    /// The function containing the `go` statement (`created by ...`), when
    /// the `go!` macro captured it.
    pub creator: &'static str,
    /// The goroutine's own function (Go's `startpc`): the closure's type.
    pub startfn: &'static str,
}

/// States of `G::user_park` (its low two bits; the rest count the G's
/// parks by the public `gopark`, so a state cannot be mistaken for the same
/// state of a later park).
pub(crate) const USER_PARK_NONE: u64 = 0;
pub(crate) const USER_PARKED: u64 = 1;
pub(crate) const USER_PARK_TAKEN: u64 = 2;
pub(crate) const USER_PARK_STATE: u64 = 3;

/// A panic caught at the coroutine boundary: the message and where it was
/// raised (filled in by the panic hook on the goroutine's own stack).
#[derive(Clone, Debug)]
pub struct PanicRecord {
    pub message: String,
    pub location: Option<String>,
    /// The raw stack at the panic, resolved later on the M's stack.
    pub backtrace: Option<std::sync::Arc<std::backtrace::Backtrace>>,
}

pub struct G {
    goid: AtomicU64,
    atomicstatus: AtomicU32,
    waitreason: AtomicU8,
    /// Go's `stackguard0`: the slot's guard normally, `STACK_PREEMPT` when
    /// preemption was requested.
    pub(crate) stackguard0: AtomicUsize,
    /// The M running this G (Go's `g.m`), so runtime calls find their P.
    pub(crate) m: AtomicPtr<M>,
    pub(crate) sched: *const Sched,
    /// The runtime runs in deterministic mode (copied from the Sched so the
    /// step hook needs one load less).
    pub(crate) det: bool,
    /// The serial of the runtime the G belongs to (`Sched::serial`).
    pub(crate) rt: u64,
    pub(crate) stack: SlotStack,
    /// The coroutine; touched only by the M that owns the G.
    pub(crate) co: UnsafeCell<Option<GCoroutine>>,
    /// Set when the coroutine starts; valid while it runs.
    pub(crate) yielder: Cell<*const GYielder>,
    pub(crate) start: Cell<Option<StartInfo>>,
    /// Where the G last parked (the top frame of a waiting G's dump).
    pub(crate) parkloc: Cell<Option<&'static Location<'static>>>,
    /// Deterministic mode: steps left before the driver switches P.
    pub(crate) budget: Cell<u64>,
    /// Deterministic mode: steps taken since the last resume (for the
    /// virtual clock).
    pub(crate) steps: Cell<u64>,
    pub(crate) panic: UnsafeCell<Option<PanicRecord>>,
    /// What a pending `Yield::Park` asks for (set just before suspending).
    pub(crate) park_reason: Cell<WaitReason>,
    pub(crate) park_unlock: Cell<Option<UnlockFn>>,
    /// Link in the global run queue (Go's `schedlink`); guarded by its lock.
    pub(crate) schedlink: Cell<*const G>,
    /// The duration of a pending `sleep`, read by its unlock function.
    pub(crate) sleep_ns: Cell<u64>,
    /// The frame pointer where the G last switched to its M: the start of
    /// the frame-pointer chain a dump walks (Go's `g.sched.bp`). Zero for a
    /// G that has not run yet.
    pub(crate) sched_fp: Cell<usize>,
    /// Where in the code that frame was (Go's `g.sched.pc`).
    pub(crate) sched_pc: Cell<usize>,
    /// The stack pointer at that switch (Go's `g.sched.sp`): every live
    /// word of a suspended G lies in `[sched_sp, hi)` (corosensei's switch
    /// saves the registers it does not declare clobbered). Zero for a G
    /// that has not run yet.
    pub(crate) sched_sp: Cell<usize>,
    /// The function a pending `Yield::SystemStack` runs on the M.
    pub(crate) sysfn: Cell<Option<*mut (dyn FnMut() + 'static)>>,
    /// Lines printed before `fatal error:` by a pending `Yield::Fatal`.
    pub(crate) fatal_detail: Cell<&'static str>,
    /// Go's `g.param`: the sudog whose operation woke this G (a channel
    /// operation or select case), written by the waker under the channel
    /// lock before `goready`.
    pub(crate) param: Cell<usize>,
    /// Go's `g.selectDone`: set by the first waker of a G blocked in
    /// select, so no other case can also fire.
    pub(crate) select_done: AtomicU32,
    /// The message of a pending `Yield::Fatal`.
    pub(crate) fatal_msg: Cell<&'static str>,
    /// Whether the public `goready` may wake this G: `USER_PARKED` while it
    /// is parked by the public `gopark` and nobody took the wake-up yet
    /// (`USER_PARK_TAKEN` once a waker did), `USER_PARK_NONE` otherwise;
    /// above the state, the number of such parks.
    pub(crate) user_park: AtomicU64,
    /// Heap objects this goroutine recently found live (kept by gort-gc,
    /// `checked.rs`): a map operation re-checks its header and bucket
    /// array with one comparison instead of a span lookup. Plain `Cell`s,
    /// so reached only through `obj_memo()`, which hands them to the
    /// goroutine itself and to no one else.
    obj_memo: [ObjMemo; 4],
    /// A runtime goroutine (Go's `isSystemGoroutine`: the GC's mark
    /// workers): not counted by `NumGoroutine` or the deadlock check, and
    /// shown in dumps only with `GOTRACEBACK=system`.
    pub(crate) system: AtomicBool,
    /// Go's `gcAssistBytes`: allocation credit (positive) or debt
    /// (negative) against the collector's mark work, kept by gort-gc.
    /// Touched by the goroutine itself and reset by the collector with the
    /// world stopped.
    pub gc_assist_bytes: AtomicI64,
    /// Go's `preemptStop`: a stack scanner wants this running G stopped;
    /// at its next safepoint it parks ("preempted") instead of going back
    /// to the run queue, where its P could run it again before the
    /// scanner gets to it.
    pub(crate) preempt_scan: AtomicBool,
    /// It parked for a scanner, which readies it when done (`resumeG`).
    pub(crate) preempt_parked: AtomicBool,
    /// Why the race detector skips this goroutine's accesses now (runtime
    /// code, `sync` package code, a cgo call: `race.rs`). The goroutine's
    /// own cell: only code running on it reads or writes it.
    pub(crate) race_ignore: Cell<u32>,
    /// The stack of the `go` statement this goroutine is executing, for
    /// the race detector's `created at` (set just before `newproc`).
    pub(crate) race_go_stack: Cell<Vec<usize>>,
    /// The race detector's name for this goroutine (its thread id), set
    /// by the detector at `go_start`, before the goroutine runs.
    pub race_ctx: AtomicU64,
}

/// One heap object a goroutine found live: its address, the end of the
/// object, and the heap's free epoch at the time. Touched only by the
/// goroutine itself (`G::obj_memo`). The scheduler only stores it; its
/// meaning is the heap's.
#[derive(Default, Debug)]
pub struct ObjMemo {
    pub addr: Cell<usize>,
    pub limit: Cell<usize>,
    pub epoch: Cell<u64>,
}

// SAFETY: a G moves between threads only through the run queues and the
// status CAS protocol: at any moment exactly one M owns its non-atomic
// fields (Cell/UnsafeCell), and every hand-over is a release/acquire edge
// (crossbeam queue operations, the P's runnext CAS, the status CAS).
unsafe impl Sync for G {}
// SAFETY: as above.
unsafe impl Send for G {}

impl G {
    pub(crate) fn new(sched: *const Sched) -> Box<G> {
        let stack = SlotStack::alloc();
        let g = Box::new(G {
            goid: AtomicU64::new(0),
            atomicstatus: AtomicU32::new(G_IDLE),
            waitreason: AtomicU8::new(0),
            stackguard0: AtomicUsize::new(stack.stackguard()),
            m: AtomicPtr::new(std::ptr::null_mut()),
            sched,
            // SAFETY: a non-null sched is the live Sched creating this G.
            det: unsafe { sched.as_ref() }.is_some_and(|s| s.det),
            // SAFETY: as above.
            rt: unsafe { sched.as_ref() }.map_or(0, |s| s.serial),
            stack,
            co: UnsafeCell::new(None),
            yielder: Cell::new(std::ptr::null()),
            start: Cell::new(None),
            parkloc: Cell::new(None),
            budget: Cell::new(u64::MAX),
            steps: Cell::new(0),
            panic: UnsafeCell::new(None),
            park_reason: Cell::new(WaitReason::Zero),
            park_unlock: Cell::new(None),
            schedlink: Cell::new(std::ptr::null()),
            sleep_ns: Cell::new(0),
            sched_fp: Cell::new(0),
            sched_pc: Cell::new(0),
            sched_sp: Cell::new(0),
            sysfn: Cell::new(None),
            fatal_detail: Cell::new(""),
            param: Cell::new(0),
            select_done: AtomicU32::new(0),
            fatal_msg: Cell::new(""),
            user_park: AtomicU64::new(USER_PARK_NONE),
            obj_memo: Default::default(),
            system: AtomicBool::new(false),
            race_ignore: Cell::new(0),
            race_go_stack: Cell::new(Vec::new()),
            race_ctx: AtomicU64::new(0),
            gc_assist_bytes: AtomicI64::new(0),
            preempt_scan: AtomicBool::new(false),
            preempt_parked: AtomicBool::new(false),
        });
        g.stack.set_owner(&*g);
        g
    }

    /// This goroutine's memo of live objects, if the caller runs on this
    /// goroutine's own stack; else None. A `&G` can reach other
    /// goroutines (a G is `Sync`), but the memo is unsynchronised `Cell`s:
    /// only the goroutine itself may read or write it, and code running on
    /// a G's stack is that G, running. The check is two instructions on
    /// the stack pointer (slots are `SLOT_SIZE`-aligned), cheap enough
    /// for every map operation.
    #[inline(always)]
    pub fn obj_memo(&self) -> Option<&[ObjMemo; 4]> {
        let on_own_stack = (crate::stack::current_sp() ^ self.stack.lo()) < crate::stack::SLOT_SIZE;
        on_own_stack.then_some(&self.obj_memo)
    }

    /// Whether this goroutine runs in deterministic mode, where every heap
    /// access is a scheduling step (in parallel mode `step()` does nothing,
    /// so runtime code may pick step-free access paths up front).
    #[inline]
    pub fn is_det(&self) -> bool {
        self.det
    }
    pub fn goid(&self) -> u64 {
        self.goid.load(Ordering::Relaxed)
    }
    pub(crate) fn set_goid(&self, id: u64) {
        self.goid.store(id, Ordering::Relaxed)
    }

    pub fn status(&self) -> u32 {
        self.atomicstatus.load(Ordering::Acquire)
    }
    pub(crate) fn set_status(&self, s: u32) {
        self.atomicstatus.store(s, Ordering::Release)
    }
    /// One compare-and-swap of the status; false if the G was not in `old`.
    pub(crate) fn cas_status(&self, old: u32, new: u32) -> bool {
        self.atomicstatus
            .compare_exchange(old, new, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Go's `casgstatus`: `old` -> `new`, waiting while the collector holds
    /// the `_Gscan` bit on `old` (it is scanning the stack of this G, which
    /// must not run meanwhile); false if the G is in neither. A scan never
    /// spans a scheduler step (`suspend.rs`), so in deterministic mode,
    /// where everything runs on one thread, the bit is never seen here.
    pub(crate) fn casgstatus(&self, old: u32, new: u32) -> bool {
        loop {
            if self.cas_status(old, new) {
                return true;
            }
            let now = self.status();
            if now == old {
                // The scanner released the bit between the CAS and the load.
                continue;
            }
            if now != old | G_SCAN {
                return false;
            }
            assert!(
                !self.det,
                "gort: a goroutine's _Gscan bit was held across a step"
            );
            std::hint::spin_loop();
            std::thread::yield_now();
        }
    }

    /// Whether this is a runtime goroutine (a mark worker).
    pub fn is_system(&self) -> bool {
        self.system.load(Ordering::Relaxed)
    }

    pub fn waitreason(&self) -> WaitReason {
        WaitReason::from_u8(self.waitreason.load(Ordering::Relaxed))
    }
    pub(crate) fn set_waitreason(&self, r: WaitReason) {
        self.waitreason.store(r as u8, Ordering::Relaxed)
    }

    pub fn start_info(&self) -> Option<StartInfo> {
        self.start.get()
    }
    pub fn park_location(&self) -> Option<&'static Location<'static>> {
        self.parkloc.get()
    }

    pub(crate) fn sched(&self) -> &Sched {
        // SAFETY: a G never outlives its Sched: Gs are freed in Sched's drop.
        unsafe { &*self.sched }
    }

    /// Asks the G to stop at its next safepoint (Go's `preemptone` on the
    /// G: `stackguard0 = stackPreempt`).
    pub(crate) fn request_preempt(&self) {
        self.stackguard0.store(STACK_PREEMPT, Ordering::Release);
    }
    pub(crate) fn clear_preempt(&self) {
        self.stackguard0
            .store(self.stack.stackguard(), Ordering::Release);
    }

    /// Switches from the goroutine to its M (Go's `mcall`). Must be called
    /// on this G's own stack.
    pub(crate) fn suspend(&self, y: Yield) {
        let yl = self.yielder.get();
        debug_assert!(!yl.is_null());
        self.sched_fp.set(crate::traceback::frame_pointer());
        self.sched_pc.set(crate::traceback::program_counter());
        self.sched_sp.set(crate::stack::current_sp());
        // SAFETY: `yielder` was set by the coroutine body to its own Yielder,
        // which lives at the base of this G's stack for as long as the
        // coroutine runs; we are on that stack, so the coroutine is running.
        unsafe { (*yl).suspend(y) }
    }
}
