//! gort's race detector (`-race`): Go's race annotations, made by the
//! lower layers through the scheduler's hooks (`gort_scheduler::race`),
//! feed two detectors (`detector`): a model of ThreadSanitizer v3's
//! bounded memory as Go 1.19 ships it (`model`, over the four-cell shadow
//! word of `tsan_shadow`), whose reports are Go's, and an exact one
//! (`exact`, over `vclock`), which finds every race of the execution and
//! so names the ones Go's detector stays silent on. Both keep each word's
//! state in `shadow_mem`: one cache line per 8-byte word at a place
//! computed from its address.

pub mod detector;
pub mod exact;
mod hash;
mod lock;
pub mod lockset;
pub mod model;
mod report;
mod shadow_mem;
pub mod tsan_shadow;
pub mod vclock;

pub use detector::Detector;
pub use exact::{Access, Exact, Race};
pub use vclock::{Tid, VClock};

/// Runs `f` as a cgo call: C code the detector does not see (Go's cgo
/// calls are uninstrumented), and, as in Go, a synchronisation with every
/// earlier cgo call of any goroutine.
pub fn cgo_call<R>(f: impl FnOnce() -> R) -> R {
    gort_scheduler::race::cgo_call(f)
}
