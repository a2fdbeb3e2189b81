//! The simulated heap and the stop-the-world collector, through the
//! public API: what survives a collection (stack, global, heap and
//! interior pointers), what is freed and reused, the stale-access report,
//! random object graphs over many seeds, pacing by GOGC, gctrace.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use gort::{find_object, gc, new_object, read_mem_stats, Chan, Ptr, Root, Runtime, Type};

mod common;
use common::{det, par, run_ok};

/// Go's `type node struct { left, right *node; val int64 }`.
fn node() -> &'static Type {
    static T: OnceLock<&'static Type> = OnceLock::new();
    T.get_or_init(|| Type::new("heap.node", 3, &[0, 1]))
}

/// 8 words without pointers.
fn blob() -> &'static Type {
    static T: OnceLock<&'static Type> = OnceLock::new();
    T.get_or_init(|| Type::new("heap.blob", 8, &[]))
}

/// Overwrites the stack below the caller's frame, so dead frames hold no
/// stale copies of pointers (debug builds keep many).
#[inline(never)]
fn clobber_stack() {
    let mut buf = [0u64; 2048];
    std::hint::black_box(&mut buf);
}

/// A chain of `n` nodes; only its head is returned.
#[inline(never)]
fn chain(n: usize) -> Ptr {
    let mut head = Ptr::NIL;
    for i in 0..n {
        let p = new_object(node());
        p.store_ptr(0, head);
        p.store(2, i as u64);
        head = p;
    }
    head
}

fn chain_len(mut p: Ptr) -> usize {
    let mut n = 0;
    while !p.is_nil() {
        n += 1;
        p = p.load_ptr(0);
    }
    n
}

#[test]
fn objects_reachable_only_from_a_stack_survive() {
    for cfg in [par(1), par(2), det(1, 2)] {
        run_ok(cfg, || {
            let p = chain(100);
            // Another goroutine holds its own chain on its stack while it
            // is parked.
            let c: Chan<u64> = Chan::new(0);
            let c2 = c.clone();
            gort::go!(move || {
                let q = chain(50);
                c2.send(0);
                c2.send(chain_len(q) as u64);
            });
            c.recv();
            gc();
            gc();
            assert_eq!(chain_len(p), 100);
            assert_eq!(c.recv(), Some(50));
        });
    }
}

#[test]
fn objects_reachable_only_from_a_global_or_the_heap_survive() {
    run_ok(par(2), || {
        let root = Root::new(Ptr::NIL);
        root.store(chain(1000));
        clobber_stack();
        gc();
        assert_eq!(chain_len(root.load()), 1000);
        // Cut the chain in the middle: the tail is garbage.
        let mut p = root.load();
        for _ in 0..499 {
            p = p.load_ptr(0);
        }
        p.store_ptr(0, Ptr::NIL);
        let before = read_mem_stats();
        clobber_stack();
        gc();
        let after = read_mem_stats();
        assert_eq!(chain_len(root.load()), 500);
        let freed = after.frees - before.frees;
        assert!(
            (490..=500).contains(&freed),
            "{freed} of the 500 cut-off nodes were freed"
        );
    });
}

#[test]
fn an_interior_pointer_keeps_its_object() {
    run_ok(par(1), || {
        let root = Root::new(Ptr::NIL);
        let p = new_object(blob());
        p.store(5, 77);
        root.store(Ptr(p.0 + 5 * 8));
        let addr = p.0;
        clobber_stack();
        gc();
        assert!(find_object(addr).is_some(), "object freed");
        assert_eq!(Ptr(addr).load(5), 77);
        assert_eq!(
            root.load().load(0),
            77,
            "an interior pointer reads its word"
        );
    });
}

#[test]
fn garbage_is_freed_and_its_memory_reused() {
    run_ok(par(1), || {
        let churn = || {
            for i in 0..20_000u64 {
                let p = new_object(node());
                p.store(2, i);
            }
        };
        churn();
        clobber_stack();
        gc();
        let s1 = read_mem_stats();
        assert!(
            s1.heap_objects < 200,
            "{} objects survived",
            s1.heap_objects
        );
        assert!(s1.frees >= 19_800, "{} freed", s1.frees);
        churn();
        clobber_stack();
        gc();
        let s2 = read_mem_stats();
        assert_eq!(s2.heap_sys, s1.heap_sys, "the heap grew instead of reusing");
        assert!(s2.num_gc >= 2);
    });
}

