//! A runtime's settings: the user's environment (`GOMAXPROCS`, `GODEBUG`,
//! `GOGC`, `GOTRACEBACK`) or builder calls, turned into the scheduler's
//! `SchedConfig`; the collector reads its own settings (`gogc_value`,
//! `gctrace_value`) from the `Config` directly.
//!
//! gort reads the same variables as Go so that a Go programmer's habits carry
//! over, and parses them the way Go 1.19 does (`schedinit` for `GOMAXPROCS`,
//! `parsedebugvars` in runtime/runtime1.go for `GODEBUG`, `readGOGC` in
//! runtime/mgcpacer.go for `GOGC`): decimal integers with an optional `-`,
//! `GODEBUG` items split on `,` and then on the first `=`, no whitespace
//! trimming, later items overriding earlier ones.
//!
//! Where Go stays silent, gort speaks. Go ignores a bad `GOMAXPROCS`, an
//! unknown `GODEBUG` key or a malformed value without a word, which is
//! tolerable in production but ruinous in a simulator whose whole point is a
//! reproducible run: a typo in `simseed` would silently turn a replay into a
//! nondeterministic run. So every problem produces exactly one warning line,
//! and the key falls back to its default. Keys are sorted into four kinds so
//! that the warning says what the user can do about it: gort's keys (parsed
//! here), gort's keys not implemented yet, real Go keys gort does not
//! simulate (taken from Go 1.19's source, see `GO_UNSIMULATED`), and keys
//! nobody knows (most likely typos).
//!
//! Parsing never prints: warnings are collected in order and the runtime
//! prints them on stderr when it starts, through its own `Output`, so tests
//! can assert on them and several runtimes can coexist in one process.
//!
//! Builder calls are applied after the environment, so a test or a demo can
//! start from `Config::from_env()` and pin what it depends on.

use std::sync::Arc;

use gort_scheduler::config::{Captured, DetConfig, Mode, Output, SchedConfig, Traceback};

/// `GOGC` when unset or unreadable (Go's `readGOGC` fallback).
const GOGC_DEFAULT: u32 = 100;

/// gort's own `GODEBUG` keys, listed in the unknown-key warning.
const GORT_KEYS: &str = "simseed, simswitch, simpreempt, simtrace, wbmode, gcscanold";

/// gort's own keys that later work will implement; accepted with a warning.
const GORT_RESERVED: &[&str] = &["simtrace", "wbmode", "gcscanold"];

/// Real Go 1.19 `GODEBUG` keys that gort does not simulate (yet), taken from
/// Go 1.19.8's source (`/usr/lib/go-1.19/src`). `schedtrace`,
/// `scheddetail` and `gctrace` are in Go's table too but gort implements
/// them, so they are not listed. Besides these, every `cpu.*` key
/// (internal/cpu) is Go's.
const GO_UNSIMULATED: &[&str] = &[
    // runtime/runtime1.go: the dbgvars table, in its order.
    "allocfreetrace",
    "clobberfree",
    "cgocheck",
    "efence",
    "gccheckmark",
    "gcpacertrace",
    "gcshrinkstackoff",
    "gcstoptheworld",
    "invalidptr",
    "madvdontneed",
    "sbrk",
    "scavtrace",
    "tracebackancestors",
    "asyncpreemptoff",
    "inittrace",
    "harddecommit",
    "adaptivestackstart",
    // runtime/runtime1.go: parsedebugvars handles it apart from dbgvars.
    "memprofilerate",
    // The standard library (internal/godebug.Get or a direct GODEBUG scan).
    "http2client",         // net/http/transport.go
    "http2server",         // net/http/server.go
    "http2debug",          // net/http/h2_bundle.go
    "netdns",              // net/conf.go
    "x509sha1",            // crypto/x509/x509.go
    "execerrdot",          // os/exec/lp_unix.go
    "jstmpllitinterp",     // html/template/escape.go
    "multipartfiles",      // mime/multipart/formdata.go
    "multipartmaxparts",   // mime/multipart/formdata.go
    "multipartmaxheaders", // mime/multipart/multipart.go
    "intern",              // internal/intern/intern.go
    "fuzzseed",            // internal/fuzz/pcg.go
    "fuzzdebug",           // internal/fuzz/fuzz.go
    // The go command (cmd/go), often left exported in a Go developer's shell.
    "gocachehash",
    "gocachetest",
    "gocacheverify",
    "gofsystrace",
    "gofsystracelog",
    "gofsystracestack",
    "goindex",
    "lazymod",
];

