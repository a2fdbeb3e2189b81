//! Go's `sync` package on gort: the behaviour Go's own tests check
//! (sync/mutex_test.go, rwmutex_test.go, waitgroup_test.go, once_test.go,
//! cond_test.go, atomic_test.go), in parallel mode at GOMAXPROCS 1, 2, 4
//! and in deterministic mode over several seeds. No assertion depends on
//! timing: where Go's tests wait "long enough", these wait for an event,
//! and a broken primitive shows up as a wrong count, a panic inside the
//! scenario (exit status 2) or gort's deadlock report.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gort::sync::atomic::{Bool, Int32, Int64, Pointer, Uint32, Uint64, Uintptr, Value};
use gort::sync::{MUTEX_LOCKED, MUTEX_STARVING};
use gort::{Cond, Config, Exit, Locker, Mode, Mutex, Once, RWMutex, Runtime, Sema, WaitGroup};

mod common;

fn par(procs: usize) -> Config {
    Config::new().gomaxprocs(procs).capture_output()
}

fn det(seed: u64, procs: usize) -> Config {
    Config::new()
        .gomaxprocs(procs)
        .simseed(seed)
        .capture_output()
}

/// Parallel mode at 1, 2 and 4 Ps, and deterministic mode at 1 to 4 Ps
/// over several seeds.
fn configs() -> Vec<Config> {
    vec![
        par(1),
        par(2),
        par(4),
        det(1, 1),
        det(2, 2),
        det(3, 2),
        det(4, 3),
        det(5, 4),
        det(6, 4),
    ]
}

/// Runs `f` on a fresh runtime built from `cfg`, bounded like every gort
/// test; returns the runtime (for its captured output) and the exit.
fn run<F>(cfg: Config, f: F) -> (Runtime, Exit)
where
    F: FnOnce() + Send + 'static,
{
    let rt = Runtime::new(cfg);
    let e = common::run(&rt, f);
    (rt, e)
}

/// The mode and GOMAXPROCS of a runtime, for failure messages.
fn describe(rt: &Runtime) -> String {
    let sc = rt.config().sched();
    match sc.mode {
        Mode::Parallel => format!("parallel, GOMAXPROCS={}", sc.gomaxprocs),
        Mode::Deterministic(d) => format!("simseed={}, GOMAXPROCS={}", d.seed, sc.gomaxprocs),
    }
}

fn assert_ok(rt: &Runtime, e: &Exit, what: &str) {
    assert_eq!(
        e.status,
        0,
        "{what} ({}): stderr:\n{}",
        describe(rt),
        rt.stderr()
    );
}

/// A read-modify-write of `c` that loses updates unless something orders
/// it: a scheduling point (in deterministic mode, possibly a switch to
/// another P) sits between the read and the write.
fn racy_increment(c: &AtomicU64) {
    let v = c.load(Ordering::Relaxed);
    gort::step();
    gort::preempt_point();
    c.store(v + 1, Ordering::Relaxed);
}

// ---------------------------------------------------------------- Mutex

/// Go's HammerMutex (TestMutex): goroutines lock, try-lock and unlock one
/// Mutex; a racy increment inside the critical section must never lose an
/// update, and at most one goroutine is ever inside.
#[test]
fn mutex_excludes_under_contention() {
    const G: u64 = 8;
    const N: u64 = 200;
    for cfg in configs() {
        let total = Arc::new(AtomicU64::new(0));
        let t = total.clone();
        let (rt, e) = run(cfg, move || {
            let mu = Arc::new(Mutex::new());
            let inside = Arc::new(AtomicUsize::new(0));
            let wg = Arc::new(WaitGroup::new());
            for g in 0..G {
                wg.add(1);
                let (mu, inside, t, wg) = (mu.clone(), inside.clone(), t.clone(), wg.clone());
                gort::go!(move || {
                    let mut done = 0;
                    let mut i = 0;
                    while done < N {
                        i += 1;
                        let locked = if (i + g) % 3 == 0 {
                            mu.try_lock()
                        } else {
                            mu.lock();
                            true
                        };
                        if locked {
                            assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two owners");
                            racy_increment(&t);
                            inside.fetch_sub(1, Ordering::SeqCst);
                            mu.unlock();
                            done += 1;
                        }
                    }
                    wg.done();
                });
            }
            wg.wait();
            assert_eq!(mu.state(), 0, "mutex state after the last unlock");
        });
        assert_ok(&rt, &e, "mutex hammer");
        assert_eq!(total.load(Ordering::SeqCst), G * N, "{}", describe(&rt));
    }
}

/// TryLock succeeds only on an unlocked mutex; Lock after Unlock works.
#[test]
fn mutex_try_lock() {
    for cfg in [par(2), det(9, 2)] {
        let (rt, e) = run(cfg, || {
            let mu = Mutex::new();
            assert!(mu.try_lock());
            assert!(!mu.try_lock());
            assert_eq!(mu.state(), MUTEX_LOCKED);
            mu.unlock();
            assert_eq!(mu.state(), 0);
            mu.lock();
            assert!(!mu.try_lock());
            mu.unlock();
            assert!(mu.try_lock());
            mu.unlock();
        });
        assert_ok(&rt, &e, "try_lock");
    }
}

