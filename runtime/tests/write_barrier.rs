//! The write barrier (Go's hybrid barrier, `gort-gc`'s `mbarrier.rs` and
//! `mwbbuf.rs`), through the public API and the debug hooks of `gort::rt`:
//! every pointer store of the maps and of sync.Map passes it, each
//! `wbmode` shades what it should, it stays idle when no collection
//! marks, and a real concurrent cycle with stores racing it loses
//! nothing.
//!
//! Most tests turn the barrier on without a collection
//! (`debug_set_write_barrier`) and record every enqueue as `(slot, old,
//! new)` (`debug_record_barriers`): with no collection marking, the
//! buffered pointers are dropped at the next flush, so only the record
//! shows what the barrier saw. GOGC is off, so no collection interferes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use gort::rt::{
    debug_record_barriers, debug_set_write_barrier, debug_take_barriers, debug_wbbuf_len, HMap,
};
use gort::{
    find_object, new_object, ArrayMap, Config, GoString, Map, Ptr, StrMap, SyncMap, Type, WbMode,
};

mod common;
use common::{det, par, run_ok};

type Triple = (usize, usize, usize);

/// Go's `type T struct { next *T; val int64 }`.
fn t_type() -> &'static Type {
    static T: OnceLock<&'static Type> = OnceLock::new();
    T.get_or_init(|| Type::new("wb.T", 2, &[0]))
}

fn obj(v: u64) -> Ptr {
    let p = new_object(t_type());
    p.store(1, v);
    p
}

/// GOGC off: no collection runs unless a test asks for one.
fn nogc(cfg: Config) -> Config {
    cfg.gogc(None)
}

/// Runs `f` with the barrier on (no collection marking) and returns what
/// it recorded.
fn recorded<R>(f: impl FnOnce() -> R) -> (R, Vec<Triple>) {
    debug_set_write_barrier(true);
    debug_record_barriers(true);
    let r = f();
    let b = debug_take_barriers();
    debug_record_barriers(false);
    debug_set_write_barrier(false);
    (r, b)
}

/// The base of the object containing `a` (0 if none).
fn base(a: usize) -> usize {
    find_object(a).map_or(0, |f| f.base)
}

/// Word `w` of an hmap: 2 buckets, 3 oldbuckets, 5 extra.
fn hword(h: HMap, w: usize) -> usize {
    h.0 .0 + w * 8
}

fn buckets(h: HMap) -> usize {
    h.0.load_ptr(2).0
}

fn oldbuckets(h: HMap) -> usize {
    h.0.load_ptr(3).0
}

fn configs() -> [Config; 2] {
    [nogc(par(1)), nogc(det(7, 2))]
}

// ---- the modes

/// One store over an old pointer, and one atomic swap, in each mode.
#[test]
fn each_wbmode_shades_its_set() {
    for (mode, want_old, want_new) in [
        (WbMode::Hybrid, true, true),
        (WbMode::Dijkstra, false, true),
        (WbMode::Yuasa, true, false),
        (WbMode::Off, false, false),
    ] {
        run_ok(nogc(par(1)).wbmode(mode), move || {
            let holder = new_object(t_type());
            let (a, b, c) = (obj(1), obj(2), obj(3));
            holder.store_ptr(0, a);
            let (_, rec) = recorded(|| {
                holder.store_ptr(0, b);
                assert_eq!(holder.swap_ptr(0, c), b);
            });
            let slot = holder.0;
            let pick = |old: Ptr, new: Ptr| {
                (
                    slot,
                    if want_old { old.0 } else { 0 },
                    if want_new { new.0 } else { 0 },
                )
            };
            let want: Vec<Triple> = if mode == WbMode::Off {
                vec![]
            } else {
                vec![pick(a, b), pick(b, c)]
            };
            assert_eq!(rec, want, "{mode:?}");
        });
    }
}