/// The settings of one runtime, built from the environment and/or builder
/// calls; `sched()` hands the scheduler its part.
#[derive(Clone, Debug)]
pub struct Config {
    gomaxprocs: usize,
    schedtrace_ms: u64,
    scheddetail: bool,
    /// `Some` switches to deterministic mode.
    simseed: Option<u64>,
    /// `None`: `DetConfig::with_seed`'s default.
    simswitch: Option<u32>,
    /// `None`: `DetConfig::with_seed`'s default.
    simpreempt: Option<u32>,
    /// `GOGC`: `None` is off.
    gogc: Option<u32>,
    /// `GODEBUG=gctrace=N`: the GC prints a line per cycle when N > 0.
    gctrace: u32,
    output: Output,
    traceback: Traceback,
    warnings: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}

impl Config {
    /// Go's defaults: GOMAXPROCS = number of CPUs, GOGC=100, parallel mode,
    /// no schedtrace or gctrace, output to the process's stdout/stderr.
    pub fn new() -> Config {
        let sched = SchedConfig::default();
        Config {
            gomaxprocs: sched.gomaxprocs,
            schedtrace_ms: sched.schedtrace_ms,
            scheddetail: sched.scheddetail,
            simseed: None,
            simswitch: None,
            simpreempt: None,
            gogc: Some(GOGC_DEFAULT),
            gctrace: 0,
            output: sched.output,
            traceback: sched.traceback,
            warnings: Vec::new(),
        }
    }