/// Go's TestMutexFairness: a goroutine that holds the mutex almost all the
/// time (re-locking right after each unlock) cannot starve another that
/// wants it 10 times: after 1 ms of waiting the mutex goes to starvation
/// mode and is handed over. Without starvation mode the waiter would lose
/// every race at GOMAXPROCS=1 (it is only made runnable by the unlock)
/// and the holder would run out of its iteration budget first.
#[test]
fn mutex_fairness() {
    const BUDGET: u64 = 3000;
    for cfg in [par(1), par(2), par(4), det(1, 1), det(2, 2), det(3, 4)] {
        let used = Arc::new(AtomicU64::new(0));
        let finished = Arc::new(AtomicBool::new(false));
        let (u, f) = (used.clone(), finished.clone());
        let (rt, e) = run(cfg, move || {
            let mu = Arc::new(Mutex::new());
            let stop = Arc::new(AtomicBool::new(false));
            let holder = Arc::new(WaitGroup::new());
            let other = Arc::new(WaitGroup::new());
            holder.add(1);
            other.add(1);
            {
                let (mu, stop, holder) = (mu.clone(), stop.clone(), holder.clone());
                gort::go!(move || {
                    let mut i = 0;
                    while i < BUDGET {
                        i += 1;
                        mu.lock();
                        gort::sleep(Duration::from_micros(100));
                        mu.unlock();
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                    }
                    u.store(i, Ordering::SeqCst);
                    holder.done();
                });
            }
            {
                let (mu, other) = (mu.clone(), other.clone());
                gort::go!(move || {
                    for _ in 0..10 {
                        gort::sleep(Duration::from_micros(100));
                        mu.lock();
                        mu.unlock();
                    }
                    f.store(true, Ordering::SeqCst);
                    other.done();
                });
            }
            other.wait();
            stop.store(true, Ordering::SeqCst);
            holder.wait();
        });
        assert_ok(&rt, &e, "fairness");
        assert!(finished.load(Ordering::SeqCst));
        let used = used.load(Ordering::SeqCst);
        assert!(
            used < BUDGET,
            "{}: the waiter got the mutex 10 times only after the holder stopped ({used} rounds)",
            describe(&rt)
        );
    }
}

/// The starving bit itself: a waiter blocked for more than 1 ms (the
/// holder sleeps 2 ms with the mutex held, unlocks and re-locks at once)
/// loses the race once, then sets `mutexStarving` when it queues again;
/// the holder sees the bit in the state word, and its unlock hands the
/// mutex over (the waiter finishes and starvation mode ends).
#[test]
fn mutex_enters_starvation_mode_after_1ms() {
    for cfg in [
        par(1),
        det(1, 1).simpreempt(0),
        det(2, 1).simpreempt(0),
        det(3, 1).simpreempt(0),
    ] {
        let saw = Arc::new(AtomicBool::new(false));
        let s = saw.clone();
        let (rt, e) = run(cfg, move || {
            let mu = Arc::new(Mutex::new());
            let wg = Arc::new(WaitGroup::new());
            let acquired = Arc::new(AtomicBool::new(false));
            mu.lock();
            wg.add(1);
            {
                let (mu, wg, acquired) = (mu.clone(), wg.clone(), acquired.clone());
                gort::go!(move || {
                    mu.lock();
                    acquired.store(true, Ordering::SeqCst);
                    mu.unlock();
                    wg.done();
                });
            }
            for _ in 0..20 {
                gort::sleep(Duration::from_millis(2));
                if mu.state() & MUTEX_STARVING != 0 {
                    s.store(true, Ordering::SeqCst);
                    break;
                }
                mu.unlock();
                mu.lock();
            }
            mu.unlock();
            wg.wait();
            assert!(acquired.load(Ordering::SeqCst));
            assert_eq!(mu.state(), 0, "starvation mode ended with the last waiter");
        });
        assert_ok(&rt, &e, "starvation");
        assert!(
            saw.load(Ordering::SeqCst),
            "{}: the starving bit was never set",
            describe(&rt)
        );
    }
}

/// Go's TestMutexMisuse ("Mutex.Unlock", "Mutex.Unlock2"): an unrecoverable
/// fatal error naming the running goroutine first, status 2.
#[test]
fn unlock_of_unlocked_mutex_is_fatal() {
    let cases: [fn(); 2] = [
        || Mutex::new().unlock(),
        || {
            let mu = Mutex::new();
            mu.lock();
            mu.unlock();
            mu.unlock();
        },
    ];
    for cfg in [par(2), det(1, 2)] {
        for case in cases {
            let (rt, e) = run(cfg.clone(), case);
            assert_eq!(e.status, 2, "{}", rt.stderr());
            let err = rt.stderr();
            assert!(
                err.starts_with(
                    "fatal error: sync: unlock of unlocked mutex\n\ngoroutine 1 [running]:\n"
                ),
                "{err}"
            );
        }
    }
}

/// A goroutine blocked in Lock waits with Go's reason `semacquire`.
#[test]
fn blocked_lock_shows_semacquire_in_deadlock_dump() {
    for cfg in [par(2), det(1, 2)] {
        let (rt, e) = run(cfg, || {
            let mu = Mutex::new();
            mu.lock();
            mu.lock();
        });
        assert_eq!(e.status, 2);
        let err = rt.stderr();
        assert!(
            err.starts_with(
                "fatal error: all goroutines are asleep - deadlock!\n\ngoroutine 1 [semacquire]:\n"
            ),
            "{err}"
        );
    }
}

