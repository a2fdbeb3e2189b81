//! gort: Go's runtime rebuilt as a simulator. This is the crate scenario
//! authors import.
//!
//! A scenario reads like the Go program it mirrors:
//!
//! ```
//! use gort::{go, Config, Runtime, WaitGroup};
//! use std::sync::Arc;
//!
//! let exit = Runtime::new(Config::new().gomaxprocs(2).capture_output()).run(|| {
//!     let wg = Arc::new(WaitGroup::new());
//!     for i in 0..4 {
//!         wg.add(1);
//!         let wg = wg.clone();
//!         go!(move || {
//!             gort::println!("goroutine {i}");
//!             wg.done();
//!         });
//!     }
//!     wg.wait();
//! });
//! assert_eq!(exit.status, 0);
//! ```
//!
//! `Runtime::run` starts the main goroutine (goroutine 1) on a fresh
//! runtime and returns when it returns, or at the first unrecovered panic
//! or fatal error, with the exit status Go would give (0, or 2) and the
//! report it printed. Binaries call `gort::main`, which exits the process
//! with that status. Settings come from the environment Go reads
//! (`GOMAXPROCS`, `GODEBUG`, see `config`) or from `Config`'s builder.
//!
//! The top level is the scenario API: what a Go program can call, under
//! Go's names. Internals for building runtime layers (goroutine parking,
//! the step hook, stop-the-world, map internals, debug counters) live in
//! [`rt`], apart, so a scenario author does not mistake them for the API.
//!
//! The layers underneath: `gort-scheduler` (goroutines, Ps, Ms, both
//! execution modes), then the heap and GC (`gort-gc`), then maps
//! (`gort-maps`).

pub mod config;
pub mod race;
pub mod rt;
mod select;
pub mod trace;

/// Go's `sync` and `sync/atomic` (`gort::sync::Mutex`, `gort::sync::atomic::Int64`).
pub use gort_scheduler::sync;
/// Go's `sync.Mutex`, `sync.RWMutex`, `sync.Once`, `sync.Cond` and `sync.Locker`.
pub use gort_scheduler::sync::{Cond, Locker, Mutex, Once, RWMutex};

pub use config::Config;

/// The process's allocator runs off deterministic goroutines' stacks, so
/// that a seed replays after other runs in the same process
/// (`gort_scheduler::alloc`; the `go-alloc` feature, on by default).
#[cfg(feature = "go-alloc")]
#[global_allocator]
static GLOBAL: gort_scheduler::GoAlloc = gort_scheduler::GoAlloc;
/// The heap: typed objects (Go's `new(T)`), roots, the collector
/// (`runtime.GC`, `runtime.ReadMemStats`) and what a cycle did.
pub use gort_gc::{
    find_object, gc, last_cycle, new_object, read_mem_stats, CycleStats, GoString, MemStats, Ptr,
    Root, Type, WbMode,
};
/// Go's maps and `sync.Map`. `MapElem` and `MapKey` are the bounds on
/// their element and key types.
pub use gort_maps::{ArrayMap, Map, MapElem, MapKey, MapStats, StrMap, SyncMap};
/// Channels (`select!` is the macro) and `time.After`.
pub use gort_scheduler::{after, Chan};
/// Goroutines and the `runtime` package's exported functions.
/// `preempt_point` stays here: a scenario's loop that never calls into
/// gort needs it where Go would preempt asynchronously.
pub use gort_scheduler::{
    goexit, goid, gomaxprocs, gosched, nanotime, num_goroutine, preempt_point, set_gomaxprocs,
    sleep, Exit, WaitGroup,
};

/// Go's `go f()` as a function: starts `f` on a new goroutine. The
/// goroutine's creation site (for dumps and panics) is the caller's line;
/// prefer the `go!` macro, which also records the enclosing function.
#[track_caller]
pub fn go<F>(f: F)
where
    F: FnOnce() + Send + 'static,
{
    gort_scheduler::go(f)
}

