//! `sync.RWMutex` (Go's `sync/rwmutex.go`), with Go 1.19's algorithm.
//!
//! A writer-preferring reader/writer lock built from a `Mutex` (held by the
//! writer, so writers queue behind each other), two runtime semaphores and
//! two counters:
//!
//! * `reader_count`: readers holding or waiting for the lock. A writer
//!   announces itself by subtracting `RWMUTEX_MAX_READERS` (2^30), so the
//!   count goes negative and new readers (`rlock`: increment, negative ->
//!   sleep on `reader_sem`) queue behind the writer.
//! * `reader_wait`: readers the writer still waits for. `lock` takes the
//!   writer mutex, announces itself, and adds the readers that were active
//!   then; if any, it sleeps on `writer_sem`. Each departing reader
//!   (`runlock`: decrement, negative -> `r_unlock_slow`) decrements it and
//!   the last one wakes the writer.
//! * `unlock`: add `RWMUTEX_MAX_READERS` back; the result is the number of
//!   readers that queued meanwhile: wake each (`reader_sem`), then release
//!   the writer mutex.
//!
//! Misuse is Go's unrecoverable `fatal error: sync: RUnlock of unlocked
//! RWMutex` / `sync: Unlock of unlocked RWMutex`. Every operation is a
//! safepoint (a scheduling point in deterministic mode) and each atomic
//! access one `step()`. `RWMutex` implements `Locker` (writer lock) with
//! its own copies of `lock`/`unlock`; `rlocker()` returns Go's `rlocker`
//! view whose `Locker` is `rlock`/`runlock`.
//!
//! Race detector (race.md §3): `unlock` releases `reader_sem`; `lock`
//! acquires `reader_sem` and `writer_sem`; `rlock` acquires `reader_sem`;
//! `runlock` release-merges `writer_sem`; the internal atomics are hidden
//! (Go's `race.Disable`), so readers do not synchronise with each other.

use std::sync::atomic::{AtomicI32, Ordering};

use super::runtime::{fatal, runtime_semacquire_mutex, runtime_semrelease};
use super::{keep_frame, Locker, Mutex};
use crate::proc::{preempt_point, step};
use crate::sema::Sema;

/// Go's `rwmutexMaxReaders`: the most readers an RWMutex supports.
pub const RWMUTEX_MAX_READERS: i32 = 1 << 30;

/// A reader/writer mutual exclusion lock (Go's `sync.RWMutex`): any number
/// of readers or a single writer. `RWMutex::new()` (or the default) is
/// unlocked; it can be a `static`.
///
/// If a goroutine holds the lock for reading and another calls `lock`, no
/// goroutine should expect to acquire a read lock until the first read
/// lock is released (a blocked writer excludes new readers), so recursive
/// read locking is prohibited, as in Go.
#[derive(Default)]
pub struct RWMutex {
    /// Held if there are pending writers.
    w: Mutex,
    /// Semaphore for writers to wait for completing readers.
    writer_sem: Sema,
    /// Semaphore for readers to wait for completing writers.
    reader_sem: Sema,
    /// Number of pending readers.
    reader_count: AtomicI32,
    /// Number of departing readers.
    reader_wait: AtomicI32,
}

impl std::fmt::Debug for RWMutex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RWMutex")
            .field("w", &self.w)
            .field("reader_count", &self.reader_count.load(Ordering::Relaxed))
            .field("reader_wait", &self.reader_wait.load(Ordering::Relaxed))
            .finish()
    }
}

