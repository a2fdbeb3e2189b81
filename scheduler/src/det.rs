//! Deterministic mode (`GODEBUG=simseed=N`): every P simulated on the one
//! thread that called `run`, every choice made by a seeded RNG.
//!
//! The driver loop plays the role of all Ms at once. Each iteration:
//! 1. runs the simulated sysmon when the virtual clock has passed its next
//!    tick (the same `retake` as parallel mode: a G that held its P for
//!    10 ms of virtual time is preempted; schedtrace prints on virtual time);
//! 2. collects the Ps that can take a step: those with a running G, those
//!    whose M is awake without a G (it runs Go's `findRunnable`: timers, the
//!    1-in-61 check, local, global, stealing; finding nothing, the P goes
//!    idle), idle Ps whose wake-up (below) is due, and idle Ps when a timer
//!    is due;
//! 3. picks one uniformly with the RNG and resumes its G with a step budget
//!    drawn from a geometric distribution (mean `simswitch`). The G runs
//!    until it yields (Gosched, park, exit) or its budget runs out at a
//!    `step()`; in the latter case it stays `_Grunning` on its P and another
//!    P may go next, so two goroutines "on two Ps" interleave at the
//!    granularity of steps, inside runtime operations too: that is real
//!    parallelism, as on Go at GOMAXPROCS >= 2;
//! 4. advances the virtual clock (below).
//!
//! Goroutines sharing a P switch only where Go switches them: when one
//! blocks, yields or exits, when sysmon's `retake` finds it ran 10 ms, when
//! a stop-the-world asks every P to stop. Go's asynchronous preemption never
//! stops a goroutine inside the runtime (`mapassign`, `mallocgc` hold no
//! async safepoint), and sysmon's requests are rare, so at GOMAXPROCS=1 a
//! goroutine that runs for microseconds is not interrupted. A request is
//! honoured at the goroutine's next safepoint, which may be the allocation
//! inside `mapassign`, as Go honours it in `mallocgc` (the chunked zeroing
//! of a large bucket array checks for it): a map writer whose slice ends
//! while it grows the map stops with `hashWriting` set, on Go as here.
//! `simpreempt=N`
//! (off by default) is an exploration knob on top: with probability 1/N a
//! switch also asks the running G to stop at its next safepoint, which
//! makes goroutines on one P interleave inside runtime operations, as Go
//! almost never does.
//!
//! ## Waking an idle P
//!
//! In Go, an idle P's M sleeps on a futex. Work for it appears with
//! `newproc` or `ready`, which call `wakep`: if some P is idle and no M is
//! spinning, it takes an idle P (`pidleget`), marks one M spinning and
//! `notewakeup`s it. That M has to be scheduled by the OS and run
//! `findRunnable`, which steals from the other Ps' run queues at once; a
//! running P's `runnext` only on the last of its four passes, and only
//! after the `usleep(3)` that `runqgrab` makes first (that P is likely to
//! run the G itself), taking it then if it is still there. Meanwhile the
//! waker's P goes on running.
//!
//! gort models both delays, measured against Go 1.19 on this machine:
//!
//! - the wake-up: `wakep` in this mode (Go's rule: an idle P, no P
//!   waking) takes an idle P off the idle list, counts it in `nmspinning`
//!   and requests a wake-up; the driver draws its latency (`WAKE_QUANTILES`,
//!   piecewise linear between the quantiles, counted from the start of
//!   the `go` statement that woke it, as measured) and sets the P's `wake_at`
//!   (Go's `notewakeup` landing). The P is not a candidate until the
//!   virtual clock reaches `wake_at`; then it runs `findRunnable`, and if
//!   it finds a G it stops spinning and calls `wakep` again (Go's
//!   `resetspinning`), else it goes back to the idle list. The quantiles
//!   are measured in fresh processes of the two-writer program's shape
//!   (`go a; go b; wg.Wait()` at GOMAXPROCS=2, `b` kept busy so that only
//!   the woken P can start `a`; `benches/go/first_wake.go`, 400
//!   processes): `a` began p1 10 us, p10 19 us, p50 40 us, p90 85 us
//!   after the first `go` statement began, its cold cost included. This
//!   is the wake-up of a program's start, when the other CPU has not been
//!   idle long.
//!   (`benches/go/wakeup.go` measures the same in a long-running process,
//!   whose other CPU has gone to sleep: p50 about 90 us on this guest.)
//! - the `usleep(3)`: a thief whose last pass finds a running P's runnext
//!   asks the driver to sleep (`P::runqsteal`); its P stays running and
//!   its M spinning, and is not a candidate until the sleep ends
//!   (`USLEEP3_QUANTILES`: 3 us asked, p50 80 us slept: the kernel's 50 us
//!   timer slack and the guest's timer); it then takes that G if it is
//!   still in runnext (Go's CAS). `benches/go/wakeup.go`'s runnext case
//!   (`go a` while main keeps running) measures the two together: p50
//!   74-77 us.
//!
//! A P whose M is already awake (running a G, or looking for one after
//! its G left) is unaffected; so are the timers (an idle P becomes a
//! candidate as soon as a timer is due, as the M sleeping in netpoll until
//! that timer would) and the start of a program (P0 runs main at once).
//! A stop-the-world cancels a pending wake-up or sleep (the P stops at
//! once).
//!
//! ## PCT (exploration)
//!
//! With `DetConfig::pct` (`gort explore --strategy pct --depth d`), the
//! driver does not pick uniformly: it runs PCT (Burckhardt, Kothari,
//! Musuvathi, Nagarakatte, "A Randomized Scheduler with Probabilistic
//! Guarantees of Finding Bugs", ASPLOS 2010). Every goroutine gets a
//! random priority above `d` when the driver first sees it; `d - 1`
//! change points are drawn uniformly among the run's expected `k` steps.
//! Each turn goes to a P looking for work if there is one (so that work
//! is picked up), else to the P whose goroutine has the highest priority,
//! which runs until it blocks or the next change point; at change point
//! `i` the running goroutine drops to priority `i`, below every other,
//! and is asked to stop at its next safepoint, so that another goroutine
//! of its P can run too. A bug that needs `d` ordering constraints among
//! `n` goroutines is then found in a run with probability at least
//! `1 / (n k^(d-1))`. This is not Go's timing: a goroutine runs alone
//! until it blocks, however long that is in Go. One turn in 64 goes to a
//! P chosen uniformly (`PCT_FAIR`): runtime goroutines that wait by
//! yielding would otherwise spin forever under strict priorities.
//!
//! ## The virtual clock
//!
//! Virtual time stands for Go's time on this machine, so that the 10 ms
//! slice, timers, the GC's modelled pauses and the wake-up latency weigh
//! against the program's work as on Go 1.19. A step costs `step_ns`
//! (default 1 ns: a map insert is about 50 steps against Go's 55 ns, a
//! `new` plus insert about 60 against 65 ns, a lookup about 11 against
//! 5 ns). Runtime operations that take few steps but much time in Go are
//! charged their Go cost: a `go` statement (`NEWPROC_NS`, Go about 100 ns,
//! plus `MALG_NS` when no dead G can be reused: 1.3 us in all in a fresh
//! Go process, and `FIRST_GO_NS` more for a program's first; with the
//! race detector, `RACE_GO_NS` more, and `RACE_GOEXIT_NS` at each
//! goroutine's end) and each goroutine switch (`SCHEDULE_NS`: Go runs 1,000 trivial
//! goroutines at GOMAXPROCS=1 in about 75 us), and the page faults of a
//! fresh process's first touch of each OS page of its heap (`PageTouch`,
//! charged by the heap at the access that touches the page: a read maps
//! the zero page, a write allocates one, and a write after a read needs a
//! TLB shootdown when another P runs a goroutine; so a map's first
//! insert, which reads its new bucket before writing it, takes 5 us
//! beside an idle P and about 15 beside a busy one, as in a fresh Go
//! process). The cost becomes a debt of
//! steps on the P that ran: when picked, the P pays it from its budget
//! before its goroutine goes on, so the other Ps progress meanwhile, as
//! Go's do while one P is in the scheduler. When k Ps took part in a
//! round, they ran side by side: the clock advances by the steps taken
//! divided by k (with the remainder carried), so each running P progresses
//! at one step per `step_ns`, as each of Go's Ps does in real time.
//!
//! When no P can run, the clock jumps to the next timer or wake-up; with
//! neither, it is Go's `checkdead`: `fatal error: all goroutines are
//! asleep - deadlock!`.
//!
//! Nothing here reads wall time, thread identity or addresses, so the same
//! seed gives the same interleaving, output and timestamps byte for byte.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::config::{DetConfig, Mode};
use crate::g::{G, G_RUNNING};
use crate::m::M;
use crate::p::{GPtr, P, P_GCSTOP, P_IDLE, P_RUNNING};
use crate::sched::{Exit, Next, Sched};
use crate::util::{Geometric, SimRng};

