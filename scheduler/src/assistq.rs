//! The queue of goroutines parked in a mark assist (Go's
//! `work.assistQueue`, `gcParkAssist`, `gcFlushBgCredit`,
//! `gcWakeAllAssists`).
//!
//! An allocating goroutine in debt to the collector (`G::gc_assist_bytes`
//! below zero) does mark work to pay for its allocation. When there is no
//! mark work it can take (everything grey is in other drainers' hands),
//! Go does not let it run on in debt: it parks in "GC assist wait" until
//! the background workers' scan work pays its debt or the mark phase
//! ends. The background workers hand their credit to the queue in FIFO
//! order (`flush_credit`); what nobody in the queue needs goes back to the
//! caller, for the global background credit pool that assists steal from
//! first.
//!
//! The queue's spin lock is never held across a scheduler step, and the
//! parked goroutine releases it only once it is off its M (the `gopark`
//! unlock function), so a `flush_credit` cannot ready it before it has
//! parked.

use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use crate::g::{UnlockFn, WaitReason};
use crate::p::GPtr;
use crate::spinlock::{unlock_addr, SpinLock};

pub struct AssistQueue {
    lock: SpinLock,
    /// Parked assists, oldest first; touched only with `lock` held.
    q: UnsafeCell<VecDeque<GPtr>>,
}

// SAFETY: `q` is only accessed with `lock` held.
unsafe impl Sync for AssistQueue {}
// SAFETY: as above.
unsafe impl Send for AssistQueue {}

impl Default for AssistQueue {
    fn default() -> Self {
        AssistQueue::new()
    }
}

impl AssistQueue {
    pub const fn new() -> AssistQueue {
        AssistQueue {
            lock: SpinLock::new(),
            q: UnsafeCell::new(VecDeque::new()),
        }
    }

    /// Go's `gcParkAssist`: parks the calling goroutine until its debt is
    /// paid by background credit or the queue is woken. `marking` is read
    /// under the queue's lock: when it says the mark is over (`wake_all`
    /// has run or is about to), the goroutine does not park and false is
    /// returned.
    pub fn park(&self, marking: &dyn Fn() -> bool) -> bool {
        self.lock.lock();
        if !marking() {
            self.lock.unlock();
            return false;
        }
        // SAFETY: the lock is held.
        unsafe { &mut *self.q.get() }.push_back(crate::proc::current());
        crate::proc::park(
            WaitReason::GcAssistWait,
            Some(UnlockFn {
                f: unlock_addr,
                arg: &self.lock as *const SpinLock as usize,
            }),
        );
        true
    }

    /// Go's `gcFlushBgCredit`: pays the queued assists' debts, oldest
    /// first, from `credit` bytes, readying each one paid in full; returns
    /// the credit left over.
    pub fn flush_credit(&self, mut credit: i64) -> i64 {
        if credit <= 0 {
            return credit;
        }
        let mut ready = Vec::new();
        self.lock.lock();
        // SAFETY: the lock is held.
        let q = unsafe { &mut *self.q.get() };
        while credit > 0 {
            let Some(&gp) = q.front() else { break };
            let bytes = &gp.get().gc_assist_bytes;
            let debt = -bytes.load(Ordering::Relaxed);
            if debt <= credit {
                bytes.fetch_add(debt.max(0), Ordering::Relaxed);
                credit -= debt.max(0);
                q.pop_front();
                ready.push(gp);
            } else {
                bytes.fetch_add(credit, Ordering::Relaxed);
                credit = 0;
            }
        }
        self.lock.unlock();
        for gp in ready {
            crate::proc::ready_g(gp);
        }
        credit
    }

    /// Go's `gcWakeAllAssists`: the mark is over; every parked assist goes
    /// on (its debt is forgiven by the next cycle's reset).
    pub fn wake_all(&self) {
        self.lock.lock();
        // SAFETY: the lock is held.
        let all: Vec<GPtr> = unsafe { &mut *self.q.get() }.drain(..).collect();
        self.lock.unlock();
        for gp in all {
            crate::proc::ready_g(gp);
        }
    }
}
