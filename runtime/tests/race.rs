//! The race detector's corpus: small programs, racy and race-free, each
//! with the verdict of both detectors, run in deterministic mode (one
//! seed, two Ps) so every verdict replays. `reported` counts Go's
//! `WARNING: DATA RACE` reports (the model of TSan v3), `silent` the races
//! the exact detector finds that the model loses (gort's `SILENT DATA
//! RACE` blocks, each with its reason).

mod common;

use std::sync::Arc;

use gort::config::RaceOptions;
use gort::sync::atomic::Int64;
use gort::{
    go, new_object, Chan, Cond, Config, Map, Mutex, Once, Ptr, RWMutex, Runtime, SyncMap, Type,
    WaitGroup,
};

fn obj(words: usize) -> Ptr {
    new_object(Type::new("main.T", words, &[]))
}

struct Run {
    status: i32,
    stderr: String,
}

impl Run {
    fn reported(&self) -> usize {
        self.stderr.matches("WARNING: DATA RACE").count()
    }
    fn silent(&self) -> usize {
        self.stderr.matches("gort: SILENT DATA RACE").count()
    }
    fn masked(&self) -> usize {
        self.stderr.matches("gort: MASKED DATA RACE").count()
    }
    fn verdict(&self) -> (usize, usize) {
        (self.reported(), self.silent())
    }
}

fn run_with<F: FnOnce() + Send + 'static>(opts: RaceOptions, f: F) -> Run {
    let rt = Runtime::new(
        Config::new()
            .gomaxprocs(2)
            .simseed(1)
            .race(true)
            .race_opts(opts)
            .capture_output(),
    );
    let exit = common::run(&rt, f);
    Run {
        status: exit.status,
        stderr: rt.stderr(),
    }
}

fn run<F: FnOnce() + Send + 'static>(f: F) -> Run {
    run_with(RaceOptions::default(), f)
}

/// Asserts a verdict (and no masked race), showing the reports when it
/// differs.
#[track_caller]
fn expect(r: &Run, reported: usize, silent: usize) {
    expect_masked(r, reported, silent, 0)
}

/// `expect`, with `masked` races masked by an unrelated lock.
#[track_caller]
fn expect_masked(r: &Run, reported: usize, silent: usize, masked: usize) {
    assert_eq!(r.verdict(), (reported, silent), "reports:\n{}", r.stderr);
    assert_eq!(r.masked(), masked, "reports:\n{}", r.stderr);
    let want = if reported > 0 { 66 } else { 0 };
    assert_eq!(r.status, want, "reports:\n{}", r.stderr);
    if reported > 0 {
        assert!(
            r.stderr
                .ends_with(&format!("Found {reported} data race(s)\n")),
            "{}",
            r.stderr
        );
    }
}

fn wg() -> Arc<WaitGroup> {
    Arc::new(WaitGroup::new())
}

// ---- edges of each primitive

#[test]
fn go_statement_orders_what_came_before() {
    expect(
        &run(|| {
            let x = obj(1);
            x.store(0, 1);
            let w = wg();
            w.add(1);
            let w2 = w.clone();
            go!(move || {
                x.load(0);
                w2.done();
            });
            w.wait();
        }),
        0,
        0,
    );
}

#[test]
fn sleep_is_no_edge() {
    expect(
        &run(|| {
            let x = obj(1);
            go!(move || x.store(0, 1));
            gort::sleep(std::time::Duration::from_millis(1));
            x.load(0);
        }),
        1,
        0,
    );
}

#[test]
fn unbuffered_channel_orders_both_ways() {
    expect(
        &run(|| {
            let (x, y) = (obj(1), obj(1));
            let c: Chan<i64> = Chan::new(0);
            let c2 = c.clone();
            let w = wg();
            w.add(1);
            let w2 = w.clone();
            go!(move || {
                x.store(0, 1);
                c2.send(1);
                y.load(0); // after the receive: recv -> after send
                w2.done();
            });
            y.store(0, 1);
            c.recv();
            x.load(0);
            w.wait();
        }),
        0,
        0,
    );
}