/// Virtual interval between simulated sysmon ticks.
const SYSMON_TICK_NS: u64 = 20_000;

/// Virtual cost of a `go` statement beyond its steps (Go 1.19 on this
/// machine: about 100 ns per `go` in a loop starting 1,000 goroutines that
/// reuse dead Gs).
pub(crate) const NEWPROC_NS: u64 = 100;
/// Extra cost of a `go` statement that finds no dead G to reuse (Go's
/// `malg`: a new G and its stack; the same loop in a fresh Go 1.19 process
/// took about 1.3 us per `go`). This is an average over the fresh stacks
/// (every other 2 KiB stack is the first touch of its page); the first
/// `go` of a program costs more (`FIRST_GO_NS`).
pub(crate) const MALG_NS: u64 = 1_200;
/// Extra cost of a program's first `go` statement: in fresh Go 1.19
/// processes on this guest (30 each, `go` timed in main, 2026-12-07) the
/// first took 6.1 us at GOMAXPROCS=1 and 5.9 us at 2, the next ones 0.3-
/// 0.5 us (p50 190 ns from the sixth on). Equal at 1 and 2 Ps, so it is
/// not `wakep`'s futex wake of the idle P but the first `go`'s cold path.
pub(crate) const FIRST_GO_NS: u64 = 4_700;
/// What a user `go` statement costs in Go 1.19's `-race` beyond its plain
/// cost (`racegostart`: TSan's `ThreadCreate` and `ThreadStart`, a fresh
/// thread state and trace part). Measured in fresh processes on this
/// guest (30 each, 2026-12-07): 1,000 `go` statements in a loop, each
/// timed, took 3.5 us more each at GOMAXPROCS=1 and 1.6 us at 2; the
/// §2.5 program's loop, untimed, 3.2 us a `go` at 2 Ps against 0.87 us
/// plain, the 2.3 us charged here. A program's first `go` took 8-22 us
/// against 6 us plain (`FIRST_RACE_GO_NS` more), its second 3-5 us
/// against 0.5.
pub(crate) const RACE_GO_NS: u64 = 2_300;
pub(crate) const FIRST_RACE_GO_NS: u64 = 13_000;
/// What a user goroutine's end costs in Go 1.19's `-race` (`racegoend`:
/// TSan's `ThreadFinish`, its trace part returned), charged to its P.
/// Measured in fresh processes on this guest (20 each, 2026-12-07):
/// 1,000 goroutines that each take a mutex, allocate and write a map ran
/// at GOMAXPROCS=1 in 2.6 us each with `-race` against 0.46 us plain; the
/// instrumented accesses and sync operations (charged where they happen)
/// account for part of the difference.
pub(crate) const RACE_GOEXIT_NS: u64 = 2_000;
/// Extra cost of a program's first park of a user goroutine: in fresh Go
/// 1.19 processes on this guest (`benches/go/first_go.go`, 300 plain and
/// 200 with `-race`, 2026-12-07), main's `wg.Wait` until the goroutine
/// in runnext ran took 3.0 us plain (p50; 3.9 on the day before) and
/// 24 us with `-race`, where a later switch takes well under 1 us: the
/// first `acquireSudog` allocates, and under `-race` TSan makes its first
/// sync objects.
pub(crate) const FIRST_PARK_NS: u64 = 3_000;
pub(crate) const FIRST_RACE_PARK_NS: u64 = 21_000;
/// Deterministic mode's cost of a page fault in a run of them on fresh
/// memory (the race detector's shadow of a new span: `gort_gc`): 1.6-
/// 1.7 us on this guest (a C loop touching fresh anonymous 4 KiB pages,
/// 2026-12-07). A lone fault of the heap costs more (`WRITE_FAULT_NS`).
pub const PAGE_FAULT_NS: u64 = 1_650;
/// A first read of a fresh page: the kernel maps its shared zero page
/// (Go 1.19 on this guest, `benches/go/page_faults.go`, 2026-12-07: a
/// read of a new span's first byte took 1.1 us more than no read, with
/// the other CPU idle, 1.4 us with it busy).
const READ_FAULT_NS: u64 = 1_100;
/// A first write to a fresh page, alone (the same measurement: 2.1 us
/// with the other CPU idle, 2.4 us with it busy; `PAGE_FAULT_NS`, from a
/// loop of faults on consecutive pages, is the cheaper sequential case).
const WRITE_FAULT_NS: u64 = 2_100;
/// The TLB shootdown of the first write to a page that a read mapped to
/// the zero page, when another CPU runs a thread of the process: the
/// kernel replaces a present PTE and must flush it on every CPU the
/// process is active on, an IPI that on this virtual machine costs two
/// exits and the other vCPU's reply. Quantiles in per mille and virtual
/// ns of that write's time beyond a plain first write (2.4 us), measured
/// with Go 1.19 (`benches/go/page_faults.go`, 400 fresh processes at
/// GOMAXPROCS=2 with the other P spinning, 2026-12-07): p50 14.8 us in
/// all, against 2.4 us with the other CPU idle, where no IPI is sent
/// (Linux skips CPUs in lazy TLB mode). A Go map's first insert reads
/// its new bucket's `tophash` before writing it, so this is what a
/// map's first insert costs beside a busy P (15-20 us, against 5 us
/// alone).
const TLB_SHOOTDOWN_QUANTILES: [(u64, u64); 10] = [
    (0, 0),
    (50, 400),
    (100, 2_200),
    (250, 10_100),
    (500, 12_400),
    (750, 16_000),
    (900, 19_400),
    (950, 26_200),
    (990, 39_000),
    (1000, 57_700),
];

