//! The scheduler state shared by both execution modes (Go's `schedt` and
//! the mode-independent half of proc.go).
//!
//! A `Sched` is one runtime: its Ps, Ms and Gs, the global run queue
//! (`globrunq.rs`), the idle-P and idle-M lists, the goroutine-id
//! generator, the stop-the-world state and the exit status. Everything here
//! is the same algorithm in parallel and deterministic mode; only who drives
//! the Ms differs (`parallel.rs`: OS threads, `det.rs`: one thread and a
//! seeded RNG).
//!
//! The core loop of an M is Go's: `find_runnable` picks a G (timers first,
//! the 1-in-61 global check, runnext and the local ring, the global queue,
//! then stealing), `execute` resumes its coroutine, and the coroutine comes
//! back with a `Yield` saying why it stopped (Go's `mcall` to `gosched_m`,
//! `gopreempt_m`, `park_m`) or returns (`goexit0`). A panic is caught at
//! the coroutine boundary, on the goroutine's own stack, and comes back as
//! the coroutine's result; the M turns it into Go's `panic:` report with
//! exit status 2.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use corosensei::CoroutineResult;

use crate::config::{Mode, SchedConfig};
use crate::g::*;
use crate::globrunq::GlobRunq;
use crate::m::{Note, M};
use crate::p::{GPtr, Timer, P, P_IDLE, P_RUNNING};
use crate::stack::CoStack;
use crate::trace::{BlockReason, TraceEvent};
use crate::util::RandomOrder;

/// How many Ps a runtime can grow to with `set_gomaxprocs` (or its initial
/// GOMAXPROCS, if larger). Go has no such bound; gort allocates every P up
/// front so Ps never move.
pub const MAXPROCS_CAP: usize = 256;

/// Goroutine ids are handed to each P in batches, as in Go
/// (`_GoidCacheBatch`), so ids are not dense across Ps.
const GOID_CACHE_BATCH: u64 = 16;
/// Ids 2..=4 belong to Go's runtime goroutines (forcegc, bgsweep,
/// bgscavenge); gort keeps them free so the first user goroutine is 5, as in
/// a Go 1.19 program at GOMAXPROCS=1.
const FIRST_USER_GOID: u64 = 5;

/// What an M does after a G stopped running.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Next {
    /// Look for work (`findRunnable`).
    Find,
    /// Keep resuming this G: it is still `_Grunning` here (deterministic
    /// mode's step switch, or an `unlockf` that cancelled a park).
    Keep(GPtr),
    /// Execute this runnable G, already taken from a run queue by a fused
    /// path that checked what `findRunnable` would check first; `true`:
    /// it came from `runnext` and inherits the time slice.
    Run(GPtr, bool),
}

/// How a runtime ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exit {
    /// The process exit status Go would have: 0 when main returns, 2 for
    /// a panic or a fatal error.
    pub status: i32,
    /// The report printed on stderr (empty for a normal exit).
    pub report: String,
    /// Deterministic mode: the scheduler steps the run took, every P's
    /// (0 in parallel mode, which does not count them).
    pub steps: u64,
}

/// State protected by the scheduler lock (Go's `sched.lock`).
pub(crate) struct Idle {
    pub pidle: Vec<usize>,
    pub midle: Vec<Arc<M>>,
}

pub struct Sched {
    /// This runtime among all runtimes of the process (never reused, unlike
    /// its address): Gs record it (`G::rt`) so a waiter left in a queue by
    /// an earlier run is recognised.
    pub(crate) serial: u64,
    pub cfg: SchedConfig,
    pub(crate) det: bool,
    /// Every P this runtime can have; the first `nprocs` are live (Go's
    /// `allp[:gomaxprocs]`), the rest `_Pdead`.
    pub(crate) allp: Box<[P]>,
    pub(crate) nprocs: AtomicUsize,
    pub(crate) allm: Mutex<Vec<Arc<M>>>,
    pub(crate) allgs: Mutex<Vec<GPtr>>,
    pub(crate) runq: GlobRunq,
    pub(crate) gfree: Mutex<Vec<GPtr>>,
    goidgen: AtomicU64,
    goidcache: Box<[(AtomicU64, AtomicU64)]>,
    pub(crate) lock: Mutex<Idle>,
    pub(crate) npidle: AtomicUsize,
    pub(crate) nmspinning: AtomicUsize,
    pub(crate) nmidle: AtomicUsize,
    pub(crate) gcwaiting: AtomicBool,
    pub(crate) stopwait: AtomicI64,
    pub(crate) stopnote: Note,
    pub(crate) stw_busy: AtomicBool,
    /// The G that stopped the world, while it is stopped.
    pub(crate) stw_owner: std::sync::atomic::AtomicPtr<G>,
    /// Why the world is (or was last) stopped, as Go records it for traces.
    pub(crate) stw_reason: Mutex<&'static str>,
    exit: Mutex<Option<Exit>>,
    pub(crate) done: AtomicBool,
    pub(crate) exit_note: Note,
    start: Instant,
    /// Deterministic mode's virtual clock, in ns.
    pub(crate) vclock: AtomicU64,
    /// Deterministic mode: per P, when its woken M starts looking for work
    /// (`det::NOT_WAKING`, or a request flagged `det::WAKE_PENDING`).
    pub(crate) wake_at: Box<[AtomicU64]>,
    /// Deterministic mode: some `wake_at` holds a pending request.
    pub(crate) wake_new: AtomicBool,
    /// Deterministic mode: virtual ns that the running goroutine's runtime
    /// calls cost beyond their steps (`det::NEWPROC_NS`), added to the
    /// clock by the driver when the goroutine yields.
    pub(crate) det_charge_ns: AtomicU64,
    /// No user goroutine has started another yet: the first `go`
    /// statement of a program pays `det::FIRST_GO_NS` in deterministic
    /// mode.
    first_go: AtomicBool,
    /// No user goroutine has parked yet: the first park pays
    /// `det::FIRST_PARK_NS` in deterministic mode.
    first_park: AtomicBool,
    /// Go's `forcegc` (`forcegc.rs`).
    pub(crate) forcegc: crate::forcegc::ForceGc,
    timer_seq: AtomicU64,
    /// Live (not dead) goroutines, for checkdead.
    pub(crate) ngoroutines: AtomicI64,
    pub(crate) threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    pub(crate) sysmonnote: Note,
    /// When sysmon plans to wake next (ns); an earlier new timer wakes it.
    pub(crate) sysmon_wake_at: AtomicU64,
    weak: std::sync::Weak<Sched>,
    /// State of the layers above the scheduler (the heap), one typed slot
    /// per layer (`ext`), created on first use and dropped with the runtime.
    pub(crate) ext: crate::ext::LayerSlots,
    /// The race detector's hooks, when it is on (`race.rs`).
    pub(crate) race: Option<Arc<dyn crate::race::RaceHooks>>,
}

