//! The gctree demo as a user runs it: gctrace lines, a tree that survives
//! every collection, GOGC pacing, replay by seed, clear messages for bad
//! input.

use std::process::{Command, Output};

fn gctree(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_gctree"));
    c.env_remove("GODEBUG")
        .env_remove("GOMAXPROCS")
        .env_remove("GOGC");
    for (k, v) in env {
        c.env(k, v);
    }
    c.args(args).output().expect("run gctree")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const SMALL: [&str; 6] = ["--depth", "14", "--cycles", "2", "--garbage", "300000"];

#[test]
fn prints_a_gctrace_line_per_collection_and_keeps_the_tree() {
    let o = gctree(&[("GOMAXPROCS", "2")], &SMALL);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(out.contains("every tree node survived"), "{out}");
    let lines: Vec<&str> = err.lines().collect();
    assert!(lines.len() >= 3, "two forced and some paced: {err}");
    for (i, l) in lines.iter().enumerate() {
        assert!(l.starts_with(&format!("gc {} @", i + 1)), "{l}");
        assert!(l.contains(" MB goal, "), "{l}");
    }
    assert!(lines[0].ends_with(" 2 P (forced)"), "{}", lines[0]);
    assert!(!lines[lines.len() - 1].ends_with("(forced)"), "{err}");
}

#[test]
fn gogc_off_leaves_only_the_forced_collections() {
    let o = gctree(&[("GOGC", "off")], &SMALL);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(err.lines().count(), 2, "{err}");
    assert!(text(&o.stdout).contains("caused 0 collections"));
}

#[test]
fn same_seed_replays_byte_for_byte_in_virtual_time() {
    // Enough garbage for paced collections besides the forced ones, so the
    // pacer's decisions are part of what must replay.
    let run = || {
        let o = gctree(
            &[("GODEBUG", "gctrace=1,simseed=9"), ("GOMAXPROCS", "2")],
            &["--depth", "12", "--cycles", "2", "--garbage", "400000"],
        );
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        (o.stdout, o.stderr)
    };
    let (out_bytes, err_bytes) = run();
    let (out, err) = (text(&out_bytes), text(&err_bytes));
    assert!(out.contains("every tree node survived"), "{out}");
    assert!(
        err.lines().filter(|l| l.starts_with("gc ")).count() >= 3,
        "forced and paced gctrace lines expected: {err}"
    );
    // Everything is virtual time in deterministic mode: the whole output,
    // gctrace's clock and CPU figures included, replays exactly.
    let (out2, err2) = run();
    assert!(
        out_bytes == out2,
        "same seed, different stdout:\n{out}\n---\n{}",
        text(&out2)
    );
    assert!(
        err_bytes == err2,
        "same seed, different stderr:\n{err}\n---\n{}",
        text(&err2)
    );
}

#[test]
fn bad_flags_and_gogc_get_clear_messages() {
    let o = gctree(&[], &["--depth", "99"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).starts_with("gctree: --depth: 99 is not between 1 and 24\n"));
    let o = gctree(&[], &["--frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("unknown flag \"--frobnicate\""));
    let o = gctree(
        &[("GOGC", "lots")],
        &["--depth", "4", "--cycles", "0", "--garbage", "0"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).starts_with("gort: GOGC=\"lots\""),
        "{}",
        text(&o.stderr)
    );
}
