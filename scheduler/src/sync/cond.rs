//! `sync.Cond` (Go's `sync/cond.go`): a rendezvous point for goroutines
//! waiting for or announcing an event.
//!
//! Built on the runtime's ticket-based notify list (`sema.rs`). `wait`
//! takes a ticket (`runtime_notify_list_add`) while the caller still holds
//! `l`, then unlocks `l`, parks until its ticket is notified
//! (`runtime_notify_list_wait`, reason `sync.Cond.Wait`) and re-locks `l`
//! before returning. Because the ticket is taken before `l` is released, a
//! `signal` or `broadcast` made after the waiter's unlock is never lost,
//! even if it comes before the waiter has queued. `signal` wakes the
//! waiter holding the oldest unnotified ticket, `broadcast` all of them.
//!
//! The Cond's locker is Go's `L` field: anything that dereferences to a
//! `Locker` — `&Mutex`, `Arc<Mutex>`, `&RWMutex`, `rw.rlocker()`.
//! Simulated differently from Go: no copy checker (`sync.Cond is copied`):
//! Rust moves a Cond only when nothing borrows it, so no waiter can be
//! left behind; `notifyListCheck` (a size check between two packages) has
//! no equivalent.
//!
//! Race detector (race.md §3): no annotations of its own; ordering comes
//! through `l`.

use std::ops::Deref;

use super::runtime::{
    runtime_notify_list_add, runtime_notify_list_notify_all, runtime_notify_list_notify_one,
    runtime_notify_list_wait,
};
use super::{keep_frame, Locker};
use crate::proc::preempt_point;
use crate::sema::NotifyList;

/// A condition variable (Go's `sync.Cond`), associated with the locker
/// `l` that must be held when changing the condition and when calling
/// `wait`.
pub struct Cond<L>
where
    L: Deref,
    L::Target: Locker,
{
    /// Go's `L`: held while observing or changing the condition.
    pub l: L,
    notify: NotifyList,
}

impl<L> std::fmt::Debug for Cond<L>
where
    L: Deref,
    L::Target: Locker,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cond").finish_non_exhaustive()
    }
}

impl<L> Cond<L>
where
    L: Deref,
    L::Target: Locker,
{
    /// Go's `NewCond`: a Cond with locker `l`.
    pub fn new(l: L) -> Cond<L> {
        Cond {
            l,
            notify: NotifyList::new(),
        }
    }

    /// Go's `Wait`: atomically unlocks `l` and suspends the goroutine
    /// (reason `sync.Cond.Wait`) until `signal` or `broadcast` wakes it;
    /// locks `l` again before returning. Since the condition may have
    /// changed by then, callers wait in a loop:
    ///
    /// ```no_run
    /// # use gort_scheduler::sync::{Cond, Mutex};
    /// # use std::sync::atomic::{AtomicBool, Ordering};
    /// fn wait_until_ready(c: &Cond<&Mutex>, ready: &AtomicBool) {
    ///     c.l.lock();
    ///     while !ready.load(Ordering::Relaxed) {
    ///         c.wait();
    ///     }
    ///     // ... use what `ready` announced ...
    ///     c.l.unlock();
    /// }
    /// ```
    #[track_caller]
    pub fn wait(&self) {
        preempt_point();
        let t = runtime_notify_list_add(&self.notify);
        self.l.unlock();
        runtime_notify_list_wait(&self.notify, t);
        self.l.lock();
        keep_frame();
    }

    /// Go's `Signal`: wakes one goroutine waiting on the Cond, if any.
    /// Holding `l` is allowed but not required.
    pub fn signal(&self) {
        preempt_point();
        runtime_notify_list_notify_one(&self.notify);
        keep_frame();
    }

    /// Go's `Broadcast`: wakes every goroutine waiting on the Cond.
    pub fn broadcast(&self) {
        preempt_point();
        runtime_notify_list_notify_all(&self.notify);
        keep_frame();
    }
}
