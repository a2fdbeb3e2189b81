//! What one run of a demo came to, read from what the runtime printed, as
//! a user reads it: Go's race reports (`WARNING: DATA RACE`, from the
//! model of TSan v3), gort's silent and masked races with their reasons,
//! a `fatal error:` (a map check, a lost object, a deadlock), a panic, or
//! main returning. A run can be several of these at once: Go prints race
//! reports and then dies with `concurrent map writes`.

use serde::{Deserialize, Serialize};

/// One run's outcome.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Reports Go's race detector prints (`WARNING: DATA RACE`).
    pub reported: u32,
    /// Races Go's detector stays silent on, by reason (`SilentReason`
    /// labels), one per race.
    pub silent: Vec<String>,
    /// Races ordered only by a lock neither access held (gort's
    /// `MASKED DATA RACE`).
    pub masked: u32,
    /// The `fatal error:` message, when it is neither a deadlock nor a
    /// lost object.
    pub fatal: Option<String>,
    /// An object the collector freed while reachable: `access to freed
    /// object`, the checkmark verifier, or the program's own `LOST` line.
    pub lost: bool,
    /// `all goroutines are asleep - deadlock!`.
    pub deadlock: bool,
    /// An unrecovered panic's message.
    pub panic: Option<String>,
    /// main returned (exit status 0, or the race detector's exit code)
    /// and nothing was lost.
    pub completed: bool,
    /// The process exit status Go would have.
    pub status: i32,
}

/// The reasons gort gives for a silent race, as short labels.
pub const SILENT_REASONS: [(&str, &str); 7] = [
    ("trace keeps", "history exhausted"),
    ("trace was recycled", "trace recycled"),
    ("under a slot", "slot reused"),
    ("evicted", "shadow cell evicted"),
    ("cleared after an earlier report", "cleared after a report"),
    ("global reset", "global reset"),
    ("kept no cell", "no cell kept"),
];

fn silent_label(because: &str) -> String {
    SILENT_REASONS
        .iter()
        .find(|(k, _)| because.contains(k))
        .map_or("other", |(_, l)| l)
        .to_string()
}

impl Outcome {
    /// Reads a run's exit status, stderr and stdout.
    pub fn parse(status: i32, stderr: &str, stdout: &str) -> Outcome {
        let mut o = Outcome {
            status,
            ..Outcome::default()
        };
        let mut in_silent = false;
        for line in stderr.lines() {
            if line == "WARNING: DATA RACE" {
                o.reported += 1;
            } else if line.starts_with("gort: SILENT DATA RACE") {
                in_silent = true;
            } else if line.starts_with("gort: MASKED DATA RACE") {
                o.masked += 1;
            } else if let Some(b) = line.strip_prefix("gort: silent because ") {
                if in_silent {
                    o.silent.push(silent_label(b));
                    in_silent = false;
                }
            } else if let Some(msg) = line.strip_prefix("fatal error: ") {
                if o.fatal.is_some() || o.deadlock || o.lost {
                    continue;
                }
                if msg.contains("deadlock") {
                    o.deadlock = true;
                } else if msg.starts_with("access to freed object") || msg.starts_with("checkmark")
                {
                    o.lost = true;
                } else {
                    o.fatal = Some(msg.to_string());
                }
            } else if let Some(msg) = line.strip_prefix("panic: ") {
                if msg.contains("payload mismatch") {
                    // A workload's own check found an object's memory
                    // reused while it was reachable.
                    o.lost = true;
                } else if o.panic.is_none() && o.fatal.is_none() {
                    o.panic = Some(msg.to_string());
                }
            }
        }
        if stdout.lines().any(|l| l.starts_with("LOST")) {
            o.lost = true;
        }
        o.completed = o.fatal.is_none() && !o.deadlock && o.panic.is_none() && !o.lost;
        o
    }

    /// The table rows this run counts in.
    pub fn rows(&self) -> Vec<String> {
        let mut r = Vec::new();
        if self.reported > 0 {
            r.push("race reported (Go's detector)".to_string());
        }
        let mut reasons = self.silent.clone();
        reasons.sort();
        reasons.dedup();
        for s in reasons {
            r.push(format!("silent race: {s}"));
        }
        if self.masked > 0 {
            r.push("masked race (unrelated lock)".to_string());
        }
        if let Some(f) = &self.fatal {
            r.push(format!("fatal error: {f}"));
        }
        if self.lost {
            r.push("object lost".to_string());
        }
        if self.deadlock {
            r.push("deadlock".to_string());
        }
        if let Some(p) = &self.panic {
            r.push(format!("panic: {p}"));
        }
        if self.completed {
            r.push("completed".to_string());
        }
        r
    }

    /// Any race found, reported or not.
    pub fn any_race(&self) -> bool {
        self.reported > 0 || !self.silent.is_empty() || self.masked > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_race_report_then_a_map_fatal_counts_in_both_rows() {
        let err = "==================\nWARNING: DATA RACE\nWrite at 0x1 by goroutine 7:\n\
                   ==================\nfatal error: concurrent map writes\n\ngoroutine 7 [running]:\n";
        let o = Outcome::parse(2, err, "");
        assert_eq!(o.reported, 1);
        assert_eq!(o.fatal.as_deref(), Some("concurrent map writes"));
        assert!(!o.completed);
        assert_eq!(
            o.rows(),
            [
                "race reported (Go's detector)",
                "fatal error: concurrent map writes"
            ]
        );
    }

    #[test]
    fn silent_races_are_counted_by_reason() {
        let err = "gort: SILENT DATA RACE (Go 1.19's race detector does not report this one)\n\
                   Write at ...\ngort: silent because the earlier access's shadow cell was evicted by the access of x.\n\
                   gort: SILENT DATA RACE (...)\ngort: silent because the earlier access's stack is gone: g finished and its trace was recycled.\n";
        let o = Outcome::parse(0, err, "");
        assert_eq!(o.silent, ["shadow cell evicted", "trace recycled"]);
        assert!(o.completed);
    }

    #[test]
    fn deadlock_lost_object_and_program_loss_are_told_apart() {
        let d = Outcome::parse(
            2,
            "fatal error: all goroutines are asleep - deadlock!\n",
            "",
        );
        assert!(d.deadlock && d.fatal.is_none() && !d.completed);
        let l = Outcome::parse(2, "fatal error: access to freed object\n", "");
        assert!(l.lost && l.fatal.is_none() && !l.completed);
        let p = Outcome::parse(0, "", "LOST 3\n");
        assert!(p.lost && !p.completed);
    }
}
