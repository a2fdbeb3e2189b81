//! The model of ThreadSanitizer v3's bounded memory, as Go 1.19's race
//! runtime has it (reference/race.md §2, the rules below checked against
//! the `race_linux_amd64.syso` Go 1.19 links): what it remembers and,
//! above all, what it forgets.
//!
//! - **Slots.** Clocks have one entry per slot, not per goroutine: 255
//!   slots (sids 0-254) in one FIFO queue. Attaching pops the front and
//!   pushes it back, whether a live goroutine holds it or not: that
//!   goroutine is preempted, and the slot's epoch goes on from its epoch.
//!   A preempted goroutine keeps writing shadow cells under its old slot
//!   and epoch and attaches again only at its next synchronisation,
//!   `go` statement, exit or trace-part switch (TSan's `SlotLock`). So a
//!   goroutine that synchronised with a later owner of slot `s` appears to
//!   have seen every earlier access recorded under `s`: the slot-reuse
//!   false negative. At start the slots go to TSan's initial thread (0),
//!   main (1), the extra M's goroutine cgo builds have (2), and Go's
//!   start-up goroutines forcegc, bgsweep and bgscavenge (3-5); a
//!   program's first goroutine takes slot 6, and its number in reports is
//!   6 too. The collector's mark workers take a slot each when started.
//! - **Epochs.** Each release, and each `go` statement of the parent,
//!   moves the goroutine's epoch on (and writes an `EventTime` to its
//!   trace). A slot whose 14-bit epoch is used up leaves the queue; with
//!   none left, a global reset clears every clock and every shadow word.
//! - **Shadow.** Four cells per 8-byte word (`tsan_shadow`). When all are
//!   taken, an access overwrites cell `(trace_pos >> 3) & 3`, where
//!   `trace_pos` is the address after this access's event in the
//!   goroutine's trace part: a part is page-aligned with a 40-byte header,
//!   so the cell is `(5 + events) & 3`, counting the part's 8-byte event
//!   slots used so far. A goroutine's part starts with an `EventTime` and
//!   a function entry; an access takes one slot, or two when it is the
//!   part's first (its PC is not a small delta from a previous one). A
//!   goroutine that reads a word as its first act therefore always writes
//!   cell 1.
//! - **Traces.** A report needs the earlier access's stack, replayed from
//!   that goroutine's trace: parts of 16,379 event slots (128 KiB), at
//!   most `3 + history_size` allocated per goroutine. TSan v3's
//!   `TracePartAlloc` / `TraceSwitchPartImpl` / `OnFinished`, as they
//!   are: a goroutine allocates a part when it starts and when its part
//!   fills; it keeps `(3 + history_size + 1) / 2` parts to itself and
//!   queues its older ones on one global recycle queue; a finished
//!   goroutine queues all its parts, and once finished goroutines have
//!   more than 64 parts queued (`kFinishedThreadHi`) their parts become
//!   "excess". An allocation by a goroutine at its limit, or while there
//!   is excess, takes the queue's oldest part, whoever's it is, and that
//!   part's accesses can no longer be restored. So a finished
//!   goroutine's trace is lost only when some goroutine next allocates a
//!   part (typically the next one to start), and a live goroutine may
//!   keep more than its limit for a while. An access whose part is gone
//!   cannot be restored, and TSan drops the report.
//!
//! Not modelled: the no-op events TSan writes so that no event starts at
//! a page's first or last 8 bytes (they shift later positions of a long
//! trace).
//!
//! Each cell also carries (beside TSan's 32 bits) which access it records,
//! so the detector can name the access a report is about and explain a
//! race the model missed.

use std::collections::VecDeque;

use super::hash::AddrMap;
use super::tsan_shadow::{check_races_at, contains_same_access, Cell, Word};
use super::vclock::Tid;