/// Allocates a node and returns its address hidden from the collector.
#[inline(never)]
fn hidden_node() -> (usize, u32) {
    let line = line!() + 1;
    let p = new_object(node());
    p.store(2, 5);
    (p.0 ^ 0x5555_5555, line)
}

#[test]
fn a_stale_pointer_access_is_a_fatal_error_naming_both_sites() {
    let rt = Runtime::new(par(1));
    let access_line = Arc::new(Mutex::new(0));
    let al = access_line.clone();
    let alloc_line = Arc::new(Mutex::new(0));
    let al2 = alloc_line.clone();
    let e = common::run(&rt, move || {
        let (h, line) = hidden_node();
        *al2.lock().unwrap() = line;
        clobber_stack();
        gc();
        let p = Ptr(h ^ 0x5555_5555);
        *al.lock().unwrap() = line!() + 1;
        let v = p.load(2);
        gort::println!("read {v:#x}");
    });
    assert_eq!(e.status, 2, "stdout: {}", rt.stdout());
    let err = rt.stderr();
    let here = gort_scheduler::traceback::abs_path(file!());
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines[0].starts_with("runtime: access to freed object 0x"),
        "{err}"
    );
    assert!(
        lines[0].ends_with(&format!(
            ", heap.node, 24 bytes, allocated at {here}:{}, freed by the sweep of GC 1)",
            alloc_line.lock().unwrap()
        )),
        "{err}"
    );
    assert_eq!(
        lines[1],
        format!(
            "runtime: accessed at {here}:{} (word 2)",
            access_line.lock().unwrap()
        )
    );
    assert_eq!(lines[2], "fatal error: access to freed object");
    assert_eq!(lines[3], "");
    assert_eq!(lines[4], "goroutine 1 [running]:");
}

/// Checks the hidden node through memo slot 0 of the current goroutine
/// (as a map operation checks its header), leaving no copy of the
/// pointer on the stack.
#[inline(never)]
fn memo_check_hidden(h: usize) -> u64 {
    // SAFETY: used for this one check on this goroutine.
    let g = unsafe { gort_scheduler::preempt_point_g() };
    Ptr(h ^ 0x5555_5555).obj_memo(g, 0).load(2)
}

/// The memo that spares a map operation its span lookups must never hide
/// a freed object: the collection frees the node, the next check through
/// the memo is the fatal error.
#[test]
fn a_memoized_object_freed_by_a_collection_is_still_caught() {
    let rt = Runtime::new(par(1));
    let e = common::run(&rt, move || {
        let (h, _) = hidden_node();
        // The first check fills the memo, the second is answered by it.
        assert_eq!(memo_check_hidden(h), 5);
        assert_eq!(memo_check_hidden(h), 5);
        clobber_stack();
        gc();
        let v = memo_check_hidden(h);
        gort::println!("read {v:#x}");
    });
    assert_eq!(e.status, 2, "stdout: {}", rt.stdout());
    assert!(!rt.stdout().contains("read"), "{}", rt.stdout());
    let err = rt.stderr();
    assert!(
        err.starts_with("runtime: access to freed object 0x"),
        "{err}"
    );
    assert!(
        err.contains("\nfatal error: access to freed object\n"),
        "{err}"
    );
}