/// The same seed replays the same order of lock acquisitions.
#[test]
fn mutex_contention_replays_with_the_same_seed() {
    fn scenario() {
        let mu = Arc::new(Mutex::new());
        let wg = Arc::new(WaitGroup::new());
        for g in 0..4 {
            wg.add(1);
            let (mu, wg) = (mu.clone(), wg.clone());
            gort::go!(move || {
                for i in 0..5 {
                    mu.lock();
                    gort::println!("g{g} i{i}");
                    mu.unlock();
                }
                wg.done();
            });
        }
        wg.wait();
    }
    for seed in [11, 12] {
        let (a, ea) = run(det(seed, 3), scenario);
        let (b, eb) = run(det(seed, 3), scenario);
        assert_ok(&a, &ea, "replay");
        assert_ok(&b, &eb, "replay");
        assert_eq!(a.stdout().lines().count(), 20);
        assert_eq!(a.stdout(), b.stdout(), "seed {seed}");
    }
}

// -------------------------------------------------------------- RWMutex

/// Go's TestParallelReaders: readers hold the read lock together (each
/// waits, holding it, until all have it; an exclusive read lock would
/// deadlock). Meanwhile a writer cannot get in.
#[test]
fn rwmutex_readers_share_the_lock() {
    const R: usize = 4;
    for cfg in configs() {
        let (rt, e) = run(cfg, || {
            let rw = Arc::new(RWMutex::new());
            let holding = Arc::new(WaitGroup::new());
            let release = Arc::new(WaitGroup::new());
            let finished = Arc::new(WaitGroup::new());
            release.add(1);
            for _ in 0..R {
                holding.add(1);
                finished.add(1);
                let (rw, holding, release, finished) = (
                    rw.clone(),
                    holding.clone(),
                    release.clone(),
                    finished.clone(),
                );
                gort::go!(move || {
                    rw.rlock();
                    holding.done();
                    release.wait();
                    rw.runlock();
                    finished.done();
                });
            }
            holding.wait();
            assert_eq!(rw.reader_count(), R as i32);
            assert!(
                !rw.try_lock(),
                "a writer got in while readers hold the lock"
            );
            assert!(rw.try_rlock());
            rw.runlock();
            release.done();
            finished.wait();
            assert_eq!(rw.reader_count(), 0);
            assert!(rw.try_lock());
            assert!(
                !rw.try_rlock(),
                "a reader got in while a writer holds the lock"
            );
            rw.unlock();
        });
        assert_ok(&rt, &e, "parallel readers");
    }
}

/// Go's HammerRWMutex: readers and writers on one RWMutex; a writer is
/// always alone (activity exactly 10000), readers never overlap a writer.
/// A broken exclusion panics inside the scenario.
#[test]
fn rwmutex_writer_excludes_readers() {
    const ITERS: usize = 60;
    fn reader(rw: &RWMutex, activity: &AtomicI32) {
        for i in 0..ITERS {
            let via_try = i % 5 == 0 && rw.try_rlock();
            if !via_try {
                rw.rlock();
            }
            let n = activity.fetch_add(1, Ordering::SeqCst) + 1;
            if !(1..10000).contains(&n) {
                panic!("rlock({n})");
            }
            for _ in 0..3 {
                gort::step();
            }
            activity.fetch_sub(1, Ordering::SeqCst);
            rw.runlock();
        }
    }
    fn writer(rw: &RWMutex, activity: &AtomicI32, total: &AtomicU64) {
        for i in 0..ITERS {
            let via_try = i % 4 == 0 && rw.try_lock();
            if !via_try {
                rw.lock();
            }
            let n = activity.fetch_add(10000, Ordering::SeqCst) + 10000;
            if n != 10000 {
                panic!("wlock({n})");
            }
            racy_increment(total);
            activity.fetch_sub(10000, Ordering::SeqCst);
            rw.unlock();
        }
    }
    for cfg in configs() {
        let total = Arc::new(AtomicU64::new(0));
        let t = total.clone();
        let (rt, e) = run(cfg, move || {
            let rw = Arc::new(RWMutex::new());
            let activity = Arc::new(AtomicI32::new(0));
            let wg = Arc::new(WaitGroup::new());
            for k in 0..6 {
                wg.add(1);
                let (rw, a, t, wg) = (rw.clone(), activity.clone(), t.clone(), wg.clone());
                gort::go!(move || {
                    if k % 3 == 0 {
                        writer(&rw, &a, &t);
                    } else {
                        reader(&rw, &a);
                    }
                    wg.done();
                });
            }
            wg.wait();
            assert_eq!(rw.reader_count(), 0);
        });
        assert_ok(&rt, &e, "rw hammer");
        assert_eq!(total.load(Ordering::SeqCst), 2 * ITERS as u64);
    }
}