/// Clock entries (`kThreadSlotCount`); sid 255 is TSan's `kFreeSid`.
pub const SLOTS: usize = 256;
const USABLE_SLOTS: u8 = 255;
/// `kEpochLast`: a slot reaching it is retired until a reset.
pub const EPOCH_LAST: u16 = 0x3fff;
/// Event slots per trace part: (128 KiB - 40-byte header) / 8.
pub const PART_EVENTS: u64 = (128 * 1024 - 40) / 8;
/// Trace parts a goroutine keeps with `history_size` 0 (`kMinParts`).
pub const MIN_PARTS: u64 = 3;
/// Parts of finished goroutines queued before they become excess
/// (`kFinishedThreadHi`), and before a finished goroutine keeps only its
/// last part (`kFinishedThreadLo`).
pub const FINISHED_HI: u64 = 64;
const FINISHED_LO: u64 = 16;
/// A part's header in event slots (40 bytes), for the eviction index.
const HEADER_EVENTS: u64 = 5;
/// What a part starts with: an `EventTime` and the goroutine's function
/// entry (the shadow stack gort models is one frame deep).
const PART_START_EVENTS: u64 = 2;
/// Threads holding slots before main's first goroutine: TSan's initial
/// thread (slot 0) before main, then (after main, slot 1) the extra M's
/// goroutine, forcegc, bgsweep and bgscavenge.
const STARTUP_THREADS_AFTER_MAIN: usize = 4;

/// Which access a cell records: the goroutine (the exact detector's
/// number), its trace part, the detector's name for the site, the kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rec {
    pub tid: Tid,
    pub part: u32,
    pub site: u32,
    pub write: bool,
}

/// A TSan thread: a goroutine, or one of the runtime's that the model
/// only needs for the slots they take.
#[derive(Clone)]
struct Thread {
    /// TSan's `fast_state`: the slot and epoch accesses are recorded
    /// under (stale once preempted).
    sid: u8,
    epoch: u16,
    /// It holds its slot (not preempted, not finished).
    attached: bool,
    clock: Box<[u16; SLOTS]>,
    /// The reset generation its clock belongs to.
    generation: u64,
    /// Trace: parts started so far (the current one's index) and event
    /// slots used in the current part; whether the next access is a
    /// part's first.
    part: u64,
    used: u64,
    first_access: bool,
    /// The parts still attached to its trace (TSan's `trace.parts`), by
    /// index, oldest first; the first `queued` of them are on the global
    /// recycle queue (before TSan's `local_head`).
    parts: VecDeque<u64>,
    queued: usize,
    /// TSan's `trace.parts_allocated`.
    parts_allocated: u64,
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
    /// Its part is older than the parts its goroutine keeps.
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
    /// A global reset cleared everything.
    GlobalReset,
}

/// The model's state.
pub struct Model {
    history_size: u64,
    threads: Vec<Thread>,
    /// The exact detector's thread numbers -> the model's threads.
    of_tid: Vec<usize>,
    slot_epoch: Box<[u16; SLOTS]>,
    slot_owner: Box<[Option<usize>; SLOTS]>,
    /// The slot queue (front: taken next); retired slots are not in it.
    queue: VecDeque<u8>,
    generation: u64,
    sync: AddrMap<usize, Box<[u16; SLOTS]>>,
    /// A global reset happened: the caller, who keeps the shadow words,
    /// must clear them all (`take_reset`).
    reset_pending: bool,
    /// TSan's `trace_part_recycle`: (thread, part) in the order queued;
    /// None for a part no trace holds (freed by a global reset).
    recycle: VecDeque<Option<(usize, u64)>>,
    /// TSan's `trace_part_recycle_finished` and
    /// `trace_part_finished_excess`.
    recycle_finished: u64,
    finished_excess: u64,
    /// Per word, the cells that left it and why.
    gone: AddrMap<usize, Vec<(Rec, Gone)>>,
}

impl Model {
    pub fn new(history_size: u8) -> Model {
        let mut m = Model {
            history_size: history_size as u64,
            threads: Vec::new(),
            of_tid: Vec::new(),
            slot_epoch: Box::new([0; SLOTS]),
            slot_owner: Box::new([None; SLOTS]),
            queue: (0..USABLE_SLOTS).collect(),
            generation: 0,
            sync: AddrMap::default(),
            reset_pending: false,
            recycle: VecDeque::new(),
            recycle_finished: 0,
            finished_excess: 0,
            gone: AddrMap::default(),
        };
        // TSan's initial thread: slot 0, never used again.
        m.new_thread(None);
        m
    }