#[test]
fn buffered_channel_does_not_order_the_receive_before_the_send() {
    expect(
        &run(|| {
            let y = obj(1);
            let c: Chan<i64> = Chan::new(1);
            let c2 = c.clone();
            let done: Chan<i64> = Chan::new(0);
            let d2 = done.clone();
            go!(move || {
                c2.send(1);
                y.load(0);
                gort::sleep(std::time::Duration::from_millis(5));
                d2.close();
            });
            gort::sleep(std::time::Duration::from_millis(1));
            y.store(0, 1);
            c.recv();
            done.recv();
        }),
        1,
        0,
    );
}

#[test]
fn buffered_channel_as_semaphore_is_a_lock() {
    expect(
        &run(|| {
            let x = obj(1);
            let sem: Chan<i64> = Chan::new(1);
            let w = wg();
            for _ in 0..2 {
                w.add(1);
                let (sem, w) = (sem.clone(), w.clone());
                go!(move || {
                    sem.send(1);
                    x.store(0, x.load(0) + 1);
                    sem.recv();
                    w.done();
                });
            }
            w.wait();
        }),
        0,
        0,
    );
}

#[test]
fn close_orders_before_the_receive_it_ends() {
    expect(
        &run(|| {
            let x = obj(1);
            let c: Chan<i64> = Chan::new(0);
            let c2 = c.clone();
            go!(move || {
                x.store(0, 1);
                c2.close();
            });
            c.recv();
            x.load(0);
        }),
        0,
        0,
    );
}

#[test]
fn mutex_orders_unlock_before_the_next_lock() {
    expect(
        &run(|| {
            let x = obj(1);
            let mu = Arc::new(Mutex::new());
            let w = wg();
            for _ in 0..3 {
                w.add(1);
                let (mu, w) = (mu.clone(), w.clone());
                go!(move || {
                    mu.lock();
                    x.store(0, x.load(0) + 1);
                    mu.unlock();
                    w.done();
                });
            }
            w.wait();
        }),
        0,
        0,
    );
}

#[test]
fn rwmutex_readers_do_not_order_each_other() {
    expect(
        &run(|| {
            let x = obj(1);
            let rw = Arc::new(RWMutex::new());
            let w = wg();
            for i in 0..2 {
                w.add(1);
                let (rw, w) = (rw.clone(), w.clone());
                go!(move || {
                    rw.rlock();
                    x.store(0, i);
                    rw.runlock();
                    w.done();
                });
            }
            w.wait();
        }),
        1,
        0,
    );
}

#[test]
fn rwmutex_writer_orders_before_later_readers() {
    expect(
        &run(|| {
            let x = obj(1);
            let rw = Arc::new(RWMutex::new());
            let w = wg();
            w.add(2);
            let (rw2, w2) = (rw.clone(), w.clone());
            go!(move || {
                rw2.lock();
                x.store(0, 1);
                rw2.unlock();
                w2.done();
            });
            let (rw3, w3) = (rw.clone(), w.clone());
            go!(move || {
                gort::sleep(std::time::Duration::from_millis(1));
                rw3.rlock();
                x.load(0);
                rw3.runlock();
                w3.done();
            });
            w.wait();
        }),
        0,
        0,
    );
}

#[test]
fn waitgroup_orders_every_done_before_wait() {
    expect(
        &run(|| {
            let x = obj(4);
            let w = wg();
            for i in 0..4 {
                w.add(1);
                let w = w.clone();
                go!(move || {
                    x.store(i, 1);
                    w.done();
                });
            }
            w.wait();
            for i in 0..4 {
                x.load(i);
            }
        }),
        0,
        0,
    );
}

#[test]
fn once_orders_f_before_every_do() {
    expect(
        &run(|| {
            let x = obj(1);
            let once = Arc::new(Once::new());
            let w = wg();
            for _ in 0..3 {
                w.add(1);
                let (once, w) = (once.clone(), w.clone());
                go!(move || {
                    once.r#do(|| x.store(0, 7));
                    x.load(0);
                    w.done();
                });
            }
            w.wait();
        }),
        0,
        0,
    );
}

