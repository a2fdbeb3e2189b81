//! Tracebacks (Go's `traceback.go`, for the frames gort can know).
//!
//! Two sources of frames:
//!
//! * A parked or runnable goroutine: its stack is frozen, so it is walked
//!   like Go walks a goroutine on amd64, through the frame-pointer chain.
//!   `G::suspend` records the frame pointer at the switch; every crate gort
//!   builds keeps frame pointers (`.cargo/config.toml`), and each link is
//!   checked to lie inside the goroutine's stack slot and to move towards
//!   its base, so a frame without a frame pointer (precompiled std code, a
//!   scenario built elsewhere without the flag) ends the walk early instead
//!   of reading anywhere else. Return addresses are symbolized with the
//!   binary's debug info (inlined frames included), on the M's stack.
//! * A panicking goroutine: the panic hook captures the raw stack (no
//!   symbol resolution: that needs far more stack than a goroutine slot
//!   has) and the M resolves it later on its own thread stack.
//!
//! Which frames are shown follows Go's rule for GOTRACEBACK below `system`:
//! the runtime's frames are hidden, the `sync` package's are not. gort's
//! runtime is every source file of its crates except
//! `scheduler/src/sync/`; Rust's std/core/alloc frames (the panic machinery,
//! closure-call shims) are hidden too, and the walk stops at the coroutine
//! entry in `sched.rs`, below which lies the scheduler, not the program.
//! Each frame prints as `function(...)` and a tab-indented `file:line`,
//! Go's layout for a frame whose arguments are not shown.
//!
//! Without debug info (a stripped binary) no frame resolves, and the dump
//! falls back to the one frame gort always knows: the goroutine's start
//! function at the place it last parked.

use std::backtrace::Backtrace;
use std::sync::Mutex;

/// One frame: the Rust function path and `file:line`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub function: String,
    pub location: String,
}

/// Go's `_TracebackMaxFrames`.
const MAX_FRAMES: usize = 100;