/// The writer `lock` body, shared by the inherent method and the `Locker`
/// impl so both are one frame deep (Go's `(*RWMutex).Lock`).
macro_rules! rw_lock {
    ($rw:expr) => {{
        let rw: &RWMutex = $rw;
        preempt_point();
        // First, resolve competition with other writers (Go: with
        // race.Disable, so the internal mutex makes no edges).
        {
            let _off = crate::race::RuntimeGuard::ignore_sync();
            rw.w.lock();
        }
        // Announce to readers there is a pending writer.
        step();
        let r = rw
            .reader_count
            .fetch_add(-RWMUTEX_MAX_READERS, Ordering::SeqCst);
        // Wait for active readers.
        if r != 0 {
            step();
            if rw.reader_wait.fetch_add(r, Ordering::SeqCst) + r != 0 {
                runtime_semacquire_mutex(&rw.writer_sem, false, 0);
                keep_frame();
            }
        }
        rw.race_write_locked();
    }};
}

/// The writer `unlock` body, shared like `rw_lock!`.
macro_rules! rw_unlock {
    ($rw:expr) => {{
        let rw: &RWMutex = $rw;
        preempt_point();
        crate::race::lock_held(rw as *const RWMutex as usize, &rw.race_objs(), false);
        crate::race::sync(
            crate::race::SyncOp::Release,
            &rw.reader_sem as *const _ as usize,
        );
        // Announce to readers there is no active writer.
        step();
        let r = rw
            .reader_count
            .fetch_add(RWMUTEX_MAX_READERS, Ordering::SeqCst)
            .wrapping_add(RWMUTEX_MAX_READERS);
        if r >= RWMUTEX_MAX_READERS {
            fatal("sync: Unlock of unlocked RWMutex");
        }
        // Unblock blocked readers, if any.
        for _ in 0..r {
            runtime_semrelease(&rw.reader_sem, false, 0);
        }
        // Allow other writers to proceed.
        {
            let _off = crate::race::RuntimeGuard::ignore_sync();
            rw.w.unlock();
        }
        keep_frame();
    }};
}

impl RWMutex {
    /// An unlocked RWMutex.
    pub const fn new() -> RWMutex {
        RWMutex {
            w: Mutex::new(),
            writer_sem: Sema::new(0),
            reader_sem: Sema::new(0),
            reader_count: AtomicI32::new(0),
            reader_wait: AtomicI32::new(0),
        }
    }

    /// Go's `RLock`: locks for reading, blocking (reason `semacquire`)
    /// while a writer holds or waits for the lock.
    #[track_caller]
    pub fn rlock(&self) {
        preempt_point();
        step();
        if self.reader_count.fetch_add(1, Ordering::SeqCst) + 1 < 0 {
            // A writer is pending, wait for it.
            runtime_semacquire_mutex(&self.reader_sem, false, 0);
            keep_frame();
        }
        crate::race::sync(
            crate::race::SyncOp::Acquire,
            &self.reader_sem as *const _ as usize,
        );
        crate::race::lock_held(self as *const RWMutex as usize, &self.race_objs(), true);
    }

    /// The race detector's view of a write lock just taken (Go's
    /// `race.Acquire` of both semaphores after `Lock`).
    #[track_caller]
    fn race_write_locked(&self) {
        crate::race::sync(
            crate::race::SyncOp::Acquire,
            &self.reader_sem as *const _ as usize,
        );
        crate::race::sync(
            crate::race::SyncOp::Acquire,
            &self.writer_sem as *const _ as usize,
        );
        crate::race::lock_held(self as *const RWMutex as usize, &self.race_objs(), true);
    }

    /// The addresses the race detector's edges through this RWMutex use.
    fn race_objs(&self) -> [usize; 2] {
        [
            &self.reader_sem as *const _ as usize,
            &self.writer_sem as *const _ as usize,
        ]
    }

    /// Go's `TryRLock`: locks for reading if no writer holds or waits for
    /// the lock; reports whether it did.
    pub fn try_rlock(&self) -> bool {
        preempt_point();
        loop {
            step();
            let c = self.reader_count.load(Ordering::SeqCst);
            if c < 0 {
                return false;
            }
            step();
            if self
                .reader_count
                .compare_exchange(c, c + 1, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                crate::race::sync(
                    crate::race::SyncOp::Acquire,
                    &self.reader_sem as *const _ as usize,
                );
                crate::race::lock_held(self as *const RWMutex as usize, &self.race_objs(), true);
                return true;
            }
        }
    }

