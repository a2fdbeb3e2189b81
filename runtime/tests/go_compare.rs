//! The same programs run on the real Go 1.19 runtime and on gort; the
//! outputs must agree (scheduling order at GOMAXPROCS=1, and the layout of
//! panic, stack-overflow and deadlock reports modulo addresses, goroutine
//! ids, function names and source locations).
//!
//! Needs `go` on the PATH (`apt-get install golang-go`; .ci/run installs
//! it). Without it the build script sets `gort_no_go` and every test here
//! is ignored, so the skip shows in cargo's summary; under CI (`CI=true`)
//! the cfg is not set and a missing Go fails the tests.

use std::time::Duration;

use gort::{Config, Runtime, WaitGroup};
use gort_benches::tree;

mod common;

use common::gorun::GoOut;

/// Runs a Go program built without flags.
fn go_run(name: &str, src: &str, env: &[(&str, &str)]) -> GoOut {
    common::gorun::go_run_with(name, src, env, &[])
}

/// A frame line reduced to what Go and gort must share: the scenario's
/// own functions (Go's `main.main`, `main.main.func1`; a Rust function or
/// closure) all become `FUNC`, and a `sync` frame keeps its function name,
/// lowercased without underscores, so `sync.(*Mutex).lockSlow(0xc0000180a8)`
/// and `gort_scheduler::sync::mutex::Mutex::lock_slow(...)` both read
/// `sync lockslow`.
fn frame_key(line: &str) -> String {
    let name = match line.rfind('(') {
        Some(i) if line.ends_with(')') => &line[..i],
        _ => line,
    };
    let is_sync = name.starts_with("sync.") || name.contains("::sync::");
    if !is_sync {
        return "FUNC".to_string();
    }
    let last = name.rsplit(['.', ':']).next().unwrap_or(name);
    format!("sync {}", last.to_lowercase().replace('_', ""))
}

/// Replaces what legitimately differs between Go and gort: numbers
/// (goroutine ids, addresses, limits) become `N`, frame lines their
/// `frame_key`, and location lines `\tLOC`.
fn shape(report: &str) -> Vec<String> {
    report
        .lines()
        .map(|l| {
            if l.starts_with('\t') {
                return "\tLOC".to_string();
            }
            if l.starts_with("goroutine ") || l.starts_with("runtime: ") || l.is_empty() {
                let mut out = String::new();
                let mut in_num = false;
                for c in l.chars() {
                    let digit = c.is_ascii_hexdigit() && (in_num || c.is_ascii_digit());
                    if digit || (in_num && c == 'x') {
                        if !in_num {
                            out.push('N');
                        }
                        in_num = true;
                    } else {
                        in_num = false;
                        out.push(c);
                    }
                }
                return out;
            }
            if l.starts_with("created by ") {
                return "created by FRAME".to_string();
            }
            if l.starts_with("panic: ") || l.starts_with("fatal error: ") {
                return l.to_string();
            }
            frame_key(l)
        })
        .collect()
}

#[test]
#[cfg_attr(gort_no_go, ignore = "needs Go 1.19 (apt-get install golang-go)")]
fn scheduling_order_at_gomaxprocs_1_matches_go() {
    let src = r#"package main

import (
	"fmt"
	"runtime"
	"sync"
)

func main() {
	var wg sync.WaitGroup
	for _, name := range []string{"a", "b", "c"} {
		wg.Add(1)
		name := name
		go func() { fmt.Println(name); wg.Done() }()
	}
	wg.Wait()
	for _, name := range []string{"x", "y"} {
		wg.Add(1)
		name := name
		go func() {
			for i := 0; i < 3; i++ {
				fmt.Printf("%s%d\n", name, i)
				runtime.Gosched()
			}
			wg.Done()
		}()
	}
	wg.Wait()
}
"#;
    let go = go_run("order", src, &[("GOMAXPROCS", "1")]);
    for cfg in [
        Config::new().gomaxprocs(1).capture_output(),
        Config::new()
            .gomaxprocs(1)
            .simseed(3)
            .simpreempt(0)
            .capture_output(),
    ] {
        let rt = Runtime::new(cfg);
        let e = common::run(&rt, || {
            common::runnext_scenario();
            common::gosched_scenario();
        });
        assert_eq!(e.status, 0);
        assert_eq!(rt.stdout(), go.stdout);
    }
}