/// Frames that belong to Rust's runtime, not to the scenario.
fn is_std_frame(f: &str, loc: &str) -> bool {
    loc.starts_with("/rustc/")
        || [
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

/// This crate's source directory as rustc saw it (`scheduler/src/` in
/// the workspace, an absolute path when built as a dependency).
fn sched_dir() -> &'static str {
    let here = file!();
    &here[..here.len() - "traceback.rs".len()]
}

/// Source directories of the other gort crates that count as the runtime
/// (registered by those crates, e.g. `gort`'s API layer).
static RUNTIME_DIRS: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

/// Files of the runtime crates that are Go's `sync` package (sync.Map in
/// gort-maps): shown in tracebacks, as Go shows `sync.(*Map).Load`.
static SYNC_FILES: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

/// Declares `file` (a `file!()`) part of the `sync` package: its frames
/// are shown even though its crate's directory is the runtime's.
pub fn register_sync_file(file: &'static str) {
    let mut files = SYNC_FILES.lock().unwrap();
    if !files.contains(&file) {
        files.push(file);
    }
}

/// Declares the directory holding `file` (a `file!()` of the caller's
/// crate root) part of the runtime: its frames are hidden in tracebacks.
pub fn register_runtime_dir(file: &'static str) {
    let dir = match file.rfind('/') {
        Some(i) => &file[..=i],
        None => return,
    };
    let mut dirs = RUNTIME_DIRS.lock().unwrap();
    if !dirs.contains(&dir) {
        dirs.push(dir);
    }
}

fn file_of(loc: &str) -> &str {
    match loc.rsplit_once(':') {
        Some((f, l)) if l.chars().all(|c| c.is_ascii_digit()) => f,
        _ => loc,
    }
}

/// Whether `loc` is in source directory `dir` (relative or absolute).
fn in_dir(loc: &str, dir: &str) -> bool {
    let file = file_of(loc);
    match file.find(dir) {
        Some(i) => i == 0 || dir.starts_with('/') || file.as_bytes()[i - 1] == b'/',
        None => false,
    }
}

/// Whether `loc` is in this crate's source file `name`.
/// Judged by location, not function name: optimised builds with
/// line-tables-only debug info name inlined frames briefly (`{closure#0}`).
fn in_sched_file(loc: &str, name: &str) -> bool {
    file_of(loc).ends_with(&format!("{}{name}", sched_dir()))
}

/// A frame of gort's runtime (hidden like Go's `runtime.*`); the `sync`
/// module is the `sync` package and is shown.
fn is_runtime_frame(loc: &str) -> bool {
    let file = file_of(loc);
    if SYNC_FILES.lock().unwrap().iter().any(|f| file.ends_with(f)) {
        return false;
    }
    if in_dir(loc, sched_dir()) {
        return !in_dir(loc, &format!("{}sync/", sched_dir()));
    }
    RUNTIME_DIRS.lock().unwrap().iter().any(|d| in_dir(loc, d))
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
pub fn frames(bt: &Backtrace, show_runtime: bool) -> Vec<Frame> {
    filter(parse(&format!("{bt}")), show_runtime)
}

/// The frame pointer of the function this is inlined into.
#[inline(always)]
pub(crate) fn frame_pointer() -> usize {
    let fp: usize;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: reads a register; no memory access.
    unsafe {
        std::arch::asm!("mov {}, rbp", out(reg) fp, options(nomem, nostack, preserves_flags))
    };
    #[cfg(target_arch = "aarch64")]
    // SAFETY: reads a register; no memory access.
    unsafe {
        std::arch::asm!("mov {}, x29", out(reg) fp, options(nomem, nostack, preserves_flags))
    };
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        fp = 0;
    }
    fp
}

/// An address inside the function this is inlined into (Go's `sched.pc`
/// at a switch), plus one so that it resolves like a return address.
#[inline(always)]
pub(crate) fn program_counter() -> usize {
    let pc: usize;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: computes an address; no memory access.
    unsafe {
        std::arch::asm!("lea {}, [rip]", out(reg) pc, options(nomem, nostack, preserves_flags))
    };
    #[cfg(target_arch = "aarch64")]
    // SAFETY: computes an address; no memory access.
    unsafe {
        std::arch::asm!("adr {}, .", out(reg) pc, options(nomem, nostack, preserves_flags))
    };
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        pc = 0;
    }
    pc + 1
}

/// Return addresses along the frame-pointer chain starting at `fp`, for a
/// goroutine whose stack `[lo, hi)` is frozen (parked or runnable, never
/// running). Each frame record is `[saved fp, return address]`.
///
/// # Safety
/// `[lo, hi)` must be that goroutine's mapped stack (above its guard
/// page), and the goroutine must not run while this walks it.
pub(crate) unsafe fn walk_frame_pointers(pc: usize, fp: usize, lo: usize, hi: usize) -> Vec<usize> {
    let mut pcs = vec![pc];
    // SAFETY: the caller's contract is `walk_frame_records`'.
    unsafe {
        walk_frame_records(fp, lo, hi, 4 * MAX_FRAMES - 1, |_, _, ret| {
            if ret != 0 {
                pcs.push(ret)
            }
        })
    };
    pcs
}

/// Return addresses of the calling goroutine's own stack, innermost
/// first, at most `max`: the frame-pointer chain from this function's
/// caller up to the goroutine's stack base; empty outside a goroutine.
#[inline(never)]
pub(crate) fn own_stack_pcs(max: usize) -> Vec<usize> {
    let mut pcs = Vec::with_capacity(16);
    let Some(g) = crate::stack::getg() else {
        return pcs;
    };
    // SAFETY: the bounds are the running goroutine's own stack (above its
    // guard page), and the frames the walk reads are this function's
    // callers', which nothing writes while it runs.
    unsafe {
        walk_frame_records(
            frame_pointer(),
            g.stack.lo() + crate::stack::GUARD,
            g.stack.hi(),
            max,
            |_, _, ret| {
                if ret != 0 {
                    pcs.push(ret)
                }
            },
        )
    };
    pcs
}

