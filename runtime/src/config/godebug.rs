//! `GODEBUG`: one table of every key gort knows, as Go's runtime1.go keeps
//! its `dbgvars` table, and the loop that applies a `GODEBUG` string
//! through it.
//!
//! Each key says whose it is (Go's or gort's own), what it does, and how it
//! is handled: an integer setting with its range and default, a gort key
//! not implemented yet, or a Go key gort does not simulate. The parser, the
//! warning texts and the list of gort's keys in the unknown-key warning all
//! come from this one table, so a new key is one new row.

use gort_scheduler::config::DetConfig;

use super::{atoi, AtoiError, Config};

/// Whose key it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Owner {
    /// A key of Go 1.19 (the runtime, the standard library or the go
    /// command): gort reads it as Go does, or says it does not simulate it.
    Go,
    /// gort's own: Go has no such key.
    Gort,
}

/// How a key's value is handled.
#[derive(Clone, Copy, Debug)]
pub(super) enum Kind {
    /// An integer in `min..=max`. `set` receives the value, or `None` for
    /// a missing or malformed one (the key's default).
    Int {
        min: i128,
        max: i128,
        /// What the value must be, for the warning: "a non-negative integer".
        what: &'static str,
        /// The default as the warning names it ("0 (off)", "8").
        default: fn() -> String,
        set: fn(&mut Config, Option<i128>),
        /// Only meaningful in deterministic mode: warned about when no
        /// simseed is set.
        det_only: bool,
    },
    /// One of a list of words. `set` receives the value's index in
    /// `values`, or `None` for a missing or unknown one (the key's default,
    /// `values[default]`).
    Choice {
        values: &'static [&'static str],
        default: usize,
        set: fn(&mut Config, Option<usize>),
    },
    /// A file to write: `set` checks and takes it, or says why not (the
    /// key is then ignored, with one warning).
    Path {
        set: fn(&mut Config, &str) -> Result<(), String>,
    },
    /// A Go setting gort does not simulate: accepted with a warning.
    NotSimulated,
}

/// One row of the table.
#[derive(Clone, Copy, Debug)]
pub(super) struct DebugVar {
    pub name: &'static str,
    pub owner: Owner,
    pub kind: Kind,
    /// What the key does (in Go, or in gort for gort's keys).
    #[allow(dead_code)] // documentation kept with the key; read by tests
    pub doc: &'static str,
}

fn off() -> String {
    "0 (off)".to_string()
}

const fn int(
    name: &'static str,
    owner: Owner,
    (min, max): (i128, i128),
    what: &'static str,
    default: fn() -> String,
    set: fn(&mut Config, Option<i128>),
    doc: &'static str,
) -> DebugVar {
    DebugVar {
        name,
        owner,
        kind: Kind::Int {
            min,
            max,
            what,
            default,
            set,
            det_only: false,
        },
        doc,
    }
}

const fn det_only(mut v: DebugVar) -> DebugVar {
    if let Kind::Int {
        min,
        max,
        what,
        default,
        set,
        ..
    } = v.kind
    {
        v.kind = Kind::Int {
            min,
            max,
            what,
            default,
            set,
            det_only: true,
        };
    }
    v
}

const fn go(name: &'static str, doc: &'static str) -> DebugVar {
    DebugVar {
        name,
        owner: Owner::Go,
        kind: Kind::NotSimulated,
        doc,
    }
}

const INT32: (i128, i128) = (0, i32::MAX as i128);

/// `wbmode`'s values, in `WbMode`'s order.
const WBMODES: &[&str] = &["hybrid", "dijkstra", "yuasa", "off"];

fn wbmode_of(i: usize) -> gort_gc::WbMode {
    gort_gc::WbMode::parse(WBMODES[i]).unwrap_or_default()
}

