//! The exact detector against reference/race.md §3: each of Go's edges
//! orders what it should, and nothing else does.

use std::ops::{Deref, DerefMut};

use super::*;

/// The detector with a shadow of its own, as the race detector keeps one.
#[derive(Default)]
struct Exact {
    d: super::Exact,
    shadow: std::collections::HashMap<usize, Inline>,
    spills: Spills,
}

impl Deref for Exact {
    type Target = super::Exact;
    fn deref(&self) -> &super::Exact {
        &self.d
    }
}

impl DerefMut for Exact {
    fn deref_mut(&mut self) -> &mut super::Exact {
        &mut self.d
    }
}

impl Exact {
    fn new() -> Exact {
        Exact::default()
    }

    /// A read or write by `t` of `size` bytes at `addr`: the races it
    /// makes, at most one per earlier access.
    fn access(
        &mut self,
        t: Tid,
        addr: usize,
        size: usize,
        write: bool,
        atomic: bool,
        site: u32,
    ) -> Vec<Race> {
        let mut races = Vec::new();
        for (word, mask) in word_masks(addr, size) {
            let cur = self.d.make(t, mask, write, atomic, site, 0);
            let mut cells =
                Cells::new(self.shadow.entry(word).or_default(), &mut self.spills, word);
            self.d
                .access_word(&mut cells, word, cur, &mut races, &mut Vec::new());
        }
        races
    }
}

const X: usize = 0x1000;
const M: usize = 0x2000;

fn write(d: &mut Exact, t: Tid, site: u32) -> Vec<Race> {
    d.access(t, X, 8, true, false, site)
}

fn read(d: &mut Exact, t: Tid, site: u32) -> Vec<Race> {
    d.access(t, X, 8, false, false, site)
}

#[test]
fn a_go_statement_orders_the_parents_past_before_the_child() {
    let mut d = Exact::new();
    let main = d.go_start(None);
    assert!(write(&mut d, main, 1).is_empty());
    let child = d.go_start(Some(main));
    assert!(read(&mut d, child, 2).is_empty());
    // What the parent does after the go statement is not ordered.
    let r = write(&mut d, main, 3);
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].prev.site, r[0].cur.site), (2, 3));
}

#[test]
fn goroutine_exit_and_sleep_are_no_edges() {
    let mut d = Exact::new();
    let main = d.go_start(None);
    let child = d.go_start(Some(main));
    assert!(write(&mut d, child, 1).is_empty());
    // The child has finished and main slept: still a race.
    let r = read(&mut d, main, 2);
    assert_eq!(r.len(), 1);
    assert!(r[0].prev.write && !r[0].cur.write);
}

#[test]
fn reads_do_not_race_with_reads_and_atomics_not_with_atomics() {
    let mut d = Exact::new();
    let main = d.go_start(None);
    let a = d.go_start(Some(main));
    let b = d.go_start(Some(main));
    assert!(read(&mut d, a, 1).is_empty());
    assert!(read(&mut d, b, 2).is_empty());
    assert!(d.access(a, M, 8, true, true, 3).is_empty());
    assert!(d.access(b, M, 8, true, true, 4).is_empty());
    // A plain access to an atomically written word races with it.
    let r = d.access(b, M, 8, false, false, 5);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].prev.site, 3);
}

#[test]
fn a_mutex_orders_each_unlock_before_the_next_lock() {
    let mut d = Exact::new();
    let main = d.go_start(None);
    let a = d.go_start(Some(main));
    let b = d.go_start(Some(main));
    d.acquire(a, M);
    assert!(write(&mut d, a, 1).is_empty());
    d.release_store(a, M);
    d.acquire(b, M);
    assert!(write(&mut d, b, 2).is_empty());
    d.release_store(b, M);
    // Bypassing the mutex: a race with b's write.
    let r = write(&mut d, a, 3);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].prev.site, 2);
}

#[test]
fn rlock_holders_do_not_order_each_other_but_every_runlock_orders_the_next_lock() {
    const READER_SEM: usize = 0x3000;
    const WRITER_SEM: usize = 0x3008;
    let mut d = Exact::new();
    let main = d.go_start(None);
    let r1 = d.go_start(Some(main));
    let r2 = d.go_start(Some(main));
    let w = d.go_start(Some(main));
    // RLock: acquire readerSem; RUnlock: release-merge writerSem.
    d.acquire(r1, READER_SEM);
    assert!(write(&mut d, r1, 1).is_empty());
    d.release_merge(r1, WRITER_SEM);
    d.acquire(r2, READER_SEM);
    let r = write(&mut d, r2, 2);
    assert_eq!(r.len(), 1, "two writers under RLock race");
    d.release_merge(r2, WRITER_SEM);
    // Lock acquires both semaphores: after every RUnlock.
    d.acquire(w, READER_SEM);
    d.acquire(w, WRITER_SEM);
    assert!(write(&mut d, w, 3).is_empty());
    // Unlock releases readerSem: the next RLock is ordered after it.
    d.release_store(w, READER_SEM);
    d.acquire(r1, READER_SEM);
    assert!(read(&mut d, r1, 4).is_empty());
}

