//! Channels and select: the behaviour of Go's chan_test.go and select
//! tests (not their code), in both execution modes, plus the exact panic
//! and deadlock reports.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gort::{select, Chan, Config, Runtime, WaitGroup};

mod common;
use common::{det, par};

/// Every configuration the functional tests run under.
fn configs() -> Vec<Config> {
    vec![par(1), par(2), par(4), det(1, 2), det(2, 3), det(3, 4)]
}

/// `file:line` as a report prints it (absolute path).
fn loc(file: &str, line: u32) -> String {
    gort_scheduler::traceback::abs_path(&format!("{file}:{line}"))
}

/// Sleeps in short steps until `cond` holds (lets other goroutines reach
/// the state the test waits for).
fn wait_until(cond: impl Fn() -> bool) {
    while !cond() {
        gort::sleep(Duration::from_micros(50));
    }
}

#[test]
fn blocked_senders_are_served_in_fifo_order() {
    for cfg in configs() {
        let rt = Runtime::new(cfg);
        let e = common::run(&rt, || {
            let c: Chan<usize> = Chan::new(0);
            let blocked = Arc::new(AtomicU64::new(0));
            for i in 0..5 {
                let (c, b) = (c.clone(), blocked.clone());
                gort::go!(move || {
                    b.fetch_add(1, Ordering::SeqCst);
                    c.send(i);
                });
                // Let sender i park before sender i+1 starts.
                wait_until(|| blocked.load(Ordering::SeqCst) == i as u64 + 1);
                gort::sleep(Duration::from_micros(200));
            }
            let got: Vec<usize> = (0..5).map(|_| c.recv().unwrap()).collect();
            gort::println!("{got:?}");
        });
        assert_eq!(e.status, 0, "{}", rt.stderr());
        assert_eq!(rt.stdout(), "[0, 1, 2, 3, 4]\n");
    }
}

#[test]
fn buffered_channel_holds_cap_values_and_then_blocks() {
    for cfg in configs() {
        let rt = Runtime::new(cfg);
        let e = common::run(&rt, || {
            for cap in [1usize, 3, 10] {
                let c: Chan<usize> = Chan::new(cap);
                assert_eq!((c.len(), c.cap()), (0, cap));
                for i in 0..cap {
                    let sent = select! {
                        send(c, i) => true,
                        default => false,
                    };
                    assert!(sent, "send {i} of cap {cap} blocked");
                }
                assert_eq!(c.len(), cap);
                let sent = select! {
                    send(c, 99) => true,
                    default => false,
                };
                assert!(!sent, "a full channel of cap {cap} took another value");
                let got: Vec<usize> = (0..cap).map(|_| c.recv().unwrap()).collect();
                assert_eq!(got, (0..cap).collect::<Vec<_>>(), "FIFO buffer");
                let got = select! {
                    recv(c) -> v => v,
                    default => Some(1000),
                };
                assert_eq!(got, Some(1000), "empty channel gave a value");
            }
        });
        assert_eq!(e.status, 0, "{}", rt.stderr());
    }
}

#[test]
fn a_full_buffer_passes_the_waiting_senders_value_to_the_tail() {
    for cfg in configs() {
        let rt = Runtime::new(cfg);
        let e = common::run(&rt, || {
            let c: Chan<u32> = Chan::new(2);
            c.send(1);
            c.send(2);
            let c2 = c.clone();
            gort::go!(move || c2.send(3));
            wait_until(|| !c.no_waiters());
            let got: Vec<u32> = (0..3).map(|_| c.recv().unwrap()).collect();
            assert_eq!(got, vec![1, 2, 3]);
            assert!(c.no_waiters());
        });
        assert_eq!(e.status, 0, "{}", rt.stderr());
    }
}

