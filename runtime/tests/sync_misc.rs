//! Go's `sync.WaitGroup`, `Once`, `Cond` and `sync/atomic` on gort: the
//! behaviour Go's own tests check (waitgroup_test.go, once_test.go,
//! cond_test.go, atomic_test.go), in parallel mode at GOMAXPROCS 1, 2, 4
//! and in deterministic mode over several seeds, without timing
//! assertions.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gort::rt::{Mode, Sema};
use gort::sync::atomic::{Bool, Int32, Int64, Pointer, Uint32, Uint64, Uintptr, Value};
use gort::{Cond, Locker, Mutex, Once, RWMutex, WaitGroup};

mod common;
use common::sync::*;

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
                        gort::rt::step();
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
/// some CAS does fail and retry. The goroutines run for longer than an
/// idle P's wake-up latency, so the other Ps join in while they run.
#[test]
fn atomic_cas_loop_counts_exactly() {
    const G: u64 = 6;
    const N: u64 = 20_000;
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