    /// A thread created by `parent`'s `go` statement (TSan's
    /// `ThreadCreate` then `ThreadStart`): the parent's clock is handed
    /// over and its epoch moves on; the child attaches to a slot.
    fn new_thread(&mut self, parent: Option<usize>) -> usize {
        let clock = match parent {
            Some(p) => {
                self.slot_lock(p);
                let c = self.threads[p].clock.clone();
                self.inc_epoch(p);
                c
            }
            None => Box::new([0; SLOTS]),
        };
        let i = self.threads.len();
        self.threads.push(Thread {
            sid: 0,
            epoch: 0,
            attached: false,
            clock,
            generation: self.generation,
            part: 0,
            used: PART_START_EVENTS,
            first_access: true,
            parts: VecDeque::new(),
            queued: 0,
            parts_allocated: 0,
            finished: false,
        });
        self.attach(i);
        self.switch_part(i, 0);
        i
    }

    /// A new goroutine `t` (the exact detector's numbering), started by
    /// `parent`'s `go` statement; `None` for main, after which the
    /// runtime's start-up goroutines take their slots.
    pub fn go_start(&mut self, t: Tid, parent: Option<Tid>) {
        let pm = parent.map(|p| self.of_tid[p as usize]);
        let i = self.new_thread(pm);
        debug_assert_eq!(self.of_tid.len(), t as usize);
        self.of_tid.push(i);
        if parent.is_none() {
            for _ in 0..STARTUP_THREADS_AFTER_MAIN {
                self.new_thread(Some(i));
            }
        }
    }

    /// A runtime goroutine (a mark worker) started by `parent`: it only
    /// takes a slot (and moves the parent's epoch on).
    pub fn runtime_start(&mut self, parent: Option<Tid>) {
        let pm = parent.map(|p| self.of_tid[p as usize]);
        self.new_thread(pm);
    }

    /// A P's timer context runs a timer (Go's `runOneTimer` under the race
    /// detector): made by `racegostart` the first time (a thread of its
    /// own, with a slot and a trace part), it then acquires the timer,
    /// locking its slot (TSan's `SlotLock`, which re-attaches a thread
    /// whose slot was taken).
    pub fn timer_acquire(&mut self, ctx: &mut Option<usize>) {
        match *ctx {
            None => *ctx = Some(self.new_thread(None)),
            Some(i) => self.slot_lock(i),
        }
    }

    /// Goroutine `t` ended (TSan's `ThreadFinish`): it leaves its slot;
    /// its trace is kept while at most 64 finished goroutines keep theirs.
    pub fn go_end(&mut self, t: Tid) {
        let i = self.of_tid[t as usize];
        self.slot_lock(i);
        let th = &mut self.threads[i];
        th.attached = false;
        let (s, e) = (th.sid as usize, th.epoch);
        if self.slot_owner[s] == Some(i) {
            self.slot_owner[s] = None;
            if self.slot_epoch[s] != EPOCH_LAST {
                self.slot_epoch[s] = e;
            }
        }
        // TSan's `ThreadContext::OnFinished`.
        th.finished = true;
        let n = th.parts.len() as u64;
        for &k in th.parts.iter().skip(th.queued) {
            self.recycle.push_back(Some((i, k)));
        }
        th.queued = th.parts.len();
        self.recycle_finished += n;
        if self.recycle_finished > FINISHED_HI {
            self.finished_excess += n;
            th.parts_allocated = 0;
        } else if self.recycle_finished > FINISHED_LO && n > 1 {
            self.finished_excess += n - 1;
            th.parts_allocated = 1;
        }
    }

