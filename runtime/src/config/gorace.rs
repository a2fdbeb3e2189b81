//! `GORACE`: the race detector's options, read as Go's race runtime (the
//! ThreadSanitizer runtime it links) reads them: `name=value` items
//! separated by spaces, later items overriding earlier ones.
//!
//! The options matter only when the race detector is on (`GORT_RACE=1` or
//! `Config::race(true)`, gort's stand-in for building with `-race`); a
//! `GORACE` set without it says so in one warning, as it would otherwise
//! be silently ignored. As everywhere in gort's configuration, an unknown
//! option or a malformed value gets one warning of its own and the
//! option's default.

use super::{atoi, AtoiError, Config};

/// The `GORACE` options Go documents (doc/articles/race_detector), with
/// Go's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaceOptions {
    /// `log_path`: where reports go, `stderr` (default), `stdout`, or a
    /// file name to which the pid is appended.
    pub log_path: String,
    /// `exitcode`: the exit status of a program that raced (default 66).
    pub exitcode: i32,
    /// `strip_path_prefix`: removed from the file paths in reports.
    pub strip_path_prefix: String,
    /// `history_size`: each goroutine's trace keeps 3 + N parts of ~16K
    /// events (ThreadSanitizer v3, as Go 1.19 ships it), 0..=7 (default 0).
    pub history_size: u8,
    /// `halt_on_error`: exit after the first report (default false).
    pub halt_on_error: bool,
    /// `atexit_sleep_ms`: how long main waits before exiting, so that
    /// late reports are printed (default 1000).
    pub atexit_sleep_ms: u32,
}

impl Default for RaceOptions {
    fn default() -> Self {
        RaceOptions {
            log_path: "stderr".to_string(),
            exitcode: 66,
            strip_path_prefix: String::new(),
            history_size: 0,
            halt_on_error: false,
            atexit_sleep_ms: 1000,
        }
    }
}

/// The options, as the unknown-option warning lists them.
const OPTIONS: &str =
    "log_path, exitcode, strip_path_prefix, history_size, halt_on_error, atexit_sleep_ms";

impl Config {
    /// Applies a `GORACE` value. An empty one is unset, as Go's getenv
    /// cannot tell them apart.
    pub(super) fn parse_gorace(&mut self, gorace: &str) {
        if gorace.trim().is_empty() {
            return;
        }
        for item in gorace.split_ascii_whitespace() {
            let Some((name, value)) = item.split_once('=') else {
                self.warn(format!(
                    "gort: GORACE item {item:?} has no value (expected {item}=V); ignored"
                ));
                continue;
            };
            let d = RaceOptions::default();
            let r = &mut self.race;
            let problem = match name {
                "log_path" => {
                    if value.is_empty() {
                        r.log_path = d.log_path;
                        Some(format!("is empty; using the default, {}", r.log_path))
                    } else {
                        r.log_path = value.to_string();
                        None
                    }
                }
                "strip_path_prefix" => {
                    r.strip_path_prefix = value.to_string();
                    None
                }
                "exitcode" => match atoi(value, i32::MIN.into(), i32::MAX.into()) {
                    Ok(n) => {
                        r.exitcode = n as i32;
                        None
                    }
                    Err(_) => {
                        r.exitcode = d.exitcode;
                        Some(format!(
                            "is not an integer; using the default, {}",
                            d.exitcode
                        ))
                    }
                },
                "history_size" => match atoi(value, 0, 7) {
                    Ok(n) => {
                        r.history_size = n as u8;
                        None
                    }
                    Err(_) => {
                        r.history_size = d.history_size;
                        Some(format!(
                            "is not an integer from 0 to 7; using the default, {}",
                            d.history_size
                        ))
                    }
                },
                "atexit_sleep_ms" => match atoi(value, 0, u32::MAX.into()) {
                    Ok(n) => {
                        r.atexit_sleep_ms = n as u32;
                        None
                    }
                    Err(e) => {
                        r.atexit_sleep_ms = d.atexit_sleep_ms;
                        let why = match e {
                            AtoiError::TooLarge => format!("is too large (at most {})", u32::MAX),
                            AtoiError::Invalid => "is not a non-negative integer".to_string(),
                        };
                        Some(format!("{why}; using the default, {}", d.atexit_sleep_ms))
                    }
                },
                // The sanitizer runtime's boolean syntax.
                "halt_on_error" => match value {
                    "1" | "true" | "yes" => {
                        r.halt_on_error = true;
                        None
                    }
                    "0" | "false" | "no" => {
                        r.halt_on_error = false;
                        None
                    }
                    _ => {
                        r.halt_on_error = d.halt_on_error;
                        Some("is not 0, 1, true, false, yes or no; using the default, 0".into())
                    }
                },
                _ => {
                    self.warn(format!(
                        "gort: unknown GORACE option {name:?}; ignored (gort's options: {OPTIONS})"
                    ));
                    continue;
                }
            };
            if let Some(why) = problem {
                self.warn(format!("gort: GORACE {name}={value:?} {why}"));
            }
        }
    }

    /// `GORT_RACE`: gort's switch for what Go's `-race` build flag does
    /// (1 on, 0 off).
    pub(super) fn parse_gort_race(&mut self, v: &str) {
        match v.trim() {
            "1" | "true" => self.race_enabled = true,
            "0" | "false" | "" => self.race_enabled = false,
            _ => self.warn(format!(
                "gort: GORT_RACE={v:?} is not 1 or 0; the race detector stays off"
            )),
        }
    }
}
