//! Scheduler behaviour a scenario author relies on, checked through the
//! public API in both execution modes.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gort::{Config, Runtime, WaitGroup};

mod common;
use common::{det, par};

/// The OS thread running the caller. Never inlined: a goroutine may move
/// to another thread at any gort call, and an inlined thread-local access
/// could reuse an address computed before the move (platform.md).
#[inline(never)]
fn os_thread() -> std::thread::ThreadId {
    std::thread::current().id()
}

/// At GOMAXPROCS=1 a new goroutine goes to runnext and the one it displaces
/// to the tail of the queue: `go a; go b; go c` runs c, a, b (Go 1.19 does
/// the same; see tests/go_compare.rs).
#[test]
fn new_goroutines_run_runnext_first() {
    for cfg in [det(7, 1).simpreempt(0), par(1)] {
        let rt = Runtime::new(cfg);
        let e = common::run(&rt, common::runnext_scenario);
        assert_eq!(e.status, 0, "{}", rt.stderr());
        assert_eq!(rt.stdout(), "c\na\nb\n");
    }
}

/// Gosched sends the caller to the global queue, behind goroutines already
/// queued locally: two goroutines alternating with Gosched on one P
/// interleave strictly.
#[test]
fn gosched_alternates_two_goroutines_on_one_p() {
    for cfg in [det(3, 1).simpreempt(0), par(1)] {
        let rt = Runtime::new(cfg);
        let e = common::run(&rt, common::gosched_scenario);
        assert_eq!(e.status, 0, "{}", rt.stderr());
        assert_eq!(rt.stdout(), "y0\nx0\ny1\nx1\ny2\nx2\n");
    }
}

/// The 1-in-61 fairness check: main, parked in the global queue by
/// Gosched, runs again after 61 schedule ticks even though 100 runnable
/// goroutines are queued locally (without the check it would run last).
#[test]
fn global_queue_is_polled_every_61_ticks() {
    for cfg in [det(1, 1).simpreempt(0), par(1)] {
        let rt = Runtime::new(cfg);
        let e = common::run(&rt, || {
            let ran = Arc::new(AtomicUsize::new(0));
            for _ in 0..100 {
                let ran = ran.clone();
                gort::go!(move || {
                    ran.fetch_add(1, Ordering::Relaxed);
                });
            }
            gort::gosched();
            // runnext (inheriting main's tick) plus 60 from the ring, each
            // a new schedule tick: then tick 61 polls the global queue.
            gort::println!("{}", ran.load(Ordering::Relaxed));
        });
        assert_eq!(e.status, 0, "{}", rt.stderr());
        assert_eq!(rt.stdout(), "61\n");
    }
}

/// Work stealing: goroutines created on P0 complete on other Ps too.
#[test]
fn idle_ps_steal_work() {
    let rt = Runtime::new(par(2));
    let seen = Arc::new(Mutex::new(std::collections::HashSet::new()));
    let s2 = seen.clone();
    let e = common::run(&rt, move || {
        // Rounds until a second M has run something (on a loaded host its
        // thread may not get a CPU during the first round).
        for _ in 0..50 {
            let wg = Arc::new(WaitGroup::new());
            for _ in 0..200 {
                wg.add(1);
                let wg = wg.clone();
                let seen = s2.clone();
                gort::go!(move || {
                    // Burn enough time that the other P's M wakes and steals.
                    let t = std::time::Instant::now();
                    while t.elapsed() < Duration::from_micros(200) {
                        gort::preempt_point();
                    }
                    seen.lock().unwrap().insert(os_thread());
                    wg.done();
                });
            }
            wg.wait();
            if s2.lock().unwrap().len() == 2 {
                break;
            }
        }
    });
    assert_eq!(e.status, 0, "{}", rt.stderr());
    assert_eq!(seen.lock().unwrap().len(), 2, "only one M ran goroutines");
}