/// A store into a global (a `Root`), and a new global's initial value,
/// pass the barrier too (Go's compiler barriers stores into globals).
#[test]
fn global_stores() {
    run_ok(nogc(par(1)), || {
        let (a, b) = (obj(1), obj(2));
        let root = gort::Root::new(a);
        let (r2, rec) = recorded(|| {
            root.store(b);
            gort::Root::new(a)
        });
        assert!(
            rec.iter()
                .any(|&(s, o, n)| base(s) == 0 && o == a.0 && n == b.0),
            "store: {rec:?}"
        );
        assert!(
            rec.iter()
                .any(|&(s, o, n)| base(s) == 0 && o == 0 && n == a.0),
            "initial value: {rec:?}"
        );
        drop((root, r2));
    });
}

/// With the collector idle, stores record nothing and buffer nothing.
#[test]
fn idle_when_gc_is_off() {
    for cfg in configs() {
        run_ok(cfg, || {
            debug_record_barriers(true);
            let holder = new_object(t_type());
            holder.store_ptr(0, obj(1));
            let m: Map<Ptr> = Map::new();
            for i in 0..200 {
                m.insert(i, obj(i as u64));
            }
            for i in 0..100 {
                m.delete(i);
            }
            let s: StrMap<Ptr> = StrMap::new();
            s.insert("k", obj(1));
            let sm = SyncMap::new();
            sm.store(1, obj(1));
            sm.delete(1);
            assert!(debug_take_barriers().is_empty());
            assert_eq!(debug_wbbuf_len(), 0);
            debug_record_barriers(false);
        });
    }
}

/// A real collection turns the barrier on for its mark and off at its
/// end: stores during the mark are recorded, stores after it are not.
#[test]
fn on_during_a_real_mark_only() {
    run_ok(nogc(det(3, 2)), || {
        debug_record_barriers(true);
        let holder = new_object(t_type());
        // A long chain behind the holder: the mark takes longer than an
        // idle P's modelled wake-up, so the storing goroutine runs during
        // it.
        let mut head = Ptr::NIL;
        for i in 0..300_000 {
            let p = obj(i);
            p.store_ptr(0, head);
            head = p;
        }
        holder.store_ptr(0, head);
        let keep = gort::Root::new(holder);
        // Stores racing a forced collection on another goroutine.
        let done = Arc::new(AtomicBool::new(false));
        let d2 = done.clone();
        gort::go!(move || {
            gort::gc();
            d2.store(true, Ordering::Release);
        });
        // No allocation in the loop: an allocating goroutine would assist
        // the mark and could finish it itself before its next store.
        let objs = [obj(1), obj(2)];
        let mut n = 0usize;
        while !done.load(Ordering::Acquire) {
            objs[n % 2].store_ptr(0, objs[(n + 1) % 2]);

            n += 1;
            gort::preempt_point();
        }
        let during = debug_take_barriers();
        assert!(
            during
                .iter()
                .any(|&(s, _, _)| s == objs[0].0 || s == objs[1].0),
            "no store was barriered during the mark ({n} stores)"
        );
        holder.store_ptr(0, objs[0]);
        assert!(
            debug_take_barriers().is_empty(),
            "barrier on after the cycle"
        );
        drop(keep);
        debug_record_barriers(false);
    });
}

// ---- map sites

/// mapassign (fast64) of a new key of `map[int64]*T`: the caller's store
/// of the element; the first assignment also stores `h.buckets`.
#[test]
fn mapassign_fast64_elem_and_buckets() {
    for cfg in configs() {
        run_ok(cfg, || {
            let m: Map<Ptr> = Map::new();
            let h = m.hmap();
            let v = obj(1);
            let (_, rec) = recorded(|| m.insert(1, v));
            let b = buckets(h);
            assert!(rec.contains(&(hword(h, 2), 0, b)), "h.buckets: {rec:?}");
            assert!(
                rec.iter()
                    .any(|&(s, o, n)| base(s) == b && o == 0 && n == v.0),
                "element store: {rec:?}"
            );
            // Overwriting: old and new element.
            let w = obj(2);
            let (_, rec) = recorded(|| m.insert(1, w));
            assert!(
                rec.iter()
                    .any(|&(s, o, n)| base(s) == b && o == v.0 && n == w.0),
                "{rec:?}"
            );
        });
    }
}