/// How a goroutine first touched an OS page of its heap (`gort_gc`'s
/// arenas keep the state of each page).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageTouch {
    /// A read of a page never touched: mapped to the zero page.
    Read,
    /// A write to a page never touched: a fresh page.
    Write,
    /// A write to a page a read mapped to the zero page: a fresh page, and
    /// the old mapping flushed from every CPU running the process.
    WriteAfterRead,
}

/// The virtual cost of a first touch on P `pid` of `sched` (`u`: a
/// uniform draw, used only for a shootdown).
pub(crate) fn page_touch_ns(sched: &Sched, pid: usize, t: PageTouch, u: u64) -> u64 {
    match t {
        PageTouch::Read => READ_FAULT_NS,
        PageTouch::Write => WRITE_FAULT_NS,
        PageTouch::WriteAfterRead => {
            // Another CPU runs a thread of the process when another P
            // runs a goroutine; an idle P's M sleeps on its futex and its
            // CPU, idle, gets no IPI.
            let other_busy = sched
                .ps()
                .iter()
                .any(|p| p.id != pid && !p.curg.load(Ordering::Relaxed).is_null());
            WRITE_FAULT_NS
                + if other_busy {
                    draw_latency(&TLB_SHOOTDOWN_QUANTILES, u)
                } else {
                    0
                }
        }
    }
}
/// Virtual cost of a goroutine switch, charged when a G leaves its P
/// (exits, parks, yields): Go's goexit0 or park_m, schedule, execute and
/// gogo (Go 1.19 ran 1,000 goroutines that only call `wg.Done` in about
/// 75 us at GOMAXPROCS=1, a few steps of which gort counts).
const SCHEDULE_NS: u64 = 70;

