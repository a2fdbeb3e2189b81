//! The race detector's reports against Go 1.19's `-race` on the same
//! programs: line for line, modulo addresses, goroutine numbers, which
//! goroutine made the current access, function names and paths. A
//! runtime function's frame must match exactly (name, and file and line
//! under `src/runtime/`), as must the number of reports, their order of
//! blocks, `Found N data race(s)` and the exit status.
//!
//! Each program sleeps between the goroutine's access and main's: no
//! happens-before edge, but an order in time, so that Go names the two
//! accesses in the same roles (current, previous) on every run; without
//! it Go's scheduling decides, and a loaded machine flips them.
//!
//! Needs `go` on the PATH with the race runtime (Debian's golang-go has
//! it); without Go the tests are ignored (see tests/go_compare.rs).

use std::sync::Arc;
use std::time::Duration;

use gort::{new_object, Config, Map, Runtime, Type, WaitGroup};

mod common;

/// A report line reduced to what Go and gort must share.
fn shape(report: &str) -> Vec<String> {
    report
        .lines()
        .filter(|l| !l.starts_with("exit status"))
        .map(|l| {
            let t = l.trim_start();
            if let Some(rest) = l.strip_prefix("      ") {
                // A location: a runtime function's must be Go's file and line.
                return match rest.find("src/runtime/") {
                    Some(i) => format!("      RUNTIME/{}", &rest[i + "src/runtime/".len()..]),
                    None => "      LOC".to_string(),
                };
            }
            if l.starts_with("  ") && t.ends_with("()") {
                return if t.starts_with("runtime.") {
                    l.to_string()
                } else {
                    "  FUNC()".to_string()
                };
            }
            for kind in [
                "Read at ",
                "Write at ",
                "Previous read at ",
                "Previous write at ",
            ] {
                if l.starts_with(kind) {
                    return format!("{kind}ADDR by G:");
                }
            }
            if l.starts_with("Goroutine ") && l.ends_with("created at:") {
                return "Goroutine N (STATE) created at:".to_string();
            }
            l.to_string()
        })
        .collect()
}

fn gort_run<F: FnOnce() + Send + 'static>(f: F) -> (i32, String) {
    let rt = Runtime::new(
        Config::new()
            .gomaxprocs(2)
            .simseed(1)
            .race(true)
            .capture_output(),
    );
    let e = common::run(&rt, f);
    (e.status, rt.stderr())
}

fn compare(name: &str, go_src: &str, gort: (i32, String)) {
    let go = common::gorun::go_run_with(name, go_src, &[], &["-race"]);
    assert_eq!(
        shape(&gort.1),
        shape(&go.stderr),
        "gort:\n{}\ngo:\n{}",
        gort.1,
        go.stderr
    );
    assert_eq!(
        Some(gort.0),
        go.status,
        "gort:\n{}\ngo:\n{}",
        gort.1,
        go.stderr
    );
}

#[test]
#[cfg_attr(gort_no_go, ignore = "needs Go 1.19 (apt-get install golang-go)")]
fn map_write_write_report_matches_go() {
    let src = r#"package main

import (
	"sync"
	"time"
)

func main() {
	m := map[int]int{}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		m[1] = 1
		wg.Done()
	}()
	time.Sleep(100 * time.Millisecond)
	m[1] = 2
	wg.Wait()
}
"#;
    let gort = gort_run(|| {
        let m: Map<i64> = Map::new();
        let wg = Arc::new(WaitGroup::new());
        wg.add(1);
        let w2 = wg.clone();
        gort::go!(move || {
            m.insert(1, 1);
            w2.done();
        });
        gort::sleep(Duration::from_millis(100));
        m.insert(1, 2);
        wg.wait();
    });
    assert!(gort.1.contains("runtime.mapassign_fast64()"), "{}", gort.1);
    compare("racemapww", src, gort);
}

#[test]
#[cfg_attr(gort_no_go, ignore = "needs Go 1.19 (apt-get install golang-go)")]
fn struct_field_read_write_report_matches_go() {
    let src = r#"package main

import (
	"sync"
	"time"
)

type S struct{ a, b int }

func main() {
	s := &S{}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		_ = s.a
		wg.Done()
	}()
	time.Sleep(100 * time.Millisecond)
	s.a = 2
	wg.Wait()
}
"#;
    let gort = gort_run(|| {
        let s = new_object(Type::new("main.S", 2, &[]));
        let wg = Arc::new(WaitGroup::new());
        wg.add(1);
        let w2 = wg.clone();
        gort::go!(move || {
            s.load(0);
            w2.done();
        });
        gort::sleep(Duration::from_millis(100));
        s.store(0, 2);
        wg.wait();
    });
    compare("racefield", src, gort);
}
