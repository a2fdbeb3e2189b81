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
//! - `access_word`: a read or write of the bytes `mask` of one 8-byte
//!   word (`word_masks` splits an access), plain or atomic, against that
//!   word's `Cells`, which the caller keeps (the detector keeps them
//!   beside the model's shadow of the same word). Two accesses race when they touch a common byte, come from different
//!   threads, at least one writes, not both are atomic, and the earlier
//!   one does not happen before the later.
//!
//! The shadow keeps, per 8-byte word, every access not made redundant by
//! a later one of the same thread that covers its bytes and is at least as
//! strong (a write for a write, plain for plain): anything that races with
//! the earlier access races with the later one too, so no racing access
//! goes unreported, though its report may name the later of the two
//! previous accesses (as TSan's cell replacement also does).

use std::collections::BTreeMap;

use super::hash::AddrMap;
use super::vclock::{Tid, VClock};

/// One memory access, as the shadow keeps it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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
    /// The caller's name for the locks held when it was made (a lockset
    /// id, below `MAX_LOCKSETS`; 0 when the caller keeps none).
    pub locks: u32,
    /// The model's shadow cell that records this same access (its bits,
    /// 0 if the model stored none) and the trace part it was traced in:
    /// what TSan would restore its stack from. The model finds a cell's
    /// access here (`Cells::rec_of`) rather than keeping a record per cell.
    pub cell: u32,
    pub part: u32,
}

/// Lockset ids an access can carry (22 bits of its packed form).
pub const MAX_LOCKSETS: u32 = 1 << 22;

/// An access as a word's list keeps it: 24 bytes, so that a word's first
/// two accesses and the list's length fit in one cache line with the
/// pointer to the rest (a large map's inserts write each word once, and
/// each word's record is a cache miss).
#[derive(Clone, Copy, Default)]
struct Stored {
    /// The thread plus one: 0 is an empty place.
    tid1: u32,
    /// The thread's epoch; epochs past `u32::MAX` stop the detector
    /// (`make`).
    epoch: u32,
    site: u32,
    cell: u32,
    part: u32,
    /// Bits 0-7 the mask, 8 write, 9 atomic, 10-31 the lockset.
    meta: u32,
}

impl Stored {
    fn pack(a: Access) -> Stored {
        // 2^31 trace parts of 16,379 events: beyond any run.
        assert!(a.part & SPILLED == 0, "race detector: trace part overflow");
        Stored {
            tid1: a.tid + 1,
            epoch: a.epoch as u32,
            site: a.site,
            cell: a.cell,
            part: a.part,
            meta: a.mask as u32 | (a.write as u32) << 8 | (a.atomic as u32) << 9 | a.locks << 10,
        }
    }

    fn unpack(self) -> Access {
        Access {
            tid: self.tid1 - 1,
            epoch: self.epoch as u64,
            write: self.meta & 1 << 8 != 0,
            atomic: self.meta & 1 << 9 != 0,
            mask: self.meta as u8,
            site: self.site,
            locks: self.meta >> 10,
            cell: self.cell,
            part: self.part,
        }
    }
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