#[test]
fn cond_orders_only_through_its_lock() {
    // Go's Cond makes no annotation of its own: the edge is the lock's,
    // which both accesses hold.
    expect(
        &run(|| {
            let x = obj(2);
            let c = Arc::new(Cond::new(Arc::new(Mutex::new())));
            let c2 = c.clone();
            go!(move || {
                c2.l.lock();
                x.store(0, 42);
                x.store(1, 1);
                c2.signal();
                c2.l.unlock();
            });
            c.l.lock();
            while x.load(1) == 0 {
                c.wait();
            }
            x.load(0);
            c.l.unlock();
        }),
        0,
        0,
    );
}

#[test]
fn atomics_publish_like_a_release_and_acquire() {
    expect(
        &run(|| {
            let x = obj(1);
            let flag = Arc::new(Int64::new(0));
            let f2 = flag.clone();
            go!(move || {
                x.store(0, 42);
                f2.store(1);
            });
            while flag.load() == 0 {
                gort::gosched();
            }
            x.load(0);
        }),
        0,
        0,
    );
}

#[test]
fn an_atomic_and_a_plain_access_race() {
    expect(
        &run(|| {
            let x = obj(1);
            go!(move || {
                x.swap(0, 1);
            });
            gort::sleep(std::time::Duration::from_millis(1));
            x.load(0);
        }),
        1,
        0,
    );
}

// ---- maps

#[test]
fn map_write_write() {
    expect(
        &run(|| {
            let m: Map<i64> = Map::new();
            let w = wg();
            w.add(1);
            let w2 = w.clone();
            go!(move || {
                m.insert(1, 1);
                w2.done();
            });
            m.insert(1, 2);
            w.wait();
        }),
        2,
        0,
    );
}

#[test]
fn map_read_write() {
    let r = run(|| {
        let m: Map<i64> = Map::new();
        m.insert(1, 0);
        let w = wg();
        w.add(1);
        let w2 = w.clone();
        go!(move || {
            m.insert(1, 1);
            w2.done();
        });
        gort::sleep(std::time::Duration::from_millis(1));
        m.get(1);
        w.wait();
    });
    expect(&r, 2, 0);
    assert!(
        r.stderr.contains("runtime.mapaccess2_fast64()"),
        "{}",
        r.stderr
    );
}

#[test]
fn map_len_write() {
    let r = run(|| {
        let m: Map<i64> = Map::new();
        let w = wg();
        w.add(1);
        let w2 = w.clone();
        go!(move || {
            m.insert(1, 1);
            w2.done();
        });
        gort::sleep(std::time::Duration::from_millis(1));
        m.len();
        w.wait();
    });
    expect(&r, 1, 0);
}

#[test]
fn map_range_write() {
    let r = run(|| {
        let m: Map<i64> = Map::new();
        m.insert(1, 0);
        let w = wg();
        w.add(1);
        let w2 = w.clone();
        go!(move || {
            m.insert(2, 1);
            w2.done();
        });
        gort::sleep(std::time::Duration::from_millis(1));
        for _ in m.iter() {}
        w.wait();
    });
    assert!(r.reported() >= 1, "{}", r.stderr);
    assert!(r.stderr.contains("runtime.mapiterinit()"), "{}", r.stderr);
}

#[test]
fn map_in_a_struct_reached_through_a_pointer() {
    let r = run(|| {
        let s = new_object(Type::new("main.S", 2, &[0]));
        let m: Map<i64> = Map::new();
        s.store_ptr(0, m.hmap().0);
        let w = wg();
        w.add(1);
        let w2 = w.clone();
        go!(move || {
            Map::<i64>::from_hmap(gort::rt::HMap(s.load_ptr(0))).insert(1, 1);
            w2.done();
        });
        Map::<i64>::from_hmap(gort::rt::HMap(s.load_ptr(0))).insert(2, 2);
        w.wait();
    });
    expect(&r, 1, 0);
    assert!(
        r.stderr.contains("runtime.mapassign_fast64()"),
        "{}",
        r.stderr
    );
}

#[test]
fn map_guarded_by_a_mutex() {
    expect(
        &run(|| {
            let m: Map<i64> = Map::new();
            let mu = Arc::new(Mutex::new());
            let w = wg();
            for i in 0..3 {
                w.add(1);
                let (mu, w) = (mu.clone(), w.clone());
                go!(move || {
                    mu.lock();
                    m.insert(i, i);
                    mu.unlock();
                    w.done();
                });
            }
            w.wait();
        }),
        0,
        0,
    );
}

