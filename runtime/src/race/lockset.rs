//! Races masked by an unrelated lock: what neither Go's detector nor the
//! exact one reports, because in this run the two accesses are ordered,
//! but only by a lock that does not protect them.
//!
//! How "unrelated" is decided, Eraser-style: each access records the set
//! of locks its goroutine held (`sync.Mutex`, `RWMutex` in either mode;
//! not the `sync` package's own locks, such as `Once`'s). Two conflicting
//! accesses ordered by happens-before are reported as masked when
//!
//! 1. the edge that first ordered them was an acquire of a lock (for
//!    each goroutine and each other goroutine, the detector remembers
//!    which acquire raised its clock entry to which epoch: the last hop of
//!    the path that ordered the accesses), and
//! 2. their locksets share no lock.
//!
//! Then which goroutine took that lock first decided the order, and a
//! different schedule would have raced: a shared logging mutex between
//! two unprotected writes is the classic case. Edges through channels,
//! WaitGroups, atomics and `go` statements are ordering the program
//! asked for and never count. The rule has a known false positive: data
//! published through a flag that a lock protects (write x; lock; flag =
//! true; unlock / lock; read flag; unlock; read x) is correct Go and is
//! reported as masked.

use std::collections::HashMap;

use super::hash::AddrMap;
use super::vclock::{Tid, VClock};

/// An acquire that raised a goroutine's clock: the sync object, the
/// release it acquired (goroutine and site, if known) and the acquire's
/// own site.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    pub obj: usize,
    pub release: Option<(Tid, u32)>,
    pub acquire: (Tid, u32),
}

/// How many raises of one clock entry are remembered.
const EDGES_PER_ENTRY: usize = 32;

#[derive(Default)]
pub struct Locksets {
    /// Lockset ids: 0 is the empty set.
    sets: Vec<Vec<usize>>,
    ids: HashMap<Vec<usize>, u32>,
    /// Per goroutine (the exact detector's numbering): the locks held and
    /// their set's id.
    held: Vec<Vec<usize>>,
    current: Vec<u32>,
    /// The sync objects of each lock (a mutex; an RWMutex's semaphores).
    lock_of: AddrMap<usize, usize>,
    /// The last release of each sync object.
    last_release: AddrMap<usize, (Tid, u32)>,
    /// Per goroutine, per other goroutine: (epoch reached, edge), in order.
    raised: Vec<AddrMap<Tid, Vec<(u64, Edge)>>>,
}

impl Locksets {
    pub fn new() -> Locksets {
        let mut l = Locksets::default();
        l.sets.push(Vec::new());
        l.ids.insert(Vec::new(), 0);
        l
    }

    fn thread(&mut self, t: Tid) -> usize {
        let i = t as usize;
        if self.held.len() <= i {
            self.held.resize_with(i + 1, Vec::new);
            self.current.resize(i + 1, 0);
            self.raised.resize_with(i + 1, AddrMap::default);
        }
        i
    }

    /// The lockset id of what `t` holds now.
    #[inline]
    pub fn current(&self, t: Tid) -> u32 {
        self.current.get(t as usize).copied().unwrap_or(0)
    }

    /// The locks of lockset `id`.
    pub fn set(&self, id: u32) -> &[usize] {
        &self.sets[id as usize]
    }

    /// `t` took (`held`) or gave back `lock`, whose edges go through `objs`.
    pub fn lock_held(&mut self, t: Tid, lock: usize, objs: &[usize], held: bool) {
        for &o in objs {
            self.lock_of.insert(o, lock);
        }
        let i = self.thread(t);
        let h = &mut self.held[i];
        if held {
            h.push(lock);
        } else if let Some(p) = h.iter().rposition(|&l| l == lock) {
            h.remove(p);
        }
        let mut key = h.clone();
        key.sort_unstable();
        key.dedup();
        let next = self.sets.len() as u32;
        let id = *self.ids.entry(key.clone()).or_insert(next);
        if id == next {
            self.sets.push(key);
        }
        self.current[i] = id;
    }

    /// `t` ended: what ordered its accesses after others' is no longer
    /// asked for (it makes no more).
    pub fn go_end(&mut self, t: Tid) {
        if let Some(r) = self.raised.get_mut(t as usize) {
            *r = AddrMap::default();
        }
        if let Some(h) = self.held.get_mut(t as usize) {
            h.clear();
        }
    }

    /// `t` released `obj` at `site`.
    pub fn released(&mut self, t: Tid, obj: usize, site: u32) {
        self.last_release.insert(obj, (t, site));
    }

    /// `t` acquired `obj` at `site`; its clock went from `before` to
    /// `after`.
    pub fn acquired(&mut self, t: Tid, obj: usize, site: u32, before: &VClock, after: &VClock) {
        let release = self.last_release.get(&obj).copied();
        let i = self.thread(t);
        for k in 0..after.len() as Tid {
            let e = after.get(k);
            if k != t && e > before.get(k) {
                let v = self.raised[i].entry(k).or_default();
                if v.len() == EDGES_PER_ENTRY {
                    v.remove(0);
                }
                v.push((
                    e,
                    Edge {
                        obj,
                        release,
                        acquire: (t, site),
                    },
                ));
            }
        }
    }

    /// If `t`'s access with lockset `cur_locks` is ordered after `prev`
    /// only through an unrelated lock: that lock and the edge.
    pub fn masking(
        &self,
        t: Tid,
        prev_tid: Tid,
        prev_epoch: u64,
        prev_locks: u32,
        cur_locks: u32,
    ) -> Option<(usize, Edge)> {
        let (a, b) = (self.set(prev_locks), self.set(cur_locks));
        if a.iter().any(|l| b.contains(l)) {
            return None;
        }
        let edges = self.raised.get(t as usize)?.get(&prev_tid)?;
        let &(_, edge) = edges.iter().find(|(e, _)| *e >= prev_epoch)?;
        let lock = *self.lock_of.get(&edge.obj)?;
        Some((lock, edge))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edge_through_a_lock_neither_access_held_masks() {
        let mut l = Locksets::new();
        let (a, b) = (0, 1);
        let log = 0x1000;
        // a: write x (no lock), then lock log; unlock log.
        l.lock_held(a, log, &[log], true);
        l.lock_held(a, log, &[log], false);
        l.released(a, log, 7);
        // b: lock log: its entry for a rises to 3.
        let before = VClock::default();
        let mut after = VClock::default();
        after.set(a, 3);
        l.lock_held(b, log, &[log], true);
        l.acquired(b, log, 8, &before, &after);
        l.lock_held(b, log, &[log], false);
        // a's write at epoch 2, no locks; b's write, no locks.
        let m = l.masking(b, a, 2, 0, l.current(b));
        assert_eq!(
            m,
            Some((
                log,
                Edge {
                    obj: log,
                    release: Some((a, 7)),
                    acquire: (b, 8)
                }
            ))
        );
        // Both accesses under the lock: protected, not masked.
        l.lock_held(a, log, &[log], true);
        let with = l.current(a);
        l.lock_held(b, log, &[log], true);
        assert_eq!(l.masking(b, a, 2, with, l.current(b)), None);
    }
}
