//! Panics, fatal errors and goroutine dumps in Go 1.19's text layout.
//!
//! A Rust panic on a goroutine stack is recorded by gort's panic hook (the
//! message and where it was raised, instead of Rust's "thread panicked"
//! line), unwinds to the coroutine boundary (where it is caught, on the
//! goroutine's stack), and is reported by the M as
//! Go's `fatalpanic` would: `panic: <value>`, a blank line, then
//! `goroutine N [running]:` with the goroutine's frame and its creation
//! site. `throw`/`fatal` reports (`fatal error: ...`) dump every goroutine.
//!
//! How much is printed follows `GOTRACEBACK` as Go's `gotraceback()` reads
//! it (none, single, all, system, crash). Simulated differently from Go:
//! frames are Rust frames from debug info (`traceback.rs`), named by Rust
//! path where Go prints `main.main.func1`, with `(...)` for the arguments
//! and no `+0x` offsets (there are no Go PCs); `system` shows gort's
//! runtime frames but not Go's `fp= sp= pc=` words. Then `created by
//! <function>` at the `go` statement's file:line.

use std::any::Any;
use std::sync::atomic::Ordering;
use std::sync::Once;

use crate::g::*;
use crate::sched::{Exit, Sched};

static HOOK: Once = Once::new();

/// Installs the process-wide panic hook once. Panics on a goroutine stack
/// are recorded in the G; every other panic goes to the previous hook.
pub(crate) fn install_panic_hook() {
    HOOK.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Some(g) = crate::stack::getg() {
                let rec = PanicRecord {
                    message: panic_message(info.payload()),
                    location: info
                        .location()
                        .map(|l| format!("{}:{}", l.file(), l.line())),
                    // Unresolved: walking the stack is cheap, symbolizing it
                    // is not and needs more stack than a goroutine has.
                    backtrace: Some(std::sync::Arc::new(
                        std::backtrace::Backtrace::force_capture(),
                    )),
                };
                // SAFETY: the hook runs on the panicking goroutine's own
                // stack, so this thread owns the G.
                unsafe { *g.panic.get() = Some(rec) };
                return;
            }
            prev(info);
        }));
    });
}

/// Prints a panic value as Go prints the common cases: strings as they
/// are, integers in decimal.
pub fn panic_message(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&'static str>() {
        return (*s).to_string();
    }
    if let Some(s) = p.downcast_ref::<String>() {
        return s.clone();
    }
    macro_rules! ints {
        ($($t:ty),*) => {$(
            if let Some(v) = p.downcast_ref::<$t>() {
                return v.to_string();
            }
        )*};
    }
    ints!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);
    "(non-printable panic value)".to_string()
}

/// Go's status word in a goroutine header.
fn status_text(g: &G) -> String {
    let st = g.status();
    let base = st & !G_SCAN;
    let mut s = match base {
        G_WAITING if g.waitreason() != WaitReason::Zero => g.waitreason().as_str().to_string(),
        G_IDLE => "idle".into(),
        G_RUNNABLE => "runnable".into(),
        G_RUNNING => "running".into(),
        G_SYSCALL => "syscall".into(),
        G_WAITING => "waiting".into(),
        G_DEAD => "dead".into(),
        8 => "copystack".into(),
        G_PREEMPTED => "preempted".into(),
        _ => "???".into(),
    };
    if st & G_SCAN != 0 {
        s.push_str(" (scan)");
    }
    s
}

/// `goroutine N [status]:` with its newline. `running` forces the status
/// of the goroutine that is failing right now.
pub(crate) fn goroutine_header(g: &G, running: bool) -> String {
    let st = if running {
        "running".to_string()
    } else {
        status_text(g)
    };
    format!("goroutine {} [{}]:\n", g.goid(), st)
}

/// The goroutine's frames and its `created by` lines. `failing` is the
/// goroutine the report is about (its stack is frozen at the failure);
/// any other goroutine still running is on another M, and like Go gort
/// does not read a stack that is changing.
pub(crate) fn frames(out: &mut String, g: &G, failing: bool, show_runtime: bool) {
    if !failing && g.status() & !G_SCAN == G_RUNNING {
        out.push_str("\tgoroutine running on other thread; stack unavailable\n");
        created_by(out, g);
        return;
    }
    let fp = g.sched_fp.get();
    let walked = if fp != 0 {
        // SAFETY: `g`'s own stack slot, above its guard page; `g` is not
        // running (checked above, or it is the failing goroutine, frozen
        // at the failure).
        let pcs = unsafe {
            crate::traceback::walk_frame_pointers(
                g.sched_pc.get(),
                fp,
                g.stack.lo() + crate::stack::GUARD,
                g.stack.hi(),
            )
        };
        crate::traceback::frames_of_pcs(&pcs, show_runtime)
    } else {
        Vec::new()
    };
    if walked.is_empty() {
        start_frame(out, g, None);
    } else {
        print_frames(out, &walked);
    }
    created_by(out, g);
}