#[test]
#[cfg_attr(gort_no_go, ignore = "needs Go 1.19 (apt-get install golang-go)")]
fn panic_report_matches_go() {
    let src = r#"package main

import "time"

func main() {
	go func() {
		panic("boom")
	}()
	time.Sleep(time.Hour)
}
"#;
    let go = go_run("panic", src, &[]);
    let rt = Runtime::new(Config::new().gomaxprocs(2).capture_output());
    let e = common::run(&rt, || {
        gort::go!(|| {
            panic!("boom");
        });
        gort::sleep(Duration::from_secs(3600));
    });
    assert_eq!(Some(e.status), go.status);
    assert_eq!(
        shape(&rt.stderr()),
        shape(&go.stderr),
        "gort:\n{}\ngo:\n{}",
        rt.stderr(),
        go.stderr
    );
}

/// Runs `f` on gort (GOMAXPROCS=2) and asserts that its status and its
/// report have the shape of Go's, line for line.
fn assert_same_report<F>(go: &GoOut, f: F)
where
    F: FnOnce() + Send + 'static,
{
    let rt = Runtime::new(Config::new().gomaxprocs(2).capture_output());
    let e = common::run(&rt, f);
    assert_eq!(Some(e.status), go.status, "{}", rt.stderr());
    assert_eq!(
        shape(&rt.stderr()),
        shape(&go.stderr),
        "gort:\n{}\ngo:\n{}",
        rt.stderr(),
        go.stderr
    );
}

#[test]
#[cfg_attr(gort_no_go, ignore = "needs Go 1.19 (apt-get install golang-go)")]
fn deadlock_report_matches_go() {
    let src = r#"package main

import "sync"

func main() {
	var mu sync.Mutex
	c := make(chan int)
	mu.Lock()
	go func() {
		mu.Lock()
	}()
	go func() {
		<-c
	}()
	go func() {
		select {}
	}()
	var wg sync.WaitGroup
	wg.Add(1)
	wg.Wait()
}
"#;
    let go = go_run("deadlock", src, &[]);
    assert_same_report(&go, || {
        let mu = std::sync::Arc::new(gort::Mutex::new());
        let c: gort::Chan<i64> = gort::Chan::new(0);
        mu.lock();
        let mu2 = mu.clone();
        gort::go!(move || {
            mu2.lock();
        });
        gort::go!(move || {
            c.recv();
        });
        gort::go!(|| {
            gort::select! {}
        });
        let wg = WaitGroup::new();
        wg.add(1);
        wg.wait();
    });
}

#[test]
#[cfg_attr(gort_no_go, ignore = "needs Go 1.19 (apt-get install golang-go)")]
fn send_on_closed_channel_matches_go() {
    let src = r#"package main

func main() {
	c := make(chan int, 1)
	close(c)
	c <- 1
}
"#;
    let go = go_run("sendclosed", src, &[]);
    assert_same_report(&go, || {
        let c: gort::Chan<i64> = gort::Chan::new(1);
        c.close();
        c.send(1);
    });
}

#[test]
#[cfg_attr(gort_no_go, ignore = "needs Go 1.19 (apt-get install golang-go)")]
fn waitgroup_misuse_matches_go() {
    let src = r#"package main

import "sync"

func main() {
	var wg sync.WaitGroup
	done := make(chan bool)
	go func() {
		wg.Done()
		done <- true
	}()
	<-done
}
"#;
    let go = go_run("wgneg", src, &[]);
    assert_same_report(&go, || {
        let wg = std::sync::Arc::new(WaitGroup::new());
        let done: gort::Chan<bool> = gort::Chan::new(0);
        let (wg2, done2) = (wg.clone(), done.clone());
        gort::go!(move || {
            wg2.done();
            done2.send(true);
        });
        done.recv();
    });
}