/// `Sched::wake_at` of a P that is not being woken.
pub(crate) const NOT_WAKING: u64 = u64::MAX;
/// Flag on `Sched::wake_at`: a wake-up requested at the time in the other
/// bits, its latency not drawn yet (the driver owns the RNG).
pub(crate) const WAKE_PENDING: u64 = 1 << 63;

/// The wake-up latency of an idle P (module comment): quantiles in per
/// mille and virtual ns, counted from the start of the `go` statement
/// that wakes it. Measured against Go 1.19 on this guest
/// (`benches/go/first_wake.go`, 400 fresh processes, 2026-12-07): the
/// idle P started the goroutine p1 10 us, p10 19 us, p50 40 us, p90 85
/// us after that statement began. In 3% of the processes it had not
/// started it after 300 us, when the busy P took it; the tail beyond
/// p97 is not measured.
const WAKE_QUANTILES: [(u64, u64); 12] = [
    (0, 8_700),
    (10, 10_000),
    (50, 15_000),
    (100, 19_000),
    (250, 26_300),
    (500, 39_600),
    (750, 53_800),
    (900, 84_500),
    (950, 97_300),
    (970, 300_000),
    (990, 350_000),
    (1000, 400_000),
];

/// How long Go's `usleep(3)` in `runqgrab` sleeps (module comment), in
/// the same form: a nanosleep of 3 us ends when the kernel's timer slack
/// (50 us by default) and the guest's timer let it.
const USLEEP3_QUANTILES: [(u64, u64); 6] = [
    (0, 23_000),
    (100, 72_500),
    (500, 80_000),
    (900, 88_000),
    (990, 107_000),
    (1000, 216_000),
];

/// One draw from a latency distribution given by its quantiles, for the
/// uniform draw `u`, interpolated linearly between them in integer
/// arithmetic (a seed replays on every machine).
fn draw_latency(quantiles: &[(u64, u64)], u: u64) -> u64 {
    // u / 2^64 as a per-mille position, scaled by 2^64.
    let pos = u as u128 * 1000;
    for w in quantiles.windows(2) {
        let ((q0, v0), (q1, v1)) = (w[0], w[1]);
        let (lo, hi) = ((q0 as u128) << 64, (q1 as u128) << 64);
        if pos < hi {
            return v0 + ((v1 - v0) as u128 * (pos - lo) / (hi - lo)) as u64;
        }
    }
    quantiles[quantiles.len() - 1].1
}

