//! Tracebacks of the failing goroutine (Go's `traceback.go`, for the frames
//! gort can know).
//!
//! When a goroutine panics, the panic hook captures the raw stack (no
//! symbol resolution: that needs far more stack than a goroutine slot has)
//! and the M resolves it later on its own thread stack. The frames shown are
//! the scenario's own: Go hides `runtime.*` frames at the default
//! GOTRACEBACK level, and gort likewise drops Rust's std/core/alloc frames
//! (the panic machinery, closure-call shims) and stops at the coroutine
//! entry in gort-scheduler, below which lies the scheduler, not the program.
//! Each frame prints as `function(...)` and a tab-indented `file:line`, Go's
//! layout for a frame whose arguments are not shown.
//!
//! Frames come from the binary's debug info; without it (a stripped binary)
//! the report falls back to the one frame gort always knows: the
//! goroutine's start function at the panic's location.

use std::backtrace::Backtrace;

/// One frame: the Rust function path and `file:line`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub function: String,
    pub location: String,
}

/// Frames that belong to Rust's runtime, not to the scenario.
fn is_runtime_frame(f: &str) -> bool {
    [
        "std::",
        "core::",
        "alloc::",
        "__rustc::",
        "rust_begin_unwind",
        "<alloc::",
        "<core::",
        "<std::",
    ]
    .iter()
    .any(|p| f.starts_with(p))
}

/// Whether `loc` (`file:line`) is in this crate's source file `name`.
/// Judged by location, not function name: optimised builds with
/// line-tables-only debug info name inlined frames briefly (`{closure#0}`).
fn in_sched_file(loc: &str, name: &str) -> bool {
    let here = file!();
    let dir = &here[..here.len() - "traceback.rs".len()];
    let file = loc.rsplit_once(':').map_or(loc, |(f, _)| f);
    file.ends_with(&format!("{dir}{name}"))
}

/// The capture machinery itself (the panic hook, this module).
fn is_capture_frame(f: &str, loc: &str) -> bool {
    f.starts_with("gort_scheduler::fatal::")
        || f.starts_with("gort_scheduler::traceback::")
        || in_sched_file(loc, "fatal.rs")
        || in_sched_file(loc, "traceback.rs")
}

/// Where the goroutine's own code ends: the coroutine entry and below.
fn is_entry_frame(f: &str, loc: &str) -> bool {
    f.starts_with("gort_scheduler::sched::Sched::make_coroutine")
        || f.starts_with("corosensei::")
        || f.starts_with("<corosensei::")
        || in_sched_file(loc, "sched.rs")
        || loc.contains("/corosensei-")
}

/// Resolves a captured backtrace into the scenario's frames, innermost
/// first. Must run on a thread stack (symbolization is stack-hungry).
pub fn frames(bt: &Backtrace) -> Vec<Frame> {
    parse(&format!("{bt}"))
}

/// Parses std's backtrace text: `  N: function` lines, each followed by
/// zero or more `at file:line:col` lines.
fn parse(text: &str) -> Vec<Frame> {
    let mut raw: Vec<(String, Option<String>)> = Vec::new();
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("at ") {
            if let Some((_, loc)) = raw.last_mut() {
                if loc.is_none() {
                    *loc = Some(strip_column(rest));
                }
            }
        } else if let Some((num, name)) = t.split_once(": ") {
            if !num.is_empty() && num.chars().all(|c| c.is_ascii_digit()) {
                raw.push((name.trim().to_string(), None));
            }
        }
    }
    let mut out = Vec::new();
    let mut leading = true;
    for (function, location) in raw {
        let loc = location.as_deref().unwrap_or("");
        if is_entry_frame(&function, loc) {
            break;
        }
        if loc.starts_with("/rustc/")
            || is_runtime_frame(&function)
            || (leading && is_capture_frame(&function, loc))
        {
            continue;
        }
        leading = false;
        if let Some(location) = location {
            out.push(Frame {
                function,
                location: abs_path(&location),
            });
        }
    }
    out
}

/// Go prints absolute source paths. std's backtrace shortens paths under
/// the working directory to `./...`, and `#[track_caller]` locations are
/// relative to the directory rustc ran in (a workspace root): resolve both
/// against the working directory and its ancestors. Only used when a report
/// is printed.
pub fn abs_path(loc: &str) -> String {
    let (file, line) = match loc.rsplit_once(':') {
        Some((f, l)) if l.chars().all(|c| c.is_ascii_digit()) => (f, Some(l)),
        _ => (loc, None),
    };
    let with_line = |p: &std::path::Path| match line {
        Some(l) => format!("{}:{l}", p.display()),
        None => p.display().to_string(),
    };
    let path = std::path::Path::new(file);
    if path.is_absolute() {
        return loc.to_string();
    }
    let Ok(cwd) = std::env::current_dir() else {
        return loc.to_string();
    };
    if let Some(rest) = file.strip_prefix("./") {
        return with_line(&cwd.join(rest));
    }
    for dir in cwd.ancestors() {
        let p = dir.join(path);
        if p.exists() {
            return with_line(&p);
        }
    }
    loc.to_string()
}

/// `file:line:col` -> `file:line`.
fn strip_column(loc: &str) -> String {
    match loc.rsplit_once(':') {
        Some((head, col)) if col.chars().all(|c| c.is_ascii_digit()) && head.contains(':') => {
            head.to_string()
        }
        _ => loc.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_scenario_frames_between_panic_machinery_and_coroutine_entry() {
        let text = "\
   0: std::backtrace_rs::backtrace::libunwind::trace
             at /rustc/x/library/std/src/../../backtrace/src/backtrace/libunwind.rs:117:9
   1: gort_scheduler::fatal::install_panic_hook::{{closure}}
             at ./scheduler/src/fatal.rs:33:20
   2: std::panicking::panic_with_hook
             at /rustc/x/library/std/src/panicking.rs:842:13
   3: core::panicking::panic_fmt
             at /rustc/x/library/core/src/panicking.rs:80:14
   4: demo::boom
             at /src/demos/src/bin/demo.rs:7:5
   5: demo::main::{{closure}}::{{closure}}
             at /src/demos/src/bin/demo.rs:12:13
   6: core::ops::function::FnOnce::call_once
             at /rustc/x/library/core/src/ops/function.rs:250:5
   7: gort_scheduler::sched::Sched::make_coroutine::{{closure}}
             at ./scheduler/src/sched.rs:300:13
   8: demo::main
             at ./demos/src/bin/demo.rs:3:1
";
        let f = parse(text);
        assert_eq!(
            f,
            vec![
                Frame {
                    function: "demo::boom".into(),
                    location: "/src/demos/src/bin/demo.rs:7".into()
                },
                Frame {
                    function: "demo::main::{{closure}}::{{closure}}".into(),
                    location: "/src/demos/src/bin/demo.rs:12".into()
                },
            ]
        );
    }

    #[test]
    fn frames_without_locations_are_dropped() {
        let text = "   0: demo::f\n   1: demo::g\n             at /g.rs:4:1\n";
        assert_eq!(parse(text).len(), 1);
    }
}