#[test]
#[cfg_attr(gort_no_go, ignore = "needs Go 1.19 (apt-get install golang-go)")]
fn unlock_of_unlocked_mutex_matches_go() {
    let src = r#"package main

import "sync"

func main() {
	var mu sync.Mutex
	mu.Unlock()
}
"#;
    let go = go_run("unlock", src, &[]);
    assert_same_report(&go, || {
        let mu = gort::Mutex::new();
        mu.unlock();
    });
}

#[test]
#[cfg_attr(gort_no_go, ignore = "needs Go 1.19 (apt-get install golang-go)")]
fn gotraceback_levels_match_go() {
    let src = r#"package main

import "time"

func main() {
	c := make(chan int)
	go func() {
		<-c
	}()
	go func() {
		time.Sleep(10 * time.Millisecond)
		panic("boom")
	}()
	<-c
}
"#;
    for level in ["none", "single", "all", "1", "0"] {
        let go = go_run("traceback", src, &[("GOTRACEBACK", level)]);
        let rt = Runtime::new(
            Config::new()
                .gomaxprocs(2)
                .gotraceback(level)
                .capture_output(),
        );
        let e = common::run(&rt, || {
            let c: gort::Chan<i64> = gort::Chan::new(0);
            let c2 = c.clone();
            gort::go!(move || {
                c2.recv();
            });
            gort::go!(|| {
                gort::sleep(Duration::from_millis(10));
                panic!("boom");
            });
            c.recv();
        });
        assert_eq!(Some(e.status), go.status);
        let (g, o) = (shape(&rt.stderr()), shape(&go.stderr));
        // Go's dump order after the panicking goroutine is allgs order
        // (creation order); compare the blocks as a set of shapes.
        let blocks = |v: &[String]| {
            let text = v.join("\n");
            let mut b: Vec<String> = text.split("\n\n").map(str::to_string).collect();
            b[1..].sort();
            b
        };
        assert_eq!(
            blocks(&g),
            blocks(&o),
            "GOTRACEBACK={level}\ngort:\n{}\ngo:\n{}",
            rt.stderr(),
            go.stderr
        );
    }
}

#[test]
#[cfg_attr(gort_no_go, ignore = "needs Go 1.19 (apt-get install golang-go)")]
fn stack_overflow_header_matches_go() {
    let src = r#"package main

import "time"

func f(n int) int { return f(n+1) + 1 }

func main() {
	go func() { f(0) }()
	time.Sleep(time.Hour)
}
"#;
    let go = go_run("overflow", src, &[]);
    #[allow(unconditional_recursion)]
    fn f(n: u64) -> u64 {
        gort::preempt_point();
        f(std::hint::black_box(n) + 1) + 1
    }
    let rt = Runtime::new(Config::new().gomaxprocs(2).capture_output());
    let e = common::run(&rt, || {
        gort::go!(|| {
            f(0);
        });
        gort::sleep(Duration::from_secs(3600));
    });
    assert_eq!(Some(e.status), go.status);
    // The first four lines: the limit, sp and stack bounds, the fatal
    // error, a blank line. (Go then prints the runtime's own frames under
    // "runtime stack:", which gort does not have.)
    let (g, o) = (shape(&rt.stderr()), shape(&go.stderr));
    assert_eq!(g[..4], o[..4], "gort:\n{}\ngo:\n{}", rt.stderr(), go.stderr);
}