/// Random graphs: after a collection, the surviving objects are exactly
/// those reachable from the roots and from the objects some stack word
/// points to (which the collector reports when asked).
#[test]
fn random_graphs_keep_exactly_the_reachable_objects() {
    for seed in 0..24u64 {
        let rt = run_ok(det(seed, 2), move || {
            let mut rng = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
            let mut next = move |n: u64| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng % n
            };
            let n = 300 + next(300) as usize;
            // Objects are created and linked with their addresses kept
            // only in a Rust Vec (invisible to the collector) as
            // integers XORed with a mask.
            const MASK: usize = 0xa5a5_a5a5;
            let objs: Vec<usize> = (0..n)
                .map(|i| {
                    let p = new_object(node());
                    p.store(2, i as u64);
                    p.0 ^ MASK
                })
                .collect();
            let mut edges: HashMap<usize, Vec<usize>> = HashMap::new();
            for i in 0..n {
                for w in 0..2 {
                    if next(3) != 0 {
                        let j = next(n as u64) as usize;
                        Ptr(objs[i] ^ MASK).store_ptr(w, Ptr(objs[j] ^ MASK));
                        edges.entry(i).or_default().push(j);
                    }
                }
            }
            let roots: Vec<Root> = (0..3)
                .map(|_| Root::new(Ptr(objs[next(n as u64) as usize] ^ MASK)))
                .collect();
            clobber_stack();
            gort::rt::gc_debug_stack_hits(true);
            gc();
            let hits: HashSet<usize> = gort::rt::gc_debug_take_stack_hits().into_iter().collect();
            gort::rt::gc_debug_stack_hits(false);
            let index: HashMap<usize, usize> = objs
                .iter()
                .enumerate()
                .map(|(i, &a)| (a ^ MASK, i))
                .collect();
            let mut want: HashSet<usize> = HashSet::new();
            let mut work: Vec<usize> = roots
                .iter()
                .map(|r| index[&r.load().0])
                .chain(hits.iter().filter_map(|a| index.get(a).copied()))
                .collect();
            while let Some(i) = work.pop() {
                if want.insert(i) {
                    work.extend(edges.get(&i).into_iter().flatten().copied());
                }
            }
            for (i, &a) in objs.iter().enumerate() {
                let live = find_object(a ^ MASK).is_some();
                assert_eq!(
                    live,
                    want.contains(&i),
                    "seed {seed}: object {i} live={live}, reachable={}",
                    want.contains(&i)
                );
            }
            // Survivors still hold their values.
            for &i in &want {
                assert_eq!(Ptr(objs[i] ^ MASK).load(2), i as u64);
            }
            gort::println!("{} of {n} reachable", want.len());
        });
        assert!(rt.stdout().contains("reachable"));
    }
}

#[test]
fn gogc_paces_automatic_collections() {
    let garbage = || {
        for i in 0..200_000u64 {
            let p = new_object(blob());
            p.store(0, i);
        }
        read_mem_stats().num_gc
    };
    let out = Arc::new(Mutex::new(Vec::new()));
    for gogc in [Some(100), Some(400), None] {
        let o = out.clone();
        run_ok(par(1).gogc(gogc), move || {
            o.lock().unwrap().push(garbage());
        });
    }
    let n = out.lock().unwrap().clone();
    // 200,000 x 64 bytes = 12.8 MB of garbage: GOGC=100 collects at each
    // 4 MB of heap, GOGC=400 at each 16 MB, GOGC=off never.
    assert!(n[0] >= 2, "GOGC=100: {n:?}");
    assert!(n[1] < n[0], "GOGC=400 collected as often as 100: {n:?}");
    assert_eq!(n[2], 0, "GOGC=off collected: {n:?}");
}

#[test]
fn gctrace_prints_gos_line_per_collection() {
    let rt = run_ok(par(2).gctrace(1), || {
        let root = Root::new(chain(10_000));
        gc();
        gc();
        assert_eq!(chain_len(root.load()), 10_000);
    });
    let err = rt.stderr();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    for (i, l) in lines.iter().enumerate() {
        assert!(l.starts_with(&format!("gc {} @", i + 1)), "{l}");
        assert!(l.contains(" ms clock, "), "{l}");
        assert!(l.contains(" ms cpu, "), "{l}");
        assert!(l.ends_with(" MB globals, 2 P (forced)"), "{l}");
    }
}