    /// `t` ended: it makes no more accesses and synchronises no more, so
    /// its clock is dropped (what others learnt of it stays in theirs).
    /// Without this, every goroutine a long program ever ran would keep a
    /// clock as wide as the number of goroutines.
    pub fn go_end(&mut self, t: Tid) {
        self.clocks[t as usize] = VClock::default();
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

    /// The access `t` makes now, as the shadow keeps it.
    pub fn make(
        &self,
        t: Tid,
        mask: u8,
        write: bool,
        atomic: bool,
        site: u32,
        locks: u32,
    ) -> Access {
        let epoch = self.clocks[t as usize].get(t);
        // Limits of the packed form a word keeps: far beyond a simulated
        // program (4 billion releases by one goroutine, 4 million distinct
        // sets of held locks), and stopping beats a wrong verdict.
        assert!(
            epoch <= u32::MAX as u64,
            "race detector: goroutine made more than 2^32 releases"
        );
        assert!(
            locks < MAX_LOCKSETS,
            "race detector: more than 2^22 distinct sets of held locks"
        );
        Access {
            tid: t,
            epoch,
            write,
            atomic,
            mask,
            site,
            locks,
            cell: 0,
            part: 0,
        }
    }

    /// Access `cur` to the word at `word`, whose accesses so far are
    /// `cells` (kept by the caller: the detector keeps them beside the
    /// model's shadow of the same word): `check`, then `record` with no
    /// model cell to keep.
    pub fn access_word(
        &self,
        cells: &mut Cells,
        word: usize,
        cur: Access,
        races: &mut Vec<Race>,
        ordered: &mut Vec<Access>,
    ) {
        self.check(cells, word, cur, races, ordered);
        record(cells, cur, |_| false);
    }

    /// The races access `cur` to the word at `word` makes with the
    /// word's accesses so far, `cells` (to `races`), and the conflicting
    /// earlier accesses that happen before it (no race, but the detector
    /// asks what ordered them; to `ordered`).
    pub fn check(
        &self,
        cells: &Cells,
        word: usize,
        cur: Access,
        races: &mut Vec<Race>,
        ordered: &mut Vec<Access>,
    ) {
        let clock = &self.clocks[cur.tid as usize];
        // The same access again, with nothing in between: it races with
        // exactly what the first did, and those races were found then.
        if cells.last().is_some_and(|p| same_again(&p, &cur)) {
            return;
        }
        for prev in cells.iter().map(Stored::unpack) {
            let conflict = prev.tid != cur.tid
                && prev.mask & cur.mask != 0
                && (prev.write || cur.write)
                && !(prev.atomic && cur.atomic);
            if !conflict {
                continue;
            }
            if clock.covers(prev.tid, prev.epoch) {
                ordered.push(prev);
            } else if !races
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
    }
}

/// Whether `cur` is the word's last access `p` made again (same thread
/// and epoch, bytes and kind, or a read after such a write).
fn same_again(p: &Stored, cur: &Access) -> bool {
    let p = p.unpack();
    p.tid == cur.tid
        && p.epoch == cur.epoch
        && p.mask == cur.mask
        && p.atomic == cur.atomic
        && (p.write || !cur.write)
}

/// Adds access `cur` to a word's accesses, dropping those it makes
/// redundant: earlier accesses of the same thread whose bytes it covers
/// and that are no stronger (anything that races with such an access
/// races with `cur` too), unless the model still holds one in a cell
/// (`keep_cell` of its cell), whose stack a report may need. The same
/// access again adds nothing, unless the model recorded it anew.
pub fn record(cells: &mut Cells, cur: Access, keep_cell: impl Fn(u32) -> bool) {
    if cur.cell == 0 && cells.last().is_some_and(|p| same_again(&p, &cur)) {
        return;
    }
    cells.retain(|p| {
        let p = p.unpack();
        !(p.tid == cur.tid
            && p.mask & !cur.mask == 0
            && (cur.write || !p.write)
            && (!cur.atomic || p.atomic))
            || (p.cell != 0 && keep_cell(p.cell))
    });
    cells.push(Stored::pack(cur));
}

/// The 8-byte words an access of `size` bytes at `addr` touches, each
/// with the mask of its bytes (bit i: byte i).
pub fn word_masks(addr: usize, size: usize) -> impl Iterator<Item = (usize, u8)> {
    let end = addr + size.max(1);
    (addr & !7..end).step_by(8).map(move |word| {
        let lo = addr.max(word) - word;
        let hi = end.min(word + 8) - word;
        (word, (((1u16 << hi) - 1) & !((1u16 << lo) - 1)) as u8)
    })
}

/// A word's first two accesses, as the shadow keeps them beside the
/// model's cells (`shadow_mem`: 48 of the word's 64 bytes). All-zero is
/// no access. When a word has more, the rest are in `Spills`, and the
/// first access's part carries `SPILLED`.
#[derive(Clone, Copy, Default)]
pub struct Inline([Stored; 2]);

// SAFETY: `Inline` is two `Stored`, plain integers, for which all-zero is
// a valid value (and means no access).
unsafe impl super::shadow_mem::ZeroValid for Inline {}

/// Set in the first inline access's part: the word has spilled accesses.
const SPILLED: u32 = 1 << 31;

/// The accesses beyond their first two, of the words that have more
/// (ordered by address, so that a new allocation's range goes at once).
#[derive(Default)]
pub struct Spills(BTreeMap<usize, Vec<Stored>>);

impl Spills {
    /// Whether no word has spilled accesses.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Forgets the spilled accesses of the words in `[lo, hi)`.
    pub fn clear_range(&mut self, lo: usize, hi: usize) {
        if self.0.range(lo..hi).next().is_none() {
            return;
        }
        let mut cleared = self.0.split_off(&lo);
        let mut above = cleared.split_off(&hi);
        self.0.append(&mut above);
    }
}

/// One word's accesses: its inline pair and, if it spilled, the rest,
/// in the order they were recorded.
pub struct Cells<'a> {
    inline: &'a mut Inline,
    spills: &'a mut Spills,
    word: usize,
}

impl<'a> Cells<'a> {
    /// The accesses of the word at `word`, kept in `inline` and `spills`.
    pub fn new(inline: &'a mut Inline, spills: &'a mut Spills, word: usize) -> Cells<'a> {
        Cells {
            inline,
            spills,
            word,
        }
    }