#[test]
fn hundred_thousand_goroutines_alive_at_once() {
    for cfg in [par(2), det(5, 2)] {
        let rt = Runtime::new(cfg);
        let done = Arc::new(AtomicUsize::new(0));
        let d2 = done.clone();
        let e = common::run(&rt, move || {
            let n = 100_000;
            let start = Arc::new(WaitGroup::new());
            let finish = Arc::new(WaitGroup::new());
            start.add(1);
            finish.add(n);
            let alive = Arc::new(AtomicUsize::new(0));
            for _ in 0..n {
                let (start, finish, alive, done) =
                    (start.clone(), finish.clone(), alive.clone(), d2.clone());
                gort::go!(move || {
                    alive.fetch_add(1, Ordering::Relaxed);
                    start.wait();
                    done.fetch_add(1, Ordering::Relaxed);
                    finish.done();
                });
            }
            // Let every goroutine reach the barrier, then release them all.
            while alive.load(Ordering::Relaxed) < n as usize {
                gort::gosched();
            }
            start.done();
            finish.wait();
        });
        assert_eq!(e.status, 0, "{}", rt.stderr());
        assert_eq!(done.load(Ordering::Relaxed), 100_000);
    }
}

/// A goroutine that spins calling only `preempt_point()` is preempted by
/// sysmon after its 10 ms time slice, so main gets the only P back.
#[test]
fn spinning_goroutine_is_preempted() {
    for cfg in [par(1), det(11, 1).simpreempt(0)] {
        let rt = Runtime::new(cfg);
        let e = common::run(&rt, || {
            let stop = Arc::new(AtomicBool::new(false));
            let spins = Arc::new(AtomicU64::new(0));
            let (s, c) = (stop.clone(), spins.clone());
            gort::go!(move || {
                while !s.load(Ordering::Relaxed) {
                    c.fetch_add(1, Ordering::Relaxed);
                    gort::preempt_point();
                }
            });
            // Hand the P to the spinner; only preemption brings us back.
            gort::gosched();
            stop.store(true, Ordering::Relaxed);
            assert!(spins.load(Ordering::Relaxed) > 0);
        });
        assert_eq!(e.status, 0, "{}", rt.stderr());
    }
}

#[allow(unconditional_recursion)]
fn recurse(n: u64) -> u64 {
    let buf = std::hint::black_box([n; 64]);
    gort::preempt_point();
    recurse(n + 1) + buf[3]
}

#[test]
fn stack_overflow_is_a_fatal_error() {
    for cfg in [par(2), det(1, 2)] {
        let rt = Runtime::new(cfg);
        let e = common::run(&rt, || {
            gort::go!(|| {
                // Let main reach its sleep first, so its dump line is fixed.
                gort::sleep(Duration::from_millis(20));
                recurse(0);
            });
            gort::sleep(Duration::from_secs(3600));
        });
        assert_eq!(e.status, 2);
        let err = rt.stderr();
        let lines: Vec<&str> = err.lines().collect();
        assert!(
            lines[0].starts_with("runtime: goroutine stack exceeds ")
                && lines[0].ends_with("-byte limit"),
            "{err}"
        );
        assert!(lines[1].starts_with("runtime: sp=0x") && lines[1].contains(" stack=[0x"));
        assert_eq!(lines[2], "fatal error: stack overflow");
        assert_eq!(lines[3], "");
        assert!(
            lines[4].starts_with("goroutine ") && lines[4].ends_with(" [running]:"),
            "{err}"
        );
        assert!(err.contains("\ngoroutine 1 [sleep]:\n"), "{err}");
        assert_eq!(e.report, err);
    }
}

const BOOM_LINE: u32 = line!() + 3;
#[inline(never)]
fn boom(what: &str) {
    panic!("{what}");
}

