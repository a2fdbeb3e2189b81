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
//! real addresses differ from process to process).
//!
//! Reports name goroutines as Go's does: `main goroutine`, or TSan's
//! thread number, which Go 1.19 gives in creation order from 6 for a
//! program's first goroutine (0-5 go to TSan's initial thread, main, the
//! extra M's goroutine and the runtime's start-up goroutines), counting
//! the collector's mark workers when a cycle starts them. A frame is the access's source line under the
//! function its goroutine started in (gort records no call stacks), plus,
//! for a map or channel operation, the runtime function Go shows on top.

use std::fmt::Write as _;
use std::io::Write as _;
use std::panic::Location;

use gort_scheduler::config::Output;
use gort_scheduler::race::{Access, RaceHooks, RuntimeFn, SyncOp, Verdict};
use gort_scheduler::G;

use super::exact::{Cells, Exact};
use super::hash::{AddrMap, AddrSet};
use super::lock::RaceLock;
use super::lockset::{Edge, Locksets};
use super::model::{Gone, Lost, Model, Outcome, Rec};
use super::shadow_table::ShadowTable;
use super::tsan_shadow::Word;
use super::vclock::Tid;
use crate::config::RaceOptions;

/// Go 1.19's TSan number for a program's first goroutine.
const FIRST_GOROUTINE_ID: u32 = 6;

/// A goroutine as reports name it.
struct Thread {
    /// TSan's number; None for the main goroutine.
    id: Option<u32>,
    /// The function it started in.
    func: &'static str,
    /// Its `go` statement: the creator's name and line.
    created: Option<(&'static str, &'static Location<'static>)>,
    finished: bool,
}

/// An access site: where, in which function, through which runtime call.
#[derive(Clone, Copy)]
struct Site {
    loc: &'static Location<'static>,
    func: &'static str,
    pc: Option<&'static RuntimeFn>,
}

/// What both detectors keep about one 8-byte word beside the model's
/// four cells: the exact detector's accesses and the records of the
/// cells. The cells are a table of their own: 16 bytes a word, all that a
/// repeated access (most accesses of a loop) reads, so a large map's
/// cells stay in cache; the rest is read when an access is new.
#[derive(Clone, Default)]
struct WordState {
    exact: Cells,
    recs: [Rec; 4],
}

/// What the detector has learnt so far; under `Detector::st`.
struct State {
    exact: Exact,
    model: Model,
    cells: ShadowTable<Word>,
    words: ShadowTable<WordState>,
    threads: Vec<Thread>,
    sites: Vec<Site>,
    site_ids: AddrMap<(usize, usize, usize), u32>,
    last_site: ((usize, usize, usize), u32),
    next_id: u32,
    /// Addresses and site pairs already reported (Go prints a race on
    /// either once).
    reported_addrs: AddrSet<usize>,
    reported_pairs: AddrSet<(u32, u32)>,
    silent_pairs: AddrSet<(u32, u32)>,
    masked_pairs: AddrSet<(u32, u32)>,
    locksets: Locksets,
    found: usize,
    silent: usize,
    masked: usize,
    /// Deterministic mode's printed names of addresses.
    vaddrs: AddrMap<usize, usize>,
    log_failed: bool,
}

/// The detector of one runtime.
pub struct Detector {
    st: RaceLock<State>,
    opts: RaceOptions,
    out: Output,
    det: bool,
}

impl Detector {
    pub fn new(opts: RaceOptions, out: Output, det: bool) -> Detector {
        Detector {
            st: RaceLock::new(State {
                exact: Exact::new(),
                model: Model::new(opts.history_size),
                cells: ShadowTable::default(),
                words: ShadowTable::default(),
                threads: Vec::new(),
                sites: Vec::new(),
                site_ids: AddrMap::default(),
                last_site: ((0, 0, 0), 0),
                next_id: FIRST_GOROUTINE_ID,
                reported_addrs: AddrSet::default(),
                reported_pairs: AddrSet::default(),
                silent_pairs: AddrSet::default(),
                masked_pairs: AddrSet::default(),
                locksets: Locksets::new(),
                found: 0,
                silent: 0,
                masked: 0,
                vaddrs: AddrMap::default(),
                log_failed: false,
            }),
            opts,
            out,
            det,
        }
    }