/// The fallback frame: the start function, at `at` or where the G last
/// parked (a goroutine that never ran, or a binary without debug info).
fn start_frame(out: &mut String, g: &G, at: Option<&str>) {
    let info = g.start_info();
    out.push_str(info.map_or("?", |i| i.startfn));
    out.push_str("(...)\n\t");
    match at {
        Some(a) => out.push_str(&crate::traceback::abs_path(a)),
        None => match g.park_location() {
            Some(l) => out.push_str(&crate::traceback::abs_path(&format!(
                "{}:{}",
                l.file(),
                l.line()
            ))),
            None => out.push('?'),
        },
    }
    out.push('\n');
}

fn print_frames(out: &mut String, frames: &[crate::traceback::Frame]) {
    for f in frames {
        if f.location.is_empty() {
            // `...additional frames elided...`
            out.push_str(&f.function);
            out.push('\n');
        } else {
            out.push_str(&format!("{}(...)\n\t{}\n", f.function, f.location));
        }
    }
}

/// `created by <function>` and the `go` statement's location (none for
/// the main goroutine, as in Go).
fn created_by(out: &mut String, g: &G) {
    if let Some(i) = g.start_info() {
        if g.goid() != 1 {
            let loc = format!("{}:{}", i.gopc.file(), i.gopc.line());
            out.push_str(&format!(
                "created by {}\n\t{}\n",
                i.creator,
                crate::traceback::abs_path(&loc)
            ));
        }
    }
}

/// One goroutine's block in a dump, preceded by the blank line Go prints.
pub(crate) fn goroutine_block(g: &G, failing: bool, show_runtime: bool) -> String {
    let mut s = String::from("\n");
    s.push_str(&goroutine_header(g, failing));
    frames(&mut s, g, failing, show_runtime);
    s
}

/// Every live goroutine in creation order (Go's `allgs`), except `skip`
/// (Go's `tracebackothers`).
pub(crate) fn dump_all(sched: &Sched, skip: Option<&G>, show_runtime: bool) -> String {
    let mut out = String::new();
    let gs = sched.allgs.lock().unwrap().clone();
    let mut gs: Vec<&G> = gs.iter().map(|g| g.get()).collect();
    gs.sort_by_key(|g| g.goid());
    for g in gs {
        if g.status() == G_DEAD
            || skip.is_some_and(|s| std::ptr::eq(s, g))
            || (g.is_system() && !show_runtime)
        {
            continue;
        }
        out.push_str(&goroutine_block(g, false, show_runtime));
    }
    out
}

/// A fatal error outside any runtime (the process-wide stack pool is
/// exhausted): print and exit with Go's status.
pub(crate) fn throw_process(msg: &str) -> ! {
    eprintln!("{msg}\nfatal error: out of memory allocating goroutine stacks");
    std::process::exit(2);
}

impl Sched {
    /// Go's `fatalpanic` for a panic that unwound out of a goroutine.
    pub(crate) fn fatalpanic(&self, g: &G, payload: Box<dyn Any + Send>) {
        // SAFETY: the G's coroutine has finished (it unwound); this M owns it.
        let rec = unsafe { (*g.panic.get()).take() };
        // SAFETY: as above; the coroutine is done, dropping it is cheap.
        unsafe { *g.co.get() = None };
        g.set_status(G_RUNNING);
        let tb = self.cfg.traceback;
        let message = rec
            .as_ref()
            .map(|r| r.message.clone())
            .unwrap_or_else(|| panic_message(&*payload));
        let mut report = format!("panic: {message}\n");
        if tb.level > 0 {
            let show_runtime = tb.level >= 2;
            let mut frames = rec
                .as_ref()
                .and_then(|r| r.backtrace.as_ref())
                .map(|bt| crate::traceback::frames(bt, show_runtime))
                .unwrap_or_default();
            // Optimised builds name an inlined closure only `{closure#0}`;
            // the outermost frame is the goroutine's start function, whose
            // full name `go` recorded.
            if let (Some(last), Some(info)) = (frames.last_mut(), g.start_info()) {
                if last.function.starts_with('{') {
                    last.function = info.startfn.to_string();
                }
            }
            report.push('\n');
            report.push_str(&goroutine_header(g, true));
            if frames.is_empty() {
                let loc = rec.and_then(|r| r.location);
                start_frame(&mut report, g, loc.as_deref());
            } else {
                print_frames(&mut report, &frames);
            }
            created_by(&mut report, g);
            // GOTRACEBACK=single (Go's default) shows only the panicking
            // goroutine; all/system/crash add the others.
            if tb.all {
                report.push_str(&dump_all(self, Some(g), show_runtime));
            }
        }
        self.finish(Exit {
            status: 2,
            report,
            steps: 0,
        });
    }

