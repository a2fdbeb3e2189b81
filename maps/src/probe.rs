//! The probe of one bucket in the generic map paths: the slots whose key
//! `mapaccess`, `mapassign` and `mapdelete` compare (tophash equal to the
//! key's, before the first `emptyRest`), and the first empty slot an
//! assignment may take.
//!
//! In deterministic mode the probe reads the tophash bytes as Go's loop
//! does, one byte (one step) per slot, lazily: slot i's byte is read only
//! after the key of the previous candidate was compared, so a goroutine
//! switched in between sees what Go's would. In parallel mode, where a
//! step does nothing, the 8 bytes are read as one word and tested at once
//! (`probe_slots`), as if Go's byte loads happened at one instant.

use gort_gc::Obj;

use crate::map::tophash_at;
use crate::maptype::*;

pub(crate) struct Probe {
    b: Obj,
    top: u64,
    det: bool,
    /// Deterministic mode: the next slot to read.
    i: usize,
    /// Parallel mode: candidate slots left (bits `8i + 7`).
    cand: u64,
    rest: bool,
    empty: Option<usize>,
}

impl Probe {
    /// The probe of bucket `b` for tophash `top`.
    #[inline]
    #[track_caller]
    pub(crate) fn new(b: Obj, top: u64, det: bool) -> Probe {
        let mut p = Probe {
            b,
            top,
            det,
            i: 0,
            cand: 0,
            rest: false,
            empty: None,
        };
        if !det {
            let tw = b.load(0);
            let (cand, rest) = probe_slots(tw, top);
            let empty = empty_slots(tw);
            p.cand = cand;
            p.rest = rest;
            p.empty = (empty != 0).then(|| slot_index(empty));
        }
        p
    }

    /// The next slot whose key Go's loop compares, in slot order.
    #[inline]
    #[track_caller]
    pub(crate) fn next_candidate(&mut self) -> Option<usize> {
        if !self.det {
            if self.cand == 0 {
                return None;
            }
            let i = slot_index(self.cand);
            self.cand &= self.cand - 1;
            return Some(i);
        }
        while self.i < BUCKET_CNT && !self.rest {
            let i = self.i;
            self.i += 1;
            let th = tophash_at(self.b, i);
            if th == self.top {
                return Some(i);
            }
            if is_empty(th) && self.empty.is_none() {
                self.empty = Some(i);
            }
            if th == EMPTY_REST {
                self.rest = true;
            }
        }
        None
    }

    /// After the candidates: whether an `emptyRest` ended the chain here.
    pub(crate) fn hit_rest(&self) -> bool {
        self.rest
    }

    /// After the candidates: the bucket's first empty slot (Go's loop
    /// reaches it before any `emptyRest`, which is itself empty).
    pub(crate) fn first_empty(&self) -> Option<usize> {
        self.empty
    }
}