/// The frame-pointer walk from the frame record at `fp` within the
/// goroutine stack `[lo, hi)`: `f` sees every record read (its address,
/// the saved frame pointer and the return address; a 0 return address
/// ends the walk), at most `max` frames. The walk depends on nothing else,
/// so the same reads make the same walk (`race::stack_hash_memo` relies
/// on that).
///
/// # Safety
/// `[lo, hi)` must be a goroutine's mapped stack (above its guard page)
/// that nothing writes during the walk: the caller's own (the records it
/// reads are its callers') or a goroutine that is not running.
#[inline(always)]
pub(crate) unsafe fn walk_frame_records(
    mut fp: usize,
    lo: usize,
    hi: usize,
    max: usize,
    mut f: impl FnMut(usize, usize, usize),
) {
    let mut n = 0;
    while fp >= lo && fp.is_multiple_of(8) && fp.saturating_add(16) <= hi && n < max {
        // SAFETY: [fp, fp+16) is 8-aligned inside `[lo, hi)`, mapped and
        // not written meanwhile (the function's contract). The reads are
        // volatile so the compiler assumes nothing about them.
        let (next, ret) = unsafe {
            (
                std::ptr::read_volatile(fp as *const usize),
                std::ptr::read_volatile((fp + 8) as *const usize),
            )
        };
        f(fp, next, ret);
        if ret == 0 {
            break;
        }
        n += 1;
        if next <= fp {
            break;
        }
        fp = next;
    }
}

/// Symbolizes return addresses (inlined frames expanded, innermost first)
/// into the scenario's frames. Must run on a thread stack.
pub fn frames_of_pcs(pcs: &[usize], show_runtime: bool) -> Vec<Frame> {
    let mut raw = Vec::new();
    for &pc in pcs {
        // The return address points after the call; resolve the call.
        backtrace::resolve((pc - 1) as *mut std::ffi::c_void, |sym| {
            let name = sym
                .name()
                .map(|n| format!("{n:#}"))
                .unwrap_or_else(|| "?".to_string());
            let loc = match (sym.filename(), sym.lineno()) {
                (Some(f), Some(l)) => Some(format!("{}:{l}", f.display())),
                _ => None,
            };
            raw.push((name, loc));
        });
    }
    filter(raw, show_runtime)
}

/// Parses std's backtrace text: `  N: function` lines, each followed by
/// zero or more `at file:line:col` lines.
fn parse(text: &str) -> Vec<(String, Option<String>)> {
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
    raw
}

/// Keeps the frames a Go traceback at the given level would show: up to
/// the coroutine entry, without std's frames, without the runtime's unless
/// `show_runtime` (GOTRACEBACK=system), without the capture machinery.
fn filter(raw: Vec<(String, Option<String>)>, show_runtime: bool) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut shown = 0;
    for (function, location) in raw {
        // std's backtrace prints paths under the working directory as
        // `./...`; classify by the absolute path.
        let location = location.map(|l| abs_path(&l));
        let loc = location.as_deref().unwrap_or("");
        if is_entry_frame(&function, loc) {
            break;
        }
        let capture = in_sched_file(loc, "fatal.rs") || in_sched_file(loc, "traceback.rs");
        if is_std_frame(&function, loc) || capture || (!show_runtime && is_runtime_frame(loc)) {
            continue;
        }
        let function = if show_runtime && is_runtime_frame(loc) {
            match go_runtime_name(&function) {
                Some(name) => name,
                // The goroutine switch itself: Go's traceback starts at
                // `runtime.gopark`, above its `mcall`.
                None => continue,
            }
        } else {
            function
        };
        if let Some(location) = location {
            if shown == MAX_FRAMES {
                out.push(Frame {
                    function: "...additional frames elided...".to_string(),
                    location: String::new(),
                });
                break;
            }
            shown += 1;
            out.push(Frame { function, location });
        }
    }
    out
}

