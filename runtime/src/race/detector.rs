//! The race detector a runtime installs when it runs with `GORT_RACE=1`
//! (or `Config::race(true)`): gort's `-race`.
//!
//! One event stream (the scheduler's `RaceHooks`), two detectors:
//!
//! - the model of ThreadSanitizer v3 as Go 1.19 ships it (`model`): its
//!   reports are what `go run -race` would print, in Go's format, and
//!   decide the exit status (`Found N data race(s)`, `exitcode`);
//! - the exact detector (`exact`): every race of this execution.
//!
//! A race the exact detector finds and the model does not report is
//! printed as a *silent* race, with the reason the model lost it: its
//! shadow cell was evicted (naming the access that evicted it), its word
//! was cleared, its goroutine's trace was recycled or ran out of history,
//! or the slot it was recorded under was taken over by a goroutine the
//! later access synchronised with. Silent races change no exit status.
//!
//! Both detectors are behind one lock: events are serialised in the order
//! they reach it, which in deterministic mode is the replayed order, so a
//! seed replays every report byte for byte (addresses are printed under
//! names given in order of first use in that mode, as the simulated heap's
//! real addresses differ from process to process). A repeated access,
//! which changes nothing in either detector, is recognised without the
//! lock (TSan's `ContainsSameAccess`, on `shadow_mem`'s cells, with the
//! slot and epoch the goroutine keeps in `G::race_ctx`).
//!
//! Reports name goroutines as Go's does: `main goroutine`, or TSan's
//! thread number, which Go 1.19 gives in creation order from 6 for a
//! program's first goroutine (0-5 go to TSan's initial thread, main, the
//! extra M's goroutine and the runtime's start-up goroutines), counting
//! the collector's mark workers when a cycle starts them. An access's
//! stack is recorded when the access is new (its frame-pointer chain,
//! looked up by a hash of it) and symbolized when a report prints it;
//! for a map or channel operation the runtime function Go shows is on
//! top.

use std::panic::Location;

use gort_scheduler::config::Output;
use gort_scheduler::race::{Access, RaceHooks, RuntimeFn, SyncOp, Verdict};
use gort_scheduler::G;

use super::exact::{self, word_masks, Cells, Exact};
use super::hash::{AddrMap, AddrSet};
use super::lock::RaceLock;
use super::lockset::Locksets;
use super::model::{Gone, Model, Outcome, Rec};
use super::shadow_mem::{ShadowMem, ShadowWriter};
use super::tsan_shadow::{Cell, Word};
use super::vclock::Tid;
use crate::config::RaceOptions;

/// How long a goroutine that reports a race is held up in Go 1.19's
/// `-race` (measured on this machine: the first report of a process,
/// which starts TSan's symbolizer, took 0.67-1.3 ms, p50 about 0.95 ms;
/// later ones about 9 us). Deterministic mode charges it to the
/// reporting goroutine's P, so the other goroutines run on meanwhile, as
/// in Go: after one report, two map writers rarely overlap again, which
/// is why Go's `-race` runs of a two-writer map program almost never die
/// with `concurrent map writes` when its plain runs mostly do.
const FIRST_REPORT_NS: u64 = 950_000;

/// What an instrumented access costs in Go 1.19's `-race` beyond the
/// access (TSan's shadow check), charged to deterministic mode's clock:
/// Go's map operations, each one or two instrumented accesses (the
/// header's `racereadpc`/`racewritepc`, the element's read or write),
/// take 7-22 ns longer with `-race` (BENCHMARKS.md, "The race detector's
/// cost"). Without it, gort's -race runs would keep Go's plain timing
/// and their map checks would fire as in plain runs.
const ACCESS_NS: u64 = 10;
const REPORT_NS: u64 = 9_000;

/// Go 1.19's TSan number for a program's first goroutine.
const FIRST_GOROUTINE_ID: u32 = 6;