// SAFETY: all shared state is atomic or behind a Mutex; the global queue
// and Ps are Sync (see p.rs); raw G pointers inside follow the G ownership
// protocol documented in g.rs.
unsafe impl Sync for Sched {}
// SAFETY: as above.
unsafe impl Send for Sched {}

impl Drop for Sched {
    fn drop(&mut self) {
        if self.race.is_some() {
            crate::race::RACE_ON.fetch_sub(1, Ordering::SeqCst);
        }
        if self.cfg.explain.is_some() {
            crate::explain::RECORDING.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Sched {
    pub(crate) fn new(cfg: SchedConfig) -> Arc<Sched> {
        static SERIAL: AtomicU64 = AtomicU64::new(1);
        let n = cfg.gomaxprocs.max(1);
        let det = matches!(cfg.mode, Mode::Deterministic(_));
        // Ps beyond GOMAXPROCS exist from the start (dead) so that a P's
        // address never changes: Ms and Gs point at their P.
        let cap = n.max(MAXPROCS_CAP);
        let allp: Box<[P]> = (0..cap).map(P::new).collect();
        for p in allp.iter().skip(n) {
            p.set_status(crate::p::P_DEAD);
        }
        let goidcache = (0..cap)
            .map(|_| (AtomicU64::new(0), AtomicU64::new(0)))
            .collect();
        let race = cfg.race.as_ref().map(|r| r.0.clone());
        if race.is_some() {
            crate::race::RACE_ON.fetch_add(1, Ordering::SeqCst);
        }
        if cfg.explain.is_some() {
            crate::explain::RECORDING.fetch_add(1, Ordering::SeqCst);
        }
        Arc::new_cyclic(|weak| Sched {
            race,
            serial: SERIAL.fetch_add(1, Ordering::Relaxed),
            cfg,
            det,
            allp,
            nprocs: AtomicUsize::new(n),
            allm: Mutex::new(Vec::new()),
            allgs: Mutex::new(Vec::new()),
            runq: GlobRunq::new(),
            gfree: Mutex::new(Vec::new()),
            goidgen: AtomicU64::new(0),
            goidcache,
            lock: Mutex::new(Idle {
                pidle: Vec::new(),
                midle: Vec::new(),
            }),
            npidle: AtomicUsize::new(0),
            nmspinning: AtomicUsize::new(0),
            nmidle: AtomicUsize::new(0),
            gcwaiting: AtomicBool::new(false),
            stopwait: AtomicI64::new(0),
            stopnote: Note::default(),
            stw_busy: AtomicBool::new(false),
            stw_owner: std::sync::atomic::AtomicPtr::new(std::ptr::null_mut()),
            stw_reason: Mutex::new(""),
            exit: Mutex::new(None),
            done: AtomicBool::new(false),
            exit_note: Note::default(),
            start: Instant::now(),
            vclock: AtomicU64::new(0),
            wake_at: (0..cap)
                .map(|_| AtomicU64::new(crate::det::NOT_WAKING))
                .collect(),
            wake_new: AtomicBool::new(false),
            det_charge_ns: AtomicU64::new(0),
            first_go: AtomicBool::new(true),
            first_park: AtomicBool::new(true),
            forcegc: Default::default(),
            timer_seq: AtomicU64::new(0),
            ngoroutines: AtomicI64::new(0),
            threads: Mutex::new(Vec::new()),
            sysmonnote: Note::default(),
            sysmon_wake_at: AtomicU64::new(0),
            weak: weak.clone(),
            ext: crate::ext::LayerSlots::new(),
        })
    }

    pub(crate) fn arc(&self) -> Arc<Sched> {
        self.weak
            .upgrade()
            .expect("gort: scheduler used after teardown")
    }

    /// Go's `retake` (sysmon): preempt a G that has run for more than
    /// 10 ms without its P's schedtick changing.
    pub(crate) fn retake(&self, now: u64) {
        for p in self.ps().iter() {
            if p.curg.load(Ordering::Acquire).is_null() {
                continue;
            }
            let t = p.schedtick();
            if p.sysmon_tick.load(Ordering::Relaxed) != t {
                p.sysmon_tick.store(t, Ordering::Relaxed);
                p.sysmon_when.store(now, Ordering::Relaxed);
            } else if p.sysmon_when.load(Ordering::Relaxed) + crate::parallel::FORCE_PREEMPT_NS
                <= now
            {
                // SAFETY: curg is a G of this runtime.
                if let Some(g) = unsafe { p.curg.load(Ordering::Acquire).as_ref() } {
                    g.request_preempt();
                    // Count the slice from now, so the next preemption of
                    // a G that ignores this one is 10 ms away (Go's
                    // schedwhen is refreshed the same way via schedtick).
                    p.sysmon_when.store(now, Ordering::Relaxed);
                }
            }
        }
    }

    pub fn gomaxprocs(&self) -> usize {
        self.nprocs.load(Ordering::Acquire)
    }

    /// The live Ps (Go's `allp`).
    #[inline]
    pub(crate) fn ps(&self) -> &[P] {
        &self.allp[..self.gomaxprocs()]
    }

    /// Go's `nanotime`: wall-clock ns since start in parallel mode, the
    /// virtual clock in deterministic mode.
    pub fn nanotime(&self) -> u64 {
        if self.det {
            self.vclock.load(Ordering::Relaxed)
        } else {
            self.start.elapsed().as_nanos() as u64
        }
    }

    /// Records a trace event on `p` by goroutine `g` (0: the runtime), if
    /// the run is traced (trace.rs); `ev` is built only then.
    #[inline]
    pub(crate) fn trace(&self, p: Option<usize>, g: u64, ev: impl FnOnce() -> TraceEvent) {
        if let Some(t) = &self.cfg.trace {
            t.emit(self.nanotime(), p, g, ev());
        }
    }

    /// Sets `p`'s status, tracing the P starting (`ProcStart`, Go's
    /// `acquirep`) or stopping (`ProcStop`, `releasep`) when it enters or
    /// leaves `_Prunning`.
    pub(crate) fn set_p_status(&self, p: &P, st: u32) {
        let old = p.status();
        p.set_status(st);
        if self.cfg.trace.is_some() && (old == P_RUNNING) != (st == P_RUNNING) {
            self.trace(Some(p.id), 0, || {
                if st == P_RUNNING {
                    // SAFETY: a P's M, when set, is one of allm's, which
                    // live as long as the Sched.
                    let m = unsafe { p.m.load(Ordering::Acquire).as_ref() };
                    TraceEvent::ProcStart {
                        m: m.map_or(0, |m| m.id as u64),
                    }
                } else {
                    TraceEvent::ProcStop
                }
            });
        }
    }

    pub(crate) fn new_m(&self) -> Arc<M> {
        let mut allm = self.allm.lock().unwrap();
        // M1 is sysmon, as in Go; worker Ms take 0, 2, 3, ...
        let id = match allm.len() {
            0 => 0,
            k => k as i64 + 1,
        };
        let m = Arc::new(M::new(id));
        m.fastrand_seed(self.seed_for(id as u64));
        allm.push(m.clone());
        m
    }

    fn seed_for(&self, salt: u64) -> u64 {
        match &self.cfg.mode {
            Mode::Deterministic(d) => d.seed ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            Mode::Parallel => (self.start.elapsed().as_nanos() as u64 ^ (self as *const _ as u64))
                .wrapping_add(salt.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        }
    }

    /// Number of Ms as Go's schedtrace counts them (workers plus sysmon).
    pub fn mcount(&self) -> usize {
        self.allm.lock().unwrap().len() + 1
    }

    fn next_goid(&self, p: &P) -> u64 {
        let (cache, end) = &self.goidcache[p.id];
        let mut c = cache.load(Ordering::Relaxed);
        if c == end.load(Ordering::Relaxed) {
            let hi = self.goidgen.fetch_add(GOID_CACHE_BATCH, Ordering::Relaxed) + GOID_CACHE_BATCH;
            c = hi - GOID_CACHE_BATCH + 1;
            end.store(hi + 1, Ordering::Relaxed);
        }
        if c == 2 {
            c = FIRST_USER_GOID;
        }
        cache.store(c + 1, Ordering::Relaxed);
        c
    }

    /// Go's `newproc`: a new goroutine running `f`, placed in `p`'s runnext.
    /// `parent` is the goroutine whose `go` statement this is (None for
    /// main).
    pub(crate) fn newproc<F>(&self, p: &P, parent: Option<&G>, start: StartInfo, f: F) -> GPtr
    where
        F: FnOnce() + Send + 'static,
    {
        self.newproc1(p, parent, start, false, None, f)
    }

    /// `newproc` for a user goroutine or, with `system`, a runtime one.
    pub(crate) fn newproc1<F>(
        &self,
        p: &P,
        parent: Option<&G>,
        start: StartInfo,
        system: bool,
        goid: Option<u64>,
        f: F,
    ) -> GPtr
    where
        F: FnOnce() + Send + 'static,
    {
        let mut cost = crate::det::NEWPROC_NS;
        let gp = match p.gfget(&self.gfree) {
            Some(g) => g,
            None => {
                cost += crate::det::MALG_NS;
                let g: &'static G = Box::leak(G::new(self));
                g.set_status(G_DEAD);
                let gp = GPtr::new(g);
                self.allgs.lock().unwrap().push(gp);
                gp
            }
        };
        let g = gp.get();
        // A closure larger than ~1 KiB cannot be written onto the coroutine
        // stack by corosensei; box large ones.
        let co = if std::mem::size_of::<F>() > 512 {
            let b: Box<dyn FnOnce() + Send> = Box::new(f);
            Self::make_coroutine(g, b)
        } else {
            Self::make_coroutine(g, f)
        };
        // SAFETY: the G is dead and owned by this M (just taken from a free
        // list or created): nobody else touches its coroutine.
        unsafe { *g.co.get() = Some(co) };
        g.set_goid(goid.unwrap_or_else(|| self.next_goid(p)));
        g.start.set(Some(start));
        g.parkloc.set(None);
        g.sched_fp.set(0);
        g.sched_sp.set(0);
        // The old coroutine's Yielder is gone; the new body sets its own.
        g.yielder.set(std::ptr::null());
        g.set_waitreason(WaitReason::Zero);
        g.clear_preempt();
        g.system.store(system, Ordering::Relaxed);
        g.gc_assist_bytes.store(0, Ordering::Relaxed);
        g.preempt_scan.store(false, Ordering::Relaxed);
        g.preempt_parked.store(false, Ordering::Relaxed);
        if !system {
            self.ngoroutines.fetch_add(1, Ordering::Relaxed);
        }
        // Go's newproc1 calls racegostart (for runtime goroutines too)
        // before the G is queued: nothing the child does may reach the
        // detector first.
        if let Some(h) = &self.race {
            let stack = parent.map(|p| p.race_go_stack.take()).unwrap_or_default();
            h.go_start(parent, g, &stack);
        }
        self.trace(Some(p.id), parent.map_or(0, |pg| pg.goid()), || {
            TraceEvent::GoCreate {
                g: g.goid(),
                func: start.startfn,
                file: start.gopc.file(),
                line: start.gopc.line(),
            }
        });
        g.set_status(G_RUNNABLE);
        p.runqput(gp, true, &self.runq);
        if self.det {
            if !system && parent.is_some() {
                let first = self.first_go.swap(false, Ordering::Relaxed);
                if first {
                    cost += crate::det::FIRST_GO_NS;
                }
                if self.race.is_some() {
                    cost += crate::det::RACE_GO_NS;
                    if first {
                        cost += crate::det::FIRST_RACE_GO_NS;
                    }
                }
            }
            self.det_charge_ns.fetch_add(cost, Ordering::Relaxed);
        }
        gp
    }

    fn make_coroutine<F: FnOnce() + Send + 'static>(g: &G, f: F) -> GCoroutine {
        GCoroutine::with_stack(CoStack::of(&g.stack), move |y: &GYielder, ()| {
            let me = crate::stack::getg().expect("gort: goroutine stack without an owner");
            me.yielder.set(y);
            // The panic stops here, at the coroutine boundary, on the
            // goroutine's own stack (corosensei is built without its
            // cross-stack unwinding).
            catch_unwind(AssertUnwindSafe(f))
        })
    }

    /// Go's `ready`: a waiting G becomes runnable on `p` (runnext when
    /// `next`), and an idle P is woken to run it if there is one.
    pub(crate) fn ready(&self, g: GPtr, p: &P, next: bool) {
        if g.get().rt != self.serial {
            // A channel, semaphore or notify list outlived the run whose
            // goroutine waits in it (or is shared by two runtimes): that
            // goroutine is not this runtime's to run.
            self.throw(&format!(
                "runtime: gp: gp={:#x}, goid={} is a goroutine of another runtime\nfatal error: ready of a goroutine of another runtime",
                g.0.as_ptr() as usize,
                g.get().goid(),
            ));
            return;
        }
        if !g.get().casgstatus(G_WAITING, G_RUNNABLE) {
            self.throw(&format!(
                "runtime: gp: gp={:#x}, goid={}, gp->atomicstatus={}\nfatal error: bad g->status in ready",
                g.0.as_ptr() as usize,
                g.get().goid(),
                g.get().status()
            ));
            return;
        }
        self.trace(
            Some(p.id),
            crate::stack::getg().map_or(0, |c| c.goid()),
            || TraceEvent::GoUnblock { g: g.get().goid() },
        );
        p.runqput(g, next, &self.runq);
        self.wakep();
    }

    /// Go's `checkTimers` for one P: run the timers due now.
    #[inline]
    pub(crate) fn check_timers(&self, p: &P, on: &P) {
        if p.timer0when.load(Ordering::Acquire) != u64::MAX {
            self.check_timers_slow(p, on);
        }
    }

    #[inline(never)]
    fn check_timers_slow(&self, p: &P, on: &P) {
        let first = p.timer0when.load(Ordering::Acquire);
        let now = self.nanotime();
        if first > now {
            return;
        }
        let mut due = Vec::new();
        p.take_due_timers(now, &mut due);
        for t in due {
            if let Some(h) = &self.race {
                h.timer_run(on.id);
            }
            (t.f)(self, on, t.arg);
        }
    }

    /// Go's `addtimer` on `p`.
    pub(crate) fn addtimer(&self, p: &P, when: u64, f: fn(&Sched, &P, usize), arg: usize) {
        let seq = self.timer_seq.fetch_add(1, Ordering::Relaxed);
        p.addtimer(Timer { when, seq, f, arg });
        if !self.det && when < self.sysmon_wake_at.load(Ordering::Acquire) {
            // sysmon sleeps until the earliest timer at most and then starts
            // an M to run it (Go's wakeNetPoller makes the thread blocked in
            // netpoll recompute its timeout the same way).
            self.sysmonnote.wakeup();
        }
    }

    /// The earliest pending timer of any P.
    pub(crate) fn next_timer(&self) -> u64 {
        self.ps()
            .iter()
            .map(|p| p.timer0when.load(Ordering::Acquire))
            .min()
            .unwrap_or(u64::MAX)
    }

    /// The non-blocking half of Go's `findRunnable`: this P's timers, the
    /// 1-in-61 fairness check, the local queue, the global queue.
    #[inline]
    pub(crate) fn find_runnable_local(&self, p: &P) -> Option<(GPtr, bool)> {
        self.check_timers(p, p);
        if p.schedtick().is_multiple_of(61) && !self.runq.is_empty() {
            if let Some(g) = p.globrunqget(&self.runq, self.gomaxprocs(), 1) {
                return Some((g, false));
            }
        }
        if let Some(x) = p.runqget() {
            return Some(x);
        }
        p.globrunqget(&self.runq, self.gomaxprocs(), 0)
            .map(|g| (g, false))
    }

    /// Go's `stealWork`: four passes over the other Ps in a random order;
    /// the last pass also runs their due timers and may take runnext.
    pub(crate) fn steal_work(&self, m: &M, p: &P) -> Option<GPtr> {
        let n = self.gomaxprocs();
        if n == 1 {
            return None;
        }
        const STEAL_TRIES: usize = 4;
        for i in 0..STEAL_TRIES {
            let last = i == STEAL_TRIES - 1;
            for j in RandomOrder::new(n, m.fastrand()) {
                if self.gcwaiting.load(Ordering::Acquire) {
                    return None;
                }
                let victim = &self.allp[j];
                if victim.id == p.id {
                    continue;
                }
                if last {
                    self.check_timers(victim, p);
                    if let Some((g, _)) = p.runqget() {
                        return Some(g);
                    }
                }
                if victim.status() == P_IDLE && victim.runq_empty() {
                    continue;
                }
                if let Some(g) = p.runqsteal(victim, last, self.det) {
                    return Some(g);
                }
                if p.runnext_sleep_req.load(Ordering::Relaxed) {
                    // Deterministic mode: the driver runs the `usleep(3)`.
                    return None;
                }
            }
        }
        None
    }

    /// Go's `execute` plus the return half of `mcall`: runs `g` on `p`
    /// until it yields, then applies what it asked for, and says what the M
    /// does next (see `Next`).
    pub(crate) fn execute(&self, m: &M, p: &P, gp: GPtr, inherit: bool) -> Next {
        let g = gp.get();
        let st = g.status();
        if st != G_RUNNING {
            // This M took the G off a run queue, so it owns it; the CAS
            // waits for a collector scanning its stack (`_Gscan`).
            if st & !G_SCAN != G_RUNNABLE {
                self.throw(&format!(
                    "fatal error: execute: bad g status {} for goroutine {}",
                    st,
                    g.goid()
                ));
                return Next::Find;
            }
            if !g.casgstatus(G_RUNNABLE, G_RUNNING) {
                self.throw(&format!(
                    "fatal error: execute: bad g status {} for goroutine {}",
                    g.status(),
                    g.goid()
                ));
                return Next::Find;
            }
            g.clear_preempt();
            g.m.store(m as *const M as *mut M, Ordering::Release);
            m.curg.store(gp.0.as_ptr(), Ordering::Release);
            p.curg.store(gp.0.as_ptr(), Ordering::SeqCst);
            self.trace(Some(p.id), g.goid(), || TraceEvent::GoStart { g: g.goid() });
            self.preempt_if_stopping(g);
            if !inherit {
                // Only the P's owner writes schedtick; sysmon only reads it.
                p.schedtick
                    .store(p.schedtick().wrapping_add(1), Ordering::Relaxed);
            }
        }
        self.resume(gp)
    }

    /// A stop of the world that began while this M was choosing `g`
    /// (after it last looked at `gcwaiting`) preempted the Ps' goroutines
    /// of that moment, not `g`: `g` would run until the stopper's next
    /// round, 100 us later (Go's `stopTheWorldWithSema` has the same gap).
    /// Parallel mode closes it: `curg` is published before `gcwaiting` is
    /// read, and the stopper sets `gcwaiting` before reading each `curg`
    /// (both sequentially consistent), so one of the two sees the other.
    #[inline]
    fn preempt_if_stopping(&self, g: &G) {
        if !self.det && self.gcwaiting.load(Ordering::SeqCst) {
            g.request_preempt();
        }
    }

    /// Resumes a G that is already `_Grunning`. Its M and P are read from
    /// the G after it ran: set_gomaxprocs may have moved it to another P
    /// (and, in deterministic mode, to that P's M) meanwhile.
    pub(crate) fn resume(&self, gp: GPtr) -> Next {
        let g = gp.get();
        // SAFETY: this M owns the running G; nobody else touches `co`.
        let co = unsafe { (*g.co.get()).as_mut() }.expect("gort: running G without a coroutine");
        let r = co.resume(());
        // SAFETY: a G that ran has g.m set to a live M of this runtime.
        let m = unsafe { &*g.m.load(Ordering::Acquire) };
        let p = m.p().expect("gort: a running goroutine's M has no P");
        match r {
            CoroutineResult::Yield(y) => self.after_yield(m, p, gp, y),
            CoroutineResult::Return(r) => self.after_return(m, p, gp, r),
        }
    }

    /// The goroutine's function returned, or unwound (a panic, `Goexit`).
    /// Kept out of line: the yield path above is the hot one.
    #[inline(never)]
    fn after_return(
        &self,
        m: &M,
        p: &P,
        gp: GPtr,
        r: Result<(), Box<dyn std::any::Any + Send>>,
    ) -> Next {
        match r {
            Ok(()) => self.goexit0(m, p, gp, false),
            Err(payload) if payload.is::<crate::proc::Goexit>() => self.goexit0(m, p, gp, true),
            Err(payload) => {
                self.drop_curg(m, p);
                self.fatalpanic(gp.get(), payload);
            }
        }
        Next::Find
    }

    fn drop_curg(&self, m: &M, p: &P) {
        m.curg.store(std::ptr::null_mut(), Ordering::Release);
        p.curg.store(std::ptr::null_mut(), Ordering::Release);
    }

    fn after_yield(&self, m: &M, p: &P, gp: GPtr, y: Yield) -> Next {
        let g = gp.get();
        match y {
            Yield::Step => Next::Keep(gp),
            Yield::Gosched | Yield::Preempted => {
                self.trace(Some(p.id), g.goid(), || match y {
                    Yield::Gosched => TraceEvent::GoSched,
                    _ => TraceEvent::GoPreempt,
                });
                // Go's goschedImpl: to the global queue, then schedule().
                self.drop_curg(m, p);
                g.set_status(G_RUNNABLE);
                if self.schedule_goes_global(p) {
                    // findRunnable would find no due timer, skip the 61st
                    // tick check and find the local queue empty, so its next
                    // step is globrunqget: do the put and the get under one
                    // lock acquisition (the same result as Go's two steps,
                    // with no other M's operation between them).
                    // The local queue is empty and the batch is at most 128,
                    // so these puts never spill back to the global queue
                    // (whose lock is held).
                    let w = |x: GPtr| p.runqput_room(x);
                    if let Some(next) = self.runq.put_then_get(gp, self.gomaxprocs(), w) {
                        return Next::Run(next, false);
                    }
                    return Next::Find;
                }
                self.runq.push(gp);
                Next::Find
            }
            Yield::Park => self.park_m(m, p, gp),
            Yield::SystemStack => {
                if let Some(f) = g.sysfn.take() {
                    crate::proc::SYSTEM_G.with(|c| c.set(g));
                    // SAFETY: `systemstack` stored a pointer to a closure on
                    // the suspended G's stack, which stays put until the G
                    // resumes after this call.
                    unsafe { (*f)() };
                    crate::proc::SYSTEM_G.with(|c| c.set(std::ptr::null()));
                }
                Next::Keep(gp)
            }
            Yield::GoYield => {
                // Go's goyield traces a preemption.
                self.trace(Some(p.id), g.goid(), || TraceEvent::GoPreempt);
                self.drop_curg(m, p);
                g.set_status(G_RUNNABLE);
                p.runqput(gp, false, &self.runq);
                Next::Find
            }
            Yield::Fatal => {
                self.drop_curg(m, p);
                self.fatal_user(g);
                Next::Find
            }
            Yield::Exit(status) => {
                self.drop_curg(m, p);
                self.finish(Exit {
                    status,
                    report: String::new(),
                    steps: 0,
                });
                Next::Find
            }
            Yield::StackOverflow(sp) => {
                self.drop_curg(m, p);
                self.stack_overflow(g, sp);
                Next::Find
            }
        }
    }

    /// Go's `park_m`. Out of line, like the other non-Gosched cases, so
    /// the Gosched path stays small.
    #[inline(never)]
    fn park_m(&self, m: &M, p: &P, gp: GPtr) -> Next {
        let g = gp.get();
        let (reason, unlock) = (g.park_reason.get(), g.park_unlock.take());
        // Read while this M still owns the G: which park this is.
        let user = g.user_park.load(Ordering::Acquire);
        self.trace(Some(p.id), g.goid(), || TraceEvent::GoBlock {
            reason: block_reason(reason),
        });
        self.drop_curg(m, p);
        g.set_waitreason(reason);
        g.set_status(G_WAITING);
        if let Some(u) = unlock {
            // SAFETY: the unlock function and its argument were supplied
            // together by the parking primitive, which keeps `arg` valid
            // until the G is readied.
            let ok = unsafe { (u.f)(u.arg) };
            if !ok {
                // A park by the public `gopark` can be readied by `goready`
                // while the unlock function runs (no lock of the unlock
                // function orders them): whoever takes the wake-up first
                // resumes the G. If a waker took it, the G is (or is about
                // to be) queued, and resuming it here too would run one
                // coroutine on two Ms.
                // The park's number in `user` makes the exchange fail if the
                // G was readied, ran and parked again meanwhile.
                if user & USER_PARK_STATE != USER_PARK_NONE
                    && (user & USER_PARK_STATE != USER_PARKED
                        || g.user_park
                            .compare_exchange(
                                user,
                                user & !USER_PARK_STATE,
                                Ordering::AcqRel,
                                Ordering::Acquire,
                            )
                            .is_err())
                {
                    return Next::Find;
                }
                // The collector may be scanning the parked G's stack.
                if !g.casgstatus(G_WAITING, G_RUNNING) {
                    self.throw("fatal error: park_m: bad g status");
                    return Next::Find;
                }
                m.curg.store(gp.0.as_ptr(), Ordering::Release);
                p.curg.store(gp.0.as_ptr(), Ordering::SeqCst);
                // Go's park_m: traceGoUnpark, then execute's GoStart.
                self.trace(Some(p.id), g.goid(), || TraceEvent::GoUnblock {
                    g: g.goid(),
                });
                self.trace(Some(p.id), g.goid(), || TraceEvent::GoStart { g: g.goid() });
                self.preempt_if_stopping(g);
                return Next::Keep(gp);
            }
        }
        // The goroutine that readied a G and then parks (a channel hand-off)
        // leaves that G in runnext: when findRunnable would take it from
        // there (no due timer, not the 61st tick with a non-empty global
        // queue), take it here and skip the trip through the M's loop.
        if self.schedule_is_local(p) {
            if let Some((next, inherit)) = p.runqget() {
                return Next::Run(next, inherit);
            }
        }
        Next::Find
    }

    /// Whether `findRunnable` on `p` would start with `runqget` (parallel
    /// mode; the deterministic driver makes that choice at the P's turn).
    #[inline]
    fn schedule_is_local(&self, p: &P) -> bool {
        !self.det
            && p.timer0when.load(Ordering::Relaxed) == u64::MAX
            && (!p.schedtick().is_multiple_of(61) || self.runq.is_empty())
            && !self.gcwaiting.load(Ordering::Relaxed)
            && !self.done.load(Ordering::Relaxed)
    }

    /// Whether `findRunnable` on `p` would go straight to the global queue.
    /// Parallel mode only: the deterministic driver makes that choice at the
    /// P's next turn.
    #[inline]
    fn schedule_goes_global(&self, p: &P) -> bool {
        !self.det
            && p.timer0when.load(Ordering::Relaxed) == u64::MAX
            && !p.schedtick().is_multiple_of(61)
            && p.runq_empty_owner()
            && !self.gcwaiting.load(Ordering::Relaxed)
            && !self.done.load(Ordering::Relaxed)
    }

    /// Go's `goexit0`: the G is dead; keep it and its stack for reuse.
    /// `goexit` is true for `runtime.Goexit`, which ends only the calling
    /// goroutine, even when it is main.
    fn goexit0(&self, m: &M, p: &P, gp: GPtr, goexit: bool) {
        let g = gp.get();
        self.trace(Some(p.id), g.goid(), || TraceEvent::GoEnd);
        if !g.is_system() {
            if let Some(h) = &self.race {
                h.go_end(g);
                if self.det {
                    self.det_charge_ns
                        .fetch_add(crate::det::RACE_GOEXIT_NS, Ordering::Relaxed);
                }
            }
        }
        self.drop_curg(m, p);
        g.set_status(G_DEAD);
        // Go's goexit0 clears the reason: dead Gs show `status=6()`.
        g.set_waitreason(WaitReason::Zero);
        g.m.store(std::ptr::null_mut(), Ordering::Release);
        // SAFETY: the coroutine returned; this M owns the dead G.
        unsafe { *g.co.get() = None };
        if !g.is_system() {
            self.ngoroutines.fetch_sub(1, Ordering::SeqCst);
        }
        if g.goid() == 1 && !goexit {
            // main.main returned: the program exits at once, whatever the
            // other goroutines are doing (after racefini's summary).
            let status = self.race.as_ref().map_or(0, |h| h.fini());
            self.finish(Exit {
                status,
                report: String::new(),
                steps: 0,
            });
            return;
        }
        if g.goid() == 1 {
            // main called Goexit: its G is never reused (ids stay unique
            // and main stays G1 in dumps), and the program runs on until
            // the other goroutines are done (then checkdead reports it).
            return;
        }
        p.gfput(gp, &self.gfree);
    }

    /// Ends the run with `e` (the first call wins), waking every M.
    pub(crate) fn finish(&self, e: Exit) {
        {
            let mut ex = self.exit.lock().unwrap();
            if ex.is_some() {
                return;
            }
            if !e.report.is_empty() {
                self.cfg.output.write_stderr(e.report.as_bytes());
            }
            *ex = Some(e);
        }
        self.done.store(true, Ordering::SeqCst);
        for p in self.ps().iter() {
            // SAFETY: curg pointers are Gs of this runtime (alive).
            if let Some(g) = unsafe { p.curg.load(Ordering::Acquire).as_ref() } {
                g.request_preempt();
            }
        }
        for m in self.allm.lock().unwrap().iter() {
            m.park.wakeup();
        }
        self.stopnote.wakeup();
        self.exit_note.wakeup();
        self.sysmonnote.wakeup();
    }

    pub(crate) fn take_exit(&self) -> Option<Exit> {
        self.exit.lock().unwrap().clone()
    }

    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Go's `pidleput` (scheduler lock held by the caller).
    pub(crate) fn pidleput(&self, idle: &mut Idle, p: &P) {
        self.set_p_status(p, P_IDLE);
        if !self.det {
            // (Deterministic mode ties each P to one simulated M for life.)
            p.m.store(std::ptr::null_mut(), Ordering::Release);
        }
        idle.pidle.push(p.id);
        self.npidle.fetch_add(1, Ordering::SeqCst);
    }

    /// Go's `pidleget` (scheduler lock held by the caller).
    pub(crate) fn pidleget(&self, idle: &mut Idle) -> Option<&P> {
        let id = idle.pidle.pop()?;
        self.npidle.fetch_sub(1, Ordering::SeqCst);
        Some(&self.allp[id])
    }

    /// Moves the running goroutine `g` from `from` to `to` (world stopped,
    /// `to` stopped). Parallel mode: the M keeps running `g` and takes `to`.
    /// Deterministic mode: Ms are tied to Ps, so `g` continues on `to`'s M.
    pub(crate) fn move_running_g(&self, g: &G, from: &P, to: &P) {
        let gp = g as *const G as *mut G;
        // SAFETY: g.m is the M running g.
        let m = unsafe { &*g.m.load(Ordering::Acquire) };
        from.curg.store(std::ptr::null_mut(), Ordering::Release);
        if self.det {
            // SAFETY: in deterministic mode every live P has its M.
            let m2 = unsafe { &*to.m.load(Ordering::Acquire) };
            m.curg.store(std::ptr::null_mut(), Ordering::Release);
            m2.curg.store(gp, Ordering::Release);
            g.m.store(m2 as *const M as *mut M, Ordering::Release);
        } else {
            self.releasep(m);
            self.acquirep(m, to);
        }
        to.curg.store(gp, Ordering::Release);
        to.set_status(P_RUNNING);
    }

    /// Go's `acquirep`.
    pub(crate) fn acquirep(&self, m: &M, p: &P) {
        m.p.store(p as *const P as *mut P, Ordering::Release);
        p.m.store(m as *const M as *mut M, Ordering::Release);
        self.set_p_status(p, P_RUNNING);
    }

    /// Go's `releasep`.
    pub(crate) fn releasep<'a>(&'a self, m: &M) -> &'a P {
        let p = m.p().expect("releasep without a P");
        m.p.store(std::ptr::null_mut(), Ordering::Release);
        p.m.store(std::ptr::null_mut(), Ordering::Release);
        // SAFETY: p is an element of self.allp, so it lives as long as self.
        unsafe { &*(p as *const P) }
    }

    /// The P that the current goroutine runs on.
    pub(crate) fn current_p(g: &G) -> &P {
        // SAFETY: a running G's m is its current M (set in execute) and that
        // M holds a P while it runs the G.
        let m = unsafe { &*g.m.load(Ordering::Acquire) };
        m.p().expect("gort: running goroutine without a P")
    }

    /// Wakes an idle M for work that just appeared (Go's `wakep`); in
    /// deterministic mode the woken P starts after a modelled latency
    /// (det.rs).
    pub(crate) fn wakep(&self) {
        self.wakep_since(None);
    }

    /// `wakep` for a `go` statement that started at virtual time `since`
    /// (deterministic mode: the wake-up's latency counts from there).
    pub(crate) fn wakep_since(&self, since: Option<u64>) {
        if self.det {
            crate::det::wakep(self, since);
            return;
        }
        crate::parallel::wakep(self);
    }

    /// Deterministic mode: a user goroutine is parking; the program's
    /// first park pays Go's cold path (`det::FIRST_PARK_NS`, and
    /// `det::FIRST_RACE_PARK_NS` more under the race detector).
    #[inline]
    pub(crate) fn det_first_park(&self) {
        if self.first_park.load(Ordering::Relaxed) {
            self.first_park.store(false, Ordering::Relaxed);
            let mut cost = crate::det::FIRST_PARK_NS;
            if self.race.is_some() {
                cost += crate::det::FIRST_RACE_PARK_NS;
            }
            self.det_charge_ns.fetch_add(cost, Ordering::Relaxed);
        }
    }

    /// The virtual clock in deterministic mode, None in parallel mode.
    pub(crate) fn det_now(&self) -> Option<u64> {
        self.det.then(|| self.vclock.load(Ordering::Relaxed))
    }

    /// Frees every G. Goroutines that never finished (main returned while
    /// they were blocked or runnable) are abandoned as Go abandons them at
    /// exit: their deferred code (Rust destructors) does not run and what
    /// they captured is leaked, rather than running user code while the
    /// runtime is being torn down.
    ///
    /// An abandoned goroutine that had started may still be named by a
    /// waiter record on its own stack, queued in a channel, semaphore or
    /// notify list that outlives the run (a clone held elsewhere, a
    /// static): its G and stack are leaked with it, so a later operation
    /// on that primitive reads live memory, and `ready` refuses the G
    /// (`G::rt`) instead of running it.
    pub(crate) fn teardown(&self) {
        let gs = std::mem::take(&mut *self.allgs.lock().unwrap());
        while self.runq.pop().is_some() {}
        for p in self.ps().iter() {
            p.drain();
        }
        for gp in gs {
            let g = gp.0.as_ptr();
            // SAFETY: every M and the driver have stopped: nothing else
            // runs this G any more. A suspended coroutine is marked
            // finished without unwinding (force_reset): its 'static, Send
            // closure borrows nothing outside its stack, so skipping its
            // destructors only leaks. A G that never started or has
            // finished is in no waiter queue, so it is freed and its stack
            // goes back to the pool.
            unsafe {
                let mut abandoned = false;
                if let Some(mut co) = (*(*g).co.get()).take() {
                    if co.started() && !co.done() {
                        co.force_reset();
                        abandoned = true;
                    }
                    drop(co);
                }
                if abandoned {
                    let sp = (*g).sched_sp.get();
                    if sp != 0 {
                        (*g).stack.trim_below(sp);
                    }
                    continue;
                }
                let b = Box::from_raw(g);
                let G { stack, .. } = *b;
                stack.release();
            }
        }
    }
}

impl M {
    pub(crate) fn fastrand_seed(&self, s: u64) {
        self.rand.seed(s);
    }
    pub(crate) fn fastrand(&self) -> u32 {
        self.rand.next_u32()
    }
}

/// The event Go's trace gives a park for `reason` (the `traceEv` each
/// `gopark` call site passes).
fn block_reason(reason: WaitReason) -> BlockReason {
    match reason {
        WaitReason::ChanSend => BlockReason::Send,
        WaitReason::ChanReceive => BlockReason::Recv,
        WaitReason::Select => BlockReason::Select,
        WaitReason::SelectNoCases
        | WaitReason::ChanReceiveNilChan
        | WaitReason::ChanSendNilChan => BlockReason::Forever,
        WaitReason::Semacquire => BlockReason::Sync,
        WaitReason::SyncCondWait => BlockReason::Cond,
        WaitReason::Sleep => BlockReason::Sleep,
        WaitReason::GcAssistWait => BlockReason::Gc,
        _ => BlockReason::Other,
    }
}