/// makemap with a hint stores `h.buckets` (and `h.extra` for the spares).
#[test]
fn makemap_stores_buckets_and_extra() {
    run_ok(nogc(par(1)), || {
        let (m, rec) = recorded(|| Map::<Ptr>::with_hint(1000));
        let h = m.hmap();
        assert!(rec.contains(&(hword(h, 2), 0, buckets(h))), "{rec:?}");
        let extra = h.0.load_ptr(5).0;
        assert_ne!(extra, 0);
        assert!(rec.contains(&(hword(h, 5), 0, extra)), "{rec:?}");
    });
}

/// mapassign (generic) of a string key: typedmemmove of the key header
/// (its data pointer) and the element store.
#[test]
fn mapassign_string_key_and_elem() {
    for cfg in configs() {
        run_ok(cfg, || {
            let m: StrMap<Ptr> = StrMap::new();
            let h = m.hmap();
            // The first assignment (generic mapassign) stores `h.buckets`.
            let (_, rec) = recorded(|| m.insert("first", obj(0)));
            assert!(rec.contains(&(hword(h, 2), 0, buckets(h))), "{rec:?}");
            let k = GoString::new("hello");
            let v = obj(1);
            let (_, rec) = recorded(|| m.insert_string(k, v));
            let b = buckets(h);
            assert!(
                rec.iter()
                    .any(|&(s, o, n)| base(s) == b && o == 0 && n == k.data.0),
                "key: {rec:?}"
            );
            assert!(
                rec.iter()
                    .any(|&(s, o, n)| base(s) == b && o == 0 && n == v.0),
                "elem: {rec:?}"
            );
            // needkeyupdate: the stored key header is overwritten.
            let k2 = GoString::new("hello");
            let (_, rec) = recorded(|| m.insert_string(k2, v));
            assert!(
                rec.iter()
                    .any(|&(s, o, n)| base(s) == b && o == k.data.0 && n == k2.data.0),
                "key update: {rec:?}"
            );
        });
    }
}

/// mapdelete clears the key (string: memclrHasPointers) and the element
/// (fast64 and generic), shading the old values.
#[test]
fn mapdelete_clears() {
    for cfg in configs() {
        run_ok(cfg, || {
            let m: Map<Ptr> = Map::new();
            let v = obj(1);
            m.insert(1, v);
            let b = buckets(m.hmap());
            let (_, rec) = recorded(|| m.delete(1));
            assert!(rec.contains(&(rec[0].0, v.0, 0)), "{rec:?}");
            assert_eq!(base(rec[0].0), b);

            let s: StrMap<Ptr> = StrMap::new();
            let k = GoString::new("key");
            let w = obj(2);
            s.insert_string(k, w);
            let b = buckets(s.hmap());
            let (_, rec) = recorded(|| s.delete("key"));
            for want in [k.data.0, w.0] {
                assert!(
                    rec.iter()
                        .any(|&(sl, o, n)| base(sl) == b && o == want && n == 0),
                    "{want:#x}: {rec:?}"
                );
            }
        });
    }
}