fn wake_latency(u: u64) -> u64 {
    draw_latency(&WAKE_QUANTILES, u)
}

fn usleep3_latency(u: u64) -> u64 {
    draw_latency(&USLEEP3_QUANTILES, u)
}

/// Go's `wakep` in this mode (module comment): called by `newproc`,
/// `ready` and `start_the_world` on a goroutine, and by the driver when a
/// woken P found work (`resetspinning`). The wake-up's latency counts
/// from `since`: the start of the `go` statement that calls it (the
/// latency was measured from there, the statement's own cost included),
/// else now.
pub(crate) fn wakep(sched: &Sched, since: Option<u64>) {
    if sched.npidle.load(Ordering::Relaxed) == 0 || sched.nmspinning.load(Ordering::Relaxed) != 0 {
        return;
    }
    let p = {
        let mut idle = sched.lock.lock().unwrap();
        match sched.pidleget(&mut idle) {
            Some(p) => p,
            None => return,
        }
    };
    sched.nmspinning.fetch_add(1, Ordering::SeqCst);
    set_spinning(p, true);
    let now = sched.vclock.load(Ordering::Relaxed);
    let from = since.map_or(now, |t| t.min(now));
    sched.wake_at[p.id].store(from | WAKE_PENDING, Ordering::Relaxed);
    sched.wake_new.store(true, Ordering::Relaxed);
}

/// The woken P's M is spinning while it wakes and looks for work, as
/// `scheddetail` shows Go's.
fn set_spinning(p: &P, on: bool) {
    // SAFETY: in this mode every live P has its M for life (allm owns it).
    if let Some(m) = unsafe { p.m.load(Ordering::Relaxed).as_ref() } {
        m.spinning.store(on, Ordering::Relaxed);
    }
}

/// Ends `p`'s wake-up (it found work, found none, or was stopped): its M
/// is no longer spinning.
fn end_wake(sched: &Sched, p: &P) -> bool {
    if sched.wake_at[p.id].load(Ordering::Relaxed) == NOT_WAKING {
        return false;
    }
    sched.wake_at[p.id].store(NOT_WAKING, Ordering::Relaxed);
    sched.nmspinning.fetch_sub(1, Ordering::SeqCst);
    set_spinning(p, false);
    true
}

