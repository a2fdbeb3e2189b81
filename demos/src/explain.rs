//! `gort run DEMO --seed S --explain`: the runtime steps a run's outcome
//! came from, read from the explain log (`gort::Config::explain`), in the
//! order they ran: for a map's fatal error, every goroutine's steps on
//! that map before the check that failed (both writers' `mapassign`
//! entries, where each set and cleared `hashWriting`, growth and
//! evacuation), with the goroutine, its P, the virtual time and the
//! scenario's source line. For a lost object, the run is replayed with
//! the log focused on that object (`lost_object`, `render_lost`): the
//! stores that moved it under the barrier and what the barrier shaded,
//! its marks, the cycles' phases, the sweep that freed it.

use std::fmt::Write;

use gort::rt::ExplainEvent;

use crate::outcome::Outcome;

/// Events the log keeps (the last ones of the run).
pub const KEEP: usize = 4096;

/// Steps shown.
const SHOW: usize = 24;

/// The explanation of a run with `outcome` from its log's `events`.
pub fn render(events: &[ExplainEvent], outcome: &Outcome) -> String {
    let mut s = String::new();
    // The map whose check failed: the last step that ended in a fatal.
    let fatal = events.iter().rposition(|e| e.what.ends_with(": fatal"));
    let (chosen, head): (Vec<&ExplainEvent>, String) = match fatal {
        Some(i) => {
            let obj = events[i].obj;
            let mut on_map: Vec<&ExplainEvent> =
                events[..=i].iter().filter(|e| e.obj == obj).collect();
            let skip = on_map.len().saturating_sub(SHOW);
            on_map.drain(..skip);
            let what = outcome
                .fatal
                .as_deref()
                .map_or(String::new(), |f| format!(" before `fatal error: {f}`"));
            (
                on_map,
                format!("the last steps on the map at {obj:#x}{what}, in the order they ran"),
            )
        }
        None => {
            let skip = events.len().saturating_sub(SHOW);
            (
                events[skip..].iter().collect(),
                "the run's last map steps, in the order they ran (no map check failed)".into(),
            )
        }
    };
    if chosen.is_empty() {
        return "gort explain: the run made no map step worth explaining\n".into();
    }
    let mut gs: Vec<u64> = chosen.iter().map(|e| e.goid).collect();
    gs.sort_unstable();
    gs.dedup();
    let names: Vec<String> = gs.iter().map(|g| format!("goroutine {g}")).collect();
    let _ = writeln!(s, "gort explain: {head} ({}):", names.join(", "));
    let w = chosen
        .iter()
        .map(|e| e.func.len() + 1 + e.what.len())
        .max()
        .unwrap_or(0);
    for e in chosen {
        let step = format!("{} {}", e.func, e.what);
        let _ = writeln!(
            s,
            "  {:>10.3}us  G{:<3} P{}  {step:<w$}  {}:{}",
            e.time_ns as f64 / 1e3,
            e.goid,
            e.p,
            e.loc.file(),
            e.loc.line()
        );
    }
    s
}

/// The object a run lost, as its report shows it: the verifier's
/// `unexpected unmarked object obj=0x...`, or the freed object's base in
/// `access to freed object 0x... (object 0x..., ...)`.
pub fn lost_object(stderr: &str) -> Option<usize> {
    let hex = |s: &str| {
        let s = s.strip_prefix("0x")?;
        let end = s.find(|c: char| !c.is_ascii_hexdigit()).unwrap_or(s.len());
        usize::from_str_radix(&s[..end], 16).ok()
    };
    for line in stderr.lines() {
        if let Some(i) = line.find("unexpected unmarked object obj=") {
            return hex(&line[i + "unexpected unmarked object obj=".len()..]);
        }
        if line.starts_with("runtime: access to freed object") {
            if let Some(i) = line.find("(object ") {
                return hex(&line[i + "(object ".len()..]);
            }
        }
    }
    None
}

/// The focused log of a lost object's replay.
pub fn render_lost(events: &[ExplainEvent], obj: usize) -> String {
    let mut s = String::new();
    let skip = events.len().saturating_sub(2 * SHOW);
    let _ = writeln!(
        s,
        "gort explain: the steps on the lost object {obj:#x} (and the collections' phases), \
         in the order they ran, replayed:"
    );
    for e in &events[skip..] {
        let who = if e.goid == 0 {
            String::new()
        } else {
            format!("G{}", e.goid)
        };
        let _ = writeln!(
            s,
            "  {:>10.3}us  {who:<4} P{}  {} {}  {}:{}",
            e.time_ns as f64 / 1e3,
            e.p,
            e.func,
            e.what,
            e.loc.file(),
            e.loc.line()
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lost_object_is_read_from_either_report() {
        let checkmark = "runtime: checkmarks found unexpected unmarked object obj=0xc0000361e0\n\
                         runtime: found obj at *(0xc000040240+0x48)\n";
        assert_eq!(lost_object(checkmark), Some(0xc0000361e0));
        let freed = "runtime: access to freed object 0xc000012348 (object 0xc000012340, \
                     churn.node, freed by the sweep of GC 3)\n";
        assert_eq!(lost_object(freed), Some(0xc000012340));
        assert_eq!(lost_object("fatal error: concurrent map writes\n"), None);
    }
}