/// Go's panic report: the value, a blank line, the goroutine with its
/// frames innermost first (the scenario's own: Rust's panic machinery is
/// hidden as Go hides runtime frames), then `created by`.
#[test]
fn panic_in_goroutine_is_reported_like_go() {
    let here = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sched.rs:");
    for cfg in [par(2), det(9, 2)] {
        let rt = Runtime::new(cfg);
        let go_line = line!() + 2;
        let e = common::run(&rt, || {
            gort::go!(|| {
                boom("boom");
            });
            gort::sleep(Duration::from_secs(3600));
        });
        assert_eq!(e.status, 2);
        let err = rt.stderr();
        assert_eq!(e.report, err);
        // GOTRACEBACK=single shows one goroutine, and no Rust panic message.
        let f = "sched::panic_in_goroutine_is_reported_like_go::{{closure}}";
        assert_eq!(
            err,
            format!(
                "panic: boom\n\ngoroutine 5 [running]:\n\
                 sched::boom(...)\n\t{here}{BOOM_LINE}\n\
                 {f}::{{{{closure}}}}(...)\n\t{here}{}\n\
                 created by {f}\n\t{here}{go_line}\n",
                go_line + 1
            )
        );
        assert!(
            !err.contains("thread '"),
            "a Rust panic message leaked:\n{err}"
        );
    }
}

#[test]
fn panic_in_main_goroutine() {
    let rt = Runtime::new(par(1));
    let e = common::run(&rt, || {
        let v: Vec<u8> = Vec::new();
        let i = std::hint::black_box(5);
        let _ = v[i];
    });
    assert_eq!(e.status, 2);
    let err = rt.stderr();
    assert!(
        err.starts_with(
            "panic: index out of bounds: the len is 0 but the index is 5\n\ngoroutine 1 [running]:\nsched::panic_in_main_goroutine::{{closure}}(...)\n\t"
        ),
        "{err}"
    );
    // std's slice indexing frame is hidden, as Go hides runtime frames;
    // the main goroutine has no creator.
    assert_eq!(err.lines().count(), 5, "{err}");
}

/// Same seed, same bytes; different seeds, different interleavings.
#[test]
fn same_seed_same_output() {
    fn scenario(seed: u64) -> (String, String) {
        let rt = Runtime::new(det(seed, 4).schedtrace(1).scheddetail(true));
        let e = common::run(&rt, || {
            let wg = Arc::new(WaitGroup::new());
            let shared = Arc::new(AtomicU64::new(0));
            for i in 0..8 {
                wg.add(1);
                let (wg, shared) = (wg.clone(), shared.clone());
                gort::go!(move || {
                    for j in 0..20 {
                        // A racy read-modify-write made of steps: the
                        // interleaving decides the final value.
                        let v = shared.load(Ordering::Relaxed);
                        gort::rt::step();
                        shared.store(v + 1, Ordering::Relaxed);
                        if j % 5 == 0 {
                            gort::println!("g{i} j{j} v{v} t{}", gort::nanotime());
                        }
                        gort::preempt_point();
                    }
                    gort::sleep(Duration::from_millis(2));
                    wg.done();
                });
            }
            wg.wait();
            gort::println!("final {}", shared.load(Ordering::Relaxed));
        });
        assert_eq!(e.status, 0, "{}", rt.stderr());
        (rt.stdout(), rt.stderr())
    }
    let a = scenario(42);
    let b = scenario(42);
    assert_eq!(a, b);
    assert!(a.1.contains("SCHED 0ms: gomaxprocs=4"), "{}", a.1);
    let c = scenario(43);
    assert_ne!(a.0, c.0);
}