pub(crate) fn run(sched: &Arc<Sched>) -> Exit {
    crate::signal::ensure_altstack();
    let dc: DetConfig = match &sched.cfg.mode {
        Mode::Deterministic(d) => d.clone(),
        Mode::Parallel => unreachable!("det::run in parallel mode"),
    };
    let mut rng = SimRng::new(dc.seed);
    let runlen = Geometric::new(dc.switch_every);
    let trace_ns = sched.cfg.schedtrace_ms * 1_000_000;
    let mut next_sysmon = 0u64;
    let mut lasttrace = 0u64;
    let mut traced = false;
    // Virtual ns not yet added to the clock: the remainder of dividing a
    // round's time among the Ps that took part in it.
    let mut carry = 0u64;
    // Per P, steps of runtime work (a `go` statement, a goroutine switch)
    // that Go spends in the scheduler but gort's code does in a few steps:
    // the P pays them before its G goes on, while the other Ps run.
    let mut debt = vec![0u64; sched.allp.len()];
    let mut cands: Vec<usize> = Vec::with_capacity(sched.gomaxprocs());
    // Per P, the virtual time its M's `usleep(3)` in `runqgrab` ends.
    let mut sleep_until = vec![0u64; sched.allp.len()];
    let mut total_steps = 0u64;
    let mut pct = dc.pct.map(|c| PctState::new(c, &mut rng));
    loop {
        if sched.is_done() {
            break;
        }
        let now = sched.vclock.load(Ordering::Relaxed);
        if now >= next_sysmon {
            sched.retake(now);
            sched.sysmon_forcegc(now);
            next_sysmon = now + SYSMON_TICK_NS;
            if trace_ns > 0 && (!traced || lasttrace + trace_ns <= now) {
                traced = true;
                lasttrace = now;
                crate::schedtrace::schedtrace(sched, now, sched.cfg.scheddetail);
            }
        }
        if sched.gcwaiting.load(Ordering::SeqCst) {
            stop_idle_ps(sched);
        }
        if sched.wake_new.load(Ordering::Relaxed) {
            sched.wake_new.store(false, Ordering::Relaxed);
            for p in sched.ps().iter() {
                let w = sched.wake_at[p.id].load(Ordering::Relaxed);
                if w != NOT_WAKING && w & WAKE_PENDING != 0 {
                    let at = (w & !WAKE_PENDING) + wake_latency(rng.next_u64());
                    sched.wake_at[p.id].store(at, Ordering::Relaxed);
                }
            }
        }
        cands.clear();
        let mut next_wake = u64::MAX;
        // Whether a timer is due: checked only when some P is idle.
        let mut timer_due = None;
        let stw = sched.gcwaiting.load(Ordering::Relaxed);
        for p in sched.ps().iter() {
            if !p.curg.load(Ordering::Relaxed).is_null() {
                cands.push(p.id);
                continue;
            }
            let st = p.status();
            if stw || st == P_GCSTOP {
                continue;
            }
            if st == P_RUNNING {
                // Its M is awake: it looks for work now, unless it sleeps
                // before taking a running P's runnext.
                if sleep_until[p.id] > now && !p.runnext_slept.load(Ordering::Relaxed).is_null() {
                    next_wake = next_wake.min(sleep_until[p.id]);
                } else {
                    cands.push(p.id);
                }
                continue;
            }
            let w = sched.wake_at[p.id].load(Ordering::Relaxed);
            if w != NOT_WAKING {
                if w <= now {
                    cands.push(p.id);
                } else {
                    next_wake = next_wake.min(w);
                }
            } else if *timer_due.get_or_insert_with(|| sched.next_timer() <= now) {
                cands.push(p.id);
            }
        }
        if cands.is_empty() {
            let next = sched
                .next_timer()
                .min(next_wake)
                .min(sched.forcegc_deadline());
            if next != u64::MAX {
                sched.vclock.store(next.max(now), Ordering::Relaxed);
                continue;
            }
            if work_anywhere(sched, now) {
                // Work that nobody woke a P for: start an M for it at once,
                // as Go's sysmon or the last spinning M would.
                let p = sched.pidleget(&mut sched.lock.lock().unwrap());
                if let Some(p) = p {
                    sched.nmspinning.fetch_add(1, Ordering::SeqCst);
                    set_spinning(p, true);
                    sched.wake_at[p.id].store(now, Ordering::Relaxed);
                    continue;
                }
            }
            report_deadlock(sched);
            break;
        }
        let k = cands.len() as u64;
        let p = match &mut pct {
            Some(st) => &sched.allp[st.pick(sched, &cands, &mut rng)],
            None => &sched.allp[cands[rng.below(k) as usize]],
        };
        // Each simulated P keeps its own M for life (allm owns it).
        // SAFETY: p.m is set when the P is first used and never cleared in
        // this mode; Ms live as long as the Sched.
        let m = unsafe { &*p.m.load(Ordering::Relaxed) };
        let budget = match &pct {
            Some(st) => st.budget(total_steps),
            None => runlen.sample(rng.next_u64()),
        };
        if debt[p.id] > 0 {
            let paid = debt[p.id].min(budget);
            debt[p.id] -= paid;
            advance(sched, now, &mut carry, paid * dc.step_ns, k);
            continue;
        }
        // SAFETY: curg is a G of this runtime.
        let cur = unsafe { p.curg.load(Ordering::Relaxed).as_ref() };
        let (g, next) = match cur {
            Some(g) => {
                if dc.preempt_every > 0 && rng.below(dc.preempt_every as u64) == 0 {
                    g.request_preempt();
                }
                arm(g, budget);
                let gp = GPtr::new(g);
                (g, sched.resume(gp))
            }
            None => match find_runnable(sched, m, p) {
                Some((gp, inherit)) => {
                    p.runnext_slept
                        .store(std::ptr::null_mut(), Ordering::Relaxed);
                    if end_wake(sched, p) {
                        // Go's resetspinning: the woken M found work; wake
                        // another P in case there is more.
                        wakep(sched, None);
                    }
                    let g = gp.get();
                    arm(g, budget);
                    (g, sched.execute(m, p, gp, inherit))
                }
                None if p.runnext_sleep_req.swap(false, Ordering::Relaxed) => {
                    // Go's `usleep(3)` before stealing a running P's
                    // runnext: the M stays spinning, its P running.
                    sleep_until[p.id] = now + usleep3_latency(rng.next_u64());
                    continue;
                }
                None => {
                    p.runnext_slept
                        .store(std::ptr::null_mut(), Ordering::Relaxed);
                    end_wake(sched, p);
                    make_idle(sched, p);
                    continue;
                }
            },
        };
        let steps = g.steps.get().max(1);
        total_steps += steps;
        if let Some(st) = &mut pct {
            st.after(g, total_steps);
        }
        // A plain load and store: one thread owns the charge in this mode,
        // and a swap would cost a locked instruction per switch.
        let mut owed = sched.det_charge_ns.load(Ordering::Relaxed);
        if owed > 0 {
            sched.det_charge_ns.store(0, Ordering::Relaxed);
        }
        if matches!(next, Next::Find) {
            // The G left the P: Go's goexit0/park_m, schedule and execute.
            owed += SCHEDULE_NS;
        }
        if owed > 0 {
            // The P that ran is the one that owes it (a G that moved to
            // another P did so in a stop-the-world, which owes nothing).
            debt[p.id] += owed.div_ceil(dc.step_ns.max(1));
        }
        // The k candidate Ps ran side by side: the clock moves by this
        // P's share.
        advance(sched, now, &mut carry, steps * dc.step_ns, k);
        // A G that left its P leaves the P running and empty: it looks for
        // work on its next turn, or goes idle. (`Next::Run` is a parallel-
        // mode shortcut and never comes back here.)
        debug_assert!(!matches!(next, Next::Run(..)));
    }
    let mut exit = sched.take_exit().unwrap_or(Exit {
        status: 0,
        report: String::new(),
        steps: 0,
    });
    exit.steps = total_steps;
    exit
}