#[test]
fn waitgroup_done_merges_so_wait_sees_every_worker() {
    const WG: usize = 0x4000;
    let mut d = Exact::new();
    let main = d.go_start(None);
    let workers: Vec<Tid> = (0..3).map(|_| d.go_start(Some(main))).collect();
    for (i, &w) in workers.iter().enumerate() {
        assert!(d.access(w, X + 8 * i, 8, true, false, i as u32).is_empty());
        d.release_merge(w, WG);
    }
    d.acquire(main, WG);
    for i in 0..3 {
        assert!(d.access(main, X + 8 * i, 8, false, false, 10).is_empty());
    }
    // A worker's write after Done is not ordered with main's read after
    // Wait, in either direction.
    let r = d.access(workers[0], X, 8, true, false, 11);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].prev.site, 10);
    let r = d.access(main, X, 8, false, false, 12);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].prev.site, 11);
}

#[test]
fn release_store_overwrites_where_release_merge_accumulates() {
    for merge in [false, true] {
        let mut d = Exact::new();
        let main = d.go_start(None);
        let a = d.go_start(Some(main));
        let b = d.go_start(Some(main));
        let c = d.go_start(Some(main));
        assert!(write(&mut d, a, 1).is_empty());
        if merge {
            d.release_merge(a, M);
            d.release_merge(b, M);
        } else {
            d.release_store(a, M);
            d.release_store(b, M);
        }
        d.acquire(c, M);
        let r = write(&mut d, c, 2);
        assert_eq!(r.is_empty(), merge, "merge={merge}");
    }
}

#[test]
fn a_buffered_channel_of_capacity_one_is_a_lock() {
    // Each send and receive is a release-acquire on the slot
    // (`racenotify`): k-th receive -> (k+1)-th send.
    const SLOT: usize = 0x5000;
    let mut d = Exact::new();
    let main = d.go_start(None);
    let a = d.go_start(Some(main));
    let b = d.go_start(Some(main));
    d.release_acquire(a, SLOT); // sem <- 1
    assert!(write(&mut d, a, 1).is_empty());
    d.release_acquire(a, SLOT); // <-sem
    d.release_acquire(b, SLOT); // sem <- 1
    assert!(write(&mut d, b, 2).is_empty());
    d.release_acquire(b, SLOT); // <-sem
}

#[test]
fn only_overlapping_bytes_race() {
    let mut d = Exact::new();
    let main = d.go_start(None);
    let a = d.go_start(Some(main));
    let b = d.go_start(Some(main));
    assert!(d.access(a, X, 4, true, false, 1).is_empty());
    assert!(d.access(b, X + 4, 4, true, false, 2).is_empty());
    let r = d.access(b, X + 2, 4, true, false, 3);
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].prev.site, r[0].addr), (1, X));
    // An access across a word boundary races in each word it touches,
    // reported once per earlier access.
    assert!(d.access(a, X + 16, 8, true, false, 4).is_empty());
    let r = d.access(b, X + 12, 8, false, false, 5);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].prev.site, 4);
    assert_eq!(r[0].addr, X + 16);
}

#[test]
fn a_later_covering_access_of_the_same_thread_stands_in_for_the_earlier() {
    let mut d = Exact::new();
    let main = d.go_start(None);
    let a = d.go_start(Some(main));
    let b = d.go_start(Some(main));
    assert!(write(&mut d, a, 1).is_empty());
    d.release_store(a, M);
    assert!(write(&mut d, a, 2).is_empty());
    // b acquired nothing: the race is with a's last write, reported once.
    let r = read(&mut d, b, 3);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].prev.site, 2);
    // b acquires M: a's first write is ordered, its second is not.
    d.acquire(b, M);
    let r = write(&mut d, b, 4);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].prev.site, 2);
}

#[test]
fn an_access_a_model_cell_still_records_is_kept_and_found_by_its_cell() {
    let mut d = Exact::new();
    let main = d.go_start(None);
    let a = d.go_start(Some(main));
    let (mut inline, mut spills) = (Inline::default(), Spills::default());
    let mut cells = Cells::new(&mut inline, &mut spills, X);
    // a writes the low half, then the whole word: the second covers the
    // first, which goes unless the model still holds it in a cell.
    let mut low = d.make(a, 0x0f, true, false, 1, 0);
    low.cell = 0x11;
    low.part = 3;
    record(&mut cells, low, |_| false);
    let mut whole = d.make(a, 0xff, true, false, 2, 0);
    whole.cell = 0x22;
    record(&mut cells, whole, |c| c == 0x11);
    let found = cells.rec_of(0x11).expect("kept for its cell");
    assert_eq!((found.site, found.part, found.mask), (1, 3, 0x0f));
    assert_eq!(cells.rec_of(0x22).map(|a| a.site), Some(2));
    // Once no cell holds it, the next covering access drops it.
    let mut again = d.make(a, 0xff, true, false, 3, 0);
    again.cell = 0x33;
    record(&mut cells, again, |_| false);
    assert_eq!(cells.rec_of(0x11), None);
    assert_eq!(cells.rec_of(0x22), None);
    assert_eq!(cells.rec_of(0x33).map(|a| a.site), Some(3));
    // Packing keeps every field.
    let b = d.go_start(Some(main));
    let mut r = Vec::new();
    d.check(
        &cells,
        X,
        d.make(b, 0x01, false, true, 4, 0),
        &mut r,
        &mut Vec::new(),
    );
    assert_eq!(r.len(), 1);
    assert_eq!(
        (
            r[0].prev.tid,
            r[0].prev.mask,
            r[0].prev.write,
            r[0].prev.atomic,
            r[0].prev.cell
        ),
        (a, 0xff, true, false, 0x33)
    );
}
