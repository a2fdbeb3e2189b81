//! Go's `sync.Mutex` and `sync.RWMutex` on gort: the behaviour Go's own
//! tests check (sync/mutex_test.go, rwmutex_test.go), in parallel mode at
//! GOMAXPROCS 1, 2, 4 and in deterministic mode over several seeds, and
//! the `sync` frames of goroutine dumps. No assertion depends on timing:
//! where Go's tests wait "long enough", these wait for an event, and a
//! broken primitive shows up as a wrong count, a panic inside the scenario
//! (exit status 2) or gort's deadlock report.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gort::sync::atomic::Value;
use gort::sync::{MUTEX_LOCKED, MUTEX_STARVING};
use gort::{Cond, Locker, Mutex, Once, RWMutex, WaitGroup};

mod common;
use common::sync::*;

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
                gort::rt::step();
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
    // The workspace's profiles keep debug info (release: "limited"), so
    // frames always resolve; none resolved is a failure, not a skip.
    assert!(
        !got.iter().all(|g| g.is_empty()),
        "no frames resolved: build with debug info (the workspace profiles keep it)\n{err}"
    );
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