    /// TSan's `TraceSwitchPartImpl`: thread `i` starts its part `k`,
    /// allocated by `TracePartAlloc` (which may take the recycle queue's
    /// oldest part from whichever trace holds it), and queues its oldest
    /// local part once it holds `(max + 1) / 2`.
    fn switch_part(&mut self, i: usize, k: u64) {
        let max = MIN_PARTS + self.history_size;
        let mut reused = false;
        if self.threads[i].parts_allocated == max || self.finished_excess > 0 {
            if let Some(entry) = self.recycle.pop_front() {
                reused = true;
                if let Some((j, old)) = entry {
                    let tj = &mut self.threads[j];
                    let front = tj.parts.pop_front();
                    debug_assert_eq!(front, Some(old), "the queue's oldest part is its trace's");
                    tj.queued -= 1;
                    let left = tj.parts.len() as u64;
                    if tj.parts_allocated > left {
                        self.finished_excess += tj.parts_allocated - left;
                        tj.parts_allocated = left;
                    }
                }
            }
        }
        if reused {
            self.recycle_finished = self.recycle_finished.saturating_sub(1);
        }
        let th = &mut self.threads[i];
        if th.parts_allocated < max {
            th.parts_allocated += 1;
            self.finished_excess = self.finished_excess.saturating_sub(1);
        }
        let local = max.div_ceil(2) as usize;
        if th.parts.len() >= local && th.queued < th.parts.len() {
            self.recycle.push_back(Some((i, th.parts[th.queued])));
            th.queued += 1;
        }
        th.parts.push_back(k);
    }

    /// TSan's `FindSlotAndLock` + `SlotAttachAndLock`.
    fn attach(&mut self, i: usize) {
        let s = loop {
            match self.queue.pop_front() {
                None => self.global_reset(),
                Some(s) if self.slot_epoch[s as usize] == EPOCH_LAST => {}
                Some(s) => {
                    self.queue.push_back(s);
                    break s as usize;
                }
            }
        };
        if let Some(o) = self.slot_owner[s] {
            // Preempted: the slot goes on from its owner's epoch.
            self.threads[o].attached = false;
            self.slot_epoch[s] = self.threads[o].epoch;
        }
        let e = self.slot_epoch[s] + 1;
        self.slot_epoch[s] = e;
        self.slot_owner[s] = Some(i);
        let g = self.generation;
        let th = &mut self.threads[i];
        th.sid = s as u8;
        th.epoch = e;
        th.attached = true;
        if th.generation != g {
            th.clock.fill(0);
            th.generation = g;
        }
        th.clock[s] = e;
    }

    /// TSan's `SlotLock`, at every synchronisation, `go` statement, exit
    /// and part switch: a goroutine whose slot was taken (or used up)
    /// attaches again.
    fn slot_lock(&mut self, i: usize) {
        let th = &self.threads[i];
        if !th.attached || self.slot_epoch[th.sid as usize] == EPOCH_LAST {
            if th.attached {
                self.slot_owner[th.sid as usize] = None;
                self.threads[i].attached = false;
            }
            self.attach(i);
        }
    }

    /// TSan's `DoReset`: every clock, sync object and shadow word cleared,
    /// every slot back in the queue at epoch 0.
    fn global_reset(&mut self) {
        self.generation += 1;
        self.slot_epoch.fill(0);
        self.slot_owner.fill(None);
        // TSan's `DoResetImpl`: every trace keeps at most its current
        // part (a running goroutine's); the others are freed to the
        // front of the recycle queue, held by no trace.
        self.recycle.retain(|e| e.is_none());
        for th in self.threads.iter_mut() {
            th.attached = false;
            let keep = if th.finished { 0 } else { 1 };
            while th.parts.len() > keep {
                th.parts.pop_front();
                self.recycle.push_front(None);
            }
            th.queued = 0;
            let left = th.parts.len() as u64;
            if th.parts_allocated > left {
                self.finished_excess += th.parts_allocated - left;
                th.parts_allocated = left;
            }
        }
        self.queue = (0..USABLE_SLOTS).collect();
        self.sync.clear();
        self.reset_pending = true;
    }