    fn spilled(&self) -> bool {
        self.inline.0[0].part & SPILLED != 0
    }

    fn spill(&self) -> &[Stored] {
        if !self.spilled() {
            return &[];
        }
        self.spills.0.get(&self.word).map_or(&[], |v| v.as_slice())
    }

    fn iter(&self) -> impl Iterator<Item = Stored> + '_ {
        self.inline
            .0
            .iter()
            .take_while(|s| s.tid1 != 0)
            .map(|s| Stored {
                part: s.part & !SPILLED,
                ..*s
            })
            .chain(self.spill().iter().copied())
    }

    fn last(&self) -> Option<Stored> {
        if let Some(&s) = self.spill().last() {
            return Some(s);
        }
        let [a, b] = self.inline.0;
        let s = if b.tid1 != 0 { b } else { a };
        (s.tid1 != 0).then_some(Stored {
            part: s.part & !SPILLED,
            ..s
        })
    }

    fn push(&mut self, a: Stored) {
        let inl = &mut self.inline.0;
        if inl[0].tid1 == 0 {
            inl[0] = a;
        } else if inl[1].tid1 == 0 {
            inl[1] = a;
        } else {
            inl[0].part |= SPILLED;
            self.spills.0.entry(self.word).or_default().push(a);
        }
    }

    fn retain(&mut self, mut keep: impl FnMut(&Stored) -> bool) {
        if !self.spilled() {
            let [a, b] = self.inline.0;
            let kept = [a, b].into_iter().filter(|s| s.tid1 != 0 && keep(s));
            let mut out = [Stored::default(); 2];
            for (o, s) in out.iter_mut().zip(kept) {
                *o = s;
            }
            self.inline.0 = out;
            return;
        }
        let all: Vec<Stored> = self.iter().filter(|a| keep(a)).collect();
        self.clear();
        for a in all {
            self.push(a);
        }
    }

    /// Records `a` as the word's first access (the word has none).
    #[inline]
    pub fn record_first(&mut self, a: Access) {
        debug_assert!(self.inline.0[0].tid1 == 0, "a word with no access");
        self.inline.0[0] = Stored::pack(a);
    }

    /// Forgets every access (the word's memory was allocated anew).
    pub fn clear(&mut self) {
        if self.spilled() {
            self.spills.0.remove(&self.word);
        }
        *self.inline = Inline::default();
    }

    /// The latest access the model recorded in cell `cell` (its bits),
    /// if the word still has it.
    pub fn rec_of(&self, cell: u32) -> Option<Access> {
        if cell == 0 {
            return None;
        }
        self.iter()
            .filter(|s| s.cell == cell)
            .last()
            .map(Stored::unpack)
    }

    /// Forgets which model cells hold these accesses (after a global
    /// reset emptied every cell).
    pub fn forget_model_cells(&mut self) {
        for s in self.inline.0.iter_mut() {
            s.cell = 0;
        }
        if self.spilled() {
            if let Some(v) = self.spills.0.get_mut(&self.word) {
                for s in v.iter_mut() {
                    s.cell = 0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