#[test]
fn map_guarded_by_a_mutex_but_bypassed_once() {
    let r = run(|| {
        let m: Map<i64> = Map::new();
        let mu = Arc::new(Mutex::new());
        let w = wg();
        w.add(1);
        let (mu2, w2) = (mu.clone(), w.clone());
        go!(move || {
            mu2.lock();
            m.insert(1, 1);
            mu2.unlock();
            w2.done();
        });
        m.insert(2, 2);
        w.wait();
    });
    expect(&r, 1, 0);
}

#[test]
fn sync_map_used_correctly_is_silent() {
    expect(
        &run(|| {
            let m = Arc::new(SyncMap::new());
            let w = wg();
            for i in 0..4 {
                w.add(1);
                let (m, w) = (m.clone(), w.clone());
                go!(move || {
                    m.store(i % 2, obj(1));
                    m.load(i % 2);
                    m.delete(1 - i % 2);
                    w.done();
                });
            }
            w.wait();
            m.range(|_, _| true);
        }),
        0,
        0,
    );
}

// ---- why Go's detector is silent

#[test]
fn masked_by_a_shared_logging_mutex() {
    // Both detectors see the edge the logger's mutex makes: this run has
    // no race by happens-before, and Go reports none. gort names it as
    // masked: neither write held the logger's mutex.
    let r = run(|| {
        let x = obj(1);
        let log = Arc::new(Mutex::new());
        let l2 = log.clone();
        let w = wg();
        w.add(1);
        let w2 = w.clone();
        go!(move || {
            x.store(0, 1);
            l2.lock();
            l2.unlock();
            w2.done();
        });
        gort::sleep(std::time::Duration::from_millis(1));
        log.lock();
        log.unlock();
        x.store(0, 2);
        w.wait();
    });
    expect_masked(&r, 0, 0, 1);
    assert!(r.stderr.contains("took it at"), "{}", r.stderr);
}

#[test]
fn masked_by_an_unrelated_channel() {
    expect(
        &run(|| {
            let x = obj(1);
            let events: Chan<i64> = Chan::new(0);
            let e2 = events.clone();
            go!(move || {
                x.store(0, 1);
                e2.send(0);
            });
            events.recv();
            x.store(0, 2);
        }),
        0,
        0,
    );
}

/// A goroutine writes x from C (`c_write`, given the write), then main
/// writes it after a sleep, with no synchronisation: neither detector
/// sees the C side, so there is no race to report.
fn cgo_then_go_write(c_write: fn(Ptr)) -> Run {
    run(move || {
        let x = obj(1);
        let w = wg();
        w.add(1);
        let w2 = w.clone();
        go!(move || {
            c_write(x);
            w2.done();
        });
        gort::sleep(std::time::Duration::from_millis(1));
        x.store(0, 2);
        w.wait();
    })
}

#[test]
fn cgo_writes_are_not_seen() {
    expect(
        &cgo_then_go_write(|x| gort::race::cgo_call(|| x.store(0, 1))),
        0,
        0,
    );
}

#[test]
fn a_nested_cgo_call_leaves_the_outer_one_unseen() {
    expect(
        &cgo_then_go_write(|x| {
            gort::race::cgo_call(|| {
                gort::race::cgo_call(|| ());
                // Still C code: the inner call's return must not make
                // this store visible.
                x.store(0, 1)
            })
        }),
        0,
        0,
    );
}

/// `k` goroutines read x, each as its first act (so each writes cell 1
/// of x's shadow once the four cells are taken); A reads x after the
/// first five of them and stays alive; main writes x after waiting for
/// the readers (ordered after them, not after A).
fn eviction(k: usize) -> Run {
    run(move || {
        let x = obj(1);
        let w = wg();
        let reader = |w: &Arc<WaitGroup>| {
            w.add(1);
            let w = w.clone();
            go!(move || {
                x.load(0);
                w.done();
            });
        };
        for _ in 0..k.min(5) {
            reader(&w);
        }
        gort::sleep(std::time::Duration::from_millis(1));
        let hold: Chan<i64> = Chan::new(0);
        let h2 = hold.clone();
        go!(move || {
            x.load(0);
            h2.recv();
        });
        gort::sleep(std::time::Duration::from_millis(1));
        for _ in 5..k {
            reader(&w);
        }
        w.wait();
        x.store(0, 1);
        hold.send(0);
    })
}