/// mapclear's memclrHasPointers over the bucket array shades every
/// element, and drops `h.oldbuckets`/`extra` pointers through the barrier.
#[test]
fn mapclear_clears() {
    for cfg in configs() {
        run_ok(cfg, || {
            let m: Map<Ptr> = Map::new();
            let vs: Vec<Ptr> = (0..50).map(obj).collect();
            for (i, &v) in vs.iter().enumerate() {
                m.insert(i as i64, v);
            }
            // Finish any growth so the elements are all in `buckets`.
            while m.stats().growing {
                m.insert(0, vs[0]);
            }
            let b = buckets(m.hmap());
            let (_, rec) = recorded(|| m.clear());
            assert!(rec.iter().all(|&(_, _, n)| n == 0), "{rec:?}");
            // Every element is shaded, or the overflow bucket holding it
            // (Go's mapclear drops overflow buckets: clearing the overflow
            // pointers shades them).
            let shaded: Vec<usize> = rec
                .iter()
                .filter(|&&(s, o, _)| base(s) == b && o != 0)
                .map(|&(_, o, _)| o)
                .collect();
            let mut reached = shaded.clone();
            for &o in &shaded {
                if find_object(o).map(|f| f.base) == Some(o) && !vs.contains(&Ptr(o)) {
                    // An overflow bucket (18 words): its elements.
                    reached.extend((9..17).map(|j| Ptr(o).load(j) as usize));
                }
            }
            for v in &vs {
                assert!(reached.contains(&v.0), "{v:?} not shaded: {rec:?}");
            }
        });
    }
}

/// Growth (doubling) of `map[string]*T`: hashGrow stores `oldbuckets` and
/// `buckets`; evacuate copies keys and elements into the new array
/// (typedmemmove) and clears the old bucket (memclrHasPointers); the last
/// evacuation drops `oldbuckets`.
#[test]
fn growth_evacuates_through_the_barrier() {
    for cfg in configs() {
        run_ok(cfg, || {
            let m: StrMap<Ptr> = StrMap::new();
            let h = m.hmap();
            let mut keys = Vec::new();
            let mut vals = Vec::new();
            for i in 0..8 {
                let k = GoString::new(&format!("key{i}"));
                let v = obj(i);
                m.insert_string(k, v);
                keys.push(k.data.0);
                vals.push(v.0);
            }
            let old = buckets(h);
            // The ninth key overloads B=0: growth, then evacuation of the
            // only old bucket by the same assignment.
            let (_, rec) = recorded(|| {
                let k = GoString::new("key8");
                m.insert_string(k, obj(8));
            });
            let new = buckets(h);
            assert_ne!(old, new);
            assert!(rec.contains(&(hword(h, 3), 0, old)), "oldbuckets: {rec:?}");
            assert!(rec.contains(&(hword(h, 2), old, new)), "buckets: {rec:?}");
            for (k, v) in keys.iter().zip(&vals) {
                assert!(
                    rec.iter()
                        .any(|&(s, o, n)| base(s) == new && o == 0 && n == *k),
                    "key copy {k:#x}: {rec:?}"
                );
                assert!(
                    rec.iter()
                        .any(|&(s, o, n)| base(s) == new && o == 0 && n == *v),
                    "elem copy {v:#x}: {rec:?}"
                );
                assert!(
                    rec.iter()
                        .any(|&(s, o, n)| base(s) == old && o == *k && n == 0),
                    "old key clear {k:#x}: {rec:?}"
                );
                assert!(
                    rec.iter()
                        .any(|&(s, o, n)| base(s) == old && o == *v && n == 0),
                    "old elem clear {v:#x}: {rec:?}"
                );
            }
            // One old bucket: evacuated at once, oldbuckets dropped.
            assert!(!m.stats().growing);
            assert!(rec.contains(&(hword(h, 3), old, 0)), "{rec:?}");
        });
    }
}

/// Same-size growth of `map[int64]*T` under churn (evacuate_fast64):
/// element copies into the new array and the old bucket's clear.
#[test]
fn same_size_growth_evacuates_through_the_barrier() {
    for cfg in configs() {
        run_ok(cfg, || {
            let m: Map<Ptr> = Map::new();
            let h = m.hmap();
            for i in 0..100 {
                m.insert(i, obj(i as u64));
            }
            let mut step = 0i64;
            // Churn until a same-size growth starts, recording the
            // assignment that starts it.
            let (rec, v) = loop {
                m.delete(step);
                let v = obj(step as u64);
                let (_, rec) = recorded(|| m.insert(100 + step, v));
                step += 1;
                if m.stats().growing {
                    assert!(m.stats().same_size_grow);
                    break (rec, v.0);
                }
                assert!(step < 5000, "no same-size growth");
            };
            let (old, new) = (oldbuckets(h), buckets(h));
            assert!(rec.contains(&(hword(h, 3), 0, old)), "{rec:?}");
            assert!(
                rec.iter().any(|&(s, o, n)| base(s) == new
                    && o == 0
                    && n != 0
                    && n != v
                    && base(n) != new
                    && base(n) != old),
                "element copy: {rec:?}"
            );
            assert!(
                rec.iter()
                    .any(|&(s, o, n)| base(s) == old && o != 0 && n == 0),
                "old bucket clear: {rec:?}"
            );
        });
    }
}

