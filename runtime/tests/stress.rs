//! Park/ready under contention: semaphore ping-pong, WaitGroups, timers and
//! repeated stop-the-world on 2 Ps, in both modes. Catches lost wakeups
//! (a hang) and double runs (a bad-status fatal error).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gort::rt::Sema;
use gort::{Config, Runtime, WaitGroup};

mod common;

fn scenario() {
    let wg = Arc::new(WaitGroup::new());
    let total = Arc::new(AtomicU64::new(0));
    for pair in 0..8 {
        let ping = Arc::new(Sema::new(0));
        let pong = Arc::new(Sema::new(0));
        wg.add(2);
        let (a, b, w, t) = (ping.clone(), pong.clone(), wg.clone(), total.clone());
        gort::go!(move || {
            for i in 0..2000 {
                b.release();
                a.acquire();
                if i % 500 == pair {
                    gort::sleep(Duration::from_micros(50));
                }
                t.fetch_add(1, Ordering::Relaxed);
            }
            w.done();
        });
        let w = wg.clone();
        gort::go!(move || {
            for _ in 0..2000 {
                pong.acquire();
                ping.release();
            }
            w.done();
        });
    }
    // A stopper that repeatedly stops the world while the pairs run.
    let stopper_wg = Arc::new(WaitGroup::new());
    stopper_wg.add(1);
    let sw = stopper_wg.clone();
    gort::go!(move || {
        for _ in 0..20 {
            gort::rt::stop_the_world("stress");
            gort::rt::start_the_world();
            gort::sleep(Duration::from_micros(200));
        }
        sw.done();
    });
    wg.wait();
    stopper_wg.wait();
    assert_eq!(total.load(Ordering::Relaxed), 8 * 2000);
}

#[test]
fn park_ready_stress_parallel() {
    // 4 Ps on this 2-core machine oversubscribes the OS threads too.
    for procs in [2, 2, 4, 4, 1] {
        let rt = Runtime::new(Config::new().gomaxprocs(procs).capture_output());
        let e = common::run(&rt, scenario);
        assert_eq!(e.status, 0, "{}", rt.stderr());
    }
}

#[test]
fn park_ready_stress_deterministic() {
    for seed in 0..5 {
        let rt = Runtime::new(
            Config::new()
                .gomaxprocs(3)
                .simseed(seed)
                .simswitch(2)
                .simpreempt(8)
                .capture_output(),
        );
        let e = common::run(&rt, scenario);
        assert_eq!(e.status, 0, "seed {seed}: {}", rt.stderr());
    }
}