#[test]
fn close_wakes_every_receiver_with_ok_false() {
    for cfg in configs() {
        let rt = Runtime::new(cfg);
        let e = common::run(&rt, || {
            for cap in [0usize, 4] {
                let c: Chan<i64> = Chan::new(cap);
                let wg = Arc::new(WaitGroup::new());
                let closed = Arc::new(AtomicU64::new(0));
                for _ in 0..8 {
                    wg.add(1);
                    let (c, wg, closed) = (c.clone(), wg.clone(), closed.clone());
                    gort::go!(move || {
                        let (v, ok) = c.recv2();
                        assert_eq!((v, ok), (0, false));
                        closed.fetch_add(1, Ordering::SeqCst);
                        wg.done();
                    });
                }
                gort::sleep(Duration::from_millis(1));
                c.close();
                wg.wait();
                assert_eq!(closed.load(Ordering::SeqCst), 8);
                // Receives after close keep returning ok = false at once.
                assert_eq!(c.recv(), None);
            }
        });
        assert_eq!(e.status, 0, "{}", rt.stderr());
    }
}

#[test]
fn buffered_values_are_received_before_close_is_seen() {
    for cfg in configs() {
        let rt = Runtime::new(cfg);
        let e = common::run(&rt, || {
            let c: Chan<i64> = Chan::new(3);
            for i in 1..=3 {
                c.send(i);
            }
            c.close();
            let all: Vec<i64> = c.iter().collect();
            gort::println!("{all:?} {:?}", c.recv2());
        });
        assert_eq!(e.status, 0, "{}", rt.stderr());
        assert_eq!(rt.stdout(), "[1, 2, 3] (0, false)\n");
    }
}