/// newoverflow links an overflow bucket with a barriered store of the
/// bucket's overflow pointer.
#[test]
fn overflow_pointer_store() {
    for cfg in configs() {
        run_ok(cfg, || {
            let m: Map<Ptr> = Map::new();
            let h = m.hmap();
            let mut seen = false;
            for i in 0..2000 {
                let before = m.stats().noverflow;
                let (_, rec) = recorded(|| m.insert(i, obj(i as u64)));
                if m.stats().noverflow > before && !m.stats().growing {
                    // 18-word buckets: the overflow pointer is word 17.
                    let b = buckets(h);
                    assert!(
                        rec.iter().any(|&(s, o, n)| base(s) == b
                            && (s - b) % 144 == 17 * 8
                            && o == 0
                            && n != 0),
                        "{rec:?}"
                    );
                    seen = true;
                    break;
                }
            }
            assert!(seen, "no overflow bucket made");
        });
    }
}

/// Elements over 128 bytes are stored indirectly: mapassign stores the
/// pointer to the new element object into the bucket.
#[test]
fn indirect_elem_pointer_store() {
    for cfg in configs() {
        run_ok(cfg, || {
            let m: ArrayMap<1, 17> = ArrayMap::new();
            m.insert(&[0], &[0; 17]);
            let b = buckets(m.hmap());
            let (_, rec) = recorded(|| m.insert(&[1], &[7; 17]));
            assert!(
                rec.iter().any(|&(s, o, n)| base(s) == b
                    && o == 0
                    && n != 0
                    && base(n) == n
                    && Ptr(n).load(16) == 7),
                "{rec:?}"
            );
        });
    }
}

/// A map whose buckets hold no pointers keeps its overflow buckets alive
/// from `h.extra`: creating it, its overflow list, and appending to the
/// list are barriered. (Whether the first overflow bucket comes before
/// `h.extra` exists depends on the hash seed: new maps are tried until
/// one shows it.)
#[test]
fn noscan_overflow_kept_in_extra() {
    for cfg in configs() {
        run_ok(cfg, || {
            let mut saw_new_extra = false;
            for _attempt in 0..100 {
                let m: Map<i64> = Map::new();
                let h = m.hmap();
                for i in 0..2000 {
                    let before = m.stats().noverflow;
                    let had_extra = h.0.load_ptr(5).0 != 0;
                    let had_list = had_extra && !Ptr(h.0.load_ptr(5).0).load_ptr(0).is_nil();
                    let (_, rec) = recorded(|| m.insert(i, i));
                    if m.stats().noverflow <= before || m.stats().growing {
                        continue;
                    }
                    let x = h.0.load_ptr(5).0;
                    if !had_extra {
                        assert!(rec.contains(&(hword(h, 5), 0, x)), "h.extra: {rec:?}");
                        saw_new_extra = true;
                    }
                    // extra.overflow (a []*bmap); its last element is the
                    // new overflow bucket.
                    let slice = Ptr(x).load_ptr(0);
                    if !had_list {
                        assert!(rec.contains(&(x, 0, slice.0)), "slice: {rec:?}");
                    }
                    let len = slice.load(1) as usize;
                    let data = slice.load_ptr(0);
                    let ovf = data.load_ptr(len - 1);
                    assert!(
                        rec.contains(&(data.0 + (len - 1) * 8, 0, ovf.0)),
                        "append: {rec:?}"
                    );
                    break;
                }
                if saw_new_extra {
                    break;
                }
            }
            assert!(saw_new_extra, "no overflow bucket before h.extra existed");
        });
    }
}

