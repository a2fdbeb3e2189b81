//! The barrier lab: the write barrier's part in the article's claim 2
//! ("GC marking can miss map entries"), by breaking it on purpose.
//!
//! The claim (§2.5 and claim 2): "the concurrent collector can miss
//! entries being written into a map during growth or sameSizeGrow, and
//! free live values."
//!
//! What gort shows: with Go 1.19's hybrid barrier (the default) nothing
//! is ever lost; the loss the article describes happens only with a
//! barrier that is not Go's. One workload, the GC torture test's churn
//! (`runtime/tests/common/churn.rs`: workers moving pointers between
//! their tables, a `map[int64]*node` and a `map[string]*node` and their
//! stacks across yields, the maps driven through growth and same-size
//! growth with iterators open, collections at GOGC=10 with the
//! `gccheckmark` verifier), run under each setting of gort's own GODEBUG
//! keys: `wbmode=hybrid` (Go's), `dijkstra` (insertion only),
//! `yuasa` (deletion only), `off`, and `gcscanold=0` (marking skips a
//! growing map's `oldbuckets`: the article's claim 2 made true). `gort
//! showcase` prints each one's loss rate; `gort explore barrier_lab
//! --wbmode off` sweeps one, and `gort run barrier_lab --seed S --wbmode
//! off` replays a loss with the verifier's path to the lost object.
//!
//! The Go twin (`demos/go/barrier_lab.go`) runs a smaller churn of the
//! same kind on the real runtime, whose barrier cannot be switched: it
//! checks every object at the end and loses nothing.

#[path = "../../../runtime/tests/common/churn.rs"]
mod churn;

use crate::demo::Demo;

fn params() -> churn::Params {
    churn::Params::default()
}

pub fn demo() -> Demo {
    Demo {
        name: "barrier_lab",
        section: "claim 2",
        claim: "Concurrent marking can miss map entries written during growth or sameSizeGrow, \
                freeing live values.",
        verdict: "False with Go's hybrid barrier (nothing lost); true only with a broken one: \
                  wbmode=dijkstra, yuasa or off, or gcscanold=0, lose objects.",
        twin: Some("barrier_lab"),
        race: false,
        configure: |c| {
            // The workload's types are made before the runtime, on the
            // calling thread, so that a seed replays in any process.
            churn::make_types(&params());
            c.gogc(Some(10)).gccheckmark(true)
        },
        ..Demo::new(program)
    }
}

fn program() {
    churn::churn_main(0, params());
}