/// One PCT turn in this many goes to a uniformly chosen P. Strict
/// priorities starve every other P, and Go's runtime has goroutines that
/// wait by yielding for another's progress (a collection's start, an
/// assist's wait for the workers' credit): starved, they spin forever.
/// PCT's guarantee assumes no such waits; the rare fair turn keeps them
/// finite at a small cost to it.
const PCT_FAIR: u64 = 64;

/// PCT's state in a run (module comment, "PCT").
struct PctState {
    depth: u64,
    /// The change points, in steps, ascending; `next` is the first not
    /// passed.
    change_at: Vec<u64>,
    next: usize,
    /// Goroutine priorities by goid (higher runs first).
    prio: std::collections::HashMap<u64, u64>,
}

impl PctState {
    fn new(c: crate::config::Pct, rng: &mut SimRng) -> PctState {
        let depth = c.depth.max(1) as u64;
        let mut change_at: Vec<u64> = (1..depth).map(|_| 1 + rng.below(c.steps.max(1))).collect();
        change_at.sort_unstable();
        PctState {
            depth,
            change_at,
            next: 0,
            prio: std::collections::HashMap::new(),
        }
    }

    fn prio_of(&mut self, g: &G, rng: &mut SimRng) -> u64 {
        let d = self.depth;
        *self
            .prio
            .entry(g.goid())
            .or_insert_with(|| d + 1 + (rng.next_u64() >> 2))
    }

    /// A P looking for work first; else the highest-priority goroutine's,
    /// except one turn in `PCT_FAIR` picked uniformly.
    fn pick(&mut self, sched: &Sched, cands: &[usize], rng: &mut SimRng) -> usize {
        if rng.below(PCT_FAIR) == 0 {
            return cands[rng.below(cands.len() as u64) as usize];
        }
        let mut best = None;
        for &id in cands {
            // SAFETY: curg is a G of this runtime.
            match unsafe { sched.allp[id].curg.load(Ordering::Relaxed).as_ref() } {
                None => return id,
                Some(g) => {
                    let pr = self.prio_of(g, rng);
                    if best.is_none_or(|(b, _)| pr > b) {
                        best = Some((pr, id));
                    }
                }
            }
        }
        best.expect("a candidate").1
    }

    /// Steps until the next change point (at least one).
    fn budget(&self, done: u64) -> u64 {
        match self.change_at.get(self.next) {
            Some(&at) => at.saturating_sub(done).max(1),
            None => 1 << 20,
        }
    }

    /// After `g` ran to `done` steps: at a change point it drops below
    /// every other goroutine and is asked to stop at its next safepoint.
    fn after(&mut self, g: &G, done: u64) {
        let mut lowered = false;
        while self.change_at.get(self.next).is_some_and(|&at| done >= at) {
            self.next += 1;
            self.prio.insert(g.goid(), self.next as u64);
            lowered = true;
        }
        if lowered && g.status() == G_RUNNING {
            g.request_preempt();
        }
    }
}

/// Moves the clock by `ns` of one P's work shared among the `k` Ps that
/// ran side by side, carrying the remainder. One thread owns the clock in
/// this mode: no read-modify-write. (A goroutine may have moved it itself,
/// hence the max: a collection's modelled pause.)
#[inline]
fn advance(sched: &Sched, now: u64, carry: &mut u64, ns: u64, k: u64) {
    *carry += ns;
    // Most runs have 1, 2 or 4 Ps: shifts instead of a division there.
    let (q, r) = if k.is_power_of_two() {
        (*carry >> k.trailing_zeros(), *carry & (k - 1))
    } else {
        (*carry / k, *carry % k)
    };
    *carry = r;
    let cur = sched.vclock.load(Ordering::Relaxed).max(now);
    sched.vclock.store(cur + q, Ordering::Relaxed);
}