/// `go!(closure)`: Go's `go` statement. Records the enclosing function's
/// name for `created by` in goroutine dumps.
#[macro_export]
macro_rules! go {
    ($f:expr) => {{
        let f = $f;
        $crate::rt::go_with($crate::__start_info_of(&f, $crate::__function_name!()), f)
    }};
}

#[doc(hidden)]
#[track_caller]
pub fn __start_info_of<F>(_f: &F, creator: &'static str) -> rt::StartInfo {
    rt::start_info::<F>(creator)
}

#[doc(hidden)]
#[macro_export]
macro_rules! __function_name {
    () => {{
        fn f() {}
        fn type_name_of<T>(_: T) -> &'static str {
            ::std::any::type_name::<T>()
        }
        let name = type_name_of(f);
        &name[..name.len() - 3]
    }};
}

/// Go's `fmt.Println` for scenarios: formats and writes one line to the
/// program's stdout (captured when the runtime captures output). Must be
/// called on a goroutine.
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => {{
        let mut s = ::std::format!($($arg)*);
        s.push('\n');
        $crate::rt::write_stdout(s.as_bytes());
    }};
}

/// One runtime: settings now, a program run later. Several can exist in
/// one process and run one after another or side by side.
#[derive(Debug, Clone)]
pub struct Runtime {
    cfg: Config,
}

impl Runtime {
    pub fn new(cfg: Config) -> Runtime {
        Runtime { cfg }
    }

    /// A runtime configured from `GOMAXPROCS` and `GODEBUG`.
    pub fn from_env() -> Runtime {
        Runtime::new(Config::from_env())
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Runs `main` as goroutine 1 and returns how the program ended.
    /// Configuration warnings are printed on the runtime's stderr first.
    #[track_caller]
    pub fn run<F>(&self, main: F) -> Exit
    where
        F: FnOnce() + Send + 'static,
    {
        gort_scheduler::traceback::register_runtime_dir(file!());
        gort_maps::register_frames();
        gort_maps::warm_up();
        let sc = self.cfg.sched();
        let out = sc.output.clone();
        for w in self.cfg.warnings() {
            sc.output.write_stderr(format!("{w}\n").as_bytes());
        }
        let start = rt::StartInfo {
            gopc: std::panic::Location::caller(),
            creator: "main",
            startfn: std::any::type_name::<F>(),
        };
        let gc = rt::GcConfig {
            gogc: self.cfg.gogc_value(),
            gctrace: self.cfg.gctrace_value(),
            det: matches!(sc.mode, rt::Mode::Deterministic(_)),
            wbmode: self.cfg.wbmode_value(),
            checkmark: self.cfg.gccheckmark_value(),
            scan_old: self.cfg.gcscanold_value(),
            stoptheworld: self.cfg.gcstoptheworld_value(),
        };
        // The heap is created with the runtime's settings before main runs
        // (runtime.main's `gcinit`).
        let exit = gort_scheduler::run(sc, start, move || {
            gort_gc::init(gc);
            main()
        });
        if let Err(e) = self.cfg.write_trace() {
            out.write_stderr(format!("gort: {e}\n").as_bytes());
        }
        exit
    }

    /// What the program printed on stdout, when output is captured.
    pub fn stdout(&self) -> String {
        self.cfg
            .captured()
            .map(|c| String::from_utf8_lossy(&c.stdout.lock().unwrap()).into_owned())
            .unwrap_or_default()
    }

    /// What the runtime printed on stderr, when output is captured.
    pub fn stderr(&self) -> String {
        self.cfg
            .captured()
            .map(|c| String::from_utf8_lossy(&c.stderr.lock().unwrap()).into_owned())
            .unwrap_or_default()
    }
}

/// For a binary's `main`: runs `f` on a runtime configured from the
/// environment and exits the process with Go's status.
#[track_caller]
pub fn main<F>(f: F) -> !
where
    F: FnOnce() + Send + 'static,
{
    let rt = Runtime::from_env();
    let exit = rt.run(f);
    if exit.status == 2 && rt.cfg.sched().traceback.crash {
        // GOTRACEBACK=crash: Go raises SIGABRT after the report (a core
        // dump where enabled; the shell shows status 134).
        std::process::abort();
    }
    std::process::exit(exit.status)
}