/// Sleepers wake no earlier than their deadline. In virtual time (and on
/// an unloaded machine) they wake in deadline order; in parallel mode a
/// loaded host may deliver two overdue timers together, and Go then readies
/// them in an order the test must not depend on.
#[test]
fn sleep_wakes_in_deadline_order() {
    for (cfg, ordered) in [(par(2), false), (det(4, 2), true), (det(5, 3), true)] {
        let rt = Runtime::new(cfg);
        let e = common::run(&rt, || {
            let wg = Arc::new(WaitGroup::new());
            for ms in [30u64, 10, 20] {
                wg.add(1);
                let wg = wg.clone();
                gort::go!(move || {
                    let t0 = gort::nanotime();
                    gort::sleep(Duration::from_millis(ms));
                    assert!(gort::nanotime() - t0 >= ms * 1_000_000);
                    gort::println!("{ms}");
                    wg.done();
                });
            }
            wg.wait();
        });
        assert_eq!(e.status, 0, "{}", rt.stderr());
        let out = rt.stdout();
        if ordered {
            assert_eq!(out, "10\n20\n30\n");
        } else {
            let mut lines: Vec<&str> = out.lines().collect();
            lines.sort_by_key(|l| l.parse::<u64>().unwrap());
            assert_eq!(lines, ["10", "20", "30"]);
        }
    }
}

/// While the world is stopped no other goroutine makes progress, and it
/// resumes afterwards.
#[test]
fn stop_the_world_stops_every_other_goroutine() {
    for cfg in [par(2), det(8, 3), det(9, 2).simpreempt(1)] {
        let rt = Runtime::new(cfg);
        let e = common::run(&rt, || {
            let stop = Arc::new(AtomicBool::new(false));
            let counter = Arc::new(AtomicU64::new(0));
            for _ in 0..2 {
                let (s, c) = (stop.clone(), counter.clone());
                gort::go!(move || {
                    while !s.load(Ordering::Relaxed) {
                        c.fetch_add(1, Ordering::Relaxed);
                        gort::preempt_point();
                    }
                });
            }
            while counter.load(Ordering::Relaxed) < 1000 {
                gort::preempt_point();
            }
            gort::rt::stop_the_world("test");
            assert!(gort::rt::world_stopped());
            assert_eq!(gort::rt::stw_reason(), "test");
            let before = counter.load(Ordering::Relaxed);
            for _ in 0..10_000 {
                gort::rt::step();
            }
            std::thread::sleep(Duration::from_millis(5));
            // The stopper runs past sysmon's 10 ms slice through safepoints:
            // it must not be preempted while it owns every P.
            let t0 = gort::nanotime();
            while gort::nanotime() - t0 < 25_000_000 {
                gort::preempt_point();
            }
            assert_eq!(counter.load(Ordering::Relaxed), before);
            gort::rt::start_the_world();
            while counter.load(Ordering::Relaxed) == before {
                gort::preempt_point();
            }
            stop.store(true, Ordering::Relaxed);
        });
        assert_eq!(e.status, 0, "{}", rt.stderr());
    }
}

/// A stop of the world takes back a P that `startm` had handed to a
/// parked M not yet awake (the M then finds no P and parks again). After
/// many stops amid constant wake-ups (timers and channel hand-offs, each
/// starting an M), the scheduler still runs two goroutines at once on two
/// Ps: no P is left stranded and the spinning-M count is not left high
/// (with it stuck, `wakep` would never start another M).
#[test]
fn stops_amid_wakeups_leave_every_p_usable() {
    let rt = Runtime::new(par(2));
    let e = common::run(&rt, || {
        let stop = Arc::new(AtomicBool::new(false));
        let wg = Arc::new(WaitGroup::new());
        for i in 0..4 {
            wg.add(1);
            let (stop, wg) = (stop.clone(), wg.clone());
            gort::go!(move || {
                let c: gort::Chan<u64> = gort::Chan::new(0);
                let c2 = c.clone();
                gort::go!(move || while c2.recv().is_some_and(|v| v != 0) {});
                while !stop.load(Ordering::Relaxed) {
                    gort::sleep(Duration::from_micros(20 + 10 * i));
                    c.send(1);
                }
                c.send(0);
                wg.done();
            });
        }
        for _ in 0..300 {
            gort::rt::stop_the_world("test");
            gort::rt::start_the_world();
            gort::sleep(Duration::from_micros(50));
        }
        stop.store(true, Ordering::Relaxed);
        wg.wait();
        // Two goroutines that can only finish together: each waits,
        // without a safepoint, for the other to have started.
        let flags = Arc::new([AtomicBool::new(false), AtomicBool::new(false)]);
        let met = Arc::new(AtomicUsize::new(0));
        let wg = Arc::new(WaitGroup::new());
        for me in 0..2 {
            wg.add(1);
            let (flags, met, wg) = (flags.clone(), met.clone(), wg.clone());
            gort::go!(move || {
                flags[me].store(true, Ordering::SeqCst);
                let t0 = std::time::Instant::now();
                while !flags[1 - me].load(Ordering::SeqCst) {
                    if t0.elapsed() > Duration::from_secs(2) {
                        wg.done();
                        return;
                    }
                    std::hint::spin_loop();
                }
                met.fetch_add(1, Ordering::SeqCst);
                wg.done();
            });
        }
        wg.wait();
        assert_eq!(
            met.load(Ordering::SeqCst),
            2,
            "the two goroutines never ran at the same time"
        );
    });
    assert_eq!(e.status, 0, "{}", rt.stderr());
}