    fn tid(g: &G) -> Option<Tid> {
        match g.race_ctx.load(std::sync::atomic::Ordering::Relaxed) {
            0 => None,
            n => Some((n - 1) as Tid),
        }
    }

    /// Writes report text where `log_path` says.
    fn emit(&self, st: &mut State, text: &str) {
        match self.opts.log_path.as_str() {
            "stderr" => self.out.write_stderr(text.as_bytes()),
            "stdout" => self.out.write_stdout(text.as_bytes()),
            path => {
                let file = format!("{path}.{}", std::process::id());
                let r = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&file)
                    .and_then(|mut f| f.write_all(text.as_bytes()));
                if let Err(e) = r {
                    if !st.log_failed {
                        st.log_failed = true;
                        self.out.write_stderr(
                            format!(
                                "gort: GORACE log_path: cannot write {file}: {e}; \
                                 race reports go to stderr\n"
                            )
                            .as_bytes(),
                        );
                    }
                    self.out.write_stderr(text.as_bytes());
                }
            }
        }
    }

    fn path(&self, loc: &str) -> String {
        let p = gort_scheduler::traceback::abs_path(loc);
        match p.strip_prefix(self.opts.strip_path_prefix.as_str()) {
            Some(rest) if !self.opts.strip_path_prefix.is_empty() => rest.to_string(),
            _ => p,
        }
    }

    fn frames(&self, out: &mut String, s: Site) {
        if let Some(f) = s.pc {
            let _ = write!(
                out,
                "  {}()\n      $GOROOT/{}:{} +0x0\n",
                f.name, f.file, f.line
            );
        }
        let loc = self.path(&format!("{}:{}", s.loc.file(), s.loc.line()));
        let _ = write!(out, "  {}()\n      {loc} +0x0\n", s.func);
    }

    fn who(st: &State, t: Tid) -> String {
        match st.threads[t as usize].id {
            None => "main goroutine".to_string(),
            Some(n) => format!("goroutine {n}"),
        }
    }

    fn addr(&self, st: &mut State, a: usize) -> String {
        let shown = if self.det {
            let n = st.vaddrs.len();
            *st.vaddrs
                .entry(a)
                .or_insert(0x00c0_0001_0000 + n * 0x10 + (a & 7))
        } else {
            a
        };
        format!("{shown:#014x}")
    }

    /// Go's report for a race between `cur` (this access) and `prev`.
    #[allow(clippy::too_many_arguments)]
    fn report(
        &self,
        st: &mut State,
        title: &str,
        addr: usize,
        cur: (Tid, u32, bool),
        prev: (Tid, u32, bool),
        why: Option<String>,
    ) -> String {
        let a = self.addr(st, addr);
        let kind = |w: bool| if w { "write" } else { "read" };
        let mut out = String::from("==================\n");
        out.push_str(title);
        out.push('\n');
        let _ = writeln!(
            out,
            "{}{} at {a} by {}:",
            kind(cur.2)[..1].to_uppercase(),
            &kind(cur.2)[1..],
            Self::who(st, cur.0)
        );
        self.frames(&mut out, st.sites[cur.1 as usize]);
        let _ = writeln!(
            out,
            "\nPrevious {} at {a} by {}:",
            kind(prev.2),
            Self::who(st, prev.0)
        );
        self.frames(&mut out, st.sites[prev.1 as usize]);
        let mut shown = Vec::new();
        for t in [cur.0, prev.0] {
            let th = &st.threads[t as usize];
            if th.id.is_none() || shown.contains(&t) {
                continue;
            }
            shown.push(t);
            let state = if th.finished { "finished" } else { "running" };
            let _ = writeln!(
                out,
                "\nGoroutine {} ({state}) created at:",
                th.id.expect("not main")
            );
            if let Some((creator, loc)) = th.created {
                self.frames(
                    &mut out,
                    Site {
                        loc,
                        func: creator,
                        pc: None,
                    },
                );
            }
        }
        if let Some(w) = why {
            let _ = writeln!(out, "\n{w}");
        }
        out.push_str("==================\n");
        out
    }

