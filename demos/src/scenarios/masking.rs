//! Masking by incidental happens-before: a race the detector cannot see
//! in this run because unrelated synchronisation ordered the two
//! accesses. The article does not name this cause; it is the commonest
//! reason a real program's race goes unreported.
//!
//! Two demos, each a write/write race on `x` between a goroutine and
//! main, with nothing meant to order them:
//!
//! - `masked_by_logger`: both sides log through one mutex-guarded logger
//!   (a `log.Printf`), the goroutine after its write, main before its
//!   own. In this schedule the goroutine logged first, so its unlock
//!   happens before main's lock: the writes are ordered, and neither Go's
//!   detector nor gort's exact one reports a race (there is none in this
//!   execution). gort names it `MASKED`: ordered only by a lock neither
//!   write held; another schedule races.
//! - `masked_by_channel`: the goroutine sends on an unrelated events
//!   channel after its write and main receives before its own: a real
//!   edge, no race in any schedule, nothing reported (a channel is not a
//!   lock, so gort does not call it masked: the program is correct as
//!   long as that send stays).

use std::sync::Arc;
use std::time::Duration;

use gort::{go, new_object, Chan, Mutex, Type, WaitGroup};

use crate::demo::Demo;

pub fn logger() -> Demo {
    Demo {
        name: "masked_by_logger",
        section: "gort",
        claim: "(not in the article) A race ordered by an unrelated logging mutex is invisible \
                to -race.",
        verdict: "True, for this schedule: the logger's lock orders the writes; gort reports \
                  it as MASKED, naming the lock and who took it.",
        twin: Some("masked_by_logger"),
        ..Demo::new(logger_program)
    }
}

pub fn channel() -> Demo {
    Demo {
        name: "masked_by_channel",
        section: "gort",
        claim: "(not in the article) A send on an unrelated channel orders two writes, so \
                -race reports nothing.",
        verdict: "True, and correct: the channel is a real edge in every schedule; nothing \
                  to report.",
        twin: Some("masked_by_channel"),
        ..Demo::new(channel_program)
    }
}

fn logger_program() {
    let x = new_object(Type::new("main.T", 1, &[]));
    let log = Arc::new(Mutex::new());
    let wg = Arc::new(WaitGroup::new());
    wg.add(1);
    {
        let (log, wg) = (log.clone(), wg.clone());
        go!(move || {
            x.store(0, 1);
            log.lock(); // log.Printf("stored")
            log.unlock();
            wg.done();
        });
    }
    gort::sleep(Duration::from_millis(1));
    log.lock(); // log.Printf("storing")
    log.unlock();
    x.store(0, 2);
    wg.wait();
}

fn channel_program() {
    let x = new_object(Type::new("main.T", 1, &[]));
    let events: Chan<i64> = Chan::new(0);
    let e2 = events.clone();
    go!(move || {
        x.store(0, 1);
        e2.send(0);
    });
    events.recv();
    x.store(0, 2);
}