/// Several goroutines on several Ps build lists, keep some in globals,
/// drop the rest, while allocation triggers collections: every kept list
/// reads back intact (a lost object would be a fatal error or a wrong
/// value).
#[test]
fn collections_during_concurrent_allocation_keep_live_objects() {
    for cfg in [par(2), par(4), det(3, 2), det(4, 4)] {
        run_ok(cfg.gogc(Some(50)), || {
            let wg = Arc::new(gort::WaitGroup::new());
            for w in 0..4u64 {
                wg.add(1);
                let wg = wg.clone();
                gort::go!(move || {
                    let keep: Vec<Root> = (0..20)
                        .map(|i| {
                            let _garbage = chain(2000);
                            let r = Root::new(chain(50));
                            r.load().store(2, w * 1000 + i);
                            r
                        })
                        .collect();
                    for (i, r) in keep.iter().enumerate() {
                        assert_eq!(chain_len(r.load()), 50);
                        assert_eq!(r.load().load(2), w * 1000 + i as u64);
                    }
                    wg.done();
                });
            }
            wg.wait();
            // NumGC counts finished cycles: in parallel mode the cycle
            // the allocations started may still be marking (a loaded
            // machine delays its workers); no allocation follows, so a
            // cycle that finishes now was started by them.
            let mut waited = 0;
            while read_mem_stats().num_gc == 0 && waited < 5000 {
                gort::sleep(std::time::Duration::from_millis(1));
                waited += 1;
            }
            assert!(read_mem_stats().num_gc > 0, "no collection ran");
        });
    }
}

/// Another layer's per-runtime state (as the race detector and the tracer
/// will keep).
static OTHER_LAYER: gort_scheduler::LayerKey<u64> = gort_scheduler::LayerKey::new();

/// Another layer's state has a slot of its own, typed by its key: created
/// before the heap (a runtime started without `Runtime`, whose heap comes
/// with the first allocation) or after it (`Runtime::run` creates the heap
/// first), it is never taken for the heap, and each reads back its own.
#[test]
fn another_layers_state_has_its_own_slot_beside_the_heap() {
    let scenario = || {
        // SAFETY: the references are used right here, on this goroutine.
        let v = unsafe { OTHER_LAYER.get_or_init(|| 0xfeed) }.copied();
        assert_eq!(v, Some(0xfeed));
        let head = chain(1000);
        gc();
        assert_eq!(chain_len(head), 1000);
        // SAFETY: as above.
        let v = unsafe { OTHER_LAYER.get_or_init(|| 0) }.copied();
        assert_eq!(v, Some(0xfeed));
    };
    run_ok(par(1), scenario);
    let cfg = gort::rt::SchedConfig {
        gomaxprocs: 1,
        ..Default::default()
    };
    let start = gort_scheduler::start_info::<()>("main");
    let e = gort_scheduler::run(cfg, start, scenario);
    assert_eq!(e.status, 0, "{}", e.report);
}

/// `Type`'s fields are public: a type written as a literal whose pointer
/// data runs past its size (here far past: half a GiB of pointer words
/// for a one-word object) is refused at allocation, before the collector
/// would scan raw memory beyond the object and out of the arena.
#[test]
fn a_type_whose_pointer_data_exceeds_its_size_is_refused() {
    let rt = Runtime::new(par(1));
    let e = common::run(&rt, || {
        let words = 1usize << 20;
        let ty: &'static Type = Box::leak(Box::new(Type {
            name: "heap.liar",
            size: 8,
            ptrmask: vec![!0u64; words].into_boxed_slice(),
            ptrdata: words * 64 * 8,
            elem_words: words * 64,
            count: 1,
            display_name: "heap.liar",
            word_names: None,
            scan_old_word: None,
        }));
        let p = new_object(ty);
        p.store(0, 0);
        gc();
        std::hint::black_box(p);
        gort::println!("collected");
    });
    assert_eq!(e.status, 2);
    assert!(
        rt.stderr()
            .contains("panic: gort: type heap.liar has pointer data"),
        "{}",
        rt.stderr()
    );
    assert_eq!(rt.stdout(), "");
}