/// A writer waiting for readers blocks new readers (Go's RWMutex prefers
/// writers): with a reader inside and a writer queued, `try_rlock` fails
/// and a new `rlock` waits until the writer is done.
#[test]
fn rwmutex_pending_writer_blocks_new_readers() {
    for cfg in [par(1), par(2), det(1, 2), det(2, 3)] {
        let (rt, e) = run(cfg, || {
            let rw = Arc::new(RWMutex::new());
            let order = Arc::new(Value::<String>::new());
            let wg = Arc::new(WaitGroup::new());
            rw.rlock();
            wg.add(1);
            {
                let (rw, order, wg) = (rw.clone(), order.clone(), wg.clone());
                gort::go!(move || {
                    rw.lock();
                    order.store("writer".to_string());
                    rw.unlock();
                    wg.done();
                });
            }
            // Wait until the writer has announced itself.
            while rw.reader_count() >= 0 {
                gort::gosched();
            }
            assert!(!rw.try_rlock());
            wg.add(1);
            {
                let (rw, order, wg) = (rw.clone(), order.clone(), wg.clone());
                gort::go!(move || {
                    rw.rlock();
                    let seen = order.load();
                    assert_eq!(
                        seen.as_deref(),
                        Some("writer"),
                        "reader overtook the writer"
                    );
                    rw.runlock();
                    wg.done();
                });
            }
            for _ in 0..10 {
                gort::gosched();
            }
            rw.runlock();
            wg.wait();
        });
        assert_ok(&rt, &e, "writer preference");
    }
}

/// RLocker is the read side as a Locker.
#[test]
fn rwmutex_rlocker_is_a_read_lock() {
    let (rt, e) = run(par(2), || {
        let rw = RWMutex::new();
        let rl = rw.rlocker();
        rl.lock();
        rl.lock();
        assert_eq!(rw.reader_count(), 2);
        assert!(!rw.try_lock());
        rl.unlock();
        rl.unlock();
        assert!(rw.try_lock());
        Locker::unlock(&rw);
    });
    assert_ok(&rt, &e, "rlocker");
}

/// Go's TestRWMutexMisuse cases: each ends in Go's fatal error.
#[test]
fn rwmutex_misuse_is_fatal() {
    let unlock: [fn(); 3] = [
        || RWMutex::new().unlock(),
        || {
            let rw = RWMutex::new();
            rw.rlock();
            rw.unlock();
        },
        || {
            let rw = RWMutex::new();
            rw.lock();
            rw.unlock();
            rw.unlock();
        },
    ];
    let runlock: [fn(); 3] = [
        || RWMutex::new().runlock(),
        || {
            let rw = RWMutex::new();
            rw.lock();
            rw.runlock();
        },
        || {
            let rw = RWMutex::new();
            rw.rlock();
            rw.runlock();
            rw.runlock();
        },
    ];
    let cases = unlock
        .iter()
        .map(|f| (*f, "sync: Unlock of unlocked RWMutex"))
        .chain(
            runlock
                .iter()
                .map(|f| (*f, "sync: RUnlock of unlocked RWMutex")),
        );
    for (case, msg) in cases {
        for cfg in [par(2), det(1, 2)] {
            let (rt, e) = run(cfg, case);
            assert_eq!(e.status, 2, "{}", rt.stderr());
            let want = format!("fatal error: {msg}\n\ngoroutine 1 [running]:\n");
            assert!(rt.stderr().starts_with(&want), "{}", rt.stderr());
        }
    }
}

// ------------------------------------------------------------ WaitGroup

/// Go's TestWaitGroup: two rounds on the same two groups. Nobody passes
/// `wg2.wait()` before the n'th `wg2.done()`, and both groups are reusable
/// once every Wait of a round has returned.
#[test]
fn waitgroup_releases_all_and_is_reusable() {
    const N: usize = 16;
    for cfg in configs() {
        let (rt, e) = run(cfg, || {
            let wg1 = Arc::new(WaitGroup::new());
            let wg2 = Arc::new(WaitGroup::new());
            for _round in 0..3 {
                let exited = Arc::new(AtomicUsize::new(0));
                let all_exited = Arc::new(WaitGroup::new());
                wg1.add(N as i64);
                wg2.add(N as i64);
                all_exited.add(N as i64);
                for _ in 0..N {
                    let (wg1, wg2, exited, all) =
                        (wg1.clone(), wg2.clone(), exited.clone(), all_exited.clone());
                    gort::go!(move || {
                        wg1.done();
                        wg2.wait();
                        exited.fetch_add(1, Ordering::SeqCst);
                        all.done();
                    });
                }
                wg1.wait();
                for _ in 0..N {
                    assert_eq!(
                        exited.load(Ordering::SeqCst),
                        0,
                        "WaitGroup released group too soon"
                    );
                    wg2.done();
                }
                all_exited.wait();
                assert_eq!(exited.load(Ordering::SeqCst), N);
                assert_eq!(wg1.counter(), 0);
                assert_eq!(wg2.counter(), 0);
            }
        });
        assert_ok(&rt, &e, "waitgroup");
    }
}

/// Wait on a zero counter returns at once; Add(n) then n Dones from
/// other goroutines, many waiters at once.
#[test]
fn waitgroup_many_waiters() {
    for cfg in configs() {
        let (rt, e) = run(cfg, || {
            let wg = Arc::new(WaitGroup::new());
            wg.wait();
            wg.add(3);
            let back = Arc::new(WaitGroup::new());
            for _ in 0..5 {
                back.add(1);
                let (wg, back) = (wg.clone(), back.clone());
                gort::go!(move || {
                    wg.wait();
                    assert_eq!(wg.counter(), 0);
                    back.done();
                });
            }
            for _ in 0..3 {
                let wg = wg.clone();
                gort::go!(move || wg.done());
            }
            back.wait();
        });
        assert_ok(&rt, &e, "many waiters");
    }
}

