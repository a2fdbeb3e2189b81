//! `gort run DEMO --seed S --explain`: the runtime steps a run's outcome
//! came from, read from the explain log (`gort::Config::explain`), in the
//! order they ran: for a map's fatal error, every goroutine's steps on
//! that map before the check that failed (both writers' `mapassign`
//! entries, where each set and cleared `hashWriting`, growth and
//! evacuation), with the goroutine, its P, the virtual time and the
//! scenario's source line.

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