#[test]
#[cfg_attr(gort_no_go, ignore = "needs Go 1.19 (apt-get install golang-go)")]
fn main_goexit_matches_go() {
    let src = r#"package main

import (
	"fmt"
	"runtime"
	"time"
)

func main() {
	go func() {
		time.Sleep(10 * time.Millisecond)
		fmt.Println("other done", runtime.NumGoroutine())
	}()
	defer fmt.Println("deferred in main")
	runtime.Goexit()
}
"#;
    let go = go_run("goexit", src, &[]);
    struct Deferred;
    impl Drop for Deferred {
        fn drop(&mut self) {
            gort::println!("deferred in main");
        }
    }
    let rt = Runtime::new(Config::new().gomaxprocs(2).capture_output());
    let e = common::run(&rt, || {
        gort::go!(|| {
            gort::sleep(Duration::from_millis(10));
            gort::println!("other done {}", gort::num_goroutine());
        });
        let _d = Deferred;
        gort::goexit();
    });
    assert_eq!(Some(e.status), go.status);
    assert_eq!(rt.stdout(), go.stdout);
    assert_eq!(rt.stderr(), go.stderr);
}

/// The field names of a schedtrace line, in order, with its kind
/// (`SCHED`, `P`, `M` or `G`): what must agree between Go and gort
/// (the values are the run's own).
fn schedtrace_shape(line: &str) -> Option<(String, Vec<String>)> {
    let t = line.trim_start();
    let kind = if t.starts_with("SCHED ") {
        "SCHED".to_string()
    } else if line.starts_with("  ") && t.contains(": ") {
        t[..1].to_string()
    } else {
        return None;
    };
    let keys = t
        .split(' ')
        .filter_map(|w| w.split_once('=').map(|(k, _)| k.to_string()))
        .collect();
    Some((kind, keys))
}

fn shapes(stderr: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    stderr
        .lines()
        .filter_map(schedtrace_shape)
        .collect::<std::collections::BTreeMap<_, _>>()
}

#[test]
#[cfg_attr(gort_no_go, ignore = "needs Go 1.19 (apt-get install golang-go)")]
fn schedtrace_fields_match_go() {
    let src = r#"package main

import (
	"sync"
	"time"
)

func main() {
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			t := time.Now()
			for time.Since(t) < 250*time.Millisecond {
			}
			wg.Done()
		}()
	}
	wg.Wait()
}
"#;
    for detail in [false, true] {
        let godebug = if detail {
            "schedtrace=100,scheddetail=1"
        } else {
            "schedtrace=100"
        };
        let go = go_run(
            "schedtrace",
            src,
            &[("GOMAXPROCS", "2"), ("GODEBUG", godebug)],
        );
        let rt = Runtime::new(
            Config::new()
                .gomaxprocs(2)
                .schedtrace(100)
                .scheddetail(detail)
                .capture_output(),
        );
        let e = common::run(&rt, || {
            let wg = std::sync::Arc::new(WaitGroup::new());
            for _ in 0..4 {
                wg.add(1);
                let wg = wg.clone();
                gort::go!(move || {
                    let t = std::time::Instant::now();
                    while t.elapsed() < Duration::from_millis(250) {
                        gort::preempt_point();
                    }
                    wg.done();
                });
            }
            wg.wait();
        });
        assert_eq!(e.status, 0);
        let (g, o) = (shapes(&rt.stderr()), shapes(&go.stderr));
        assert_eq!(g, o, "gort:\n{}\ngo:\n{}", rt.stderr(), go.stderr);
        if !detail {
            // One run-queue length per P between the brackets.
            for out in [rt.stderr(), go.stderr.clone()] {
                let first = out.lines().next().unwrap();
                let inside = first.rsplit_once('[').unwrap().1.trim_end_matches(']');
                assert_eq!(inside.split(' ').count(), 2, "{first}");
            }
        }
    }
}

