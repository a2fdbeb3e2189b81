//! The explain log: what `gort run DEMO --seed S --explain` prints after
//! a run, the runtime steps its outcome came from, in the order they ran.
//!
//! Runtime code that makes a step worth explaining (a map operation's
//! entry, setting or clearing `hashWriting`, the check that finds another
//! writer, `hashGrow`, an evacuation) calls `note` with the runtime
//! function, the object it concerns (a map header's address) and what it
//! did; the log adds the goroutine, its P, the (virtual) time and the
//! scenario's source line (`#[track_caller]` through the map's API). The
//! log keeps the last `cap` events of the run; a reader picks out those
//! of the object an outcome concerns (for `concurrent map writes`: both
//! writers' steps on that map, around the check that failed).
//!
//! The collector's steps are noted too (a pointer store's barrier, with
//! what it shaded; an object greyed; a cycle's phases; a slot freed by
//! the sweep), but kept only by a log focused on one object (`focused`):
//! a run that lost an object is replayed with the log focused on it.
//!
//! Off, a note costs one relaxed load of a process-wide count of the
//! runtimes recording and a branch; on, a lock per event (a deterministic
//! run has one thread). It is meant for deterministic mode, where a seed
//! replays the run being explained; in parallel mode the order of events
//! from different Ps is the order they took the lock.

use std::collections::VecDeque;
use std::panic::Location;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::sched::Sched;
use crate::stack::getg;

/// Runtimes recording an explain log, for `note`'s fast check.
pub(crate) static RECORDING: AtomicUsize = AtomicUsize::new(0);

/// One step of the log.
#[derive(Clone, Debug)]
pub struct Event {
    /// Virtual (deterministic mode) or monotonic nanoseconds.
    pub time_ns: u64,
    pub goid: u64,
    /// The P the goroutine ran on.
    pub p: usize,
    /// The runtime function (`mapassign_fast64`, `hashGrow`, ...).
    pub func: &'static str,
    /// The object the step concerns (a map header) as reports show its
    /// address, 0 if none.
    pub obj: usize,
    /// What the step did, in Go's terms (`sets hashWriting`).
    pub what: String,
    /// The scenario's source line that led to the step.
    pub loc: &'static Location<'static>,
}

/// The log of one runtime (`SchedConfig::explain`).
#[derive(Debug)]
pub struct ExplainLog {
    cap: usize,
    /// Keep only the steps on this object (as reports show its address),
    /// and those on no object (a cycle's phases): how a lost object is
    /// explained, on a replay of the run that lost it, where the collector
    /// and the barrier make far too many steps to keep them all.
    focus: Option<usize>,
    events: Mutex<VecDeque<Event>>,
}

impl ExplainLog {
    /// A log keeping the last `cap` events.
    pub fn new(cap: usize) -> Arc<ExplainLog> {
        Arc::new(ExplainLog {
            cap: cap.max(1),
            focus: None,
            events: Mutex::new(VecDeque::new()),
        })
    }

    /// A log keeping the last `cap` events on the object at `obj` (as
    /// reports show it) and on none.
    pub fn focused(cap: usize, obj: usize) -> Arc<ExplainLog> {
        Arc::new(ExplainLog {
            cap: cap.max(1),
            focus: Some(obj),
            events: Mutex::new(VecDeque::new()),
        })
    }

    /// The events kept, oldest first.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().iter().cloned().collect()
    }

    fn push(&self, e: Event) {
        if self.focus.is_some_and(|f| e.obj != 0 && e.obj != f) {
            return;
        }
        let mut q = self.events.lock().unwrap();
        if q.len() == self.cap {
            q.pop_front();
        }
        q.push_back(e);
    }
}

/// Records a step of the current goroutine, if its runtime keeps a log:
/// `step` gives the object (as reports show its address) and what was
/// done to it, and is only called then.
#[inline]
#[track_caller]
pub fn note(func: &'static str, step: impl FnOnce() -> (usize, String)) {
    if RECORDING.load(Ordering::Relaxed) != 0 {
        let (obj, what) = step();
        note_slow(func, obj, what, Location::caller());
    }
}

#[cold]
#[inline(never)]
fn note_slow(func: &'static str, obj: usize, what: String, loc: &'static Location<'static>) {
    let Some(g) = getg() else { return };
    let sched = g.sched();
    let Some(log) = &sched.cfg.explain else {
        return;
    };
    log.push(Event {
        time_ns: sched.nanotime(),
        goid: g.goid(),
        p: Sched::current_p(g).id,
        func,
        obj,
        what,
        loc,
    });
}
