//! The runtime functions the `sync` package calls (Go's `sync/runtime.go`,
//! whose bodies Go's runtime provides through `go:linkname`:
//! `sync.runtime_Semacquire` is `runtime.sync_runtime_Semacquire`).
//!
//! They live in this module, not in `sema.rs`, for goroutine dumps: frames
//! under `sync/` are the `sync` package and are printed, the runtime's are
//! hidden, so a goroutine blocked in `Mutex::lock` shows
//! `runtime_semacquire_mutex`, `lock_slow`, `lock` where Go shows
//! `sync.runtime_SemacquireMutex`, `sync.(*Mutex).lockSlow`,
//! `sync.(*Mutex).Lock`. Each is `#[inline(never)]` so the frame exists in
//! every build, and `#[track_caller]` where it parks, so the park location
//! recorded for the goroutine is the scenario's line.
//!
//! Spinning (`runtime_can_spin`, `runtime_do_spin`): Go's rules. A mutex
//! spins at most `ACTIVE_SPIN` = 4 times, only on a multicore machine, only
//! if GOMAXPROCS > 1, some other P is running (GOMAXPROCS > idle Ps +
//! spinning Ms + 1), and the caller's local run queue is empty. One spin is
//! `ACTIVE_SPIN_CNT` = 30 pause instructions (Go's `procyield(30)`). In
//! deterministic mode the machine is taken to have as many CPUs as Ps (the
//! host's CPU count would make a replay depend on the machine), and each
//! spin is also one `step()`, so the P holding the mutex can take steps
//! (and unlock it) while another P spins.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::keep_frame;
use crate::g::WaitReason;
use crate::sema::{self, NotifyList, Sema};

/// Go's `active_spin`: spin iterations of a `sync.Mutex` before queueing.
pub(crate) const ACTIVE_SPIN: i32 = 4;
/// Go's `active_spin_cnt`: pause instructions per spin iteration.
pub(crate) const ACTIVE_SPIN_CNT: u32 = 30;

/// Go's `sync.runtime_Semacquire`: waits until `*s > 0` and then
/// atomically decrements it (reason `semacquire`). Used by `WaitGroup`.
#[inline(never)]
#[track_caller]
pub(crate) fn runtime_semacquire(s: &Sema) {
    sema::semacquire1(s, false, WaitReason::Semacquire);
    keep_frame();
}

/// Go's `sync.runtime_SemacquireMutex`: like `runtime_semacquire`, but for
/// mutexes: with `lifo`, the waiter queues at the front of the wait queue.
/// `skipframes` is Go's count of frames to omit from profiles (gort
/// records no profiles).
#[inline(never)]
#[track_caller]
pub(crate) fn runtime_semacquire_mutex(s: &Sema, lifo: bool, _skipframes: i32) {
    sema::semacquire1(s, lifo, WaitReason::Semacquire);
    keep_frame();
}

/// Go's `sync.runtime_Semrelease`: atomically increments `*s` and wakes a
/// waiting goroutine. With `handoff`, the count goes directly to the first
/// waiter, and the caller yields to it.
#[inline(never)]
pub(crate) fn runtime_semrelease(s: &Sema, handoff: bool, _skipframes: i32) {
    sema::semrelease1(s, handoff);
    keep_frame();
}

/// Go's `sync.runtime_notifyListAdd`: the waiter's ticket.
#[inline(never)]
pub(crate) fn runtime_notify_list_add(l: &NotifyList) -> u32 {
    sema::notify_list_add(l)
}

/// Go's `sync.runtime_notifyListWait`: parks (reason `sync.Cond.Wait`)
/// until ticket `t` is notified.
#[inline(never)]
#[track_caller]
pub(crate) fn runtime_notify_list_wait(l: &NotifyList, t: u32) {
    sema::notify_list_wait(l, t);
    keep_frame();
}

/// Go's `sync.runtime_notifyListNotifyAll`.
#[inline(never)]
pub(crate) fn runtime_notify_list_notify_all(l: &NotifyList) {
    sema::notify_list_notify_all(l);
    keep_frame();
}

/// Go's `sync.runtime_notifyListNotifyOne`.
#[inline(never)]
pub(crate) fn runtime_notify_list_notify_one(l: &NotifyList) {
    sema::notify_list_notify_one(l);
    keep_frame();
}

/// The host's CPU count (Go's `ncpu`), read once.
pub(crate) fn ncpu() -> usize {
    static NCPU: AtomicUsize = AtomicUsize::new(0);
    let n = NCPU.load(Ordering::Relaxed);
    if n != 0 {
        return n;
    }
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    NCPU.store(n, Ordering::Relaxed);
    n
}

/// Go's `sync.runtime_canSpin` (`sync_runtime_canSpin` in proc.go):
/// whether spinning for the `i`-th time makes sense.
#[inline(never)]
pub(crate) fn runtime_can_spin(i: i32) -> bool {
    // sync.Mutex is cooperative, so we are conservative with spinning.
    // Spin only few times and only if running on a multicore machine and
    // GOMAXPROCS>1 and there is at least one other running P and local
    // runq is empty. As opposed to the runtime's own mutex there is no
    // passive spinning here, because there can be work on the global runq
    // or on other Ps.
    let g = crate::proc::must_getg("runtime_can_spin");
    let sched = g.sched();
    if i >= ACTIVE_SPIN || (!g.det && ncpu() <= 1) {
        return false;
    }
    let busy = sched.npidle.load(Ordering::Relaxed) + sched.nmspinning.load(Ordering::Relaxed);
    if sched.gomaxprocs() <= busy + 1 {
        return false;
    }
    crate::sched::Sched::current_p(g).runq_empty_owner()
}

/// Go's `sync.runtime_doSpin`: one active spin, `procyield(30)`; in
/// deterministic mode also one step, so the other Ps progress.
#[inline(never)]
pub(crate) fn runtime_do_spin() {
    for _ in 0..ACTIVE_SPIN_CNT {
        std::hint::spin_loop();
    }
    crate::proc::step();
}

/// Go's `sync.runtime_nanotime`: the runtime's monotonic clock (virtual
/// in deterministic mode).
#[inline(never)]
pub(crate) fn runtime_nanotime() -> i64 {
    crate::proc::nanotime() as i64
}

/// Go's `sync.fatal` (`sync_fatal` in panic.go): an unrecoverable
/// `fatal error: msg` with every goroutine's traceback, exit status 2.
#[inline(never)]
#[track_caller]
pub(crate) fn fatal(msg: &'static str) -> ! {
    crate::proc::fatal(msg)
}

/// Go's `sync.throw`: a broken invariant of the `sync` package itself.
#[inline(never)]
#[track_caller]
pub(crate) fn throw(msg: &'static str) -> ! {
    crate::proc::fatal(msg)
}
