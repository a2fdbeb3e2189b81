//! The map's steps in the explain log (`gort_scheduler::explain`): what
//! `gort run --explain` shows of a write's `hashWriting` protocol and of
//! a lookup's check, in the same words for the generic and the fast
//! paths. Each takes the map header's address and is `#[track_caller]`,
//! so the step carries the scenario's source line. Off, each costs the
//! explain log's one branch.

use gort_scheduler::explain::note;

use crate::maptype::{shown, HASH_WRITING};

/// A write's entry check found another writer inside: the fatal error.
#[track_caller]
pub(crate) fn writer_inside(h: usize) {
    note("mapassign", || {
        (
            shown(h),
            "h.flags&hashWriting != 0 (another writer is inside): fatal".into(),
        )
    });
}

/// A write's entry check passed.
#[track_caller]
pub(crate) fn no_writer(h: usize) {
    note("mapassign", || {
        (shown(h), "h.flags&hashWriting == 0: no other writer".into())
    });
}

/// `h.flags ^= hashWriting`, `flags` being the value before.
#[track_caller]
pub(crate) fn flipped(h: usize, flags: u64) {
    note("mapassign", || {
        let what = if flags & HASH_WRITING == 0 {
            "set"
        } else {
            "cleared: another writer had set it"
        };
        (shown(h), format!("h.flags ^= hashWriting ({what})"))
    });
}

/// A write's end found `hashWriting` already clear: the fatal error.
#[track_caller]
pub(crate) fn cleared_by_another(h: usize) {
    note("mapassign", || {
        (
            shown(h),
            "h.flags&hashWriting == 0 at the end of a write (another writer cleared it): fatal"
                .into(),
        )
    });
}

/// A write's end: `h.flags &^= hashWriting`.
#[track_caller]
pub(crate) fn cleared(h: usize) {
    note("mapassign", || {
        (shown(h), "h.flags &^= hashWriting (cleared)".into())
    });
}

/// A lookup's check found a writer inside: the fatal error.
#[track_caller]
pub(crate) fn reader_saw_writer(h: usize) {
    note("mapaccess", || {
        (
            shown(h),
            "h.flags&hashWriting != 0 (a writer is inside): fatal".into(),
        )
    });
}