#[test]
fn eviction_by_readers_hides_an_earlier_one() {
    // Go 1.19 measured: reported with 5 readers, missed with 8 (in Go the
    // place of A's read among the readers varies from run to run; here
    // it comes sixth, and a reader after it takes its cell).
    expect(&eviction(5), 1, 0);
    let r = eviction(8);
    expect(&r, 0, 1);
    assert!(r.stderr.contains("shadow cell was evicted"), "{}", r.stderr);
}

/// A writes x and finishes; `k` goroutines run and finish one after
/// another; then x is written again: by main, or (`by_new_goroutine`) by
/// a goroutine started afterwards, as in reference/race.md's program.
fn recycling(k: usize, by_new_goroutine: bool) -> Run {
    run(move || {
        let x = obj(1);
        go!(move || x.store(0, 1));
        gort::sleep(std::time::Duration::from_millis(1));
        for _ in 0..k {
            let w = wg();
            w.add(1);
            let w2 = w.clone();
            go!(move || w2.done());
            w.wait();
            gort::sleep(std::time::Duration::from_micros(10));
        }
        if by_new_goroutine {
            let w = wg();
            w.add(1);
            let w2 = w.clone();
            go!(move || {
                x.store(0, 2);
                w2.done();
            });
            w.wait();
        } else {
            x.store(0, 2);
        }
    })
}

#[test]
fn finished_goroutines_traces_are_recycled_beyond_64() {
    expect(&recycling(64, false), 1, 0);
    let r = recycling(65, false);
    expect(&r, 0, 1);
    assert!(r.stderr.contains("its trace was recycled"), "{}", r.stderr);
}

/// reference/race.md's form, measured on Go 1.19 too: reported after 63,
/// missed after 64; the racing goroutine's start takes A's part.
#[test]
fn a_goroutine_started_after_64_finished_ones_takes_the_oldest_trace() {
    expect(&recycling(63, true), 1, 0);
    let r = recycling(64, true);
    expect(&r, 0, 1);
    assert!(r.stderr.contains("its trace was recycled"), "{}", r.stderr);
}

/// A writes x, then makes `n` unrelated accesses; main then writes x.
fn history(hs: u8, n: usize) -> Run {
    let opts = RaceOptions {
        history_size: hs,
        ..RaceOptions::default()
    };
    run_with(opts, move || {
        let x = obj(1);
        let other = obj(n);
        let hold: Chan<i64> = Chan::new(0);
        let h2 = hold.clone();
        go!(move || {
            x.store(0, 1);
            for i in 0..n {
                other.load(i);
            }
            h2.recv();
        });
        gort::sleep(std::time::Duration::from_secs(5));
        x.store(0, 2);
        hold.send(0);
    })
}

#[test]
fn history_size_cliffs() {
    expect(&history(0, 40_000), 1, 0);
    let r = history(0, 60_000);
    expect(&r, 0, 1);
    assert!(r.stderr.contains("history_size=0"), "{}", r.stderr);
    expect(&history(1, 60_000), 1, 0);
    expect(&history(1, 80_000), 0, 1);
}

/// A writes x and stays alive; `k` goroutines run one after another,
/// each waited for (with one collection, as a program that allocates
/// has, in the first round when `gc`); main writes x.
fn slots(k: usize, gc: bool) -> Run {
    run(move || {
        let x = obj(1);
        let hold: Chan<i64> = Chan::new(0);
        let h2 = hold.clone();
        go!(move || {
            x.store(0, 1);
            h2.recv();
        });
        gort::sleep(std::time::Duration::from_millis(1));
        for i in 0..k {
            if gc && i == 0 {
                gort::gc();
            }
            let w = wg();
            w.add(1);
            let w2 = w.clone();
            go!(move || w2.done());
            w.wait();
        }
        x.store(0, 2);
        hold.send(0);
    })
}