/// Every `GODEBUG` key gort knows. Go's keys are taken from Go 1.19.8's
/// source (`/usr/lib/go-1.19/src`); besides these, every `cpu.*` key
/// (internal/cpu) is Go's and not simulated.
pub(super) const DEBUG_VARS: &[DebugVar] = &[
    // Implemented Go keys (runtime/runtime1.go's dbgvars).
    int(
        "schedtrace",
        Owner::Go,
        INT32,
        "a non-negative integer",
        off,
        |c, v| c.schedtrace_ms = v.unwrap_or(0) as u64,
        "print a SCHED line every N ms, as Go's sysmon does (virtual ms in deterministic mode)",
    ),
    int(
        "scheddetail",
        Owner::Go,
        (i32::MIN as i128, i32::MAX as i128),
        "an integer",
        off,
        |c, v| c.scheddetail = v.unwrap_or(0) != 0,
        "with schedtrace, print Go's detailed P, M and G lines",
    ),
    int(
        "gctrace",
        Owner::Go,
        INT32,
        "a non-negative integer",
        off,
        |c, v| c.gctrace = v.unwrap_or(0) as u32,
        "print Go 1.19's gctrace line after each collection",
    ),
    int(
        "gccheckmark",
        Owner::Go,
        INT32,
        "a non-negative integer",
        off,
        |c, v| c.gccheckmark = v.unwrap_or(0) > 0,
        "verify every mark at mark termination by marking again from the roots, world stopped \
         (Go 1.19's pass finds almost nothing to do; gort's re-runs the roots)",
    ),
    int(
        "gcstoptheworld",
        Owner::Go,
        (0, 2),
        "0, 1 or 2",
        off,
        |c, v| c.gcstoptheworld = v.unwrap_or(0) as u8,
        "1: the whole mark with the world stopped; 2: and the sweep \
         (Go 1.19's 2 dies with `failed to set sweep barrier`; gort's works)",
    ),
    // gort's own keys.
    int(
        "simseed",
        Owner::Gort,
        (0, u64::MAX as i128),
        "a non-negative integer",
        || "none (parallel mode)".to_string(),
        |c, v| c.simseed = v.map(|s| s as u64),
        "deterministic mode with this seed: the same seed replays the same run",
    ),
    det_only(int(
        "simswitch",
        Owner::Gort,
        (1, u32::MAX as i128),
        "an integer >= 1",
        || DetConfig::with_seed(0).switch_every.to_string(),
        |c, v| c.simswitch = v.map(|n| n as u32),
        "mean number of steps a P runs before the RNG picks the next P",
    )),
    det_only(int(
        "simpreempt",
        Owner::Gort,
        (0, u32::MAX as i128),
        "a non-negative integer",
        || DetConfig::with_seed(0).preempt_every.to_string(),
        |c, v| c.simpreempt = v.map(|n| n as u32),
        "an exploration knob: a safepoint preempts with probability 1/N per switch (0: off)",
    )),
    DebugVar {
        name: "simtrace",
        owner: Owner::Gort,
        kind: Kind::Path {
            set: |c, path| {
                let traced = std::mem::take(c).trace_to(path)?;
                *c = traced;
                Ok(())
            },
        },
        doc: "write an execution trace of the run to PATH: .trace or .out (Go 1.19's format, \
              for go tool trace), .json (Chrome / Perfetto), .html (a timeline)",
    },
    DebugVar {
        name: "wbmode",
        owner: Owner::Gort,
        kind: Kind::Choice {
            values: WBMODES,
            default: 0,
            set: |c, i| c.wbmode = wbmode_of(i.unwrap_or(0)),
        },
        doc: "what the write barrier shades: hybrid (Go's: old and new value), dijkstra (new), \
              yuasa (old) or off (nothing)",
    },
    int(
        "gcscanold",
        Owner::Gort,
        (0, 1),
        "0 or 1",
        || "1 (scanned)".to_string(),
        |c, v| c.gcscanold = v.unwrap_or(1) != 0,
        "0: the collector does not scan a growing map's oldbuckets (a deliberate fault)",
    ),
    // Go 1.19's other runtime keys (runtime/runtime1.go's dbgvars, in its order).
    go(
        "allocfreetrace",
        "print a stack trace at each allocation and free",
    ),
    go(
        "clobberfree",
        "the collector overwrites the objects it frees",
    ),
    go("cgocheck", "checks on Go pointers passed to C"),
    go("efence", "each object on its own pages, never recycled"),
    go("gcpacertrace", "print the pacer's internal state"),
    go("gcshrinkstackoff", "never shrink goroutine stacks"),
    go(
        "invalidptr",
        "crash on an invalid pointer in a pointer-typed word",
    ),
    go(
        "madvdontneed",
        "return memory with MADV_DONTNEED, not MADV_FREE",
    ),
    go("sbrk", "a trivial allocator without a collector"),
    go("scavtrace", "print the scavenger's work once per cycle"),
    go(
        "tracebackancestors",
        "show the stacks of the goroutines' creators",
    ),
    go("asyncpreemptoff", "no signal-based asynchronous preemption"),
    go(
        "inittrace",
        "print each package init's time and allocations",
    ),
    go("harddecommit", "returned memory is also made inaccessible"),
    go(
        "adaptivestackstart",
        "start stacks at the mean scanned stack size",
    ),
    // runtime/runtime1.go: parsedebugvars handles it apart from dbgvars.
    go("memprofilerate", "set runtime.MemProfileRate"),
    // The standard library (internal/godebug.Get or a direct GODEBUG scan).
    go(
        "http2client",
        "net/http: HTTP/2 in the client (transport.go)",
    ),
    go("http2server", "net/http: HTTP/2 in the server (server.go)"),
    go(
        "http2debug",
        "net/http: HTTP/2 debug logging (h2_bundle.go)",
    ),
    go("netdns", "net: the DNS resolver, go or cgo (conf.go)"),
    go("x509sha1", "crypto/x509: accept SHA-1 signatures (x509.go)"),
    go(
        "execerrdot",
        "os/exec: run a program found through a relative PATH entry (lp_unix.go)",
    ),
    go(
        "jstmpllitinterp",
        "html/template: actions in JS template literals (escape.go)",
    ),
    go(
        "multipartfiles",
        "mime/multipart: the limit on files in a form (formdata.go)",
    ),
    go(
        "multipartmaxparts",
        "mime/multipart: the limit on parts (formdata.go)",
    ),
    go(
        "multipartmaxheaders",
        "mime/multipart: the limit on headers (multipart.go)",
    ),
    go("intern", "internal/intern debugging (intern.go)"),
    go("fuzzseed", "internal/fuzz: the mutator's seed (pcg.go)"),
    go("fuzzdebug", "internal/fuzz: debug output (fuzz.go)"),
    // The go command (cmd/go), often left exported in a Go developer's shell.
    go("gocachehash", "cmd/go: print the build cache's hash inputs"),
    go("gocachetest", "cmd/go: print test cache decisions"),
    go(
        "gocacheverify",
        "cmd/go: verify build cache hits by rebuilding",
    ),
    go("gofsystrace", "cmd/go: trace file system operations"),
    go("gofsystracelog", "cmd/go: where gofsystrace writes"),
    go(
        "gofsystracestack",
        "cmd/go: stacks for matching gofsystrace paths",
    ),
    go("goindex", "cmd/go: the module index"),
    go("lazymod", "cmd/go: lazy module loading"),
];

