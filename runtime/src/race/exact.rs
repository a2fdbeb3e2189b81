//! The exact race detector: full vector clocks and an unbounded shadow,
//! so it finds every race of the observed execution that ThreadSanitizer
//! could find with unlimited memory. The model of TSan v3 as Go 1.19 ships
//! it (bounded shadow cells, slots, traces) will run on the same events;
//! a race this detector finds and the model drops is a silent race.
//!
//! Events are Go's race annotations (reference/race.md §2-3), already
//! mapped by the caller from what the program did:
//!
//! - `go_start`: the child's clock is a copy of the parent's (everything
//!   before the `go` statement happens before the child); the parent's
//!   epoch moves on.
//! - `acquire` (`raceacquire`): the thread's clock joins the sync
//!   object's. `release_store` (`racerelease`, TSan's `ReleaseStore`):
//!   the object's clock becomes the thread's. `release_merge`
//!   (`racereleasemerge`, TSan's `Release`): the object's clock joins the
//!   thread's. `release_acquire` (`racereleaseacquire`): the object's old
//!   clock is acquired and replaced by the thread's. Each release moves the
//!   thread's epoch on, so what it does next is not covered by the clock
//!   it just published.
//! - `access`: a read or write of `size` bytes at `addr`, plain or atomic.
//!   Two accesses race when they touch a common byte, come from different
//!   threads, at least one writes, not both are atomic, and the earlier
//!   one does not happen before the later.
//!
//! The shadow keeps, per 8-byte word, every access not made redundant by
//! a later one of the same thread that covers its bytes and is at least as
//! strong (a write for a write, plain for plain): anything that races with
//! the earlier access races with the later one too, so no racing access
//! goes unreported, though its report may name the later of the two
//! previous accesses (as TSan's cell replacement also does).

use super::hash::AddrMap;

use super::vclock::{Tid, VClock};

/// One memory access, as the shadow keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    pub tid: Tid,
    /// The thread's epoch when it made the access.
    pub epoch: u64,
    pub write: bool,
    pub atomic: bool,
    /// The bytes of the 8-byte word it touched (bit i: byte i).
    pub mask: u8,
    /// The caller's name for where the access was made (a stack id).
    pub site: u32,
}

/// A race: the access just made and an earlier one it races with, on the
/// word at `addr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Race {
    pub addr: usize,
    pub cur: Access,
    pub prev: Access,
}

/// The exact detector's state.
#[derive(Default)]
pub struct Exact {
    clocks: Vec<VClock>,
    sync: AddrMap<usize, VClock>,
    shadow: AddrMap<usize, Vec<Access>>,
}

impl Exact {
    pub fn new() -> Exact {
        Exact::default()
    }

    /// A new thread (a goroutine): started by `parent`'s `go` statement,
    /// or with no history (the main goroutine).
    pub fn go_start(&mut self, parent: Option<Tid>) -> Tid {
        let t = self.clocks.len() as Tid;
        let mut c = match parent {
            Some(p) => self.clocks[p as usize].clone(),
            None => VClock::default(),
        };
        c.set(t, 1);
        self.clocks.push(c);
        if let Some(p) = parent {
            self.clocks[p as usize].tick(p);
        }
        t
    }

    /// `t`'s clock.
    pub fn clock(&self, t: Tid) -> &VClock {
        &self.clocks[t as usize]
    }

    /// `raceacquire(addr)`.
    pub fn acquire(&mut self, t: Tid, addr: usize) {
        if let Some(s) = self.sync.get(&addr) {
            self.clocks[t as usize].join(s);
        }
    }

    /// `racerelease(addr)`: the object's clock becomes `t`'s.
    pub fn release_store(&mut self, t: Tid, addr: usize) {
        self.sync.insert(addr, self.clocks[t as usize].clone());
        self.clocks[t as usize].tick(t);
    }

    /// `racereleasemerge(addr)`: the object's clock joins `t`'s.
    pub fn release_merge(&mut self, t: Tid, addr: usize) {
        let c = &self.clocks[t as usize];
        self.sync.entry(addr).or_default().join(c);
        self.clocks[t as usize].tick(t);
    }

    /// `racereleaseacquire(addr)`: `t` acquires the object's clock as it
    /// was and leaves its own there.
    pub fn release_acquire(&mut self, t: Tid, addr: usize) {
        let old = self.sync.insert(addr, self.clocks[t as usize].clone());
        let c = &mut self.clocks[t as usize];
        if let Some(old) = old {
            c.join(&old);
        }
        c.tick(t);
    }

    /// `racemalloc`: the memory `[addr, addr+size)` starts with no history.
    pub fn malloc(&mut self, addr: usize, size: usize) {
        let lo = addr & !7;
        let hi = addr + size;
        let words = (hi - lo).div_ceil(8);
        if words <= self.shadow.len() {
            for i in 0..words {
                self.shadow.remove(&(lo + i * 8));
            }
        } else {
            self.shadow.retain(|&w, _| w < lo || w >= hi);
        }
    }

    /// A read or write by `t` of `size` bytes at `addr`; returns the races
    /// it makes, at most one per earlier access.
    pub fn access(
        &mut self,
        t: Tid,
        addr: usize,
        size: usize,
        write: bool,
        atomic: bool,
        site: u32,
    ) -> Vec<Race> {
        let mut races = Vec::new();
        let end = addr + size.max(1);
        let mut word = addr & !7;
        while word < end {
            let lo = addr.max(word) - word;
            let hi = end.min(word + 8) - word;
            let mask = (((1u16 << hi) - 1) & !((1u16 << lo) - 1)) as u8;
            let cur = Access {
                tid: t,
                epoch: self.clocks[t as usize].get(t),
                write,
                atomic,
                mask,
                site,
            };
            self.access_word(word, cur, &mut races);
            word += 8;
        }
        races
    }

    fn access_word(&mut self, word: usize, cur: Access, races: &mut Vec<Race>) {
        let clock = &self.clocks[cur.tid as usize];
        let cells = self.shadow.entry(word).or_default();
        // The same access again, with nothing in between (same thread and
        // epoch, bytes and kind, or a read after such a write, as the
        // word's last access): it races with exactly what the first did,
        // and those races were found then.
        if cells.last().is_some_and(|p| {
            p.tid == cur.tid
                && p.epoch == cur.epoch
                && p.mask == cur.mask
                && p.atomic == cur.atomic
                && (p.write || !cur.write)
        }) {
            return;
        }
        for &prev in cells.iter() {
            if prev.tid != cur.tid
                && prev.mask & cur.mask != 0
                && (prev.write || cur.write)
                && !(prev.atomic && cur.atomic)
                && !clock.covers(prev.tid, prev.epoch)
                && !races
                    .iter()
                    .any(|r: &Race| r.prev.tid == prev.tid && r.prev.site == prev.site)
            {
                races.push(Race {
                    addr: word,
                    cur,
                    prev,
                });
            }
        }
        cells.retain(|p| {
            !(p.tid == cur.tid
                && p.mask & !cur.mask == 0
                && (cur.write || !p.write)
                && (!cur.atomic || p.atomic))
        });
        cells.push(cur);
    }
}

#[cfg(test)]
mod tests;
