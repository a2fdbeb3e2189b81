//! gort's race detector (issue 12), built bottom-up. So far: the vector
//! clocks and the exact detector, an engine over Go's race annotations
//! (`racegostart`, `raceacquire`, `racerelease`, `racereleasemerge`,
//! `racereleaseacquire`, `raceread`/`racewrite`) that finds every race of
//! an execution. Not yet attached to the runtime: the hooks from the
//! scheduler, the maps and `Ptr` accesses (the `// race:` marks), the model
//! of ThreadSanitizer v3's bounded memory, and Go's report format come
//! next; until then `GORACE` and the switch have no effect (README).

pub mod exact;
pub mod vclock;

pub use exact::{Access, Exact, Race};
pub use vclock::{Tid, VClock};