    fn site(st: &mut State, t: Tid, a: &Access) -> u32 {
        let func = st.threads[t as usize].func;
        let key = (
            a.site as *const Location as usize,
            a.pc.map_or(0, |f| f as *const RuntimeFn as usize),
            func.as_ptr() as usize,
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
        )
    }

    /// The sentence naming the lock that ordered a masked race and the
    /// two operations that made the edge.
    fn explain_masking(&self, st: &mut State, lock: usize, edge: Edge) -> String {
        let at = |st: &State, s: u32| {
            let l = st.sites[s as usize].loc;
            format!("{}:{}", self.path(l.file()), l.line())
        };
        let lock_name = self.addr(st, lock);
        let acq = format!(
            "{} took it at {}",
            Self::who(st, edge.acquire.0),
            at(st, edge.acquire.1)
        );
        let rel = match edge.release {
            Some((rt, rs)) => format!("{} released it at {} and ", Self::who(st, rt), at(st, rs)),
            None => String::new(),
        };
        format!(
            "gort: masked because {rel}{acq}: the lock at {lock_name} orders the two accesses, \
             but neither was made holding a lock the other held (their locksets are disjoint), \
             so which goroutine took it first decided the order; another schedule races."
        )
    }

    /// The sentence explaining why the model lost a race.
    fn explain(
        &self,
        st: &State,
        word: usize,
        prev_tid: Tid,
        prev_site: u32,
        held: bool,
        d: Option<Lost>,
    ) -> String {
        let who = Self::who(st, prev_tid);
        let because = match d {
            Some(Lost::HistoryExhausted) => format!(
                "the earlier access's stack is gone: {who}'s trace keeps {} parts of 16K events \
                 (GORACE history_size={}) and it has made more events since; TSan drops the report",
                3 + self.opts.history_size,
                self.opts.history_size
            ),
            Some(Lost::TraceRecycled) => format!(
                "the earlier access's stack is gone: {who} finished and its trace was recycled \
                 (TSan keeps the traces of at most 64 finished goroutines); TSan drops the report"
            ),
            None => {
                if held {
                    format!(
                        "the earlier access is still remembered, but under a slot that {who} \
                         no longer holds alone: TSan v3 shares 255 slots among all goroutines, \
                         and the later access's goroutine synchronised with a later owner of \
                         that slot, so the access looks ordered before it"
                    )
                } else {
                    match st.model.why_gone(word, prev_tid, prev_site) {
                        Some(Gone::Evicted(by)) => {
                            let s = st.sites[by.site as usize];
                            format!(
                                "the earlier access's shadow cell was evicted by the access of {} \
                                 at {}:{} (a word has 4 cells; TSan overwrites one chosen by the \
                                 trace position when all are taken)",
                                Self::who(st, by.tid),
                                self.path(s.loc.file()),
                                s.loc.line()
                            )
                        }
                        Some(Gone::ClearedAfterReport) => {
                            "the word's shadow was cleared after an earlier report on it"
                                .to_string()
                        }
                        Some(Gone::GlobalReset) => {
                            "a global reset cleared all shadow memory (every slot's 14-bit epoch \
                             was used up)"
                                .to_string()
                        }
                        None => "the model kept no cell for the earlier access".to_string(),
                    }
                }
            }
        };
        format!("gort: silent because {because}.")
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
        let State {
            cells,
            words,
            model,
            ..
        } = st;
        cells.for_each_mut(|w, c| {
            if let Some(s) = words.get(w) {
                model.note_reset(w, c, &s.recs);
            }
            *c = Word::default();
        });
        words.for_each_mut(|_, s| s.recs = Default::default());
    }
}