/// Go's TestWaitGroupMisuse: Done below zero panics with Go's text.
#[test]
fn waitgroup_negative_counter_panics() {
    for cfg in [par(2), det(1, 2)] {
        let (rt, e) = run(cfg, || {
            let wg = WaitGroup::new();
            wg.add(1);
            wg.done();
            wg.done();
        });
        assert_eq!(e.status, 2, "{}", rt.stderr());
        let err = rt.stderr();
        assert!(
            err.starts_with("panic: sync: negative WaitGroup counter\n\ngoroutine 1 [running]:\n"),
            "{err}"
        );
    }
}

/// Reusing a group (a new Add) before a released waiter has returned from
/// Wait: at GOMAXPROCS=1 the waiter is only runnable when the releaser
/// adds again, so it finds the new round and panics with Go's text.
#[test]
fn waitgroup_reuse_before_wait_returned_panics() {
    for cfg in [par(1), det(1, 1).simpreempt(0), det(2, 1).simpreempt(0)] {
        let (rt, e) = run(cfg, || {
            let wg = Arc::new(WaitGroup::new());
            wg.add(1);
            {
                let wg = wg.clone();
                gort::go!(move || wg.wait());
            }
            // Let the waiter park.
            gort::gosched();
            wg.done();
            wg.add(1);
            gort::sleep(Duration::from_secs(1));
        });
        assert_eq!(e.status, 2, "{}", rt.stderr());
        let err = rt.stderr();
        assert!(
            err.starts_with(
                "panic: sync: WaitGroup is reused before previous Wait has returned\n\ngoroutine "
            ),
            "{err}"
        );
    }
}

// ----------------------------------------------------------------- Once

/// Go's TestOnce: many goroutines call Do; f runs exactly once, and every
/// Do returns only after f has finished.
#[test]
fn once_runs_f_exactly_once() {
    for cfg in configs() {
        let (rt, e) = run(cfg, || {
            let once = Arc::new(Once::new());
            let calls = Arc::new(AtomicUsize::new(0));
            let wg = Arc::new(WaitGroup::new());
            for _ in 0..10 {
                wg.add(1);
                let (once, calls, wg) = (once.clone(), calls.clone(), wg.clone());
                gort::go!(move || {
                    once.r#do(|| {
                        // Let the others pile up on the mutex.
                        gort::gosched();
                        gort::step();
                        calls.fetch_add(1, Ordering::SeqCst);
                    });
                    assert_eq!(calls.load(Ordering::SeqCst), 1, "Do returned before f ran");
                    wg.done();
                });
            }
            wg.wait();
            assert_eq!(calls.load(Ordering::SeqCst), 1);
            assert!(once.is_done());
        });
        assert_ok(&rt, &e, "once");
    }
}

/// Go's TestOncePanic: a panicking f counts as done, the panic reaches the
/// caller, and the mutex is released for a goroutine already blocked in
/// Do (which then returns without calling its f).
#[test]
fn once_counts_a_panicking_f_as_done() {
    for cfg in [par(1), par(2), det(1, 1), det(2, 2)] {
        let (rt, e) = run(cfg, || {
            let once = Arc::new(Once::new());
            let second_ran = Arc::new(AtomicBool::new(false));
            let wg = Arc::new(WaitGroup::new());
            let entered = Arc::new(AtomicBool::new(false));
            wg.add(1);
            {
                let (once, second_ran, wg, entered) = (
                    once.clone(),
                    second_ran.clone(),
                    wg.clone(),
                    entered.clone(),
                );
                gort::go!(move || {
                    while !entered.load(Ordering::SeqCst) {
                        gort::gosched();
                    }
                    once.r#do(|| second_ran.store(true, Ordering::SeqCst));
                    wg.done();
                });
            }
            let r = catch_unwind(AssertUnwindSafe(|| {
                once.r#do(|| {
                    entered.store(true, Ordering::SeqCst);
                    for _ in 0..5 {
                        gort::gosched();
                    }
                    panic!("failed");
                })
            }));
            assert!(r.is_err(), "Once.Do did not panic");
            assert!(once.is_done());
            once.r#do(|| panic!("Once.Do called twice"));
            wg.wait();
            assert!(!second_ran.load(Ordering::SeqCst), "Once.Do called twice");
        });
        assert_ok(&rt, &e, "once panic");
    }
}

// ----------------------------------------------------------------- Cond