/// A goroutine resumed on another OS thread still finds itself (getg is
/// derived from the stack pointer, not from a thread-local).
#[test]
fn goroutines_migrate_between_threads() {
    let rt = Runtime::new(par(2));
    let migrated = Arc::new(AtomicBool::new(false));
    let m2 = migrated.clone();
    let e = common::run(&rt, move || {
        // Rounds until some goroutine has moved (a loaded host may keep the
        // second M off the CPU for a while).
        for _ in 0..50 {
            let wg = Arc::new(WaitGroup::new());
            for _ in 0..8 {
                wg.add(1);
                let (wg, migrated) = (wg.clone(), m2.clone());
                gort::go!(move || {
                    let me = gort::goid();
                    let first = os_thread();
                    for _ in 0..20_000 {
                        gort::gosched();
                        assert_eq!(gort::goid(), me);
                        if os_thread() != first {
                            migrated.store(true, Ordering::Relaxed);
                        }
                    }
                    wg.done();
                });
            }
            wg.wait();
            if m2.load(Ordering::Relaxed) {
                break;
            }
        }
    });
    assert_eq!(e.status, 0, "{}", rt.stderr());
    assert!(migrated.load(Ordering::Relaxed));
}

#[test]
fn deadlock_is_detected() {
    for cfg in [par(2), det(2, 2)] {
        let rt = Runtime::new(cfg);
        let e = common::run(&rt, || {
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
    }
}

#[test]
fn runtimes_run_side_by_side() {
    let hs: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                let cfg = if i % 2 == 0 { par(2) } else { det(i, 2) };
                let rt = Runtime::new(cfg);
                // Not `common::run`, which keeps deterministic runtimes alone.
                let e = rt.run(move || {
                    let wg = Arc::new(WaitGroup::new());
                    for _ in 0..100 {
                        wg.add(1);
                        let wg = wg.clone();
                        gort::go!(move || {
                            gort::gosched();
                            wg.done();
                        });
                    }
                    wg.wait();
                    gort::println!("done {i}");
                });
                assert_eq!(e.status, 0);
                rt.stdout()
            })
        })
        .collect();
    for (i, h) in hs.into_iter().enumerate() {
        assert_eq!(h.join().unwrap(), format!("done {i}\n"));
    }
}

#[test]
fn config_warnings_are_printed_once() {
    let cfg = Config::from_vars(|k| match k {
        "GOMAXPROCS" => Some("abc".into()),
        "GODEBUG" => Some("schedtrace=-1,nosuchkey=1".into()),
        _ => None,
    })
    .capture_output();
    let rt = Runtime::new(cfg);
    let e = common::run(&rt, || {});
    assert_eq!(e.status, 0);
    let err = rt.stderr();
    assert_eq!(err.lines().count(), 3, "{err}");
    assert!(err.contains("GOMAXPROCS=\"abc\""), "{err}");
    assert!(err.contains("schedtrace=\"-1\""), "{err}");
    assert!(err.contains("unknown GODEBUG key \"nosuchkey\""), "{err}");
}