/// Runs `f` on a fresh runtime built from `cfg`, expecting a fatal error;
/// returns stderr.
fn fatal_stderr<F: FnOnce() + Send + 'static>(cfg: gort::Config, f: F) -> String {
    let rt = Runtime::new(cfg);
    let e = common::run(&rt, f);
    assert_eq!(
        e.status,
        2,
        "stdout: {}\nstderr: {}",
        rt.stdout(),
        rt.stderr()
    );
    rt.stderr()
}

/// Checks the report of an access that is not to a freed object: the
/// pointer described, the access site, Go's fault lines, no collector
/// blamed.
fn assert_fault(err: &str, described: &str) {
    let lines: Vec<&str> = err.lines().collect();
    assert!(lines[0].starts_with("runtime: pointer 0x"), "{err}");
    assert!(lines[0].contains(described), "{err}");
    assert!(lines[1].starts_with("runtime: accessed at "), "{err}");
    assert!(lines[2].starts_with("unexpected fault address 0x"), "{err}");
    assert_eq!(lines[3], "fatal error: fault", "{err}");
    assert!(!err.contains("access to freed object"), "{err}");
}

/// A use after free: a node made unreachable (its address hidden), freed
/// by the third collection, then accessed. The report names that
/// collection as gctrace numbers it.
#[test]
fn a_use_after_free_names_the_collection_that_freed_it() {
    let err = fatal_stderr(det(1, 1).gctrace(1), || {
        gc();
        gc();
        let (h, _) = hidden_node();
        clobber_stack();
        gc();
        let p = Ptr(h ^ 0x5555_5555);
        std::hint::black_box(p.load(2));
    });
    let line = err
        .lines()
        .find(|l| l.starts_with("runtime: access to freed object 0x"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        line.ends_with(", freed by the sweep of GC 3)"),
        "{line}\n{err}"
    );
    assert!(err.contains("\ngc 3 @"), "{err}");
    assert!(!err.contains("\ngc 4 @"), "{err}");
    assert!(
        err.contains("\nfatal error: access to freed object\n"),
        "{err}"
    );
}

/// Two nodes side by side in one span; the second is freed by a
/// collection, so the slot past the end of the first is a freed one.
#[inline(never)]
fn node_before_a_freed_slot() -> Ptr {
    let a = new_object(node());
    let (h, _) = hidden_node();
    assert_eq!(h ^ 0x5555_5555, a.0 + 24, "not adjacent");
    clobber_stack();
    gc();
    a
}

/// An index past the end of an object, through each accessor, is the
/// fault report naming the object, even where it lands in a slot a
/// collection freed: the program went astray, the collector lost nothing.
#[test]
fn an_index_past_the_end_is_a_fault_not_a_freed_object() {
    type Access = fn(Ptr);
    let accesses: [(&str, Access); 5] = [
        ("Ptr", |a| {
            std::hint::black_box(a.load(3));
        }),
        ("Obj", |a| {
            std::hint::black_box(a.obj().load(3));
        }),
        ("Obj::offset", |a| {
            std::hint::black_box(a.obj().offset(3).load(0));
        }),
        ("Obj::words", |a| {
            std::hint::black_box(a.obj().offset(2).words::<2>());
        }),
        ("Words", |a| {
            std::hint::black_box(a.obj().words::<3>().load::<true>(3));
        }),
    ];
    for (name, access) in accesses {
        let err = fatal_stderr(det(1, 1), move || {
            let a = node_before_a_freed_slot();
            access(a);
        });
        assert_fault(&err, "past the end of object 0x");
        assert!(
            err.contains(" (heap.node, 24 bytes, allocated at "),
            "{name}: {err}"
        );
    }
}

/// A word index so large that `addr + 8i` wraps around the address space
/// (to the word before the object) is past the end, not a read of that
/// word, in every build.
#[test]
fn a_huge_word_index_is_past_the_end_not_the_word_before() {
    type Access = fn(Ptr);
    let accesses: [(&str, Access); 7] = [
        ("Ptr::load", |a| {
            std::hint::black_box(a.load(usize::MAX));
        }),
        ("Ptr::store", |a| a.store(usize::MAX, 1)),
        ("Ptr::swap", |a| {
            std::hint::black_box(a.swap(usize::MAX / 8 + 1, 1));
        }),
        ("Obj::load", |a| {
            std::hint::black_box(a.obj().load(usize::MAX));
        }),
        ("Obj::load_s", |a| {
            std::hint::black_box(a.obj().load_s::<false>(usize::MAX));
        }),
        ("Obj::offset", |a| {
            std::hint::black_box(a.obj().offset(usize::MAX).load(0));
        }),
        ("Words", |a| {
            std::hint::black_box(a.obj().words::<2>().load::<true>(usize::MAX));
        }),
    ];
    for (name, access) in accesses {
        let err = fatal_stderr(det(1, 1), move || {
            // A node after another, so the word before it is allocated.
            let _before = new_object(node());
            let a = new_object(node());
            access(a);
            gort::println!("survived");
        });
        assert_fault(&err, "past the end of object 0x");
        assert!(err.contains(" (heap.node, 24 bytes"), "{name}: {err}");
    }
}

/// With GOGC=off nothing is ever freed: a pointer into a slot never
/// allocated, into pages no span holds, or outside the heap is the fault
/// report, in Go's badPointer words.
#[test]
fn a_pointer_to_never_allocated_memory_is_a_fault_not_a_freed_object() {
    type Access = fn(Ptr);
    let accesses: [(&str, Access); 3] = [
        // Slot 5 of the node's fresh span: never allocated.
        ("to unallocated object span.base()=0x", |a| {
            std::hint::black_box(Ptr(a.0 + 5 * 24).load(0));
        }),
        // Half an arena further on: pages no span was given.
        ("to unallocated span", |a| {
            std::hint::black_box(Ptr(a.0 + (32 << 20)).obj());
        }),
        ("not in the Go heap", |_| {
            std::hint::black_box(Ptr(0x10_0000).load(0));
        }),
    ];
    for (described, access) in accesses {
        let err = fatal_stderr(det(1, 1).gogc(None), move || {
            let a = new_object(node());
            access(a);
        });
        assert_fault(&err, described);
    }
}

/// A goroutine's memo of live objects is its own: another goroutine
/// handed its `&G` neither reads nor fills it (it gets the plain check),
/// so the two never race on the memo's cells. (Parallel mode: in
/// deterministic mode no goroutine uses the memo.)
#[test]
fn a_goroutine_cannot_touch_another_goroutines_memo() {
    run_ok(par(1), || {
        let a = new_object(node());
        let b = new_object(node());
        // SAFETY: this goroutine outlives the one it hands `me` to (the
        // WaitGroup), so the reference stays valid; handing it over breaks
        // the "this goroutine only" rule on purpose, to show that the memo
        // itself refuses a foreign goroutine.
        let me = unsafe { gort_scheduler::preempt_point_g() }.expect("on a goroutine");
        assert_eq!(a.obj_memo(Some(me), 0).ptr(), a);
        let memo = |g: &gort_scheduler::G| g.obj_memo().map(|m| m[0].addr.get());
        assert_eq!(memo(me), Some(a.0));
        let wg = Arc::new(gort::WaitGroup::new());
        wg.add(1);
        let w = wg.clone();
        gort::go!(move || {
            assert_eq!(memo(me), None, "another goroutine's memo handed out");
            // Checked all the same, through neither memo.
            assert_eq!(b.obj_memo(Some(me), 0).load(2), 0);
            w.done();
        });
        wg.wait();
        assert_eq!(memo(me), Some(a.0), "another goroutine wrote this memo");
        std::hint::black_box((a, b));
    });
}

/// Stores a new node (payload 77) into `x`'s first field; the caller's
/// frame never holds the new node's address.
#[inline(never)]
fn attach_new_node(x: Ptr) {
    let z = new_object(node());
    z.store(2, 77);
    x.store_ptr(0, z);
}

/// Holds `addr` in this frame's stack while a collection runs.
#[inline(never)]
fn collect_holding(addr: usize) {
    let keep = [addr; 8];
    std::hint::black_box(&keep);
    gc();
    std::hint::black_box(&keep);
}

/// Arenas are process-wide, so a word on one runtime's stack may point
/// into another runtime's heap. That runtime's collector must not mark
/// the object: a mark bit set from outside, between the owner's cycles,
/// makes the owner's next mark take the object for already scanned, and
/// what was stored into it since is freed.
#[test]
fn a_collector_never_marks_another_runtimes_objects() {
    let (to_b, from_a) = std::sync::mpsc::channel::<usize>();
    let (to_a, from_b) = std::sync::mpsc::channel::<()>();
    // Not through `common::run`, which keeps deterministic runtimes
    // alone: this one must run beside the other.
    let a = std::thread::spawn(move || {
        let rt = Runtime::new(det(1, 1));
        let e = rt.run(move || {
            let root = Root::new(new_object(node()));
            gc();
            to_b.send(root.load().0).unwrap();
            from_b.recv().unwrap();
            attach_new_node(root.load());
            clobber_stack();
            gc();
            assert_eq!(root.load().load_ptr(0).load(2), 77);
        });
        assert_eq!(e.status, 0, "{}", rt.stderr());
    });
    let x = from_a.recv().unwrap();
    run_ok(par(1), move || collect_holding(x));
    to_a.send(()).unwrap();
    a.join().unwrap();
}

/// Fills every pointer word of `obj` (of `words` words, pointer words
/// where `is_ptr`) with a new node holding its word index.
#[inline(never)]
fn fill_with_nodes(obj: Ptr, words: usize, is_ptr: impl Fn(usize) -> bool) {
    for w in (0..words).filter(|&w| is_ptr(w)) {
        let n = new_object(node());
        n.store(2, w as u64);
        obj.store_ptr(w, n);
    }
}

/// Objects with more than 128 KiB of pointer data are scanned in
/// oblets (Go's `maxObletBytes`), the first one queueing the rest: every
/// pointer of every oblet keeps its target, in an array of structs whose
/// elements straddle oblet boundaries (3 words, 24 bytes) and in one
/// plain object, each 600 KiB.
#[test]
fn objects_larger_than_an_oblet_keep_every_target() {
    for cfg in [par(2), det(3, 2)] {
        run_ok(cfg, || {
            let pair = Type::new("heap.pair", 3, &[0, 2]);
            let arr_ty = Type::array(pair, 25_600);
            let words = 3 * 25_600;
            let plain_ptrs: Vec<usize> = (0..words).step_by(5).collect();
            let plain_ty = Type::new("heap.big", words, &plain_ptrs);
            let arr = Root::new(new_object(arr_ty));
            let plain = Root::new(new_object(plain_ty));
            fill_with_nodes(arr.load(), words, |w| w % 3 != 1);
            fill_with_nodes(plain.load(), words, |w| w.is_multiple_of(5));
            clobber_stack();
            gc();
            gc();
            for (obj, is_ptr) in [
                (
                    arr.load(),
                    &(|w: usize| w % 3 != 1) as &dyn Fn(usize) -> bool,
                ),
                (plain.load(), &|w: usize| w.is_multiple_of(5)),
            ] {
                for w in (0..words).filter(|&w| is_ptr(w)) {
                    assert_eq!(obj.load_ptr(w).load(2), w as u64, "word {w}");
                }
            }
        });
    }
}

/// Go's runtime goroutines as Go shows them: with `GOTRACEBACK=system`
/// a dump lists forcegchelper (goroutine 2, "force gc (idle)", created by
/// runtime.init.6), bgsweep (goroutine 3, "GC sweep wait", created by
/// runtime.gcenable) and one mark worker per P ("GC worker (idle)",
/// created by runtime.gcBgMarkStartWorkers) once a collection has run;
/// with `all` they are hidden.
#[test]
fn runtime_goroutines_show_in_system_dumps_only() {
    for (level, shown) in [("system", true), ("all", false)] {
        let rt = Runtime::new(det(1, 2).gotraceback(level));
        let e = common::run(&rt, || {
            gc();
            gort::sleep(std::time::Duration::from_millis(1));
            panic!("dump");
        });
        assert_eq!(e.status, 2);
        let err = rt.stderr();
        assert_eq!(
            err.contains("\ngoroutine 3 [GC sweep wait]:\n"),
            shown,
            "GOTRACEBACK={level}:\n{err}"
        );
        assert_eq!(
            err.contains("\ngoroutine 2 [force gc (idle)]:\n"),
            shown,
            "GOTRACEBACK={level}:\n{err}"
        );
        assert_eq!(err.contains("created by runtime.init.6\n"), shown);
        if shown {
            // Goroutine 2's frames, as Go 1.19 prints them (less its
            // `runtime.goexit()`): gopark, goparkunlock, forcegchelper.
            let block = err
                .split("\ngoroutine 2 [force gc (idle)]:\n")
                .nth(1)
                .and_then(|b| b.split("\n\n").next())
                .unwrap_or_default();
            let names: Vec<&str> = block.lines().filter(|l| l.ends_with("(...)")).collect();
            assert_eq!(
                names,
                [
                    "runtime.gopark(...)",
                    "runtime.goparkunlock(...)",
                    "runtime.forcegchelper(...)"
                ],
                "{err}"
            );
        }
        // Their frames under Go's names (gort's files and lines).
        assert_eq!(err.contains("\nruntime.bgsweep(...)\n"), shown, "{err}");
        assert_eq!(
            err.contains("\nruntime.forcegchelper(...)\n"),
            shown,
            "{err}"
        );
        assert_eq!(err.contains("\nruntime.gopark(...)\n"), shown, "{err}");
        assert!(!err.contains("gort_scheduler::"), "{err}");
        assert_eq!(
            err.matches("[GC worker (idle)]:\n").count(),
            if shown { 2 } else { 0 },
            "GOTRACEBACK={level}:\n{err}"
        );
        assert_eq!(err.contains("created by runtime.gcenable\n"), shown);
        assert_eq!(
            err.matches("created by runtime.gcBgMarkStartWorkers\n")
                .count(),
            if shown { 2 } else { 0 }
        );
    }
}

/// Go's forcegchelper: with no collection for two minutes, sysmon wakes
/// goroutine 2, which prints "GC forced" (under gctrace) and starts a
/// time-triggered cycle, not a `runtime.GC()` (no "(forced)"). None before
/// the first collection, none with GOGC=off. Deterministic mode, so the
/// two minutes are virtual (and the collection comes when it is due; Go's
/// idle sysmon may notice up to a minute later).
#[test]
fn a_collection_is_forced_after_two_minutes_without_one() {
    let run = |gogc: Option<u32>, first_gc: bool| {
        let rt = Runtime::new(det(1, 2).gctrace(1).gogc(gogc));
        let e = common::run(&rt, move || {
            if first_gc {
                gc();
            }
            gort::sleep(std::time::Duration::from_secs(125));
            // Another 2 minutes: forced again, counted from the last one.
            gort::sleep(std::time::Duration::from_secs(125));
        });
        assert_eq!(e.status, 0, "{}", rt.stderr());
        rt.stderr()
    };
    let err = run(Some(100), true);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 5, "{err}");
    assert!(
        lines[0].starts_with("gc 1 @") && lines[0].ends_with(" (forced)"),
        "{err}"
    );
    for (forced, gcline, n, at) in [(1, 2, 2, "@120.000s"), (3, 4, 3, "@240.000s")] {
        assert_eq!(lines[forced], "GC forced", "{err}");
        assert!(lines[gcline].starts_with(&format!("gc {n} {at} ")), "{err}");
        assert!(!lines[gcline].contains("(forced)"), "{err}");
    }
    assert_eq!(
        run(Some(100), false),
        "",
        "no forced collection before the first"
    );
    assert_eq!(
        run(None, true)
            .lines()
            .filter(|l| l.starts_with("gc ") || *l == "GC forced")
            .count(),
        1,
        "GOGC=off: only runtime.GC()"
    );
}