#[test]
fn slot_reuse_hides_a_live_goroutines_access() {
    // Go 1.19 measured on this program (demos/go/tsan_slots.go, 5 runs
    // each): with the collection, reported at 250, missed at 251 at
    // GOMAXPROCS=2 (its two mark workers take slots; one at 1 P: 251 and
    // 252); without it, reported at 252, missed at 253. Besides the
    // goroutines, main's sleep takes one: the P that runs its timer makes
    // its timer context, a TSan thread (Go's `p.timerRaceCtx`).
    expect(&slots(250, true), 1, 0);
    let r = slots(251, true);
    expect(&r, 0, 1);
    assert!(r.stderr.contains("slot"), "{}", r.stderr);
    expect(&slots(252, false), 1, 0);
    expect(&slots(253, false), 0, 1);
}

// ---- options and format

#[test]
fn halt_on_error_exits_at_the_first_report_with_exitcode() {
    let opts = RaceOptions {
        halt_on_error: true,
        exitcode: 7,
        ..RaceOptions::default()
    };
    let r = run_with(opts, || {
        let m: Map<i64> = Map::new();
        go!(move || m.insert(1, 1));
        gort::sleep(std::time::Duration::from_millis(1));
        m.insert(1, 2);
        gort::println!("not reached");
    });
    assert_eq!(r.status, 7, "{}", r.stderr);
    assert_eq!(r.reported(), 1, "{}", r.stderr);
    assert!(!r.stderr.contains("Found"), "{}", r.stderr);
}

fn racy_writers() {
    let m: Map<i64> = Map::new();
    for i in 0..3 {
        go!(move || m.insert(i, i));
    }
    gort::sleep(std::time::Duration::from_millis(1));
    m.insert(9, 9);
}

#[test]
fn reports_replay_byte_for_byte() {
    let (a, b) = (run(racy_writers), run(racy_writers));
    assert!(a.reported() > 0);
    assert_eq!(a.stderr, b.stderr);
}

#[test]
fn the_detector_off_reports_nothing() {
    let rt = Runtime::new(Config::new().gomaxprocs(2).simseed(1).capture_output());
    let exit = common::run(&rt, || {
        let m: Map<i64> = Map::new();
        go!(move || m.insert(1, 1));
        gort::sleep(std::time::Duration::from_millis(1));
        m.get(1);
    });
    assert_eq!(exit.status, 0);
    assert!(!rt.stderr().contains("DATA RACE"));
}

#[allow(dead_code)]
fn unused() {
    let _ = go::<fn()>;
}