    /// TSan's `IncrementEpoch` (after a release, or for a `go` statement):
    /// the epoch moves on and an `EventTime` is traced; at the last epoch
    /// the slot is retired instead (the next `SlotLock` moves on).
    fn inc_epoch(&mut self, i: usize) {
        let th = &mut self.threads[i];
        let e = th.epoch + 1;
        let s = th.sid as usize;
        if e >= EPOCH_LAST {
            self.slot_epoch[s] = EPOCH_LAST;
            return;
        }
        th.epoch = e;
        th.clock[s] = e;
        self.slot_epoch[s] = e;
        self.trace(i, 1);
    }

    /// Writes `n` event slots to thread `i`'s trace, starting a new part
    /// when they do not fit (TSan's `TraceSwitchPart`, which also moves
    /// the goroutine's slot to the back of the queue).
    fn trace(&mut self, i: usize, n: u64) {
        if self.threads[i].used + n > PART_EVENTS {
            let th = &mut self.threads[i];
            th.part += 1;
            th.used = PART_START_EVENTS;
            th.first_access = true;
            let k = th.part;
            self.switch_part(i, k);
            self.slot_lock(i);
            let s = self.threads[i].sid;
            if let Some(p) = self.queue.iter().position(|&q| q == s) {
                self.queue.remove(p);
                self.queue.push_back(s);
            }
        }
        self.threads[i].used += n;
    }

    fn sync_op(&mut self, t: Tid) -> usize {
        let i = self.of_tid[t as usize];
        self.slot_lock(i);
        i
    }

    fn join(into: &mut [u16; SLOTS], from: &[u16; SLOTS]) {
        for (a, b) in into.iter_mut().zip(from.iter()) {
            *a = (*a).max(*b);
        }
    }

    pub fn acquire(&mut self, t: Tid, addr: usize) {
        let i = self.sync_op(t);
        if let Some(c) = self.sync.get(&addr) {
            Self::join(&mut self.threads[i].clock, c);
        }
    }

    pub fn release_store(&mut self, t: Tid, addr: usize) {
        let i = self.sync_op(t);
        self.sync.insert(addr, self.threads[i].clock.clone());
        self.inc_epoch(i);
    }

    pub fn release_merge(&mut self, t: Tid, addr: usize) {
        let i = self.sync_op(t);
        let c = self
            .sync
            .entry(addr)
            .or_insert_with(|| Box::new([0; SLOTS]));
        Self::join(c, &self.threads[i].clock);
        self.inc_epoch(i);
    }

    pub fn release_acquire(&mut self, t: Tid, addr: usize) {
        let i = self.sync_op(t);
        let mine = self.threads[i].clock.clone();
        if let Some(old) = self.sync.insert(addr, mine) {
            Self::join(&mut self.threads[i].clock, &old);
        }
        self.inc_epoch(i);
    }

    /// Whether a global reset happened since the last call: the caller
    /// clears every shadow word, noting each remembered access as gone
    /// (`note_reset`).
    pub fn take_reset(&mut self) -> bool {
        std::mem::take(&mut self.reset_pending)
    }

    /// Records that `word`'s cells were cleared by a global reset.
    pub fn note_reset(&mut self, word: usize, cells: &Word, rec_of: impl Fn(Cell) -> Option<Rec>) {
        for r in cells.iter().filter_map(|&c| rec_of(c)) {
            note_gone(&mut self.gone, word, r, Gone::GlobalReset);
        }
    }

    /// `t`'s slot and epoch as a cell's bits 8-29 (TSan's `fast_state`),
    /// for the detector's lock-free `ContainsSameAccess`. Only `t`'s own
    /// operations change them (a preempted goroutine keeps recording
    /// under its old slot until its next `SlotLock`, a global reset
    /// leaves them until then too), so the goroutine can keep a copy.
    pub fn fast_state(&self, t: Tid) -> u32 {
        let th = &self.threads[self.of_tid[t as usize]];
        Cell::new(0, th.sid, th.epoch, false, false).0
    }

