//! The `gort` command as users run it: bad arguments get one clear
//! message and status 2 and leave no file behind; `run` replays a seed
//! and exits with the program's status; `explore --shard --json` files
//! merge into the table of the unsharded sweep; `list` names every demo.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn gort(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gort"))
        .args(args)
        .output()
        .expect("run gort")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gort-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[track_caller]
fn fails_with(args: &[&str], needle: &str) {
    let o = gort(args);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.contains(needle), "{args:?}: {err}");
    assert!(o.stdout.is_empty(), "{args:?}: {}", text(&o.stdout));
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_arguments_get_one_message_and_status_2() {
    fails_with(&["run", "no_such_demo"], "unknown demo 'no_such_demo'");
    fails_with(&["explore", "shared_map", "--seeds", "0"], "--seeds");
    fails_with(&["run", "shared_map", "--procs", "0"], "--procs");
    fails_with(
        &["explore", "shared_map", "--seeds", "10", "--shard", "3/2"],
        "--shard 3/2",
    );
    fails_with(
        &[
            "explore",
            "shared_map",
            "--seeds",
            "10",
            "--strategy",
            "dfs",
        ],
        "dfs",
    );
    fails_with(&["frobnicate"], "frobnicate");
}

#[test]
fn an_unwritable_json_path_fails_before_running_and_leaves_nothing() {
    let d = tmpdir("unwritable");
    let missing = d.join("no/such/dir/out.json");
    fails_with(
        &[
            "explore",
            "shared_map",
            "--seeds",
            "5",
            "--json",
            missing.to_str().unwrap(),
        ],
        "cannot write",
    );
    assert!(!missing.exists());
    assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0);
}