#[test]
fn log_path_writes_reports_to_a_file_named_with_the_pid() {
    let dir = std::env::temp_dir().join(format!("gort-race-log-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let base = dir.join("rlog");
    let opts = RaceOptions {
        log_path: base.to_string_lossy().into_owned(),
        ..RaceOptions::default()
    };
    let r = run_with(opts, racy_writers);
    let file = dir.join(format!("rlog.{}", std::process::id()));
    let text = std::fs::read_to_string(&file).expect("the log file");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(text.contains("WARNING: DATA RACE"), "{text}");
    assert!(text.ends_with("data race(s)\n"), "{text}");
    assert!(!r.stderr.contains("DATA RACE"), "{}", r.stderr);
    assert_eq!(r.status, 66);
}

#[test]
fn an_unwritable_log_path_says_so_once_and_reports_on_stderr() {
    let opts = RaceOptions {
        log_path: "/nonexistent-dir-gort/rlog".to_string(),
        ..RaceOptions::default()
    };
    let r = run_with(opts, racy_writers);
    assert_eq!(
        r.stderr
            .matches("gort: GORACE log_path: cannot write")
            .count(),
        1,
        "{}",
        r.stderr
    );
    assert!(r.reported() >= 1, "{}", r.stderr);
    assert_eq!(r.status, 66);
}

#[test]
fn strip_path_prefix_and_exitcode_apply() {
    let here = std::env::current_dir().unwrap();
    let prefix = format!("{}/", here.parent().unwrap().display());
    let opts = RaceOptions {
        strip_path_prefix: prefix.clone(),
        exitcode: 3,
        ..RaceOptions::default()
    };
    let r = run_with(opts, racy_writers);
    assert_eq!(r.status, 3, "{}", r.stderr);
    assert!(!r.stderr.contains(&prefix), "{}", r.stderr);
    assert!(
        r.stderr.contains("      runtime/tests/race.rs:"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_race_report_then_concurrent_map_writes_as_in_go() {
    // The detector and the map's own check are independent: the first
    // unordered write is reported, and the writers go on until the map
    // catches them (reference/race.md §7).
    let rt = Runtime::new(
        Config::new()
            .gomaxprocs(2)
            .simseed(1)
            .race(true)
            .capture_output(),
    );
    let exit = common::run(&rt, || {
        let m: Map<i64> = Map::new();
        let done: Chan<bool> = Chan::new(0);
        for g in 0..2i64 {
            let done = done.clone();
            go!(move || {
                for i in 0..1_000_000i64 {
                    m.insert(i & 1023, g);
                }
                done.send(true);
            });
        }
        done.recv();
        done.recv();
    });
    let err = rt.stderr();
    assert_eq!(exit.status, 2, "{err}");
    let race = err.find("WARNING: DATA RACE").expect("a race report");
    let fatal = err
        .find("fatal error: concurrent map writes")
        .expect("the map's fatal error");
    assert!(race < fatal, "{err}");
    assert!(!err.contains("Found"), "{err}");
}

#[test]
fn parallel_mode_reports_too() {
    // Without a seed the goroutines run on two threads at once: the
    // detector's state is shared between them.
    let rt = Runtime::new(Config::new().gomaxprocs(2).race(true).capture_output());
    let exit = common::run(&rt, || {
        let m: Map<i64> = Map::new();
        let w = wg();
        for g in 0..2 {
            w.add(1);
            let w = w.clone();
            go!(move || {
                for i in 0..1000 {
                    m.get(g * 1000 + i);
                }
                m.insert(g, g);
                w.done();
            });
        }
        w.wait();
    });
    let err = rt.stderr();
    // On two threads the inserts may also overlap inside mapassign: then,
    // as with Go's -race, the report comes first and the map's own check
    // kills the program (status 2) before racefini's status 66.
    let race = err.find("WARNING: DATA RACE").expect("a race report");
    match exit.status {
        66 => {}
        2 => {
            let fatal = err
                .find("fatal error: concurrent map writes")
                .expect("status 2 is the map's fatal error");
            assert!(race < fatal, "{err}");
        }
        s => panic!("status {s}: {err}"),
    }
    assert!(err.contains("runtime.mapassign_fast64()"), "{err}");
}

/// A callee that makes the access (not inlined, so it has a frame of its
/// own in release builds too).
#[inline(never)]
fn helper_write(x: Ptr) {
    x.store(0, 5);
}

#[test]
fn reports_show_the_stack_of_each_access() {
    // As Go's: the function that made the access, then its callers (the
    // runtime's and std's frames left out).
    let r = run(|| {
        let x = obj(1);
        go!(move || helper_write(x));
        gort::sleep(std::time::Duration::from_millis(1));
        x.load(0);
    });
    expect(&r, 1, 0);
    let prev = &r.stderr[r.stderr.find("Previous write").expect("a report")..];
    let lines: Vec<&str> = prev.lines().take(5).collect();
    assert!(lines[1].ends_with("::helper_write()"), "{}", r.stderr);
    assert!(lines[2].contains("tests/race.rs:"), "{}", r.stderr);
    assert!(lines[3].ends_with("{{closure}}()"), "{}", r.stderr);
    assert!(!r.stderr.contains("gort_scheduler"), "{}", r.stderr);
}
/// Starts the racing goroutine from a function of its own.
#[inline(never)]
fn spawn_writer(x: Ptr) {
    go!(move || helper_write(x));
}
#[test]
fn created_at_shows_the_go_statements_stack() {
    let r = run(|| {
        let x = obj(1);
        spawn_writer(x);
        gort::sleep(std::time::Duration::from_millis(1));
        x.load(0);
    });
    expect(&r, 1, 0);
    let created = &r.stderr[r.stderr.find("created at:").expect("a created-at block")..];
    let lines: Vec<&str> = created.lines().take(5).collect();
    assert!(lines[1].ends_with("::spawn_writer()"), "{}", r.stderr);
    assert!(
        lines[3].contains("created_at_shows_the_go_statements_stack"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_timer_orders_its_start_before_the_receive_of_its_value() {
    // Go: racerelease when time.After starts the timer, acquired by the
    // timer's send, which the receive acquires. The receiver finds the
    // channel through a std mutex, which the detector does not see, so the
    // timer is the only edge.
    let r = run(|| {
        let x = obj(1);
        let shared: Arc<std::sync::Mutex<Option<Chan<u64>>>> = Arc::default();
        let s2 = shared.clone();
        let w = wg();
        w.add(1);
        let w2 = w.clone();
        go!(move || {
            let c = loop {
                if let Some(c) = s2.lock().unwrap().clone() {
                    break c;
                }
                gort::gosched();
            };
            c.recv();
            x.load(0);
            w2.done();
        });
        x.store(0, 1);
        *shared.lock().unwrap() = Some(gort::after(std::time::Duration::from_millis(1)));
        w.wait();
    });
    expect(&r, 0, 0);
}

/// `stack_hash_memo` `depth` frames below `probes`, `n` times from one
/// call instruction (a loop whose count the compiler cannot see, so it
/// is not unrolled into several call sites), with `memo` when `use_memo`
/// says so and a fresh memo otherwise.
#[inline(never)]
fn probes(depth: usize, memo: &mut gort_scheduler::race::StackMemo, use_memo: &[bool]) -> Vec<u64> {
    let mut out = Vec::new();
    let mut i = 0;
    while std::hint::black_box(i) < use_memo.len() {
        let mut fresh = gort_scheduler::race::StackMemo::default();
        let m = if use_memo[i] { &mut *memo } else { &mut fresh };
        out.push(hash_at_depth(std::hint::black_box(depth), m));
        i += 1;
    }
    out
}

/// Two callers of `probes` alike but for their return addresses: the
/// same frames at the same addresses, one return address apart.
#[inline(never)]
fn via_a(memo: &mut gort_scheduler::race::StackMemo) -> Vec<u64> {
    std::hint::black_box(probes(3, memo, &[true, true, false]))
}

#[inline(never)]
fn via_b(memo: &mut gort_scheduler::race::StackMemo) -> Vec<u64> {
    std::hint::black_box(probes(3, memo, &[true, true, false]))
}

#[inline(never)]
fn hash_at_depth(n: usize, memo: &mut gort_scheduler::race::StackMemo) -> u64 {
    let h = if n == 0 {
        gort_scheduler::race::stack_hash_memo(memo)
    } else {
        hash_at_depth(n - 1, memo)
    };
    std::hint::black_box(h)
}

#[test]
fn a_stack_hash_from_the_memo_is_the_walks() {
    let r = run(|| {
        let mut memo = gort_scheduler::race::StackMemo::default();
        // The memo (walked once, then checked) and fresh walks of the
        // same stack give one hash.
        let hs = probes(3, &mut memo, &[true, false, true, true, false]);
        assert!(hs.iter().all(|&h| h == hs[0]), "{hs:x?}");
        // A deeper stack: another hash, with the memo or without.
        let deeper = probes(4, &mut memo, &[true, false, true]);
        assert!(deeper.iter().all(|&h| h == deeper[0]), "{deeper:x?}");
        assert_ne!(deeper[0], hs[0]);
        // The same depth from another call site (the frames at the same
        // addresses, one return address different): the memo's check
        // sees it, and the hash is that stack's.
        let other = via_b(&mut memo);
        let first = via_a(&mut memo);
        assert!(first.iter().all(|&h| h == first[0]), "{first:x?}");
        assert!(other.iter().all(|&h| h == other[0]), "{other:x?}");
        assert_ne!(other[0], first[0]);
        assert_ne!(other[0], deeper[0]);
    });
    assert_eq!(r.status, 0, "{}", r.stderr);
}