/// The iterator's pointer stores into its hiter object.
#[test]
fn iterator_stores() {
    for cfg in configs() {
        run_ok(cfg, || {
            let m: Map<Ptr> = Map::new();
            for i in 0..20 {
                m.insert(i, obj(i as u64));
            }
            let h = m.hmap();
            let (n, rec) = recorded(|| m.iter().count());
            assert_eq!(n, 20);
            assert!(
                rec.iter()
                    .any(|&(s, o, n)| o == 0 && n == h.0 .0 && base(s) != h.0 .0),
                "it.h: {rec:?}"
            );
            assert!(
                rec.iter().any(|&(_, o, n)| o == 0 && n == buckets(h)),
                "it.buckets: {rec:?}"
            );
        });
    }
}

// ---- sync.Map

fn boxes(p: usize, v: Ptr) -> bool {
    p != 0 && find_object(p).is_some() && Ptr(p).load_ptr(0) == v
}

#[test]
fn syncmap_store_delete_load_or_store() {
    for cfg in configs() {
        run_ok(cfg, || {
            let sm = SyncMap::new();
            let keep = sm.ptr();
            let (a, b, c) = (obj(1), obj(2), obj(3));
            // A new key: the value's box and the dirty map's element.
            let (_, rec) = recorded(|| sm.store(1, a));
            assert!(rec.iter().any(|&(_, o, n)| o == 0 && n == a.0), "{rec:?}");
            // Promote dirty to read (misses), then Store over a read key:
            // the CAS of the entry (old box -> new box).
            for _ in 0..3 {
                let _ = sm.load(99);
            }
            let _ = sm.load(1);
            let (_, rec) = recorded(|| sm.store(1, b));
            assert!(
                rec.iter().any(|&(_, o, n)| boxes(o, a) && boxes(n, b)),
                "store: {rec:?}"
            );
            // Delete: the entry's CAS to nil shades the old box.
            let (_, rec) = recorded(|| sm.delete(1));
            assert!(
                rec.iter().any(|&(_, o, n)| boxes(o, b) && n == 0),
                "delete: {rec:?}"
            );
            // LoadOrStore on the deleted (nil) entry: CAS nil -> box.
            let (r, rec) = recorded(|| sm.load_or_store(1, c));
            assert_eq!(r, (c, false));
            assert!(
                rec.iter().any(|&(_, o, n)| o == 0 && boxes(n, c)),
                "load_or_store: {rec:?}"
            );
            assert_eq!(keep, sm.ptr());
        });
    }
}

// ---- a real cycle

/// Stores racing concurrent marks, over many seeds: a map of pointers
/// is churned while collections run (small GOGC), and every value stays
/// reachable and intact (a lost object is a fatal error on access).
#[test]
fn churn_during_concurrent_marks_loses_nothing() {
    for seed in 0..6 {
        let rt = run_ok(det(seed, 2).gogc(Some(1)), || {
            let m: Map<Ptr> = Map::new();
            let keep = gort::Root::new(m.hmap().0);
            let done = gort::Chan::<()>::new(1);
            let d2 = done.clone();
            gort::go!(move || {
                for i in 0..3000i64 {
                    let k = i % 300;
                    m.insert(k, obj(i as u64));
                    if i % 7 == 0 {
                        m.delete((i * 13) % 300);
                    }
                }
                d2.send(());
            });
            // The main goroutine moves values between keys meanwhile:
            // the only reference to a value leaves one slot for another.
            for i in 0..3000i64 {
                let (a, b) = (i % 300, (i * 31 + 7) % 300);
                if let Some(v) = m.get(a) {
                    m.delete(a);
                    m.insert(b, v);
                }
            }
            done.recv();
            gort::gc();
            for (_, v) in m.iter() {
                assert!(find_object(v.0).is_some());
                let _ = v.load(1);
            }
            drop(keep);
        });
        let _ = rt;
    }
}
