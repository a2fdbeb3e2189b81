//! Go's forced collection by time (`forcegchelper` and sysmon's check in
//! proc.go): a program that allocates too little to reach its GOGC
//! trigger is still collected every two minutes.
//!
//! The collector starts the helper goroutine (goroutine 2, "force gc
//! (idle)" in dumps) and tells the scheduler when each collection ends.
//! The helper parks itself as idle; sysmon (the thread in parallel mode,
//! the driver's simulated one in deterministic mode, on virtual time)
//! finds that the last collection ended more than `FORCEGC_PERIOD_NS`
//! ago, takes the idle helper and makes it runnable on the global run
//! queue (Go's `injectglist`); the helper then starts a cycle, and parks
//! again. As in Go there is no forced collection before the first one
//! (`last_gc` is 0) nor with GOGC=off.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::g::{UnlockFn, WaitReason, G, G_RUNNABLE, G_WAITING};
use crate::p::GPtr;
use crate::proc::{gopark_on, must_getg};
use crate::sched::Sched;

/// Go's `forcegcperiod`: two minutes.
pub const FORCEGC_PERIOD_NS: u64 = 120 * 1_000_000_000;

/// The scheduler's part of Go's `forcegc` state.
#[derive(Default)]
pub(crate) struct ForceGc {
    /// The helper, parked and idle (Go's `forcegc.g` with `forcegc.idle`
    /// set): sysmon takes it.
    idle: Mutex<Option<GPtr>>,
    /// `nanotime` when the last collection ended, 0 before the first
    /// (Go's `memstats.last_gc_nanotime`).
    last_gc: AtomicU64,
    /// GOGC is not off (Go's `gcPercent >= 0` test in the trigger).
    enabled: AtomicBool,
    /// A cycle has started and not ended (Go's trigger test returns
    /// false unless `gcphase == _GCoff`): the helper, parked again right
    /// after starting one, is not woken for it a second time.
    cycle_running: AtomicBool,
}

/// The helper's park (Go's `goparkunlock(&forcegc.lock,
/// waitReasonForceGCIdle)`): returns when sysmon has found no collection
/// for two minutes. `enabled` is false with GOGC=off.
pub fn forcegc_park(enabled: bool) {
    let g = must_getg("forcegc_park");
    g.sched().forcegc.enabled.store(enabled, Ordering::Release);
    /// Publishes the helper as idle once it is `_Gwaiting`, so that
    /// sysmon's `_Gwaiting -> _Grunnable` cannot come first.
    ///
    /// # Safety
    /// `arg` is the parking G, which lives as long as its runtime.
    unsafe fn publish(arg: usize) -> bool {
        // SAFETY: the caller's contract: `arg` is a live G.
        let g = unsafe { &*(arg as *const G) };
        *g.sched().forcegc.idle.lock().unwrap() = Some(GPtr::new(g));
        true
    }
    let unlock = UnlockFn {
        f: publish,
        arg: g as *const G as usize,
    };
    gopark_on(g, WaitReason::ForceGcIdle, Some(unlock));
}

/// The collector's note that a collection ended at `now` (its `nanotime`).
pub fn forcegc_note_gc_end(now: u64) {
    let f = &must_getg("forcegc_note_gc_end").sched().forcegc;
    f.last_gc.store(now.max(1), Ordering::Release);
    f.cycle_running.store(false, Ordering::Release);
}

/// The collector's note that a collection started (its mark phase began).
pub fn forcegc_note_gc_start() {
    must_getg("forcegc_note_gc_start")
        .sched()
        .forcegc
        .cycle_running
        .store(true, Ordering::Release);
}

impl Sched {
    /// Deterministic mode: when sysmon would next force a collection, for
    /// a driver that finds no P able to run and moves the clock to the
    /// next event (`u64::MAX`: none pending). Go's sysmon, with every P
    /// idle, sleeps until the next timer or for half the period, so Go
    /// forces the collection up to a minute after it is due; gort forces
    /// it when it is due.
    pub(crate) fn forcegc_deadline(&self) -> u64 {
        let f = &self.forcegc;
        let last = f.last_gc.load(Ordering::Acquire);
        if last == 0
            || !f.enabled.load(Ordering::Acquire)
            || f.cycle_running.load(Ordering::Acquire)
            || f.idle.lock().unwrap().is_none()
        {
            return u64::MAX;
        }
        last.saturating_add(FORCEGC_PERIOD_NS + 1)
    }

    /// sysmon's check (Go's `gcTrigger{kind: gcTriggerTime}.test()` and
    /// the `injectglist` of the idle helper).
    pub(crate) fn sysmon_forcegc(&self, now: u64) {
        let f = &self.forcegc;
        let last = f.last_gc.load(Ordering::Acquire);
        if last == 0
            || now.saturating_sub(last) <= FORCEGC_PERIOD_NS
            || f.cycle_running.load(Ordering::Acquire)
        {
            return;
        }
        if !f.enabled.load(Ordering::Acquire) {
            return;
        }
        let Some(gp) = f.idle.lock().unwrap().take() else {
            return;
        };
        if !gp.get().casgstatus(G_WAITING, G_RUNNABLE) {
            self.throw("forcegc: phase error");
            return;
        }
        self.runq.push(gp);
        self.wakep();
    }
}