/// gort's own keys, as the unknown-key warning lists them.
pub(super) fn gort_keys() -> String {
    DEBUG_VARS
        .iter()
        .filter(|v| v.owner == Owner::Gort)
        .map(|v| v.name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn lookup(key: &str) -> Option<&'static DebugVar> {
    DEBUG_VARS.iter().find(|v| v.name == key)
}

impl Config {
    /// Applies a `GODEBUG` value, item by item, like Go's `parsedebugvars`:
    /// items split on `,` then on the first `=`, no trimming, later items
    /// overriding earlier ones.
    pub(super) fn parse_debug_vars(&mut self, godebug: &str) {
        // A deterministic-only key needs simseed, which may come later in
        // the string, so its "no effect" warning waits for the end.
        let mut det_only_keys: Vec<&str> = Vec::new();
        let mut simseed_malformed = false;

        for field in godebug.split(',') {
            if field.is_empty() {
                continue;
            }
            let (key, value) = match field.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (field, None),
            };
            let Some(var) = lookup(key) else {
                if key.starts_with("cpu.") {
                    self.warn_not_simulated(key);
                } else {
                    self.warn(format!(
                        "gort: unknown GODEBUG key {key:?}; ignored (gort's keys: {})",
                        gort_keys()
                    ));
                }
                continue;
            };
            match var.kind {
                Kind::Int {
                    min,
                    max,
                    what,
                    default,
                    set,
                    det_only,
                } => {
                    let n = self.debug_int(key, value, min, max, what, &default());
                    set(self, n);
                    if key == "simseed" {
                        simseed_malformed = n.is_none();
                    }
                    if det_only {
                        det_only_keys.retain(|k| *k != key);
                        if n.is_some() {
                            det_only_keys.push(var.name);
                        }
                    }
                }
                Kind::Choice {
                    values,
                    default,
                    set,
                } => {
                    let i = self.debug_choice(key, value, values, values[default]);
                    set(self, i);
                }
                Kind::Path { set } => match value {
                    Some(path) if !path.is_empty() => {
                        let mut c = std::mem::take(self);
                        let r = set(&mut c, path);
                        *self = c;
                        if let Err(e) = r {
                            self.warn(format!("gort: GODEBUG {key}={path}: {e}; not tracing"));
                        }
                    }
                    _ => self.warn(format!(
                        "gort: GODEBUG {key} needs a file, as in {key}=run.trace; ignored"
                    )),
                },
                Kind::NotSimulated => self.warn_not_simulated(key),
            }
        }

        // A malformed simseed has had its warning; don't blame its
        // companions for a problem the user already hears about.
        if self.simseed.is_none() && !simseed_malformed {
            for key in det_only_keys {
                self.warn(format!(
                    "gort: GODEBUG {key} has no effect without simseed (deterministic mode); ignored"
                ));
            }
        }
    }

    fn warn_not_simulated(&mut self, key: &str) {
        self.warn(format!(
            "gort: GODEBUG key {key:?} is a Go setting gort does not simulate yet; ignored"
        ));
    }

    /// Finds the value of a `GODEBUG` key among `values`; if it is missing
    /// or not one of them, warns once, naming the values and the `default`
    /// the key falls back to, and returns `None`.
    fn debug_choice(
        &mut self,
        key: &str,
        value: Option<&str>,
        values: &[&str],
        default: &str,
    ) -> Option<usize> {
        let Some(value) = value else {
            self.warn(format!(
                "gort: GODEBUG item {key:?} has no value (expected {key}={}); using {default}",
                values.join("|")
            ));
            return None;
        };
        let i = values.iter().position(|v| *v == value);
        if i.is_none() {
            self.warn(format!(
                "gort: GODEBUG {key}={value:?} is not one of {}; using {default}",
                values.join(", ")
            ));
        }
        i
    }

    /// Parses the integer value of a `GODEBUG` key within `min..=max`; on
    /// failure warns once, naming `what` was expected and the `default` the
    /// key falls back to, and returns `None`.
    fn debug_int(
        &mut self,
        key: &str,
        value: Option<&str>,
        min: i128,
        max: i128,
        what: &str,
        default: &str,
    ) -> Option<i128> {
        let Some(value) = value else {
            self.warn(format!(
                "gort: GODEBUG item {key:?} has no value (expected {key}=N); using {default}"
            ));
            return None;
        };
        match atoi(value, min, max) {
            Ok(n) => Some(n),
            Err(e) => {
                let why = match e {
                    AtoiError::TooLarge => format!("is too large (at most {max})"),
                    AtoiError::Invalid => format!("is not {what}"),
                };
                self.warn(format!(
                    "gort: GODEBUG {key}={value:?} {why}; using {default}"
                ));
                None
            }
        }
    }
}
