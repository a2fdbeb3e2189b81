//! What the race detector prints: Go 1.19's report (`==================`,
//! `WARNING: DATA RACE`, the current and previous access with their
//! frames, `Goroutine N (running|finished) created at:`), written where
//! `GORACE=log_path` says, and gort's own blocks for the races Go's
//! detector stays silent on or that an unrelated lock masks, each with the
//! sentence that says why.

use std::fmt::Write as _;
use std::io::Write as _;

use super::detector::{Detector, Site, State};
use super::lockset::Edge;
use super::model::{Gone, Lost};
use super::vclock::Tid;

impl Detector {
    /// Writes report text where `log_path` says.
    pub(super) fn emit(&self, st: &mut State, text: &str) {
        gort_scheduler::trace_event(|| gort_scheduler::trace::TraceEvent::Log {
            category: if text.contains("WARNING: DATA RACE") {
                "race"
            } else {
                "race-silent"
            },
            message: text.trim_matches(|c| c == '=' || c == '\n').to_string(),
        });
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

    pub(super) fn path(&self, loc: &str) -> String {
        let p = gort_scheduler::traceback::abs_path(loc);
        match p.strip_prefix(self.opts.strip_path_prefix.as_str()) {
            Some(rest) if !self.opts.strip_path_prefix.is_empty() => rest.to_string(),
            _ => p,
        }
    }

    /// A site's frames: the runtime function Go shows on top (a map or
    /// channel operation), then the program's stack as recorded at the
    /// access, symbolized (once per stack); without debug info, the
    /// function the goroutine started in at the access's line.
    pub(super) fn frames(&self, st: &mut State, out: &mut String, s: Site) {
        if let Some(f) = s.pc {
            let _ = write!(
                out,
                "  {}()\n      $GOROOT/{}:{} +0x0\n",
                f.name, f.file, f.line
            );
        }
        let frames = match s.stack {
            Some(id) => {
                if !st.symbolized.contains_key(&id) {
                    let f = gort_scheduler::race::symbolize(&st.stacks[id as usize]);
                    st.symbolized.insert(id, f);
                }
                st.symbolized[&id].clone()
            }
            None => Vec::new(),
        };
        if frames.is_empty() {
            let loc = self.path(&format!("{}:{}", s.loc.file(), s.loc.line()));
            let _ = write!(out, "  {}()\n      {loc} +0x0\n", s.func);
            return;
        }
        for f in frames {
            let loc = self.path(&f.location);
            let _ = write!(out, "  {}()\n      {loc} +0x0\n", f.function);
        }
    }

    pub(super) fn who(st: &State, t: Tid) -> String {
        match st.threads[t as usize].id {
            None => "main goroutine".to_string(),
            Some(n) => format!("goroutine {n}"),
        }
    }

    pub(super) fn addr(&self, st: &mut State, a: usize) -> String {
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
    pub(super) fn report(
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
        let site = st.sites[cur.1 as usize];
        self.frames(st, &mut out, site);
        let _ = writeln!(
            out,
            "\nPrevious {} at {a} by {}:",
            kind(prev.2),
            Self::who(st, prev.0)
        );
        let site = st.sites[prev.1 as usize];
        self.frames(st, &mut out, site);
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
                let stack = th.created_stack;
                self.frames(
                    st,
                    &mut out,
                    Site {
                        loc,
                        func: creator,
                        pc: None,
                        stack,
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

    /// The sentence naming the lock that ordered a masked race and the
    /// two operations that made the edge.
    pub(super) fn explain_masking(&self, st: &mut State, lock: usize, edge: Edge) -> String {
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
    pub(super) fn explain(
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
}
