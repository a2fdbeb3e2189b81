//! The model of ThreadSanitizer v3's bounded memory, as Go 1.19's race
//! runtime has it (reference/race.md §2): what it remembers and, above
//! all, what it forgets.
//!
//! - **Slots.** Clocks have 256 entries, one per slot (slot 0 unused), not
//!   one per goroutine. A goroutine attaches to a slot when it starts;
//!   slots are handed out round-robin from a queue, and taking a slot a
//!   live goroutine holds preempts it (it re-attaches at its next event).
//!   A slot's epoch (14 bits) continues across owners, so a goroutine that
//!   synchronised with a later owner of slot `s` appears to have seen
//!   every earlier access recorded under `s`: the "slot reuse" false
//!   negative.
//! - **Epochs.** Each release moves the goroutine's slot epoch on. A slot
//!   whose epoch reaches the last value is retired: its goroutine moves to
//!   another. With none left, a global reset clears every clock and every
//!   shadow word: everything remembered is forgotten.
//! - **Shadow.** Four cells per 8-byte word (`tsan_shadow`), with eviction.
//! - **Traces.** A report needs the earlier access's stack, which TSan
//!   replays from the earlier goroutine's trace: `3 + history_size` parts
//!   of 16K events each, the oldest part recycled as a new one starts. A
//!   finished goroutine's trace is kept until more than 64 finished
//!   goroutines hold one; then the oldest are recycled. An access whose
//!   event is no longer in a trace cannot be restored, and the report is
//!   dropped.
//!
//! Each cell also carries (beside TSan's 32 bits) which access it records,
//! so the detector can name the access a report is about and explain a
//! race the model missed.

use std::collections::{HashMap, VecDeque};

use super::tsan_shadow::{check_races, contains_same_access, Cell, Word};
use super::vclock::Tid;

/// Slots with clock entries (slot 0 is never handed out).
pub const SLOTS: usize = 256;
/// The last 14-bit epoch: a slot reaching it is retired until a reset.
pub const EPOCH_LAST: u16 = 0x3fff;
/// Events per trace part: 128 KiB of 8-byte events.
pub const PART_EVENTS: u64 = 16 * 1024;
/// Trace parts a goroutine keeps with `history_size` 0 (`kMinParts`).
pub const MIN_PARTS: u64 = 3;
/// Finished goroutines whose traces are kept (`kFinishedThreadHi`).
pub const FINISHED_HI: usize = 64;

/// Which access a cell records: the goroutine, its event number in its
/// trace, and the detector's name for the access site.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rec {
    pub tid: Tid,
    pub event: u64,
    pub site: u32,
    pub write: bool,
}

/// One word's shadow: TSan's four cells and what each records.
#[derive(Clone, Copy, Default)]
struct Shadow {
    cells: Word,
    recs: [Rec; 4],
}

/// A goroutine as the model sees it.
#[derive(Clone)]
struct Thread {
    sid: Option<u8>,
    clock: Box<[u16; SLOTS]>,
    /// Events written to the trace.
    events: u64,
    /// Its trace was recycled (a finished goroutine's, beyond 64).
    recycled: bool,
    finished: bool,
}

/// What the model made of an access that the exact detector also saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// No racing cell.
    Clean,
    /// A race with the access `Rec`, whose stack can be restored.
    Report(Rec),
    /// A race with `Rec`, but its stack is gone: the report is dropped.
    Dropped(Rec, Lost),
}

/// Why an earlier access's stack could not be restored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lost {
    /// Its event is older than the trace parts its goroutine keeps.
    HistoryExhausted,
    /// Its goroutine finished and its trace was recycled.
    TraceRecycled,
}

/// Why a cell left its word (for explaining a missed race).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gone {
    /// Overwritten by another goroutine's access (no free cell).
    Evicted(Rec),
    /// The word was cleared after a report on it.
    ClearedAfterReport,
    /// The memory was allocated again (`racemalloc`).
    Reallocated,
    /// A global reset cleared everything.
    GlobalReset,
}

/// The model's state.
pub struct Model {
    history_size: u64,
    threads: Vec<Thread>,
    slot_epoch: Box<[u16; SLOTS]>,
    slot_owner: Box<[Option<Tid>; SLOTS]>,
    /// Round-robin order of slots (front: taken next).
    queue: VecDeque<u8>,
    sync: HashMap<usize, Box<[u16; SLOTS]>>,
    shadow: HashMap<usize, Shadow>,
    /// Finished goroutines still holding traces, oldest first.
    finished: VecDeque<Tid>,
    /// Per word, the cells that left it and why.
    gone: HashMap<usize, Vec<(Rec, Gone)>>,
    /// Global resets so far.
    pub resets: u64,
}

impl Model {
    pub fn new(history_size: u8) -> Model {
        Model {
            history_size: history_size as u64,
            threads: Vec::new(),
            slot_epoch: Box::new([0; SLOTS]),
            slot_owner: Box::new([None; SLOTS]),
            queue: (1..SLOTS as u16).map(|s| s as u8).collect(),
            sync: HashMap::new(),
            shadow: HashMap::new(),
            finished: VecDeque::new(),
            gone: HashMap::new(),
            resets: 0,
        }
    }

