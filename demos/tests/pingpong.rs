//! The demo binary as a user runs it: replay by seed, schedtrace, and
//! clear messages for bad input.

use std::process::{Command, Output};

fn pingpong(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pingpong"));
    c.env_remove("GODEBUG").env_remove("GOMAXPROCS");
    for (k, v) in env {
        c.env(k, v);
    }
    c.args(args).output().expect("run pingpong")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn same_seed_replays_byte_for_byte() {
    let args = ["--rounds", "300", "--workers", "6"];
    let run = |seed: &str| {
        let o = pingpong(
            &[
                (
                    "GODEBUG",
                    &format!("simseed={seed},schedtrace=1,scheddetail=1"),
                ),
                ("GOMAXPROCS", "3"),
            ],
            &args,
        );
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        (text(&o.stdout), text(&o.stderr))
    };
    let a = run("12345");
    let b = run("12345");
    assert_eq!(a, b, "same seed, different output");
    assert!(a.1.starts_with("SCHED 0ms: gomaxprocs=3 "), "{}", a.1);
    assert!(a.1.contains("\n  P2: status="), "{}", a.1);
    let c = run("54321");
    assert_ne!(
        (&a.0, &a.1),
        (&c.0, &c.1),
        "different seeds, same interleaving"
    );
}

#[test]
fn schedtrace_lines_follow_go_format() {
    let o = pingpong(
        &[("GODEBUG", "schedtrace=10"), ("GOMAXPROCS", "2")],
        &["--rounds", "20000", "--workers", "16"],
    );
    assert_eq!(o.status.code(), Some(0));
    let err = text(&o.stderr);
    let first = err.lines().next().unwrap_or("");
    // SCHED 0ms: gomaxprocs=2 idleprocs=N threads=N spinningthreads=N idlethreads=N runqueue=N [N N]
    let words: Vec<&str> = first.split(' ').collect();
    assert_eq!(words[0], "SCHED");
    assert_eq!(words[1], "0ms:");
    assert_eq!(words[2], "gomaxprocs=2");
    for (w, key) in words[3..8].iter().zip([
        "idleprocs=",
        "threads=",
        "spinningthreads=",
        "idlethreads=",
        "runqueue=",
    ]) {
        assert!(
            w.starts_with(key) && w[key.len()..].parse::<u64>().is_ok(),
            "{first}"
        );
    }
    assert!(
        words[8].starts_with('[') && words[9].ends_with(']'),
        "{first}"
    );
}

#[test]
fn malformed_environment_gets_one_warning_and_defaults() {
    let o = pingpong(
        &[("GOMAXPROCS", "abc"), ("GODEBUG", "schedtrace=-1")],
        &["--rounds", "10", "--workers", "1"],
    );
    assert_eq!(o.status.code(), Some(0));
    let err = text(&o.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0]
            .starts_with("gort: GOMAXPROCS=\"abc\" is not a positive integer; using the default, "),
        "{err}"
    );
    assert!(lines[1].contains("schedtrace=\"-1\""), "{err}");
}

#[test]
fn bad_flags_are_rejected_with_usage() {
    let o = pingpong(&[], &["--rounds", "many"]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.starts_with("pingpong: --rounds: \"many\" is not a non-negative integer\nusage: "),
        "{err}"
    );
    let o = pingpong(&[], &["--frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("unknown flag \"--frobnicate\""));
}

#[test]
fn alive_and_idle_modes_report() {
    let o = pingpong(&[("GOMAXPROCS", "2")], &["--alive", "20000"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(text(&o.stdout).starts_with("alive: 20000 goroutines alive at once, all completed"));
    let o = pingpong(&[("GOMAXPROCS", "2")], &["--idle", "0.3"]);
    assert_eq!(o.status.code(), Some(0));
    let out = text(&o.stdout);
    // An idle runtime: every goroutine asleep on a timer uses (far) less
    // than 5% of a core; parse the figure the demo prints.
    let pct: f64 = out
        .split(", ")
        .last()
        .and_then(|s| s.split('%').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no percentage in {out:?}"));
    assert!(pct < 5.0, "idle runtime used {pct}% of a core: {out}");
}
