//! gort's race detector, built bottom-up. So far: the vector
//! clocks and the exact detector, an engine over Go's race annotations
//! (`racegostart`, `raceacquire`, `racerelease`, `racereleasemerge`,
//! `racereleaseacquire`, `raceread`/`racewrite`) that finds every race of
//! an execution; and the first part of the model of ThreadSanitizer v3's
//! bounded memory, its four-cell shadow word (`tsan_shadow`). Not yet
//! attached to the runtime: the hooks from the scheduler, the maps and
//! `Ptr` accesses (the `// race:` marks), the rest of the model (slots,
//! traces), and Go's report format come next; until then `GORACE` has no
//! effect (README).

pub mod exact;
pub mod tsan_shadow;
pub mod vclock;

pub use exact::{Access, Exact, Race};
pub use vclock::{Tid, VClock};