    /// A new goroutine `t` (the exact detector's numbering), started by
    /// `parent`'s `go` statement: it inherits the parent's clock, and the
    /// parent's epoch moves on (a release).
    pub fn go_start(&mut self, t: Tid, parent: Option<Tid>) {
        let clock = match parent {
            Some(p) => {
                self.attach_if_needed(p);
                self.threads[p as usize].clock.clone()
            }
            None => Box::new([0; SLOTS]),
        };
        debug_assert_eq!(self.threads.len(), t as usize);
        self.threads.push(Thread {
            sid: None,
            clock,
            events: 0,
            recycled: false,
            finished: false,
        });
        if let Some(p) = parent {
            self.inc_epoch(p);
        }
        self.attach(t);
    }

    /// Goroutine `t` ended: its slot is released; its trace is kept while
    /// at most 64 finished goroutines keep theirs.
    pub fn go_end(&mut self, t: Tid) {
        let th = &mut self.threads[t as usize];
        th.finished = true;
        if let Some(s) = th.sid.take() {
            self.slot_owner[s as usize] = None;
        }
        self.finished.push_back(t);
        while self.finished.len() > FINISHED_HI {
            let old = self.finished.pop_front().expect("non-empty");
            self.threads[old as usize].recycled = true;
        }
    }

    fn attach_if_needed(&mut self, t: Tid) {
        if self.threads[t as usize].sid.is_none() {
            self.attach(t);
        }
    }

    /// TSan's `SlotAttachAndLock`: the next usable slot in round-robin
    /// order, preempting its owner; a global reset when none is usable.
    fn attach(&mut self, t: Tid) {
        let s = loop {
            let found = (0..self.queue.len()).find_map(|_| {
                let s = self.queue.pop_front().expect("255 slots");
                self.queue.push_back(s);
                (self.slot_epoch[s as usize] < EPOCH_LAST - 1).then_some(s)
            });
            match found {
                Some(s) => break s,
                None => self.global_reset(),
            }
        };
        if let Some(owner) = self.slot_owner[s as usize] {
            self.threads[owner as usize].sid = None;
        }
        self.slot_owner[s as usize] = Some(t);
        let e = self.slot_epoch[s as usize] + 1;
        self.slot_epoch[s as usize] = e;
        let th = &mut self.threads[t as usize];
        th.sid = Some(s);
        th.clock[s as usize] = e;
    }

    /// TSan's `DoReset`: every clock, sync object and shadow word cleared.
    fn global_reset(&mut self) {
        self.resets += 1;
        for th in self.threads.iter_mut() {
            th.clock.fill(0);
        }
        self.slot_epoch.fill(0);
        self.sync.clear();
        for (&w, sh) in self.shadow.iter() {
            let g = self.gone.entry(w).or_default();
            for (c, r) in sh.cells.iter().zip(sh.recs.iter()) {
                if *c != Cell::EMPTY {
                    g.push((*r, Gone::GlobalReset));
                }
            }
        }
        self.shadow.clear();
    }

    /// A release-type event of `t` moves its slot's epoch on (moving to a
    /// new slot when this one is used up).
    fn inc_epoch(&mut self, t: Tid) {
        self.attach_if_needed(t);
        let s = self.threads[t as usize].sid.expect("attached") as usize;
        if self.slot_epoch[s] + 1 >= EPOCH_LAST {
            self.slot_owner[s] = None;
            self.threads[t as usize].sid = None;
            self.slot_epoch[s] = EPOCH_LAST;
            self.attach(t);
            return;
        }
        self.slot_epoch[s] += 1;
        self.threads[t as usize].clock[s] = self.slot_epoch[s];
    }

    pub fn acquire(&mut self, t: Tid, addr: usize) {
        self.attach_if_needed(t);
        if let Some(c) = self.sync.get(&addr) {
            let th = &mut self.threads[t as usize];
            for (a, b) in th.clock.iter_mut().zip(c.iter()) {
                *a = (*a).max(*b);
            }
        }
    }

    pub fn release_store(&mut self, t: Tid, addr: usize) {
        self.attach_if_needed(t);
        self.sync
            .insert(addr, self.threads[t as usize].clock.clone());
        self.inc_epoch(t);
    }

    pub fn release_merge(&mut self, t: Tid, addr: usize) {
        self.attach_if_needed(t);
        let c = self
            .sync
            .entry(addr)
            .or_insert_with(|| Box::new([0; SLOTS]));
        for (a, b) in c.iter_mut().zip(self.threads[t as usize].clock.iter()) {
            *a = (*a).max(*b);
        }
        self.inc_epoch(t);
    }