fn arm(g: &G, budget: u64) {
    g.budget.set(budget);
    g.steps.set(0);
}

/// Whether some idle P could find a G: queued work or a due timer.
fn work_anywhere(sched: &Sched, now: u64) -> bool {
    // The driver thread owns every P in this mode, so the fence-free owner
    // check is exact.
    !sched.runq.is_empty()
        || sched.ps().iter().any(|p| !p.runq_empty_owner())
        || sched.next_timer() <= now
}

/// `findRunnable` for a simulated M whose P has no G: local work first,
/// then stealing (with every other P's due timers on the last pass).
fn find_runnable(sched: &Sched, m: &M, p: &P) -> Option<(GPtr, bool)> {
    take_from_idle(sched, p);
    if let Some(x) = sched.find_runnable_local(p) {
        return Some(x);
    }
    sched.steal_work(m, p).map(|g| (g, false))
}

fn take_from_idle(sched: &Sched, p: &P) {
    if p.status() == P_IDLE {
        let mut idle = sched.lock.lock().unwrap();
        if let Some(i) = idle.pidle.iter().position(|&id| id == p.id) {
            idle.pidle.swap_remove(i);
            sched.npidle.fetch_sub(1, Ordering::SeqCst);
        }
        sched.set_p_status(p, P_RUNNING);
    }
}

fn make_idle(sched: &Sched, p: &P) {
    if p.status() == P_RUNNING {
        let mut idle = sched.lock.lock().unwrap();
        idle.pidle.push(p.id);
        sched.npidle.fetch_add(1, Ordering::SeqCst);
        sched.set_p_status(p, P_IDLE);
    }
}

/// During a stop-the-world, every P without a running G stops at once
/// (Go's STW takes idle Ps off the idle list; an M that finds gcwaiting
/// in `findRunnable` stops its P).
fn stop_idle_ps(sched: &Sched) {
    for p in sched.ps().iter() {
        if p.status() == P_GCSTOP || !p.curg.load(Ordering::Relaxed).is_null() {
            continue;
        }
        if p.status() == P_IDLE {
            let mut idle = sched.lock.lock().unwrap();
            if let Some(i) = idle.pidle.iter().position(|&id| id == p.id) {
                idle.pidle.swap_remove(i);
                sched.npidle.fetch_sub(1, Ordering::SeqCst);
            }
        }
        end_wake(sched, p);
        p.runnext_slept
            .store(std::ptr::null_mut(), Ordering::Relaxed);
        sched.set_p_status(p, P_GCSTOP);
        sched.stopwait.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Go's `checkdead` verdict: nothing can ever run again.
pub(crate) fn report_deadlock(sched: &Sched) {
    if sched.ngoroutines.load(Ordering::SeqCst) <= 0 {
        sched.throw("no goroutines (main called runtime.Goexit) - deadlock!");
    } else {
        sched.throw("all goroutines are asleep - deadlock!");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wake_latency_follows_the_measured_quantiles() {
        // At the knots the draw is the measured value; between them it is
        // monotone.
        for (q, v) in WAKE_QUANTILES {
            let u = ((q as u128) << 64) / 1000;
            let u = u.min(u64::MAX as u128) as u64;
            let got = wake_latency(u);
            assert!(got.abs_diff(v) <= 1, "p{q}: {got} ns, want {v}");
        }
        let mut prev = 0;
        for i in 0..=1000u64 {
            let x = wake_latency(i.wrapping_mul(u64::MAX / 1000));
            assert!(x >= prev);
            prev = x;
        }
        // A sample's median and p90 are the measured ones.
        let mut rng = SimRng::new(3);
        let mut s: Vec<u64> = (0..20_000).map(|_| wake_latency(rng.next_u64())).collect();
        s.sort_unstable();
        let (p50, p90) = (s[10_000], s[18_000]);
        assert!((38_000..41_500).contains(&p50), "p50 {p50}");
        assert!((81_000..88_000).contains(&p90), "p90 {p90}");
        let mut s: Vec<u64> = (0..20_000)
            .map(|_| usleep3_latency(rng.next_u64()))
            .collect();
        s.sort_unstable();
        let p50 = s[10_000];
        assert!((78_000..82_000).contains(&p50), "usleep p50 {p50}");
    }
}