impl RaceHooks for Detector {
    fn go_start(&self, parent: Option<&G>, child: &G) {
        if child.is_system() {
            // forcegc and bgsweep are among the start-up threads the model
            // makes with main; a mark worker takes a slot and a number.
            if child.goid() > gort_scheduler::GOID_BGSWEEP {
                self.with(|st| {
                    let pt = parent.and_then(Self::tid);
                    st.model.runtime_start(pt);
                    st.next_id += 1;
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
            st.threads.push(Thread {
                id,
                func: info.map_or("?", |i| i.startfn),
                created: info
                    .filter(|_| parent.is_some())
                    .map(|i| (i.creator, i.gopc)),
                finished: false,
            });
            child
                .race_ctx
                .store(t as u64 + 1, std::sync::atomic::Ordering::Relaxed);
        })
    }

    fn go_end(&self, g: &G) {
        if let Some(t) = Self::tid(g) {
            self.with(|st| {
                st.threads[t as usize].finished = true;
                st.model.go_end(t);
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
        })
    }

    fn lock_held(&self, g: &G, addr: usize, objs: &[usize], held: bool) {
        let Some(t) = Self::tid(g) else { return };
        self.with(|st| st.locksets.lock_held(t, addr, objs, held))
    }

    fn malloc(&self, addr: usize, size: usize) {
        self.with(|st| {
            st.cells.clear(addr, addr + size, |_, _| {});
            st.words.clear(addr, addr + size, |_, _| {});
        })
    }

    fn access(&self, g: &G, a: Access) -> Verdict {
        let Some(t) = Self::tid(g) else {
            return Verdict::Go;
        };
        let mut st = self.st.lock();
        let st = &mut *st;
        let mut site_id = None;
        let end = a.addr + a.size.max(1);
        let mut word = a.addr & !7;
        let mut halt = false;
        while word < end {
            let lo = a.addr.max(word) - word;
            let hi = end.min(word + 8) - word;
            let mask = (((1u16 << hi) - 1) & !((1u16 << lo) - 1)) as u8;
            if st
                .cells
                .get(word)
                .is_some_and(|c| st.model.repeat(c, t, mask, a.write, a.atomic))
            {
                word += 8;
                continue;
            }
            let site = match site_id {
                Some(s) => s,
                None => *site_id.insert(Self::site(st, t, &a)),
            };
            let cells = st.cells.get_mut(word);
            let w = st.words.get_mut(word);
            let locks = st.locksets.current(t);
            let cur_access =
                Exact::make(st.exact.clocks(), t, mask, a.write, a.atomic, site, locks);
            let mut races = Vec::new();
            let mut ordered = Vec::new();
            st.exact
                .access_word(&mut w.exact, word, cur_access, &mut races, &mut ordered);
            // Which earlier accesses the model still held before this one
            // (an access it thinks ordered after them replaces them).
            let held: Vec<bool> = races
                .iter()
                .map(|r| Model::holds(cells, &w.recs, r.prev.tid, r.prev.site))
                .collect();
            let outcome =
                st.model
                    .access(cells, &mut w.recs, t, word, mask, a.write, a.atomic, site);
            if st.model.take_reset() {
                self.clear_after_reset(st);
            }
            let cur = (t, site, a.write);
            if let Outcome::Report(prev) = outcome {
                let pair = (prev.site.min(site), prev.site.max(site));
                if !st.reported_addrs.contains(&a.addr) && st.reported_pairs.insert(pair) {
                    st.reported_addrs.insert(a.addr);
                    st.found += 1;
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
                st.masked += 1;
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
                st.silent += 1;
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
            word += 8;
        }
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