/// A goroutine as reports name it.
pub(super) struct Thread {
    /// TSan's number; None for the main goroutine.
    pub(super) id: Option<u32>,
    /// The function it started in.
    pub(super) func: &'static str,
    /// Its `go` statement: the creator's name and line.
    pub(super) created: Option<(&'static str, &'static Location<'static>)>,
    /// Its `go` statement's stack, when recorded.
    pub(super) created_stack: Option<u32>,
    pub(super) finished: bool,
}

/// An access site: where, in which function, through which runtime call.
#[derive(Clone, Copy)]
pub(super) struct Site {
    pub(super) loc: &'static Location<'static>,
    pub(super) func: &'static str,
    pub(super) pc: Option<&'static RuntimeFn>,
    /// The program's stack at the access (an index into `State::stacks`).
    pub(super) stack: Option<u32>,
}

/// The model's record of the access in a cell, from the word's accesses.
fn rec_of<'a>(exact: &'a Cells<'_>) -> impl Fn(Cell) -> Option<Rec> + 'a {
    |c| {
        exact.rec_of(c.0).map(|a| Rec {
            tid: a.tid,
            part: a.part,
            site: a.site,
            write: a.write,
        })
    }
}

/// What the detector has learnt so far; under `Detector::st`.
pub(super) struct State {
    pub(super) exact: Exact,
    pub(super) model: Model,
    /// The right to change the shadow's words.
    pub(super) writer: ShadowWriter,
    pub(super) threads: Vec<Thread>,
    pub(super) sites: Vec<Site>,
    pub(super) site_ids: AddrMap<(usize, usize, usize, u32), u32>,
    pub(super) last_site: ((usize, usize, usize, u32), u32),
    /// Recorded stacks (return addresses), their ids, and the frames of
    /// those a report printed.
    pub(super) stacks: Vec<Vec<usize>>,
    pub(super) stack_ids: AddrMap<u64, u32>,
    /// Per goroutine, its last access's stack walk (dropped at its end).
    pub(super) stack_memos: Vec<gort_scheduler::race::StackMemo>,
    pub(super) symbolized: AddrMap<u32, Vec<gort_scheduler::traceback::Frame>>,
    pub(super) next_id: u32,
    /// Addresses and site pairs already reported (Go prints a race on
    /// either once).
    pub(super) reported_addrs: AddrSet<usize>,
    pub(super) reported_pairs: AddrSet<(u32, u32)>,
    pub(super) silent_pairs: AddrSet<(u32, u32)>,
    pub(super) masked_pairs: AddrSet<(u32, u32)>,
    pub(super) locksets: Locksets,
    pub(super) found: usize,
    /// Deterministic mode's printed names of addresses.
    pub(super) vaddrs: AddrMap<usize, usize>,
    pub(super) log_failed: bool,
    /// Per P, its timer context's thread in the model (Go's
    /// `p.timerRaceCtx`), made when the P first runs a timer.
    pub(super) timer_ctx: Vec<Option<usize>>,
}

/// The detector of one runtime.
pub struct Detector {
    /// Shadow memory: each word's cells, read without the lock
    /// (`shadow_mem`), and its accesses, reached through `State::writer`.
    pub(super) shadow: ShadowMem,
    pub(super) st: RaceLock<State>,
    pub(super) opts: RaceOptions,
    pub(super) out: Output,
    pub(super) det: bool,
}

impl Detector {
    pub fn new(opts: RaceOptions, out: Output, det: bool) -> Detector {
        let (shadow, writer) = ShadowMem::new();
        Detector {
            shadow,
            st: RaceLock::new(State {
                exact: Exact::new(),
                model: Model::new(opts.history_size),
                writer,
                threads: Vec::new(),
                sites: Vec::new(),
                site_ids: AddrMap::default(),
                last_site: ((0, 0, 0, u32::MAX), 0),
                stacks: Vec::new(),
                stack_ids: AddrMap::default(),
                stack_memos: Vec::new(),
                symbolized: AddrMap::default(),
                next_id: FIRST_GOROUTINE_ID,
                reported_addrs: AddrSet::default(),
                reported_pairs: AddrSet::default(),
                silent_pairs: AddrSet::default(),
                masked_pairs: AddrSet::default(),
                locksets: Locksets::new(),
                found: 0,
                vaddrs: AddrMap::default(),
                log_failed: false,
                timer_ctx: Vec::new(),
            }),
            opts,
            out,
            det,
        }
    }

