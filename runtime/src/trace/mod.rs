//! The execution tracer's exporters: they turn the records a traced run
//! collected (`gort_scheduler::trace::Tracer::take`, in recording order)
//! into files existing viewers open.
//!
//! - [`go119`]: Go 1.19's binary format, for `go tool trace` (its
//!   timeline, goroutine analysis and pprof-like profiles). Go's parser
//!   rejects a whole file at the first inconsistency, so this writer
//!   replays the parser's state machine while it writes and repairs or
//!   drops what a gap in the stream would make invalid.
//! - [`chrome`]: Chrome / Perfetto trace-event JSON (`ui.perfetto.dev`,
//!   `chrome://tracing`): one track per P with goroutine slices, a GC
//!   track, heap and map counters, and gort's own log events (race
//!   reports, lost objects, fatal errors) as instants.
//!
//! - [`html`]: a self-contained HTML timeline (no network), lanes per P.
//!
//! All take the number of Ps the run had, for the GOMAXPROCS event and
//! for naming the P tracks even when a P recorded nothing.
//!
//! A trace file is written whole under a temporary name in its directory
//! and renamed into place (`write_file`): a run that dies before its end
//! leaves a complete trace or none, never half of one. `check_target`
//! makes sure, before anything runs, that the path's format is known and
//! its directory writable.

use std::io;
use std::path::Path;

/// The recorded side, for callers that build or filter records.
pub use gort_scheduler::trace::{BlockReason, StwKind, TraceEvent, TraceRecord, Tracer};

pub mod chrome;
pub mod go119;
pub mod html;

/// An export format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Go 1.19's binary trace (`go tool trace FILE`).
    Go119,
    /// Chrome / Perfetto trace-event JSON.
    Chrome,
    /// The HTML timeline.
    Html,
}

impl Format {
    /// The format a file name asks for: `.trace` and `.out` (what
    /// `go test -trace` users name them) are Go's, `.json` Chrome's.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "trace" | "out" => Some(Format::Go119),
            "json" => Some(Format::Chrome),
            "html" | "htm" => Some(Format::Html),
            _ => None,
        }
    }
}

/// Writes `records` of a run with `procs` Ps in `format`.
pub fn write(
    format: Format,
    records: &[TraceRecord],
    procs: usize,
    out: &mut impl io::Write,
) -> io::Result<()> {
    match format {
        Format::Go119 => go119::write_go119(records, procs, out).map(|_| ()),
        Format::Chrome => chrome::write_chrome(records, procs, out),
        Format::Html => html::write_html(records, procs, out),
    }
}

/// Go's `trace.Log(ctx, category, message)`: an annotation of the
/// current goroutine in the trace (a user log in `go tool trace`, an
/// instant on its P's track in Perfetto, a marker on the HTML timeline).
/// Nothing when the run is not traced.
pub fn log(category: &'static str, message: impl Into<String>) {
    gort_scheduler::trace_event(|| TraceEvent::Log {
        category,
        message: message.into(),
    });
}

/// Go's `trace.WithRegion(ctx, name, f)`: `f`'s time on the current
/// goroutine as a named region of the trace.
pub fn with_region<R>(name: &'static str, f: impl FnOnce() -> R) -> R {
    gort_scheduler::trace_event(|| TraceEvent::Region { name, start: true });
    let r = f();
    gort_scheduler::trace_event(|| TraceEvent::Region { name, start: false });
    r
}

/// The temporary name `path` is written under before the rename.
fn temp_path(path: &Path) -> std::path::PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

/// The format `path` names, once its directory has been shown writable
/// (a temporary file made there and removed): the check a traced run
/// makes before it starts.
pub fn check_target(path: &Path) -> Result<Format, String> {
    let format = Format::from_path(path).ok_or_else(|| {
        format!(
            "{}: unknown trace format (name it .trace or .out for go tool trace, .json for Perfetto, .html for the timeline)",
            path.display()
        )
    })?;
    check_writable(path)?;
    Ok(format)
}

/// Whether a trace can be written to `path` (a temporary file made in
/// its directory and removed).
pub fn check_writable(path: &Path) -> Result<(), String> {
    let tmp = temp_path(path);
    std::fs::File::create(&tmp)
        .map_err(|e| format!("cannot write the trace to {}: {e}", path.display()))?;
    let _ = std::fs::remove_file(&tmp);
    Ok(())
}

/// Writes `records` to `path` in `format`: whole, to a temporary file,
/// then renamed over `path`.
pub fn write_file(
    path: &Path,
    format: Format,
    records: &[TraceRecord],
    procs: usize,
) -> Result<(), String> {
    let tmp = temp_path(path);
    let result = (|| {
        let f = std::fs::File::create(&tmp)?;
        let mut w = io::BufWriter::new(f);
        write(format, records, procs, &mut w)?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write the trace to {}: {e}", path.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_follows_the_extension() {
        let f = |s: &str| Format::from_path(Path::new(s));
        assert_eq!(f("run.trace"), Some(Format::Go119));
        assert_eq!(f("/tmp/trace.OUT"), Some(Format::Go119));
        assert_eq!(f("run.json"), Some(Format::Chrome));
        assert_eq!(f("run.html"), Some(Format::Html));
        assert_eq!(f("run.txt"), None);
        assert_eq!(f("trace"), None);
    }
}

#[cfg(test)]
mod file_tests {
    use super::*;

    #[test]
    fn a_bad_target_fails_before_the_run_and_leaves_nothing() {
        let dir = std::env::temp_dir().join(format!("gort-trace-target-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let e = check_target(&dir.join("run.txt")).unwrap_err();
        assert!(e.contains("unknown trace format"), "{e}");
        let e = check_target(&dir.join("missing/run.trace")).unwrap_err();
        assert!(e.starts_with("cannot write the trace to "), "{e}");
        assert_eq!(check_target(&dir.join("run.json")), Ok(Format::Chrome));
        write_file(&dir.join("run.json"), Format::Chrome, &[], 1).unwrap();
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["run.json"], "no temporary file is left");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