    /// An overflow caught by the stackguard check. The G stays suspended
    /// for good; teardown resets its coroutine without unwinding. A runtime
    /// throw: Go prints it at level 2 whatever GOTRACEBACK says.
    pub(crate) fn stack_overflow(&self, g: &G, sp: usize) {
        // Deterministic mode prints addresses relative to the stack pool,
        // rebased at Go's first arena address, so a seed replays the report
        // byte for byte despite ASLR.
        let addr = |a: usize| {
            if self.det {
                0xc000000000 + (a - crate::stack::region().0)
            } else {
                a
            }
        };
        let mut report = format!(
            "runtime: goroutine stack exceeds {}-byte limit\nruntime: sp={:#x} stack=[{:#x}, {:#x}]\nfatal error: stack overflow\n",
            crate::stack::STACK_LIMIT,
            addr(sp),
            addr(g.stack.lo() + crate::stack::GUARD),
            addr(g.stack.hi()),
        );
        report.push_str(&goroutine_block(g, true, false));
        report.push_str(&dump_all(self, Some(g), false));
        self.finish(Exit {
            status: 2,
            report,
            steps: 0,
        });
    }

    /// Go's `fatal` raised on goroutine `g` (see `proc::fatal`): `g`
    /// first, as `[running]`, then every other goroutine (a fatal error
    /// always dumps them all, unless GOTRACEBACK=none).
    pub(crate) fn fatal_user(&self, g: &G) {
        self.freeze_the_world(g);
        let tb = self.cfg.traceback;
        let mut report = format!(
            "{}fatal error: {}\n",
            g.fatal_detail.get(),
            g.fatal_msg.get()
        );
        if tb.level > 0 {
            report.push_str(&goroutine_block(g, true, tb.level >= 2));
            report.push_str(&dump_all(self, Some(g), tb.level >= 2));
        }
        self.finish(Exit {
            status: 2,
            report,
            steps: 0,
        });
    }

    /// Go's `freezetheworld`, before a fatal error's dump: no P may start
    /// another goroutine (`gcwaiting`, with a `stopwait` no count reaches),
    /// and every goroutine running on another thread is asked to stop at
    /// its next safepoint, up to five times a millisecond apart, then once
    /// more. Those that stop are dumped `[runnable]` with their stacks, as
    /// Go dumps them; one that does not stop in time (a loop without
    /// safepoints) stays `[running]`, "stack unavailable". In
    /// deterministic mode the other Ps' goroutines are already stopped,
    /// each suspended at a step (a safepoint): they become `[runnable]`
    /// at once, as Go's preemption would leave them.
    fn freeze_the_world(&self, me: &G) {
        if self.det {
            for p in self.ps().iter() {
                // SAFETY: curg pointers are Gs of this runtime (alive).
                if let Some(g) = unsafe { p.curg.load(Ordering::Acquire).as_ref() } {
                    if !std::ptr::eq(g, me) && g.status() == G_RUNNING {
                        g.set_status(G_RUNNABLE);
                    }
                }
            }
            return;
        }
        let preemptall = || {
            let mut any = false;
            for p in self.ps().iter() {
                // SAFETY: curg pointers are Gs of this runtime (alive).
                if let Some(g) = unsafe { p.curg.load(Ordering::Acquire).as_ref() } {
                    if !std::ptr::eq(g, me) && g.status() == G_RUNNING {
                        g.request_preempt();
                        any = true;
                    }
                }
            }
            any
        };
        for _ in 0..5 {
            self.stopwait.store(i64::MAX / 2, Ordering::SeqCst);
            self.gcwaiting.store(true, Ordering::SeqCst);
            if !preemptall() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        preemptall();
        std::thread::sleep(std::time::Duration::from_millis(1));
    }

    /// Go's `throw`/`fatal` from the scheduler itself (deadlock):
    /// `fatal error: msg` and every goroutine, status 2.
    pub(crate) fn throw(&self, msg: &str) {
        self.trace(None, 0, || crate::trace::TraceEvent::Log {
            category: "fatal",
            message: msg.lines().last().unwrap_or("").to_string(),
        });
        let tb = self.cfg.traceback;
        let mut report = if msg.contains("fatal error: ") {
            format!("{msg}\n")
        } else {
            format!("fatal error: {msg}\n")
        };
        if tb.level > 0 {
            report.push_str(&dump_all(self, None, tb.level >= 2));
        }
        self.finish(Exit {
            status: 2,
            report,
            steps: 0,
        });
    }
}