    /// Go's `RUnlock`: undoes one `rlock`. Without a read lock held it is
    /// `fatal error: sync: RUnlock of unlocked RWMutex`.
    #[track_caller]
    pub fn runlock(&self) {
        preempt_point();
        crate::race::lock_held(self as *const RWMutex as usize, &self.race_objs(), false);
        crate::race::sync(
            crate::race::SyncOp::ReleaseMerge,
            &self.writer_sem as *const _ as usize,
        );
        step();
        let r = self
            .reader_count
            .fetch_sub(1, Ordering::SeqCst)
            .wrapping_sub(1);
        if r < 0 {
            // Outlined slow path to allow the fast path to be inlined.
            self.r_unlock_slow(r);
            keep_frame();
        }
    }

    #[inline(never)]
    #[track_caller]
    fn r_unlock_slow(&self, r: i32) {
        if r.wrapping_add(1) == 0 || r.wrapping_add(1) == -RWMUTEX_MAX_READERS {
            fatal("sync: RUnlock of unlocked RWMutex");
        }
        // A writer is pending.
        step();
        if self.reader_wait.fetch_sub(1, Ordering::SeqCst) - 1 == 0 {
            // The last reader unblocks the writer.
            runtime_semrelease(&self.writer_sem, false, 1);
            keep_frame();
        }
    }

    /// Go's `Lock`: locks for writing, blocking (reason `semacquire`)
    /// until no reader or writer holds the lock.
    #[track_caller]
    pub fn lock(&self) {
        rw_lock!(self)
    }

    /// Go's `TryLock`: locks for writing if nobody holds the lock for
    /// reading or writing; reports whether it did.
    pub fn try_lock(&self) -> bool {
        preempt_point();
        let off = crate::race::RuntimeGuard::ignore_sync();
        if !self.w.try_lock() {
            return false;
        }
        step();
        if self
            .reader_count
            .compare_exchange(0, -RWMUTEX_MAX_READERS, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            self.w.unlock();
            return false;
        }
        drop(off);
        self.race_write_locked();
        true
    }

    /// Go's `Unlock`: unlocks for writing. Without the write lock held it
    /// is `fatal error: sync: Unlock of unlocked RWMutex`.
    #[track_caller]
    pub fn unlock(&self) {
        rw_unlock!(self)
    }

    /// Go's `RLocker`: a `Locker` whose `lock`/`unlock` are this mutex's
    /// `rlock`/`runlock`.
    pub fn rlocker(&self) -> &RLocker {
        // SAFETY: RLocker is a repr(transparent) wrapper of RWMutex, so
        // the pointer cast keeps layout and validity; the borrow's lifetime
        // is carried over unchanged.
        unsafe { &*(self as *const RWMutex as *const RLocker) }
    }

    /// The raw reader count (negative while a writer holds or waits), for
    /// tests and diagnostics.
    #[doc(hidden)]
    pub fn reader_count(&self) -> i32 {
        self.reader_count.load(Ordering::SeqCst)
    }
}

impl Locker for RWMutex {
    #[track_caller]
    fn lock(&self) {
        rw_lock!(self)
    }

    #[track_caller]
    fn unlock(&self) {
        rw_unlock!(self)
    }
}

/// Go's `rlocker`: an `RWMutex` seen as a `Locker` for reading (from
/// `RWMutex::rlocker`).
#[repr(transparent)]
#[derive(Debug)]
pub struct RLocker(RWMutex);

impl Locker for RLocker {
    #[track_caller]
    fn lock(&self) {
        self.0.rlock();
        keep_frame();
    }

    #[track_caller]
    fn unlock(&self) {
        self.0.runlock();
        keep_frame();
    }
}
