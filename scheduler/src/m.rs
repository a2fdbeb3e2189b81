//! The M: a worker thread (Go's `m`) and the note it sleeps on.
//!
//! In parallel mode an M is an OS thread that owns at most one P and runs
//! the scheduling loop on its native stack (Go's g0). Ms are started on
//! demand by `wakep`/`startm` up to GOMAXPROCS of them (gort has no system
//! calls, so no more are ever needed), park on their note when idle (Go's
//! `stopm`, using no CPU) and are handed a P through `nextp` when woken. In
//! deterministic mode Ms are bookkeeping only: one per P, all driven by the
//! one thread that runs the simulation.

use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use crate::g::G;
use crate::p::P;

/// Go's `note`: a one-shot wakeup that can be waited on with a timeout.
#[derive(Default)]
pub struct Note {
    set: Mutex<bool>,
    cv: Condvar,
}

impl Note {
    pub fn wakeup(&self) {
        let mut s = self.set.lock().unwrap();
        *s = true;
        self.cv.notify_one();
    }
    /// Sleeps until woken or `timeout` passes; clears the note. Returns
    /// whether it was woken.
    pub fn sleep(&self, timeout: Option<Duration>) -> bool {
        let mut s = self.set.lock().unwrap();
        match timeout {
            None => {
                while !*s {
                    s = self.cv.wait(s).unwrap();
                }
            }
            Some(d) => {
                if !*s {
                    s = self.cv.wait_timeout(s, d).unwrap().0;
                }
            }
        }
        let woken = *s;
        *s = false;
        woken
    }
}

pub struct M {
    pub id: i64,
    /// The attached P (Go's `m.p`).
    pub(crate) p: AtomicPtr<P>,
    /// The P handed over by `startm` (Go's `m.nextp`).
    pub(crate) nextp: AtomicPtr<P>,
    /// The G running on this M (Go's `m.curg`).
    pub(crate) curg: AtomicPtr<G>,
    pub(crate) spinning: AtomicBool,
    /// Parked on its note (Go's `m.blocked`).
    pub(crate) blocked: AtomicBool,
    pub(crate) park: Note,
    pub(crate) rand: crate::util::FastRand,
}

impl M {
    pub fn new(id: i64) -> M {
        M {
            id,
            p: AtomicPtr::new(std::ptr::null_mut()),
            nextp: AtomicPtr::new(std::ptr::null_mut()),
            curg: AtomicPtr::new(std::ptr::null_mut()),
            spinning: AtomicBool::new(false),
            blocked: AtomicBool::new(false),
            park: Note::default(),
            rand: crate::util::FastRand::default(),
        }
    }

    pub fn p(&self) -> Option<&P> {
        // SAFETY: Ps live in the Sched's `allp`, which outlives every M.
        unsafe { self.p.load(Ordering::Acquire).as_ref() }
    }
}