/// Go's TestCondSignal: each Signal wakes exactly one waiter.
#[test]
fn cond_signal_wakes_one() {
    const N: usize = 3;
    for cfg in configs() {
        let (rt, e) = run(cfg, || {
            let c = Arc::new(Cond::new(Arc::new(Mutex::new())));
            let running = Arc::new(WaitGroup::new());
            let awake = Arc::new(Sema::new(0));
            let nawake = Arc::new(AtomicUsize::new(0));
            for _ in 0..N {
                running.add(1);
                let (c, running, awake, nawake) =
                    (c.clone(), running.clone(), awake.clone(), nawake.clone());
                gort::go!(move || {
                    c.l.lock();
                    running.done();
                    c.wait();
                    nawake.fetch_add(1, Ordering::SeqCst);
                    awake.release();
                    c.l.unlock();
                });
            }
            running.wait();
            for woken in 1..=N {
                c.l.lock();
                assert_eq!(
                    nawake.load(Ordering::SeqCst),
                    woken - 1,
                    "goroutine not asleep"
                );
                c.signal();
                c.l.unlock();
                // Deadlocks (gort reports it) if no goroutine wakes up.
                awake.acquire();
                for _ in 0..5 {
                    gort::gosched();
                }
                assert_eq!(
                    nawake.load(Ordering::SeqCst),
                    woken,
                    "too many goroutines awake"
                );
            }
            // No waiters left: a Signal is a no-op.
            c.signal();
        });
        assert_ok(&rt, &e, "cond signal");
    }
}

/// Go's TestCondBroadcast: one Broadcast wakes every waiter, and a
/// Broadcast with nobody waiting is not remembered.
#[test]
fn cond_broadcast_wakes_all() {
    const N: usize = 5;
    for cfg in configs() {
        let (rt, e) = run(cfg, || {
            let c = Arc::new(Cond::new(Arc::new(Mutex::new())));
            c.broadcast();
            for _round in 0..2 {
                let running = Arc::new(WaitGroup::new());
                let awake = Arc::new(WaitGroup::new());
                let nawake = Arc::new(AtomicUsize::new(0));
                for _ in 0..N {
                    running.add(1);
                    awake.add(1);
                    let (c, running, awake, nawake) =
                        (c.clone(), running.clone(), awake.clone(), nawake.clone());
                    gort::go!(move || {
                        c.l.lock();
                        running.done();
                        c.wait();
                        nawake.fetch_add(1, Ordering::SeqCst);
                        c.l.unlock();
                        awake.done();
                    });
                }
                running.wait();
                c.l.lock();
                assert_eq!(nawake.load(Ordering::SeqCst), 0, "goroutine not asleep");
                c.broadcast();
                c.l.unlock();
                awake.wait();
                assert_eq!(nawake.load(Ordering::SeqCst), N);
            }
        });
        assert_ok(&rt, &e, "cond broadcast");
    }
}

/// Waiters on a Cond show Go's wait reason in a deadlock dump.
#[test]
fn cond_waiters_show_sync_cond_wait_in_dumps() {
    for cfg in [par(2), det(1, 2)] {
        let (rt, e) = run(cfg, || {
            static MU: Mutex = Mutex::new();
            let c = Arc::new(Cond::new(&MU));
            let running = Arc::new(WaitGroup::new());
            for _ in 0..2 {
                running.add(1);
                let (c, running) = (c.clone(), running.clone());
                gort::go!(move || {
                    c.l.lock();
                    running.done();
                    c.wait();
                });
            }
            running.wait();
            let wg = WaitGroup::new();
            wg.add(1);
            wg.wait();
        });
        assert_eq!(e.status, 2);
        let err = rt.stderr();
        assert!(
            err.starts_with(
                "fatal error: all goroutines are asleep - deadlock!\n\ngoroutine 1 [semacquire]:\n"
            ),
            "{err}"
        );
        let waiting = err
            .lines()
            .filter(|l| l.starts_with("goroutine ") && l.ends_with(" [sync.Cond.Wait]:"))
            .count();
        assert_eq!(waiting, 2, "{err}");
    }
}

/// A Cond over an RWMutex's read side (Go's `NewCond(rw.RLocker())`).
#[test]
fn cond_with_rlocker() {
    for cfg in [par(2), det(3, 2)] {
        let (rt, e) = run(cfg, || {
            static RW: RWMutex = RWMutex::new();
            let c = Arc::new(Cond::new(RW.rlocker()));
            let ready = Arc::new(Bool::new(false));
            let wg = Arc::new(WaitGroup::new());
            for _ in 0..3 {
                wg.add(1);
                let (c, ready, wg) = (c.clone(), ready.clone(), wg.clone());
                gort::go!(move || {
                    c.l.lock();
                    while !ready.load() {
                        c.wait();
                    }
                    c.l.unlock();
                    wg.done();
                });
            }
            RW.lock();
            ready.store(true);
            RW.unlock();
            c.broadcast();
            wg.wait();
            assert_eq!(RW.reader_count(), 0);
        });
        assert_ok(&rt, &e, "cond rlocker");
    }
}

// --------------------------------------------------------------- atomic

/// Go's hammer tests: Add from many goroutines gives the exact total, for
/// every integer type.
#[test]
fn atomic_add_counts_exactly() {
    const G: u64 = 8;
    const N: u64 = 300;
    for cfg in configs() {
        let (rt, e) = run(cfg, || {
            let i32s = Arc::new(Int32::new(0));
            let i64s = Arc::new(Int64::default());
            let u32s = Arc::new(Uint32::new(0));
            let u64s = Arc::new(Uint64::new(0));
            let uptr = Arc::new(Uintptr::new(0));
            let wg = Arc::new(WaitGroup::new());
            for _ in 0..G {
                wg.add(1);
                let (a, b, c, d, p, wg) = (
                    i32s.clone(),
                    i64s.clone(),
                    u32s.clone(),
                    u64s.clone(),
                    uptr.clone(),
                    wg.clone(),
                );
                gort::go!(move || {
                    for _ in 0..N {
                        a.add(1);
                        b.add(2);
                        c.add(3);
                        d.add(4);
                        p.add(5);
                    }
                    wg.done();
                });
            }
            wg.wait();
            assert_eq!(i32s.load() as u64, G * N);
            assert_eq!(i64s.load() as u64, 2 * G * N);
            assert_eq!(u32s.load() as u64, 3 * G * N);
            assert_eq!(u64s.load(), 4 * G * N);
            assert_eq!(uptr.load() as u64, 5 * G * N);
        });
        assert_ok(&rt, &e, "atomic add");
    }
}