    /// TSan's `ContainsSameAccess`: `t` made this very access before
    /// (same slot and epoch, bytes and kind) and it is still in a cell.
    /// TSan skips it whole; so does the detector, exact half included
    /// (the conflicts it could show were found when it was first made,
    /// or when the conflicting access came).
    #[inline]
    pub fn repeat(&self, cells: &Word, t: Tid, mask: u8, write: bool, atomic: bool) -> bool {
        let th = &self.threads[self.of_tid[t as usize]];
        contains_same_access(cells, Cell::new(mask, th.sid, th.epoch, !write, atomic))
    }

    /// An access of `t` to the bytes `mask` of the word at `word`, whose
    /// cells the caller keeps, with the access each cell records
    /// (`rec_of`: the caller keeps those too). Returns what TSan would do
    /// with it, and, if it was stored in a cell, that cell and its record
    /// (the caller keeps them for `rec_of`).
    #[allow(clippy::too_many_arguments)]
    pub fn access(
        &mut self,
        cells: &mut Word,
        rec_of: impl Fn(Cell) -> Option<Rec>,
        t: Tid,
        word: usize,
        mask: u8,
        write: bool,
        atomic: bool,
        site: u32,
    ) -> (Outcome, Option<(Cell, Rec)>) {
        let i = self.of_tid[t as usize];
        let (sid, epoch) = (self.threads[i].sid, self.threads[i].epoch);
        let cur = Cell::new(mask, sid, epoch, !write, atomic);
        if contains_same_access(cells, cur) {
            return (Outcome::Clean, None);
        }
        let n = if self.threads[i].first_access { 2 } else { 1 };
        self.trace(i, n);
        let th = &mut self.threads[i];
        th.first_access = false;
        let rec = Rec {
            tid: t,
            part: th.part as u32,
            site,
            write,
        };
        let pos = (HEADER_EVENTS + th.used) * 8;
        let clock = &th.clock;
        let before = *cells;
        match check_races_at(cells, cur, pos, |s| clock[s as usize]) {
            Err(old) => {
                let prev = rec_of(old).expect("the exact detector keeps every cell's access");
                for r in before.iter().filter_map(|&c| rec_of(c)) {
                    note_gone(&mut self.gone, word, r, Gone::ClearedAfterReport);
                }
                let outcome = match self.lost(prev) {
                    None => Outcome::Report(prev),
                    Some(l) => Outcome::Dropped(prev, l),
                };
                (outcome, None)
            }
            Ok(k) => {
                if let Some(victim) = rec_of(before[k]).filter(|v| v.tid != t) {
                    note_gone(&mut self.gone, word, victim, Gone::Evicted(rec));
                }
                (Outcome::Clean, Some((cur, rec)))
            }
        }
    }

    /// Whether `r`'s stack can still be restored from its trace.
    fn lost(&self, r: Rec) -> Option<Lost> {
        let th = &self.threads[self.of_tid[r.tid as usize]];
        if th
            .parts
            .front()
            .is_some_and(|&oldest| oldest <= r.part as u64)
        {
            return None;
        }
        Some(if th.finished {
            Lost::TraceRecycled
        } else {
            Lost::HistoryExhausted
        })
    }

    /// Whether a word's cells hold an access of `tid` at `site`.
    pub fn holds(cells: &Word, rec_of: impl Fn(Cell) -> Option<Rec>, tid: Tid, site: u32) -> bool {
        cells
            .iter()
            .filter_map(|&c| rec_of(c))
            .any(|r| r.tid == tid && r.site == site)
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
}

/// How many departures a word remembers: enough to explain the races on
/// it, bounded so that a word many goroutines read keeps no growing list.
const GONE_PER_WORD: usize = 16;

fn note_gone(gone: &mut AddrMap<usize, Vec<(Rec, Gone)>>, word: usize, r: Rec, why: Gone) {
    let g = gone.entry(word).or_default();
    if g.len() == GONE_PER_WORD {
        g.remove(0);
    }
    g.push((r, why));
}