    pub fn release_acquire(&mut self, t: Tid, addr: usize) {
        self.attach_if_needed(t);
        let mine = self.threads[t as usize].clock.clone();
        let old = self.sync.insert(addr, mine);
        if let Some(old) = old {
            let th = &mut self.threads[t as usize];
            for (a, b) in th.clock.iter_mut().zip(old.iter()) {
                *a = (*a).max(*b);
            }
        }
        self.inc_epoch(t);
    }

    /// `racemalloc`: the words of `[addr, addr+size)` forget their cells.
    pub fn malloc(&mut self, addr: usize, size: usize) {
        let lo = addr & !7;
        let hi = addr + size;
        let words = (hi - lo).div_ceil(8);
        let clear = |w: usize, sh: Shadow, gone: &mut HashMap<usize, Vec<(Rec, Gone)>>| {
            let g = gone.entry(w).or_default();
            for (c, r) in sh.cells.iter().zip(sh.recs.iter()) {
                if *c != Cell::EMPTY {
                    g.push((*r, Gone::Reallocated));
                }
            }
        };
        if words <= self.shadow.len() {
            for i in 0..words {
                let w = lo + i * 8;
                if let Some(sh) = self.shadow.remove(&w) {
                    clear(w, sh, &mut self.gone);
                }
            }
        } else {
            let gone = &mut self.gone;
            self.shadow.retain(|&w, sh| {
                let keep = w < lo || w >= hi;
                if !keep {
                    clear(w, *sh, gone);
                }
                keep
            });
        }
    }

    /// An access of `t` to the bytes `mask` of the word at `word`. Returns
    /// what TSan would do with it.
    pub fn access(
        &mut self,
        t: Tid,
        word: usize,
        mask: u8,
        write: bool,
        atomic: bool,
        site: u32,
    ) -> Outcome {
        self.attach_if_needed(t);
        let th = &self.threads[t as usize];
        let sid = th.sid.expect("attached");
        let epoch = th.clock[sid as usize];
        let cur = Cell::new(mask, sid, epoch, !write, atomic);
        let sh = self.shadow.entry(word).or_default();
        if contains_same_access(&sh.cells, cur) {
            return Outcome::Clean;
        }
        let th = &mut self.threads[t as usize];
        th.events += 1;
        let rec = Rec {
            tid: t,
            event: th.events,
            site,
            write,
        };
        let clock = &th.clock;
        let before = sh.cells;
        let before_recs = sh.recs;
        let racing = check_races(&mut sh.cells, cur, th.events * 8, |s| clock[s as usize]);
        match racing {
            Some(old) => {
                let i = before.iter().position(|&c| c == old).expect("a cell");
                let prev = before_recs[i];
                let g = self.gone.entry(word).or_default();
                for (j, (c, r)) in before.iter().zip(before_recs.iter()).enumerate() {
                    if *c != Cell::EMPTY && j != i {
                        g.push((*r, Gone::ClearedAfterReport));
                    }
                }
                g.push((prev, Gone::ClearedAfterReport));
                sh.recs = [Rec::default(); 4];
                match self.lost(prev) {
                    None => Outcome::Report(prev),
                    Some(l) => Outcome::Dropped(prev, l),
                }
            }
            None => {
                let i = sh
                    .cells
                    .iter()
                    .zip(before.iter())
                    .position(|(a, b)| a != b)
                    .or_else(|| sh.cells.iter().position(|&c| c == cur))
                    .expect("the access was stored");
                if before[i] != Cell::EMPTY && before_recs[i].tid != t {
                    let victim = before_recs[i];
                    self.gone
                        .entry(word)
                        .or_default()
                        .push((victim, Gone::Evicted(rec)));
                }
                sh.recs[i] = rec;
                Outcome::Clean
            }
        }
    }

    /// Whether `r`'s stack can still be restored from its trace.
    fn lost(&self, r: Rec) -> Option<Lost> {
        let th = &self.threads[r.tid as usize];
        if th.recycled {
            return Some(Lost::TraceRecycled);
        }
        let parts = MIN_PARTS + self.history_size;
        if th.events / PART_EVENTS - r.event / PART_EVENTS >= parts {
            return Some(Lost::HistoryExhausted);
        }
        None
    }

    /// Whether `word`'s cells still hold an access of `tid` at `site`.
    pub fn holds(&self, word: usize, tid: Tid, site: u32) -> bool {
        self.shadow.get(&word).is_some_and(|sh| {
            sh.recs
                .iter()
                .zip(sh.cells.iter())
                .any(|(r, c)| r.tid == tid && r.site == site && *c != Cell::EMPTY)
        })
    }

    /// Why `word` no longer holds an access of `tid` at `site`, if known
    /// (the latest reason).
    pub fn why_gone(&self, word: usize, tid: Tid, site: u32) -> Option<Gone> {
        self.gone
            .get(&word)?
            .iter()
            .rev()
            .find(|(r, _)| r.tid == tid && r.site == site)
            .map(|&(_, g)| g)
    }

    /// The slot `t` holds now, for explanations.
    pub fn slot_of(&self, t: Tid) -> Option<u8> {
        self.threads[t as usize].sid
    }
}