    /// Reads `GOMAXPROCS`, `GODEBUG`, `GOTRACEBACK` and `GOGC` from the
    /// process environment.
    /// A value that is not valid UTF-8 is read lossily, so it is reported as
    /// malformed rather than ignored.
    pub fn from_env() -> Config {
        Config::from_vars(|name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()))
    }

    /// Like `from_env`, but variables come from `lookup` (`None`: unset).
    pub fn from_vars(mut lookup: impl FnMut(&str) -> Option<String>) -> Config {
        let mut cfg = Config::new();
        if let Some(v) = lookup("GOMAXPROCS") {
            cfg.parse_gomaxprocs(&v);
        }
        if let Some(v) = lookup("GODEBUG") {
            cfg.parse_debug_vars(&v);
        }
        if let Some(v) = lookup("GOTRACEBACK") {
            cfg = cfg.gotraceback(&v);
        }
        if let Some(v) = lookup("GOGC") {
            cfg.parse_gogc(&v);
        }
        cfg
    }

    /// Sets the number of Ps. As with Go's `runtime.GOMAXPROCS`, 0 leaves
    /// the current value unchanged.
    pub fn gomaxprocs(mut self, n: usize) -> Config {
        if n > 0 {
            self.gomaxprocs = n;
        }
        self
    }

    /// Prints a SCHED block every `ms` milliseconds (0: never).
    pub fn schedtrace(mut self, ms: u64) -> Config {
        self.schedtrace_ms = ms;
        self
    }

    /// Adds the per-P/M/G lines to schedtrace blocks.
    pub fn scheddetail(mut self, on: bool) -> Config {
        self.scheddetail = on;
        self
    }

    /// Switches to deterministic mode, replaying the interleaving of `seed`.
    pub fn simseed(mut self, seed: u64) -> Config {
        self.simseed = Some(seed);
        self
    }

    /// Mean number of steps a P runs before the next P is picked; only used
    /// in deterministic mode (whether `simseed` comes before or after).
    ///
    /// # Panics
    /// If `n` is 0: the scheduler must run at least one step per pick.
    pub fn simswitch(mut self, n: u32) -> Config {
        assert!(n >= 1, "gort: Config::simswitch(0): must be at least 1");
        self.simswitch = Some(n);
        self
    }

    /// A safepoint preempts with probability 1/`n` (0: only the simulated
    /// sysmon preempts); only used in deterministic mode.
    pub fn simpreempt(mut self, n: u32) -> Config {
        self.simpreempt = Some(n);
        self
    }

    /// Sets `GOGC`, the heap growth allowed between collections in percent
    /// of the live heap; `None` turns the collector off (`GOGC=off`).
    ///
    /// # Panics
    /// If the percentage exceeds `i32::MAX`: Go keeps `GOGC` in an int32.
    pub fn gogc(mut self, percent: Option<u32>) -> Config {
        if let Some(p) = percent {
            assert!(
                i32::try_from(p).is_ok(),
                "gort: Config::gogc(Some({p})): at most {} (Go keeps GOGC in an int32)",
                i32::MAX
            );
        }
        self.gogc = percent;
        self
    }

    /// Prints Go's gctrace line on stderr after every GC cycle when `n` is
    /// above 0 (`GODEBUG=gctrace=N`; Go 1.19 treats every N > 0 alike).
    pub fn gctrace(mut self, n: u32) -> Config {
        self.gctrace = n;
        self
    }

    /// `GOGC`: `Some(percent)`, or `None` when the collector is off.
    pub fn gogc_value(&self) -> Option<u32> {
        self.gogc
    }

    /// `GODEBUG=gctrace=N`'s N (0: off).
    pub fn gctrace_value(&self) -> u32 {
        self.gctrace
    }

    /// How much panics and fatal errors print, as Go reads `GOTRACEBACK`:
    /// `none`, `single` (the default), `all`, `system`, `crash`, or a
    /// number. A word Go does not know is taken as Go takes it (level 0:
    /// no goroutines printed), with a warning.
    pub fn gotraceback(mut self, level: &str) -> Config {
        let (t, known) = Traceback::from_go(level);
        if !known {
            self.warn(format!(
                "gort: GOTRACEBACK={level:?} is not none, single, all, system, crash or a number; \
                 like Go 1.19, printing no goroutines"
            ));
        }
        self.traceback = t;
        self
    }

    /// Sends the runtime's output to fresh in-memory buffers, readable
    /// through `captured()`.
    pub fn capture_output(mut self) -> Config {
        self.output = Output::Captured(Arc::new(Captured::default()));
        self
    }

    /// The scheduler's part of the settings.
    pub fn sched(&self) -> SchedConfig {
        let mode = match self.simseed {
            None => Mode::Parallel,
            Some(seed) => {
                let mut det = DetConfig::with_seed(seed);
                if let Some(n) = self.simswitch {
                    det.switch_every = n;
                }
                if let Some(n) = self.simpreempt {
                    det.preempt_every = n;
                }
                Mode::Deterministic(det)
            }
        };
        SchedConfig {
            gomaxprocs: self.gomaxprocs,
            schedtrace_ms: self.schedtrace_ms,
            scheddetail: self.scheddetail,
            mode,
            output: self.output.clone(),
            traceback: self.traceback,
        }
    }

    /// One line per problem found in the environment, in the order found,
    /// without a trailing newline.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The buffers set up by `capture_output()`, if it was called.
    pub fn captured(&self) -> Option<Arc<Captured>> {
        match &self.output {
            Output::Captured(c) => Some(Arc::clone(c)),
            Output::Process => None,
        }
    }

    /// Go's `schedinit` accepts `GOMAXPROCS` if `atoi32` parses it and it is
    /// positive; anything else keeps the CPU count, here with a warning.
    fn parse_gomaxprocs(&mut self, value: &str) {
        match atoi(value, 1, i32::MAX.into()) {
            Ok(n) => self.gomaxprocs = n as usize,
            Err(e) => {
                let why = match e {
                    AtoiError::TooLarge => format!("is too large (at most {})", i32::MAX),
                    AtoiError::Invalid => "is not a positive integer".to_string(),
                };
                self.warn(format!(
                    "gort: GOMAXPROCS={value:?} {why}; using the default, {}",
                    self.gomaxprocs
                ));
            }
        }
    }

    /// Go's `readGOGC`: `off` turns the collector off; otherwise `atoi32`,
    /// whose syntax is an optional `-` then digits (a lone `-` reads as 0);
    /// a negative percentage is off too (`setGCPercent`); anything `atoi32`
    /// rejects, including numbers outside int32, leaves 100. gort warns
    /// about what Go silently rejects or misreads. An empty value is Go's
    /// unset (`gogetenv` cannot tell them apart), so it passes silently.
    fn parse_gogc(&mut self, value: &str) {
        if value.is_empty() {
            return;
        }
        if value == "off" {
            self.gogc = None;
            return;
        }
        let digits = value.strip_prefix('-').unwrap_or(value);
        if !digits.bytes().all(|c| c.is_ascii_digit()) {
            self.warn(format!(
                "gort: GOGC={value:?} is not a number or \"off\"; using the default, {GOGC_DEFAULT}"
            ));
            self.gogc = Some(GOGC_DEFAULT);
            return;
        }
        if digits.is_empty() {
            self.warn(format!(
                "gort: GOGC={value:?} is not a number or \"off\"; like Go 1.19, whose atoi \
                 reads a lone \"-\" as 0, using 0"
            ));
            self.gogc = Some(0);
            return;
        }
        let negative = digits.len() < value.len();
        match atoi(value, i32::MIN.into(), i32::MAX.into()) {
            Ok(n) if n < 0 => self.gogc = None,
            Ok(n) => self.gogc = Some(n as u32),
            Err(_) => {
                let why = if negative {
                    format!("is too small (at least {})", i32::MIN)
                } else {
                    format!("is too large (at most {})", i32::MAX)
                };
                self.warn(format!(
                    "gort: GOGC={value:?} {why}; using the default, {GOGC_DEFAULT}"
                ));
                self.gogc = Some(GOGC_DEFAULT);
            }
        }
    }

    /// Applies a `GODEBUG` value, item by item, like Go's `parsedebugvars`.
    fn parse_debug_vars(&mut self, godebug: &str) {
        // simswitch/simpreempt need simseed, which may come later in the
        // string, so their "no effect" warnings wait for the end.
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
            match key {
                "schedtrace" => {
                    self.schedtrace_ms = self
                        .debug_int(
                            key,
                            value,
                            0,
                            i32::MAX.into(),
                            "a non-negative integer",
                            "0 (off)",
                        )
                        .unwrap_or(0) as u64;
                }
                "gctrace" => {
                    self.gctrace = self
                        .debug_int(
                            key,
                            value,
                            0,
                            i32::MAX.into(),
                            "a non-negative integer",
                            "0 (off)",
                        )
                        .unwrap_or(0) as u32;
                }
                "scheddetail" => {
                    self.scheddetail = self
                        .debug_int(
                            key,
                            value,
                            i32::MIN.into(),
                            i32::MAX.into(),
                            "an integer",
                            "0 (off)",
                        )
                        .unwrap_or(0)
                        != 0;
                }
                "simseed" => {
                    let seed = self.debug_int(
                        key,
                        value,
                        0,
                        u64::MAX.into(),
                        "a non-negative integer",
                        "none (parallel mode)",
                    );
                    simseed_malformed = seed.is_none();
                    self.simseed = seed.map(|s| s as u64);
                }
                "simswitch" => {
                    let dflt = DetConfig::with_seed(0).switch_every;
                    let n = self.debug_int(
                        key,
                        value,
                        1,
                        u32::MAX.into(),
                        "an integer >= 1",
                        &dflt.to_string(),
                    );
                    self.simswitch = n.map(|n| n as u32);
                    det_only_keys.retain(|k| *k != key);
                    if n.is_some() {
                        det_only_keys.push(key);
                    }
                }
                "simpreempt" => {
                    let dflt = DetConfig::with_seed(0).preempt_every;
                    let n = self.debug_int(
                        key,
                        value,
                        0,
                        u32::MAX.into(),
                        "a non-negative integer",
                        &dflt.to_string(),
                    );
                    self.simpreempt = n.map(|n| n as u32);
                    det_only_keys.retain(|k| *k != key);
                    if n.is_some() {
                        det_only_keys.push(key);
                    }
                }
                _ if GORT_RESERVED.contains(&key) => {
                    self.warn(format!(
                        "gort: GODEBUG key {key:?} is not implemented yet; ignored"
                    ));
                }
                _ if GO_UNSIMULATED.contains(&key) || key.starts_with("cpu.") => {
                    self.warn(format!(
                        "gort: GODEBUG key {key:?} is a Go setting gort does not simulate yet; ignored"
                    ));
                }
                _ => {
                    self.warn(format!(
                        "gort: unknown GODEBUG key {key:?}; ignored (gort's keys: {GORT_KEYS})"
                    ));
                }
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

    fn warn(&mut self, line: String) {
        self.warnings.push(line);
    }
}

/// Why `atoi` rejected a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AtoiError {
    /// Not a decimal integer, or below the minimum.
    Invalid,
    /// A decimal integer above the maximum.
    TooLarge,
}

/// Go's runtime `atoi64` syntax (an optional `-`, then ASCII digits; no `+`,
/// no spaces), except that a lone `-` is rejected, bounded to `min..=max`.
fn atoi(s: &str, min: i128, max: i128) -> Result<i128, AtoiError> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(AtoiError::Invalid);
    }
    let mut n: i128 = 0;
    for c in digits.bytes() {
        n = match n
            .checked_mul(10)
            .and_then(|n| n.checked_add(i128::from(c - b'0')))
        {
            Some(n) => n,
            // Beyond i128 there is nothing gort accepts, whatever the sign.
            None if neg => return Err(AtoiError::Invalid),
            None => return Err(AtoiError::TooLarge),
        };
    }
    if neg {
        n = -n;
    }
    if n < min {
        Err(AtoiError::Invalid)
    } else if n > max {
        Err(AtoiError::TooLarge)
    } else {
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