/// scheddetail prints Go's P, M and G lines (reference/sched.md §12): M1 is
/// sysmon with locks=2, dead goroutines show `status=6()`, waiting ones
/// their reason.
#[test]
fn scheddetail_lines_follow_go() {
    let rt = Runtime::new(det(21, 2).schedtrace(1).scheddetail(true));
    let e = common::run(&rt, || {
        let wg = Arc::new(WaitGroup::new());
        for _ in 0..3 {
            wg.add(1);
            let wg = wg.clone();
            gort::go!(move || {
                gort::sleep(Duration::from_millis(1));
                wg.done();
            });
        }
        wg.wait();
        // Let sysmon print once more with the three goroutines dead.
        gort::sleep(Duration::from_millis(3));
    });
    assert_eq!(e.status, 0, "{}", rt.stderr());
    let err = rt.stderr();
    let first = err.lines().next().unwrap();
    assert!(
        first.starts_with("SCHED 0ms: gomaxprocs=2 idleprocs="),
        "{first}"
    );
    assert!(
        first.ends_with(" gcwaiting=0 nmidlelocked=0 stopwait=0 sysmonwait=0"),
        "{first}"
    );
    assert!(err.contains("\n  P0: status=1 schedtick="), "{err}");
    assert!(err.contains(" syscalltick=0 m=0 runqsize="), "{err}");
    assert!(err.contains("\n  M1: p=-1 curg=-1 mallocing=0 throwing=0 preemptoff= locks=2 dying=0 spinning=false blocked=false lockedg=-1\n"), "{err}");
    assert!(
        err.contains("\n  G1: status=4(semacquire) m=-1 lockedm=-1\n")
            || err.contains("\n  G1: status=4(sleep) m=-1 lockedm=-1\n"),
        "{err}"
    );
    assert!(err.contains("(sleep) m=-1 lockedm=-1\n"), "{err}");
    assert!(err.contains(": status=6() m=-1 lockedm=-1\n"), "{err}");
}