fn explore_json(d: &Path, name: &str, demo: &str, shard: Option<&str>) -> PathBuf {
    let p = d.join(name);
    let mut args = vec!["explore", demo, "--seeds", "40", "--no-race", "--json"];
    args.push(p.to_str().unwrap());
    if let Some(s) = shard {
        args.extend(["--shard", s]);
    }
    let o = gort(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    p
}

/// The table without its speed line (which only a live sweep has).
fn table(out: &str) -> String {
    out.lines()
        .filter(|l| !l.contains("steps/s"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn two_shards_merge_into_the_unsharded_table() {
    let d = tmpdir("merge");
    let whole = explore_json(&d, "whole.json", "shared_map", None);
    let a = explore_json(&d, "a.json", "shared_map", Some("0/2"));
    let b = explore_json(&d, "b.json", "shared_map", Some("1/2"));
    let merged = gort(&["merge", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(merged.status.code(), Some(0), "{}", text(&merged.stderr));
    let one = gort(&["merge", whole.to_str().unwrap()]);
    assert_eq!(text(&merged.stdout), text(&one.stdout));
    assert!(text(&one.stdout).contains("40 runs (seeds 0..40)"));
    // The live sweep prints the same table, plus its speed.
    let live = gort(&["explore", "shared_map", "--seeds", "40", "--no-race"]);
    assert_eq!(table(&text(&live.stdout)), table(&text(&one.stdout)));
    assert!(text(&live.stdout).contains("M steps/s"));
    // No temporary file is left beside the results.
    let mut names: Vec<String> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["a.json", "b.json", "whole.json"]);
}

#[test]
fn shards_of_different_demos_do_not_merge() {
    let d = tmpdir("mixed");
    let a = explore_json(&d, "a.json", "shared_map", Some("0/2"));
    let b = explore_json(&d, "b.json", "small_map_init", Some("1/2"));
    fails_with(
        &["merge", a.to_str().unwrap(), b.to_str().unwrap()],
        "cannot be merged",
    );
    fails_with(
        &["merge", d.join("none.json").to_str().unwrap()],
        "none.json",
    );
}

#[test]
fn run_replays_a_seed_and_exits_with_the_programs_status() {
    let a = gort(&["run", "shared_map", "--seed", "3", "--no-race"]);
    let b = gort(&["run", "shared_map", "--seed", "3", "--no-race"]);
    assert_eq!(a.stderr, b.stderr);
    assert_eq!(a.status.code(), b.status.code());
    let err = text(&a.stderr);
    if err.contains("fatal error: concurrent map writes") {
        assert_eq!(a.status.code(), Some(2));
    }
    let r = gort(&["run", "shared_map", "--seed", "3", "--race"]);
    assert_eq!(r.status.code(), Some(66), "{}", text(&r.stderr));
    assert!(text(&r.stderr).contains("WARNING: DATA RACE"));
}

#[test]
fn list_names_every_demo() {
    let o = gort(&["list"]);
    let out = text(&o.stdout);
    for d in gort_demos::scenarios::all() {
        assert!(out.contains(d.name), "{out}");
    }
}

/// `--explain` on a seed where the shared map dies: both writers' steps
/// on the map, the one that set `hashWriting` and the one whose check
/// failed (the flag set at its entry, or cleared by the other at the end
/// of its write), each with its goroutine and the scenario's source line;
/// the same text on a replay.
#[test]
fn explain_names_both_writers_around_the_hash_writing_check() {
    let dying = (0..20)
        .map(|s| s.to_string())
        .find(|s| {
            gort(&["run", "shared_map", "--seed", s, "--no-race"])
                .status
                .code()
                == Some(2)
        })
        .expect("a seed in 0..20 where shared_map dies");
    let args = [
        "run",
        "shared_map",
        "--seed",
        &dying,
        "--no-race",
        "--explain",
    ];
    let o = gort(&args);
    let err = text(&o.stderr);
    let start = err.find("gort explain: ").expect(&err);
    let ex = &err[start..];
    assert!(
        ex.contains("before `fatal error: concurrent map writes`"),
        "{ex}"
    );
    let line_of = |needle: &str| {
        ex.lines()
            .rfind(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in\n{ex}"))
            .to_string()
    };
    let set = line_of("h.flags ^= hashWriting (set)");
    // Either of Go's two checks: at entry (another writer is inside) or
    // at the end of a write (another writer cleared the flag).
    let fatal = line_of("): fatal");
    assert!(fatal.contains("hashWriting"), "{fatal}");
    let goroutine = |l: &str| l.split_whitespace().nth(1).unwrap().to_string();
    assert_ne!(goroutine(&set), goroutine(&fatal), "{ex}");
    for l in [&set, &fatal] {
        assert!(l.contains("demos/src/scenarios/shared_map.rs:"), "{l}");
    }
    assert!(line_of("mapassign_fast64").contains("enter"), "{ex}");
    assert_eq!(gort(&args).stderr, o.stderr);
}

/// `--explain` on a run that lost an object (the barrier lab without a
/// barrier): the replay focused on that object shows the store the
/// barrier let through, with the workload's source line, and the mark
/// termination that left it unmarked.
#[test]
fn explain_shows_the_unshaded_store_that_lost_an_object() {
    let o = gort(&[
        "run",
        "barrier_lab",
        "--seed",
        "0",
        "--wbmode",
        "off",
        "--explain",
    ]);
    let err = text(&o.stderr);
    assert!(err.contains("object lost"), "{err}");
    let start = err
        .find("gort explain: the steps on the lost object")
        .expect(&err);
    let ex = &err[start..];
    assert!(
        ex.lines()
            .any(|l| l.contains("(wbmode=off) does not shade it") && l.contains("churn.rs:")),
        "{ex}"
    );
    assert!(ex.contains("mark termination"), "{ex}");
}

/// `--trace`: a path that cannot be written, or whose extension names no
/// format, fails before the run with status 2 and leaves nothing; a good
/// one gets the trace, whole, in the format the extension names, and
/// `explore --trace DIR` traces each outcome's first seed.
#[test]
fn trace_paths_are_checked_before_the_run_and_written_whole() {
    let d = tmpdir("trace");
    let missing = d.join("no/such/dir/run.trace");
    fails_with(
        &["run", "shared_map", "--trace", missing.to_str().unwrap()],
        "cannot write the trace to",
    );
    let txt = d.join("run.txt");
    fails_with(
        &["run", "shared_map", "--trace", txt.to_str().unwrap()],
        "unknown trace format",
    );
    assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0);
    let json = d.join("run.json");
    let o = gort(&[
        "run",
        "shared_map",
        "--seed",
        "0",
        "--no-race",
        "--trace",
        json.to_str().unwrap(),
    ]);
    assert!(
        text(&o.stderr).contains("trace written to"),
        "{}",
        text(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert!(v["traceEvents"].as_array().is_some_and(|a| !a.is_empty()));
    let o = gort(&[
        "explore",
        "shared_map",
        "--seeds",
        "20",
        "--no-race",
        "--trace",
        d.to_str().unwrap(),
    ]);
    let out = text(&o.stdout);
    assert!(out.contains("trace of seed "), "{out}");
    let traced: Vec<String> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".trace"))
        .collect();
    assert!(!traced.is_empty() && traced.iter().all(|n| n.starts_with("shared_map-seed")));
    std::fs::remove_dir_all(&d).unwrap();
}