/// gctrace: the same fields in the same order as Go 1.19's line, for a
/// program that forces two collections (numbers masked).
#[test]
#[cfg_attr(gort_no_go, ignore = "needs Go 1.19 (apt-get install golang-go)")]
fn gctrace_line_matches_go() {
    let src = r#"package main

import (
	"runtime"
	"time"
)

type node struct {
	left, right *node
	val         int64
}

var root *node

func build(d int) *node {
	n := &node{}
	if d > 1 {
		n.left, n.right = build(d-1), build(d-1)
	}
	return n
}

func main() {
	root = build(12)
	runtime.GC()
	runtime.GC()
	// The gctrace line is printed by whichever worker finished the mark,
	// possibly after runtime.GC returned: let it finish before exiting.
	time.Sleep(50 * time.Millisecond)
}
"#;
    let go = go_run(
        "gctrace",
        src,
        &[("GODEBUG", "gctrace=1"), ("GOMAXPROCS", "2")],
    );
    let rt = Runtime::new(Config::new().gomaxprocs(2).gctrace(1).capture_output());
    let e = common::run(&rt, || {
        let _root = gort::Root::new(tree::build(tree::node_type(), 12));
        gort::gc();
        gort::gc();
    });
    assert_eq!(Some(e.status), go.status);
    // Numbers (with their decimals) become N: what remains is the
    // line's fixed text.
    let mask = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.starts_with("gc "))
            .map(|l| {
                let mut out = String::new();
                let mut in_num = false;
                for c in l.chars() {
                    if c.is_ascii_digit() || (in_num && c == '.') {
                        if !in_num {
                            out.push('N');
                        }
                        in_num = true;
                    } else {
                        in_num = false;
                        out.push(c);
                    }
                }
                out
            })
            .collect()
    };
    let (g, o) = (mask(&rt.stderr()), mask(&go.stderr));
    assert_eq!(g, o, "gort:\n{}\ngo:\n{}", rt.stderr(), go.stderr);
    assert_eq!(g.len(), 2);
}

/// Two goroutines writing one map on two Ps: Go's `fatal error:
/// concurrent map writes`, exit status 2, and the failing goroutine's
/// block first, as Go prints them (the other writer's block depends on
/// where the freeze caught it, in Go as in gort).
#[test]
#[cfg_attr(gort_no_go, ignore = "needs Go 1.19 (apt-get install golang-go)")]
fn concurrent_map_writes_report_matches_go() {
    let src = r#"package main

func main() {
	m := make(map[int64]int64)
	done := make(chan bool)
	for g := 0; g < 2; g++ {
		go func(g int64) {
			for i := int64(0); i < 100000000; i++ {
				m[i&1023] = g
			}
			done <- true
		}(int64(g))
	}
	<-done
	<-done
}
"#;
    let go = go_run("mapwrites", src, &[]);
    let rt = Runtime::new(Config::new().gomaxprocs(2).capture_output());
    let e = common::run(&rt, || {
        let m: gort::Map<i64> = gort::Map::new();
        let done: gort::Chan<bool> = gort::Chan::new(0);
        for g in 0..2i64 {
            let done = done.clone();
            gort::go!(move || {
                for i in 0..100_000_000i64 {
                    m.insert(i & 1023, g);
                }
                done.send(true);
            });
        }
        done.recv();
        done.recv();
    });
    assert_eq!(Some(e.status), go.status, "{}", rt.stderr());
    // When both writers detect the race at once, Go prints each one's
    // `fatal error:` line (fatal prints it before fatalthrow serializes
    // the dump); gort prints the first only. Compare the rest.
    let first = |s: &str| {
        let mut v = shape(s);
        v.dedup_by(|a, b| a == b && a.starts_with("fatal error: "));
        v.into_iter().take(7).collect::<Vec<_>>()
    };
    assert_eq!(
        first(&rt.stderr()),
        first(&go.stderr),
        "gort:\n{}\ngo:\n{}",
        rt.stderr(),
        go.stderr
    );
    assert_eq!(first(&go.stderr)[0], "fatal error: concurrent map writes");
}