/// Go's runtime.Goexit: the goroutine ends after its destructors (deferred
/// calls) run; main calling it leaves the program running until the rest
/// finish, then `fatal error: no goroutines (main called runtime.Goexit) -
/// deadlock!` with nothing to dump, status 2 (checked against Go in
/// go_compare.rs).
#[test]
fn goexit_ends_only_the_calling_goroutine() {
    struct Deferred(&'static str);
    impl Drop for Deferred {
        fn drop(&mut self) {
            gort::println!("deferred in {}", self.0);
        }
    }
    for cfg in [par(2), det(6, 2)] {
        let rt = Runtime::new(cfg);
        let e = common::run(&rt, || {
            gort::go!(|| {
                let _d = Deferred("worker");
                gort::sleep(Duration::from_millis(10));
                gort::println!("worker sees {} goroutines", gort::num_goroutine());
                gort::goexit();
            });
            let _d = Deferred("main");
            assert_eq!(gort::num_goroutine(), 2);
            gort::goexit();
        });
        assert_eq!(e.status, 2);
        assert_eq!(
            rt.stdout(),
            "deferred in main\nworker sees 1 goroutines\ndeferred in worker\n"
        );
        assert_eq!(
            rt.stderr(),
            "fatal error: no goroutines (main called runtime.Goexit) - deadlock!\n"
        );
    }
}

/// Go's runtime.GOMAXPROCS(n): returns the previous value, resizes the P
/// set with the world stopped; goroutines queued on removed Ps still run,
/// and nothing runs on a P beyond the new count.
#[test]
fn set_gomaxprocs_grows_and_shrinks() {
    for cfg in [par(2), det(12, 2)] {
        let rt = Runtime::new(cfg);
        let e = common::run(&rt, || {
            assert_eq!(gort::set_gomaxprocs(0), 2);
            assert_eq!(gort::set_gomaxprocs(4), 2);
            assert_eq!(gort::gomaxprocs(), 4);
            let wg = Arc::new(WaitGroup::new());
            let max_p = Arc::new(AtomicUsize::new(0));
            for _ in 0..64 {
                wg.add(1);
                let (wg, max_p) = (wg.clone(), max_p.clone());
                gort::go!(move || {
                    for _ in 0..50 {
                        max_p.fetch_max(gort::rt::procid(), Ordering::Relaxed);
                        gort::gosched();
                    }
                    wg.done();
                });
            }
            // Shrink while those goroutines sit in run queues everywhere.
            gort::gosched();
            assert_eq!(gort::set_gomaxprocs(1), 4);
            assert_eq!(gort::rt::procid(), 0);
            max_p.store(0, Ordering::Relaxed);
            wg.wait();
            assert_eq!(max_p.load(Ordering::Relaxed), 0, "ran on a removed P");
            // Sleepers whose timers lived on removed Ps still wake.
            assert_eq!(gort::set_gomaxprocs(3), 1);
            let wg2 = Arc::new(WaitGroup::new());
            for _ in 0..6 {
                wg2.add(1);
                let wg2 = wg2.clone();
                gort::go!(move || {
                    gort::sleep(Duration::from_millis(2));
                    wg2.done();
                });
            }
            gort::gosched();
            assert_eq!(gort::set_gomaxprocs(2), 3);
            wg2.wait();
            gort::println!("gomaxprocs {}", gort::gomaxprocs());
        });
        assert_eq!(e.status, 0, "{}", rt.stderr());
        assert_eq!(rt.stdout(), "gomaxprocs 2\n");
    }
}

/// The GPtr a goroutine publishes before `gopark`, taken by whoever wakes
/// it.
type GSlot = Arc<Mutex<Option<gort::rt::GPtr>>>;

/// A goroutine that parks with `gopark` publishes `current()`; another
/// takes it and `goready`s it: the pair Go's runtime-internal primitives
/// use, open to scenarios (in both modes).
#[test]
fn gopark_and_goready_pair_up() {
    for cfg in [det(5, 2), par(2)] {
        let rt = common::run_ok(cfg, || {
            let slot: GSlot = Arc::default();
            let s = slot.clone();
            gort::go!(move || loop {
                if let Some(gp) = s.lock().unwrap().take() {
                    // Parked, or about to: wait until the park is done.
                    gort::sleep(Duration::from_millis(1));
                    gort::rt::goready(gp);
                    return;
                }
                gort::gosched();
            });
            *slot.lock().unwrap() = Some(gort::rt::current());
            gort::rt::gopark(gort::rt::WaitReason::Zero, None);
            gort::println!("woken");
        });
        assert_eq!(rt.stdout(), "woken\n");
    }
}

/// `goready` only wakes a goroutine parked by `gopark`: one blocked in a
/// channel receive still has its waiter record queued in the channel, so
/// waking it would leave the channel pointing into a stack frame that is
/// gone. Go's `fatal error: bad g->status in ready` instead.
#[test]
fn goready_of_a_goroutine_blocked_in_a_channel_is_a_fatal_error() {
    for cfg in [det(5, 1), par(1)] {
        let rt = Runtime::new(cfg);
        let e = common::run(&rt, || {
            let c: gort::Chan<u64> = gort::Chan::new(0);
            let slot: GSlot = Arc::default();
            let (c2, s2) = (c.clone(), slot.clone());
            gort::go!(move || {
                *s2.lock().unwrap() = Some(gort::rt::current());
                let v = c2.recv();
                gort::println!("received {v:?}");
            });
            // The receiver runs and blocks.
            gort::sleep(Duration::from_millis(1));
            let gp = slot.lock().unwrap().take().unwrap();
            gort::rt::goready(gp);
            gort::sleep(Duration::from_millis(1));
            c.send(1);
        });
        assert_eq!(e.status, 2, "stdout:\n{}", rt.stdout());
        assert!(
            rt.stderr()
                .contains("\nfatal error: bad g->status in ready\n"),
            "{}",
            rt.stderr()
        );
        assert_eq!(rt.stdout(), "");
    }
}

/// Nor does it wake a sleeping goroutine (whose timer would later ready it
/// a second time, wherever it is parked by then).
#[test]
fn goready_of_a_sleeping_goroutine_is_a_fatal_error() {
    let rt = Runtime::new(det(9, 1));
    let e = common::run(&rt, || {
        let slot: GSlot = Arc::default();
        let s2 = slot.clone();
        gort::go!(move || {
            *s2.lock().unwrap() = Some(gort::rt::current());
            gort::sleep(Duration::from_secs(1));
            gort::println!("slept");
        });
        gort::sleep(Duration::from_millis(1));
        let gp = slot.lock().unwrap().take().unwrap();
        gort::rt::goready(gp);
        gort::sleep(Duration::from_secs(2));
    });
    assert_eq!(e.status, 2, "stdout:\n{}", rt.stdout());
    assert!(rt
        .stderr()
        .contains("fatal error: bad g->status in ready\n"));
    assert_eq!(rt.stdout(), "");
}

/// A GPtr kept from an earlier run names a goroutine that was freed with
/// that run: `goready` checks it against the running runtime's goroutines
/// instead of dereferencing it.
#[test]
fn goready_of_a_gptr_from_an_earlier_run_is_a_fatal_error() {
    let slot: GSlot = Arc::default();
    let s = slot.clone();
    common::run_ok(par(1), move || {
        // A goroutine left parked when main returns (abandoned, then freed).
        gort::go!(move || {
            *s.lock().unwrap() = Some(gort::rt::current());
            gort::rt::gopark(gort::rt::WaitReason::Zero, None);
        });
        gort::sleep(Duration::from_millis(1));
    });
    let stale = slot.lock().unwrap().take().unwrap();
    let rt = Runtime::new(par(1));
    let e = common::run(&rt, move || {
        gort::rt::goready(stale);
        gort::println!("readied");
    });
    assert_eq!(e.status, 2);
    assert!(rt
        .stderr()
        .contains("fatal error: bad g->status in ready\n"));
    assert_eq!(rt.stdout(), "");
}

/// An unlock function that takes its time and then cancels the park.
///
/// # Safety
/// None needed: it touches nothing.
unsafe fn slow_cancel(_: usize) -> bool {
    std::thread::sleep(Duration::from_millis(100));
    false
}

/// A `goready` that lands while the parking goroutine's unlock function
/// runs, which then cancels the park: the goroutine is already queued by
/// the waker, so it must resume once, from the queue, not also on the M
/// that parked it (one coroutine resumed on two threads).
#[test]
fn a_cancelled_park_readied_meanwhile_resumes_once() {
    let rt = common::run_ok(par(2), || {
        let slot: GSlot = Arc::default();
        let s = slot.clone();
        gort::go!(move || loop {
            if let Some(gp) = s.lock().unwrap().take() {
                // Blocks this M, well inside the parker's unlock function.
                std::thread::sleep(Duration::from_millis(20));
                gort::rt::goready(gp);
                return;
            }
            gort::gosched();
        });
        *slot.lock().unwrap() = Some(gort::rt::current());
        gort::rt::gopark(
            gort::rt::WaitReason::Zero,
            // SAFETY: `slow_cancel` may be called with any argument.
            Some(unsafe { gort::rt::UnlockFn::new(slow_cancel, 0) }),
        );
        gort::println!("resumed");
        // Still asleep when the unlock function returns: a second resume
        // from the parking M would end this sleep early.
        let t0 = gort::nanotime();
        gort::sleep(Duration::from_millis(300));
        let slept = gort::nanotime() - t0;
        gort::println!("slept {}", slept >= 300_000_000);
    });
    assert_eq!(rt.stdout(), "resumed\nslept true\n");
}