/// A compare-and-swap increment loop (load, a scheduling point, CAS,
/// retry) never loses an update, and in deterministic mode at several Ps
/// some CAS does fail and retry.
#[test]
fn atomic_cas_loop_counts_exactly() {
    const G: u64 = 6;
    const N: u64 = 200;
    for cfg in configs() {
        let failures = Arc::new(AtomicU64::new(0));
        let f = failures.clone();
        let (rt, e) = run(cfg, move || {
            let x = Arc::new(Int64::new(0));
            let wg = Arc::new(WaitGroup::new());
            for _ in 0..G {
                wg.add(1);
                let (x, wg, f) = (x.clone(), wg.clone(), f.clone());
                gort::go!(move || {
                    for _ in 0..N {
                        loop {
                            let old = x.load();
                            gort::preempt_point();
                            if x.compare_and_swap(old, old + 1) {
                                break;
                            }
                            f.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    wg.done();
                });
            }
            wg.wait();
            assert_eq!(x.load() as u64, G * N);
        });
        assert_ok(&rt, &e, "cas loop");
        let sc = rt.config().sched();
        if matches!(sc.mode, Mode::Deterministic(_)) && sc.gomaxprocs > 1 {
            assert!(
                failures.load(Ordering::SeqCst) > 0,
                "{}: no CAS ever failed: atomics are not interleaved",
                describe(&rt)
            );
        }
    }
}

/// Single-goroutine semantics of every method (Go's TestSwap*, TestCAS*,
/// TestStore*), including wrap-around and the unsigned decrement idiom.
#[test]
fn atomic_methods() {
    let (rt, e) = run(par(1), || {
        let x = Int32::new(5);
        assert_eq!(x.swap(7), 5);
        assert!(!x.compare_and_swap(5, 9));
        assert!(x.compare_and_swap(7, 9));
        assert_eq!(x.add(-10), -1);
        x.store(i32::MAX);
        assert_eq!(x.add(1), i32::MIN);

        let u = Uint32::new(0);
        assert_eq!(u.add(!0), u32::MAX); // Go's AddUint32(&u, ^uint32(0))
        let u = Uint64::new(10);
        assert_eq!(u.add(!(3 - 1)), 7); // Go's ^uint64(c-1): subtract 3

        let b = Bool::default();
        assert!(!b.load());
        assert!(!b.swap(true));
        assert!(b.compare_and_swap(true, false));
        assert!(!b.compare_and_swap(true, false));
        b.store(true);
        assert!(b.load());

        let p: Pointer<String> = Pointer::default();
        assert!(p.load().is_none());
        let a = Arc::new("a".to_string());
        let a2 = Arc::new("a".to_string());
        assert!(p.compare_and_swap(None, Some(a.clone())));
        assert!(
            !p.compare_and_swap(Some(&a2), None),
            "equal value, other pointer"
        );
        assert!(Arc::ptr_eq(&p.load().unwrap(), &a));
        let old = p.swap(Some(a2.clone())).unwrap();
        assert!(Arc::ptr_eq(&old, &a));
        assert!(p.compare_and_swap(Some(&a2), None));
        p.store(Some(a));
        assert_eq!(p.load().as_deref().map(String::as_str), Some("a"));

        let v: Value<Vec<u8>> = Value::new();
        assert_eq!(v.load(), None);
        assert!(!v.compare_and_swap(vec![1], vec![2]));
        assert!(v.compare_and_swap(None, vec![1]));
        assert!(v.compare_and_swap(vec![1], vec![2]));
        assert_eq!(v.swap(vec![3]), Some(vec![2]));
        v.store(vec![4]);
        assert_eq!(v.load(), Some(vec![4]));
    });
    assert_ok(&rt, &e, "atomic methods");
}

/// Go's Value panics on nil (`None`), with its texts.
#[test]
fn atomic_value_nil_panics() {
    let cases: [(fn(), &str); 3] = [
        (
            || Value::<i32>::new().store(None),
            "sync/atomic: store of nil value into Value",
        ),
        (
            || {
                Value::<i32>::new().swap(None);
            },
            "sync/atomic: swap of nil value into Value",
        ),
        (
            || {
                Value::<i32>::new().compare_and_swap(None, None);
            },
            "sync/atomic: compare and swap of nil value into Value",
        ),
    ];
    for (case, msg) in cases {
        let (rt, e) = run(par(1), case);
        assert_eq!(e.status, 2);
        assert!(
            rt.stderr().starts_with(&format!("panic: {msg}\n")),
            "{}",
            rt.stderr()
        );
    }
}

/// A Value publishes a configuration to readers while a writer replaces
/// it (Go's ExampleValue_config): every load sees a complete value.
#[test]
fn atomic_value_publishes_whole_values() {
    for cfg in configs() {
        let (rt, e) = run(cfg, || {
            let v = Arc::new(Value::<Vec<u64>>::new());
            v.store(vec![0; 8]);
            let wg = Arc::new(WaitGroup::new());
            for r in 0..3 {
                wg.add(1);
                let (v, wg) = (v.clone(), wg.clone());
                gort::go!(move || {
                    for _ in 0..100 + r {
                        let c = v.load().unwrap();
                        assert!(c.iter().all(|x| *x == c[0]), "torn value {c:?}");
                    }
                    wg.done();
                });
            }
            for i in 1..=100u64 {
                v.store(vec![i; 8]);
            }
            wg.wait();
            assert_eq!(v.load(), Some(vec![100; 8]));
        });
        assert_ok(&rt, &e, "value publish");
    }
}

// ---------------------------------------------------------------- dumps

/// The `sync` frames of each goroutine in a report, innermost first, with
/// names normalised as Go's compare: the last path segment, lowercase,
/// without underscores (`lock_slow` and Go's `lockSlow` both `lockslow`).
fn sync_frames(report: &str) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    for line in report.lines() {
        if line.starts_with("goroutine ") {
            out.push(Vec::new());
            continue;
        }
        let Some(cur) = out.last_mut() else { continue };
        if !(line.starts_with("gort_scheduler::sync::")
            || line.starts_with("<gort_scheduler::sync::"))
        {
            continue;
        }
        let f = line.split("(...)").next().unwrap_or(line);
        let mut name = f.rsplit("::").next().unwrap_or(f).to_string();
        if let Some(i) = name.find('<') {
            name.truncate(i);
        }
        cur.push(name.to_lowercase().replace('_', ""));
    }
    out
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Goroutines blocked in each primitive show the same chain of `sync`
/// frames as Go 1.19 (its dump of the same program, normalised:
/// `sync.runtime_SemacquireMutex`, `sync.(*Mutex).lockSlow`,
/// `sync.(*Mutex).Lock`, ...). The frames come from walking the parked
/// goroutines' stacks; where no frame resolves (a binary without debug
/// info), only the goroutine headers are checked.
#[test]
fn blocked_goroutines_show_gos_sync_frames() {
    let (rt, e) = run(par(2), || {
        let mu = Arc::new(Mutex::new());
        mu.lock();
        let m = mu.clone();
        gort::go!(move || m.lock());
        let rw = Arc::new(RWMutex::new());
        rw.lock();
        let r = rw.clone();
        gort::go!(move || r.rlock());
        let r = rw.clone();
        gort::go!(move || r.lock());
        let c = Arc::new(Cond::new(Arc::new(Mutex::new())));
        let c2 = c.clone();
        gort::go!(move || {
            c2.l.lock();
            c2.wait();
        });
        let once = Arc::new(Once::new());
        let (o, m) = (once.clone(), mu.clone());
        gort::go!(move || o.r#do(|| m.lock()));
        // Let every goroutine block.
        for _ in 0..50 {
            gort::gosched();
        }
        let wg = WaitGroup::new();
        wg.add(1);
        wg.wait();
    });
    assert_eq!(e.status, 2);
    let err = rt.stderr();
    assert!(
        err.starts_with("fatal error: all goroutines are asleep - deadlock!\n\n"),
        "{err}"
    );
    let got = sync_frames(&err);
    assert_eq!(got.len(), 6, "{err}");
    if got.iter().all(|g| g.is_empty()) {
        eprintln!("no frames resolved (no debug info?): frame chains not checked");
        return;
    }
    let sem = "runtimesemacquiremutex";
    let want = vec![
        names(&["runtimesemacquire", "wait"]),
        names(&[sem, "lockslow", "lock"]),
        names(&[sem, "rlock"]),
        names(&[sem, "lockslow", "lock", "lock"]),
        names(&["runtimenotifylistwait", "wait"]),
        names(&[sem, "lockslow", "lock", "doslow", "do"]),
    ];
    assert_eq!(got, want, "{err}");
}

/// The misuse reports show Go's frames too: `sync.fatal`,
/// `sync.(*Mutex).unlockSlow`, `sync.(*Mutex).Unlock` for the fatal
/// error, `sync.(*WaitGroup).Add`, `sync.(*WaitGroup).Done` for the panic.
#[test]
fn misuse_reports_show_gos_sync_frames() {
    type Case = (fn(), &'static [&'static str]);
    let cases: [Case; 3] = [
        (|| Mutex::new().unlock(), &["fatal", "unlockslow", "unlock"]),
        (
            || {
                let wg = WaitGroup::new();
                wg.done();
            },
            &["add", "done"],
        ),
        (
            || {
                let rw = RWMutex::new();
                rw.runlock();
            },
            &["fatal", "runlockslow", "runlock"],
        ),
    ];
    for (case, want) in cases {
        let (rt, e) = run(par(1), case);
        assert_eq!(e.status, 2);
        let got = sync_frames(&rt.stderr());
        assert_eq!(got.len(), 1, "{}", rt.stderr());
        if got[0].is_empty() {
            continue;
        }
        assert_eq!(got[0], names(want), "{}", rt.stderr());
    }
}
