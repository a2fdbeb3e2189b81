//! §2.4 of the article: a `close(done)` that inlining is said to remove.
//!
//! The claim: "when the compiler inlines `signalWorker` and escape
//! analysis keeps `done` on the stack, `close(done)` can be optimised
//! away, so the synchronisation signal, and with it the race evidence,
//! vanishes" (the article says `-gcflags=-l` keeps it).
//!
//! What gort shows: a goroutine writes `x` and then closes `done` through
//! a helper inlined into it (`#[inline(always)]`, as Go's inliner would
//! do with `signalWorker`); main receives from `done` and then reads `x`.
//! The close is an edge whatever was inlined: neither detector finds a
//! race, on every seed. In Go 1.19, `close` is a call to
//! `runtime.closechan` that no optimisation removes (a channel always
//! escapes to the heap once another goroutine uses it), and `-race`
//! reports nothing for the twin either: there is no race to report.
//!
//! The Go twin is `demos/go/inlined_close.go`:
//!
//! ```go
//! func signalWorker(done chan struct{}) { close(done) }  // inlined
//! go func() { x.a = 1; signalWorker(done) }()
//! <-done
//! _ = x.a
//! ```

use gort::{go, new_object, Chan, Type};

use crate::demo::Demo;

pub fn demo() -> Demo {
    Demo {
        name: "inlined_close",
        section: "§2.4",
        claim: "Inlining and escape analysis can remove a close(done), so the signal and the \
                race evidence vanish.",
        verdict: "False: close is runtime.closechan, never removed; it orders the write before \
                  the read, and there is no race to report.",
        twin: Some("inlined_close"),
        ..Demo::new(program)
    }
}

/// `func signalWorker(done chan struct{}) { close(done) }`
#[inline(always)]
fn signal_worker(done: &Chan<()>) {
    done.close();
}

fn program() {
    let x = new_object(Type::new("main.T", 1, &[]));
    let done: Chan<()> = Chan::new(0);
    let d2 = done.clone();
    go!(move || {
        x.store(0, 1);
        signal_worker(&d2);
    });
    done.recv();
    std::hint::black_box(x.load(0));
}