/// The name a frame of gort's runtime shows under GOTRACEBACK=system:
/// Go's spelling of the same function, so a dump reads as Go's does
/// (`runtime.gopark`, `runtime.bgsweep`, `runtime.gcBgMarkWorker`); the
/// file and line stay gort's own. A free function `gort_x::m::snake_name`
/// is `runtime.snakeName`, a method `gort_x::m::Type::name` is
/// `runtime.(*Type).name`; the few whose Go name differs are listed. None
/// for the switch to the M (`G::suspend`), which Go's traceback never
/// shows.
fn go_runtime_name(rust: &str) -> Option<String> {
    // Drop generic arguments and closure suffixes: `f::<T>`, `{{closure}}`.
    let path: Vec<&str> = rust
        .split("::")
        .filter(|s| !s.starts_with('<') && !s.starts_with('{') && !s.is_empty())
        .collect();
    let tail = &path[path.len().saturating_sub(2)..];
    let name = match tail {
        [_, "suspend"] if path.contains(&"G") => return None,
        [_, "gopark_on"] => "gopark".to_string(),
        // The program's main goroutine starts in `gort::Runtime::run`,
        // where Go's starts in `runtime.main`.
        ["Runtime", "run"] => "main".to_string(),
        [_, "park"] if path.first() == Some(&"gort_scheduler") => "goparkunlock".to_string(),
        // forcegchelper's park: Go's calls `goparkunlock` itself.
        [_, "forcegc_park"] => "goparkunlock".to_string(),
        [ty, f] if ty.starts_with(|c: char| c.is_ascii_uppercase()) => {
            format!("(*{ty}).{}", camel(f))
        }
        [.., f] => camel(f),
        [] => return Some(rust.to_string()),
    };
    Some(format!("runtime.{name}"))
}

/// `snake_case` as Go spells it: `gc_bg_mark_worker` -> `gcBgMarkWorker`.
fn camel(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut up = false;
    for c in snake.chars() {
        if c == '_' {
            up = !out.is_empty();
        } else if up {
            out.extend(c.to_uppercase());
            up = false;
        } else {
            out.push(c);
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
        let f = filter(parse(text), false);
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
    fn runtime_frames_take_go_names() {
        let cases = [
            ("gort_scheduler::proc::gopark_on", Some("runtime.gopark")),
            ("gort_scheduler::proc::park", Some("runtime.goparkunlock")),
            ("gort_gc::sweep::bgsweep", Some("runtime.bgsweep")),
            (
                "gort_gc::mgcworker::gc_bg_mark_worker",
                Some("runtime.gcBgMarkWorker"),
            ),
            ("gort_gc::mgc::forcegchelper", Some("runtime.forcegchelper")),
            (
                "gort_scheduler::forcegc::forcegc_park",
                Some("runtime.goparkunlock"),
            ),
            (
                "gort_scheduler::sema::WaitList::wait_for",
                Some("runtime.(*WaitList).waitFor"),
            ),
            (
                "gort_gc::mgc::gc_start::{{closure}}",
                Some("runtime.gcStart"),
            ),
            ("gort_scheduler::g::G::suspend", None),
            ("gort::Runtime::run::{{closure}}", Some("runtime.main")),
        ];
        for (rust, go) in cases {
            assert_eq!(go_runtime_name(rust).as_deref(), go, "{rust}");
        }
    }

    #[test]
    fn frames_without_locations_are_dropped() {
        let text = "   0: demo::f\n   1: demo::g\n             at /g.rs:4:1\n";
        assert_eq!(filter(parse(text), false).len(), 1);
    }
}