    /// A goroutine's thread id: the low half of `G::race_ctx`, whose high
    /// half is its model slot and epoch (`publish`).
    fn tid(g: &G) -> Option<Tid> {
        match g.race_ctx.load(std::sync::atomic::Ordering::Relaxed) as u32 {
            0 => None,
            n => Some(n - 1),
        }
    }

    /// Keeps `t`'s model slot and epoch in its goroutine, beside its
    /// thread id, after an operation of `t` that may have changed them:
    /// `access` reads them there to skip a repeated access without the
    /// lock. Bit 0 (a cell's mask never has it alone here) marks them set.
    fn publish(st: &State, g: &G, t: Tid) {
        let fast = st.model.fast_state(t) | 1;
        g.race_ctx.store(
            (fast as u64) << 32 | (t as u64 + 1),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// TSan's `ContainsSameAccess` for every word of `a`, from `g`'s
    /// published slot and epoch and the lock-free cells: true when each
    /// word already holds this access, which the detector then skips
    /// whole, as with the lock (nothing else reads or changes a cell
    /// holding `g`'s slot and epoch but `g` itself).
    #[inline]
    fn repeat_unlocked(&self, ctx: u64, a: &Access) -> bool {
        let fast = (ctx >> 32) as u32;
        if fast & 1 == 0 {
            return false;
        }
        // The cell this access would be (`Model::repeat`'s): the slot and
        // epoch bits from the goroutine, the rest from the access.
        let cell = |mask| Cell((fast & !1) | Cell::new(mask, 0, 0, !a.write, a.atomic).0);
        if a.size == 8 && a.addr & 7 == 0 {
            // Most accesses: one whole word.
            return self.shadow.contains_or_prefetch(a.addr, cell(0xff));
        }
        word_masks(a.addr, a.size)
            .all(|(word, mask)| self.shadow.contains_or_prefetch(word, cell(mask)))
    }

    /// The recorded stack of the access being made (by the goroutine
    /// running this), found by its hash and recorded when new.
    fn current_stack(st: &mut State, t: Tid) -> Option<u32> {
        let i = t as usize;
        if st.stack_memos.len() <= i {
            st.stack_memos.resize_with(i + 1, Default::default);
        }
        let h = gort_scheduler::race::stack_hash_memo(&mut st.stack_memos[i]);
        if let Some(&id) = st.stack_ids.get(&h) {
            return Some(id);
        }
        let pcs = gort_scheduler::race::stack_pcs();
        if pcs.is_empty() {
            return None;
        }
        let id = st.stacks.len() as u32;
        st.stacks.push(pcs);
        st.stack_ids.insert(h, id);
        Some(id)
    }

    /// The id of a collected stack (`race::stack_pcs`), recorded if new.
    fn record_stack(st: &mut State, pcs: &[usize]) -> Option<u32> {
        if pcs.is_empty() {
            return None;
        }
        let h = gort_scheduler::race::hash_pcs(pcs);
        if let Some(&id) = st.stack_ids.get(&h) {
            return Some(id);
        }
        let id = st.stacks.len() as u32;
        st.stacks.push(pcs.to_vec());
        st.stack_ids.insert(h, id);
        Some(id)
    }

    /// The site id of access `a` by `t` with the recorded stack `stack`.
    fn site(st: &mut State, t: Tid, a: &Access, stack: Option<u32>) -> u32 {
        let func = st.threads[t as usize].func;
        let key = (
            a.site as *const Location as usize,
            a.pc.map_or(0, |f| f as *const RuntimeFn as usize),
            func.as_ptr() as usize,
            stack.unwrap_or(u32::MAX),
        );
        // A loop makes the same access again and again.
        if st.last_site.0 == key {
            return st.last_site.1;
        }
        if let Some(&id) = st.site_ids.get(&key) {
            st.last_site = (key, id);
            return id;
        }
        let id = st.sites.len() as u32;
        st.sites.push(Site {
            loc: a.site,
            func,
            pc: a.pc,
            stack,
        });
        st.site_ids.insert(key, id);
        st.last_site = (key, id);
        id
    }

    /// The site of a synchronisation operation at `loc` by `t`.
    fn sync_site(st: &mut State, t: Tid, loc: &'static Location<'static>) -> u32 {
        Self::site(
            st,
            t,
            &Access {
                addr: 0,
                size: 0,
                write: false,
                atomic: false,
                site: loc,
                pc: None,
            },
            None,
        )
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut st = self.st.lock();
        let r = f(&mut st);
        if st.model.take_reset() {
            self.clear_after_reset(&mut st);
        }
        r
    }

    /// A global reset in the model: every word's cells go (the exact
    /// detector's memory is unbounded and keeps its own).
    fn clear_after_reset(&self, st: &mut State) {
        let State { writer, model, .. } = st;
        self.shadow.for_each_mut(writer, |w, c, acc| {
            model.note_reset(w, c, rec_of(acc));
            *c = Word::default();
            acc.forget_model_cells();
        });
    }
}

impl RaceHooks for Detector {
    fn timer_run(&self, p: usize) {
        self.with(|st| {
            if st.timer_ctx.len() <= p {
                st.timer_ctx.resize(p + 1, None);
            }
            // `racegostart` takes a TSan thread (and a number) the first
            // time; `raceacquirectx` then locks its slot, re-attaching
            // it if another thread took it meanwhile.
            if st.timer_ctx[p].is_none() {
                st.next_id += 1;
            }
            st.model.timer_acquire(&mut st.timer_ctx[p]);
        });
    }

    fn go_start(&self, parent: Option<&G>, child: &G, stack: &[usize]) {
        if child.is_system() {
            // forcegc and bgsweep are among the start-up threads the model
            // makes with main; a mark worker takes a slot and a number.
            if child.goid() > gort_scheduler::GOID_BGSWEEP {
                self.with(|st| {
                    let pt = parent.and_then(Self::tid);
                    st.model.runtime_start(pt);
                    st.next_id += 1;
                    if let (Some(p), Some(pt)) = (parent, pt) {
                        Self::publish(st, p, pt);
                    }
                });
            }
            return;
        }
        self.with(|st| {
            let pt = parent.and_then(Self::tid);
            let t = st.exact.go_start(pt);
            st.model.go_start(t, pt);
            let info = child.start_info();
            let id = parent.map(|_| {
                let n = st.next_id;
                st.next_id += 1;
                n
            });
            let created_stack = Self::record_stack(st, stack);
            st.threads.push(Thread {
                id,
                created_stack,
                func: info.map_or("?", |i| i.startfn),
                created: info
                    .filter(|_| parent.is_some())
                    .map(|i| (i.creator, i.gopc)),
                finished: false,
            });
            Self::publish(st, child, t);
            if let (Some(p), Some(pt)) = (parent, pt) {
                Self::publish(st, p, pt);
            }
        })
    }

    fn go_end(&self, g: &G) {
        if let Some(t) = Self::tid(g) {
            self.with(|st| {
                st.threads[t as usize].finished = true;
                if let Some(m) = st.stack_memos.get_mut(t as usize) {
                    *m = Default::default();
                }
                st.model.go_end(t);
                st.exact.go_end(t);
                st.locksets.go_end(t);
            });
            g.race_ctx.store(0, std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn sync(&self, g: &G, op: SyncOp, addr: usize, loc: &'static Location<'static>) {
        let Some(t) = Self::tid(g) else { return };
        self.with(|st| {
            let site = Self::sync_site(st, t, loc);
            let before = matches!(op, SyncOp::Acquire | SyncOp::ReleaseAcquire)
                .then(|| st.exact.clock(t).clone());
            match op {
                SyncOp::Acquire => {
                    st.exact.acquire(t, addr);
                    st.model.acquire(t, addr);
                }
                SyncOp::Release => {
                    st.exact.release_store(t, addr);
                    st.model.release_store(t, addr);
                }
                SyncOp::ReleaseMerge => {
                    st.exact.release_merge(t, addr);
                    st.model.release_merge(t, addr);
                }
                SyncOp::ReleaseAcquire => {
                    st.exact.release_acquire(t, addr);
                    st.model.release_acquire(t, addr);
                }
            }
            if let Some(before) = before {
                let State {
                    exact, locksets, ..
                } = st;
                locksets.acquired(t, addr, site, &before, exact.clock(t));
            }
            if op != SyncOp::Acquire {
                st.locksets.released(t, addr, site);
            }
            Self::publish(st, g, t);
        })
    }

    fn lock_held(&self, g: &G, addr: usize, objs: &[usize], held: bool) {
        let Some(t) = Self::tid(g) else { return };
        self.with(|st| st.locksets.lock_held(t, addr, objs, held))
    }

    fn malloc(&self, addr: usize, size: usize) {
        self.with(|st| {
            self.shadow.clear(&mut st.writer, addr, addr + size);
        })
    }

    fn prefetch(&self, addr: usize, size: usize) {
        self.shadow.prefetch_cells(addr, size);
    }

    fn access(&self, g: &G, a: Access) -> Verdict {
        if self.det {
            gort_scheduler::det_charge(ACCESS_NS);
        }
        let ctx = g.race_ctx.load(std::sync::atomic::Ordering::Relaxed);
        let Some(t) = (ctx as u32).checked_sub(1) else {
            return Verdict::Go;
        };
        if self.repeat_unlocked(ctx, &a) {
            return Verdict::Go;
        }
        let mut st = self.st.lock();
        let st = &mut *st;
        // The lock-free check found a word this access is new to (or the
        // goroutine has made none yet): the site is needed.
        let stack = Self::current_stack(st, t);
        let site = Self::site(st, t, &a, stack);
        let mut halt = false;
        for (word, mask) in word_masks(a.addr, a.size) {
            let Some(mut w) = self.shadow.word(&mut st.writer, word) else {
                continue;
            };
            let fresh = w.fresh;
            let mut cells = w.cells();
            if st.model.repeat(&cells, t, mask, a.write, a.atomic) {
                continue;
            }
            let locks = st.locksets.current(t);
            let mut cur_access = st.exact.make(t, mask, a.write, a.atomic, site, locks);
            if fresh {
                // A word with no access since its memory was allocated
                // (most words an insert writes): nothing to race with, to
                // order, or to evict; only the model's bookkeeping and the
                // first record.
                let (_, stored) =
                    st.model
                        .access(&mut cells, |_| None, t, word, mask, a.write, a.atomic, site);
                if let Some((cell, rec)) = stored {
                    cur_access.cell = cell.0;
                    cur_access.part = rec.part;
                }
                w.accesses.record_first(cur_access);
                w.set_cells(cells);
                if st.model.take_reset() {
                    self.clear_after_reset(st);
                }
                continue;
            }
            let mut races = Vec::new();
            let mut ordered = Vec::new();
            st.exact
                .check(&w.accesses, word, cur_access, &mut races, &mut ordered);
            // Which earlier accesses the model still held before this one
            // (an access it thinks ordered after them replaces them).
            let held: Vec<bool> = races
                .iter()
                .map(|r| Model::holds(&cells, rec_of(&w.accesses), r.prev.tid, r.prev.site))
                .collect();
            let (outcome, stored) = st.model.access(
                &mut cells,
                rec_of(&w.accesses),
                t,
                word,
                mask,
                a.write,
                a.atomic,
                site,
            );
            if let Some((cell, rec)) = stored {
                cur_access.cell = cell.0;
                cur_access.part = rec.part;
            }
            exact::record(&mut w.accesses, cur_access, |c| cells.contains(&Cell(c)));
            w.set_cells(cells);
            if st.model.take_reset() {
                self.clear_after_reset(st);
            }
            let cur = (t, site, a.write);
            if let Outcome::Report(prev) = outcome {
                let pair = (prev.site.min(site), prev.site.max(site));
                if !st.reported_addrs.contains(&a.addr) && st.reported_pairs.insert(pair) {
                    st.reported_addrs.insert(a.addr);
                    st.found += 1;
                    // What printing the report costs the goroutine in Go
                    // (deterministic mode's clock; see REPORT_NS).
                    gort_scheduler::det_charge_now(if st.found == 1 {
                        FIRST_REPORT_NS
                    } else {
                        REPORT_NS
                    });
                    let text = self.report(
                        st,
                        "WARNING: DATA RACE",
                        a.addr,
                        cur,
                        (prev.tid, prev.site, prev.write),
                        None,
                    );
                    self.emit(st, &text);
                    halt |= self.opts.halt_on_error;
                }
            }
            for prev in ordered {
                let Some((lock, edge)) = st
                    .locksets
                    .masking(t, prev.tid, prev.epoch, prev.locks, locks)
                else {
                    continue;
                };
                let pair = (prev.site.min(site), prev.site.max(site));
                if !st.masked_pairs.insert(pair) {
                    continue;
                }
                let why = self.explain_masking(st, lock, edge);
                let text = self.report(
                    st,
                    "gort: MASKED DATA RACE (ordered in this run only by a lock neither access held)",
                    a.addr,
                    cur,
                    (prev.tid, prev.site, prev.write),
                    Some(why),
                );
                self.emit(st, &text);
            }
            for (r, held) in races.into_iter().zip(held) {
                let reported = matches!(outcome, Outcome::Report(p) if p.tid == r.prev.tid);
                if reported {
                    continue;
                }
                let dropped = match outcome {
                    Outcome::Dropped(Rec { tid, .. }, l) if tid == r.prev.tid => Some(l),
                    _ => None,
                };
                // A race on a word Go already reported is one Go suppresses
                // on purpose (one report per address): not a silent one.
                if dropped.is_none()
                    && (st.reported_addrs.contains(&a.addr)
                        || st.model.why_gone(word, r.prev.tid, r.prev.site)
                            == Some(Gone::ClearedAfterReport))
                {
                    continue;
                }
                let pair = (r.prev.site.min(site), r.prev.site.max(site));
                if !st.silent_pairs.insert(pair) {
                    continue;
                }
                let why = self.explain(st, word, r.prev.tid, r.prev.site, held, dropped);
                let text = self.report(
                    st,
                    "gort: SILENT DATA RACE (Go 1.19's race detector does not report this one)",
                    a.addr,
                    cur,
                    (r.prev.tid, r.prev.site, r.prev.write),
                    Some(why),
                );
                self.emit(st, &text);
            }
        }
        Self::publish(st, g, t);
        if halt {
            Verdict::Halt(self.opts.exitcode)
        } else {
            Verdict::Go
        }
    }

    fn fini(&self) -> i32 {
        let mut st = self.st.lock();
        if st.found == 0 {
            return 0;
        }
        let line = format!("Found {} data race(s)\n", st.found);
        self.emit(&mut st, &line);
        self.opts.exitcode
    }
}