/// Many producers and consumers: every value arrives exactly once.
#[test]
fn producers_and_consumers_exchange_every_value_once() {
    for cfg in configs() {
        for cap in [0usize, 1, 16] {
            let rt = Runtime::new(cfg.clone());
            let e = common::run(&rt, move || {
                let c: Chan<u64> = Chan::new(cap);
                let sum = Arc::new(AtomicU64::new(0));
                let count = Arc::new(AtomicU64::new(0));
                let producers = Arc::new(WaitGroup::new());
                let consumers = Arc::new(WaitGroup::new());
                for p in 0..4u64 {
                    producers.add(1);
                    let (c, wg) = (c.clone(), producers.clone());
                    gort::go!(move || {
                        for i in 0..500 {
                            c.send(p * 1000 + i);
                        }
                        wg.done();
                    });
                }
                for _ in 0..3 {
                    consumers.add(1);
                    let (c, wg, sum, count) =
                        (c.clone(), consumers.clone(), sum.clone(), count.clone());
                    gort::go!(move || {
                        for v in &c {
                            sum.fetch_add(v, Ordering::Relaxed);
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                        wg.done();
                    });
                }
                producers.wait();
                c.close();
                consumers.wait();
                let want: u64 = (0..4u64)
                    .map(|p| (0..500).map(|i| p * 1000 + i).sum::<u64>())
                    .sum();
                assert_eq!(count.load(Ordering::Relaxed), 2000);
                assert_eq!(sum.load(Ordering::Relaxed), want);
            });
            assert_eq!(e.status, 0, "cap {cap}: {}", rt.stderr());
        }
    }
}

/// Go's select fairness: with every case ready, each is chosen with equal
/// probability. 4 cases, 20,000 selects: each count must lie within 6
/// standard deviations of 5,000 (a false failure has odds below 1e-8).
#[test]
fn select_chooses_uniformly_among_ready_cases() {
    for cfg in [par(1), par(2), det(7, 1), det(8, 2)] {
        let rt = Runtime::new(cfg);
        let e = common::run(&rt, || {
            let cs: Vec<Chan<u8>> = (0..4).map(|_| Chan::new(1)).collect();
            for c in &cs {
                c.send(0);
            }
            let mut counts = [0u32; 4];
            const N: u32 = 20_000;
            for _ in 0..N {
                let i = select! {
                    recv(cs[0]) -> _ => 0,
                    recv(cs[1]) -> _ => 1,
                    recv(cs[2]) -> _ => 2,
                    recv(cs[3]) -> _ => 3,
                };
                counts[i] += 1;
                cs[i].send(0);
            }
            let (mean, sd) = (N as f64 / 4.0, (N as f64 * 0.25 * 0.75).sqrt());
            for (i, &n) in counts.iter().enumerate() {
                assert!(
                    (n as f64 - mean).abs() < 6.0 * sd,
                    "case {i} chosen {n} times of {N}: {counts:?}"
                );
            }
        });
        assert_eq!(e.status, 0, "{}", rt.stderr());
    }
}

#[test]
fn select_waits_for_the_first_ready_case_and_cleans_up_the_others() {
    for cfg in configs() {
        let rt = Runtime::new(cfg);
        let e = common::run(&rt, || {
            let (a, b, out): (Chan<i64>, Chan<&str>, Chan<i64>) =
                (Chan::new(0), Chan::new(0), Chan::new(0));
            let wg = Arc::new(WaitGroup::new());
            for round in 0..20i64 {
                wg.add(1);
                let (a2, b2, wg2) = (a.clone(), b.clone(), wg.clone());
                gort::go!(move || {
                    if round % 2 == 0 {
                        a2.send(round);
                    } else {
                        b2.send("b");
                    }
                    wg2.done();
                });
                let got = select! {
                    recv(a) -> v => format!("a{}", v.unwrap()),
                    recv(b) -> v => v.unwrap().to_string(),
                    send(out, 1) => "out".to_string(),
                };
                let want = if round % 2 == 0 {
                    format!("a{round}")
                } else {
                    "b".into()
                };
                assert_eq!(got, want);
                wg.wait();
                // The losing cases' sudogs are off their channels.
                assert!(a.no_waiters() && b.no_waiters() && out.no_waiters());
            }
        });
        assert_eq!(e.status, 0, "{}", rt.stderr());
    }
}

#[test]
fn select_sees_close_and_nil_channels() {
    for cfg in configs() {
        let rt = Runtime::new(cfg);
        let e = common::run(&rt, || {
            let nil: Chan<i64> = Chan::nil();
            let c: Chan<i64> = Chan::new(0);
            let c2 = c.clone();
            gort::go!(move || {
                gort::sleep(Duration::from_millis(1));
                c2.close();
            });
            let got = select! {
                recv(nil) -> _ => "nil",
                send(nil, 1) => "nil send",
                recv(c) -> v => if v.is_none() { "closed" } else { "value" },
            };
            assert_eq!(got, "closed");
            let got = select! {
                recv(nil) -> _ => "nil",
                default => "default",
            };
            assert_eq!(got, "default");
            assert_eq!((nil.len(), nil.cap()), (0, 0));
        });
        assert_eq!(e.status, 0, "{}", rt.stderr());
    }
}

#[test]
fn after_fires_in_virtual_and_wall_time() {
    for cfg in [par(2), det(5, 2)] {
        let rt = Runtime::new(cfg);
        let e = common::run(&rt, || {
            let never: Chan<i64> = Chan::new(0);
            let t0 = gort::nanotime();
            let fired = select! {
                recv(never) -> _ => false,
                recv(gort::after(Duration::from_millis(3))) -> t => t.is_some(),
            };
            assert!(fired);
            assert!(gort::nanotime() - t0 >= 3_000_000, "after fired early");
        });
        assert_eq!(e.status, 0, "{}", rt.stderr());
    }
}

#[test]
fn same_seed_same_interleaving_other_seeds_differ() {
    let program = || {
        let c: Chan<String> = Chan::new(0);
        let wg = Arc::new(WaitGroup::new());
        for w in 0..4 {
            wg.add(1);
            let (c, wg) = (c.clone(), wg.clone());
            gort::go!(move || {
                for i in 0..5 {
                    c.send(format!("w{w}.{i}"));
                }
                wg.done();
            });
        }
        let c2 = c.clone();
        gort::go!(move || {
            wg.wait();
            c2.close();
        });
        let all: Vec<String> = c.iter().collect();
        gort::println!("{}", all.join(" "));
    };
    // The senders each run for well under an idle P's wake-up latency, so
    // with Go's timing they take turns on one P in the same order for
    // every seed; random preemption (`simpreempt`) explores other orders.
    let out = |seed| {
        let rt = Runtime::new(det(seed, 4).simpreempt(4));
        let e = common::run(&rt, program);
        assert_eq!(e.status, 0, "{}", rt.stderr());
        rt.stdout()
    };
    assert_eq!(out(11), out(11));
    let distinct: std::collections::HashSet<String> = (0..8).map(out).collect();
    assert!(distinct.len() > 1, "8 seeds gave one interleaving");
}

#[test]
fn send_on_closed_channel_panics_like_go() {
    let rt = Runtime::new(par(1));
    let line = line!() + 4;
    let e = common::run(&rt, || {
        let c: Chan<i64> = Chan::new(1);
        c.close();
        c.send(1);
    });
    assert_eq!(e.status, 2);
    assert_eq!(
        rt.stderr(),
        format!(
            "panic: send on closed channel\n\ngoroutine 1 [running]:\n\
             chan::send_on_closed_channel_panics_like_go::{{{{closure}}}}(...)\n\t{}\n",
            loc(file!(), line)
        )
    );
}

#[test]
fn close_panics_use_go_texts() {
    for (what, want) in [
        ("nil", "panic: close of nil channel\n"),
        ("twice", "panic: close of closed channel\n"),
        ("blocked sender", "panic: send on closed channel\n"),
    ] {
        let rt = Runtime::new(par(2));
        let e = common::run(&rt, move || {
            let c: Chan<i64> = if what == "nil" {
                Chan::nil()
            } else {
                Chan::new(0)
            };
            if what == "blocked sender" {
                let c2 = c.clone();
                gort::go!(move || c2.send(1));
                gort::sleep(Duration::from_millis(2));
            } else if what == "twice" {
                c.close();
            }
            c.close();
            gort::sleep(Duration::from_millis(50));
        });
        assert_eq!(e.status, 2, "{what}");
        assert!(rt.stderr().starts_with(want), "{what}: {}", rt.stderr());
    }
}

/// The exact deadlock report: every goroutine, in creation order, with its
/// wait reason, its frames and its creation site.
#[test]
fn deadlock_report_lists_every_blocked_goroutine() {
    let rt = Runtime::new(par(1));
    let base = line!();
    let e = common::run(&rt, || {
        let c: Chan<i64> = Chan::new(0);
        let nil: Chan<i64> = Chan::nil();
        let c2 = c.clone();
        gort::go!(move || {
            c2.recv();
        });
        gort::go!(move || {
            nil.send(1);
        });
        gort::go!(|| select! {});
        gort::sleep(Duration::from_millis(1));
        c.send(1);
        c.send(2);
    });
    assert_eq!(e.status, 2);
    let f = "chan::deadlock_report_lists_every_blocked_goroutine::{{closure}}";
    let l = |n: u32| loc(file!(), base + n);
    assert_eq!(
        rt.stderr(),
        format!(
            "fatal error: all goroutines are asleep - deadlock!\n\
             \n\
             goroutine 1 [chan send]:\n{f}(...)\n\t{}\n\
             \n\
             goroutine 6 [chan send (nil chan)]:\n{f}::{{{{closure}}}}(...)\n\t{}\ncreated by {f}\n\t{}\n\
             \n\
             goroutine 7 [select (no cases)]:\n{f}::{{{{closure}}}}(...)\n\t{}\ncreated by {f}\n\t{}\n",
            l(14),
            l(9),
            l(8),
            l(11),
            l(11),
        )
    );
}

#[test]
fn gotraceback_none_prints_no_goroutines() {
    let rt = Runtime::new(par(1).gotraceback("none"));
    let e = common::run(&rt, || {
        let c: Chan<i64> = Chan::new(0);
        c.recv();
    });
    assert_eq!(e.status, 2);
    assert_eq!(
        rt.stderr(),
        "fatal error: all goroutines are asleep - deadlock!\n"
    );
}

#[test]
fn gotraceback_all_adds_the_other_goroutines_to_a_panic() {
    for (level, others) in [("single", false), ("all", true), ("2", true)] {
        let rt = Runtime::new(par(1).gotraceback(level));
        let e = common::run(&rt, || {
            let c: Chan<i64> = Chan::new(0);
            let c2 = c.clone();
            gort::go!(move || {
                gort::sleep(Duration::from_millis(1));
                c2.close();
                panic!("boom");
            });
            c.recv();
            gort::sleep(Duration::from_secs(10));
        });
        assert_eq!(e.status, 2);
        let err = rt.stderr();
        assert!(
            err.starts_with("panic: boom\n\ngoroutine 5 [running]:\n"),
            "{err}"
        );
        assert_eq!(
            err.contains("\ngoroutine 1 ["),
            others,
            "GOTRACEBACK={level}: {err}"
        );
    }
}

#[test]
fn select_waiters_show_select_in_dumps() {
    let rt = Runtime::new(det(4, 2));
    let line = line!() + 5;
    let e = common::run(&rt, || {
        let (a, b): (Chan<i64>, Chan<i64>) = (Chan::new(0), Chan::new(1));
        b.send(1);
        // Neither case can proceed: a has no sender, b is full.
        select! {
            recv(a) -> _ => {},
            send(b, 2) => {},
        }
    });
    assert_eq!(e.status, 2);
    let f = "chan::select_waiters_show_select_in_dumps::{{closure}}";
    assert_eq!(
        rt.stderr(),
        format!(
            "fatal error: all goroutines are asleep - deadlock!\n\ngoroutine 1 [select]:\n{f}(...)\n\t{}\n",
            loc(file!(), line)
        )
    );
}

/// Starts runs that reuse freed goroutines and stack slots.
fn churn() {
    for _ in 0..3 {
        common::run_ok(par(1), || {
            gort::go!(|| gort::sleep(Duration::from_millis(1)));
            gort::sleep(Duration::from_millis(2));
        });
    }
}

/// A channel outlives the run whose goroutine was left blocked in it (a
/// clone held outside): a later run that sends on it finds that waiter,
/// whose memory must still be there, and must not run it (it belongs to
/// no running runtime): a fatal error, not a use of freed memory.
#[test]
fn a_waiter_left_in_a_channel_by_an_earlier_run_is_not_run() {
    let c: Chan<u64> = Chan::new(0);
    let c2 = c.clone();
    common::run_ok(par(1), move || {
        gort::go!(move || {
            let _ = c2.recv();
            unreachable!("the receiver of an ended run resumed");
        });
        gort::sleep(Duration::from_millis(1));
    });
    churn();
    let rt = Runtime::new(par(1));
    let e = common::run(&rt, move || {
        c.send(7);
        gort::sleep(Duration::from_millis(1));
        gort::println!("sent");
    });
    assert_eq!(e.status, 2, "stdout:\n{}", rt.stdout());
    assert!(
        rt.stderr()
            .contains("fatal error: ready of a goroutine of another runtime\n"),
        "{}",
        rt.stderr()
    );
}

/// The same for a mutex in a static, whose semaphore keeps the waiter of
/// an earlier run.
#[test]
fn a_waiter_left_on_a_static_mutex_by_an_earlier_run_is_not_run() {
    static MU: gort::Mutex = gort::Mutex::new();
    common::run_ok(par(1), || {
        MU.lock();
        gort::go!(|| {
            MU.lock();
            unreachable!("the waiter of an ended run resumed");
        });
        gort::sleep(Duration::from_millis(1));
    });
    churn();
    let rt = Runtime::new(par(1));
    let e = common::run(&rt, || {
        MU.unlock();
        gort::sleep(Duration::from_millis(1));
        gort::println!("unlocked");
    });
    assert_eq!(e.status, 2, "stdout:\n{}", rt.stdout());
    assert!(
        rt.stderr()
            .contains("fatal error: ready of a goroutine of another runtime\n"),
        "{}",
        rt.stderr()
    );
}
