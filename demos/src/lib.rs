//! gort-demos: the article's scenarios and gort's own, as programs for
//! gort's runtime (`scenarios`, one module per demo, each quoting its
//! claim), how one run of a demo is made and read (`demo`, `outcome`),
//! seed sweeps over many runtimes at once, sharded and merged
//! (`explore`), and the real Go 1.19 runtime's outcomes for the same
//! programs (`golden`: the twins under `demos/go/`, measured). The `gort`
//! CLI at the repository's root drives them; `pingpong` and `gctree` are
//! the scheduler's and the collector's demos, as binaries.

pub mod demo;
pub mod explain;
pub mod explore;
pub mod golden;
pub mod outcome;
pub mod scenarios;
