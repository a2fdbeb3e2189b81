//! Transparent huge pages on the heap, as Go 1.19 asks for them: only the
//! 2 MiB pages a span covers whole when it is first committed (`sysUsed`
//! -> `sysHugePageOS`), so a large object gets huge pages and the spans of
//! small objects do not. The first touch of a huge page clears 2 MiB in
//! the page fault (milliseconds on a VM), during which the allocating
//! goroutine cannot reach a safepoint: advising a whole arena put such a
//! fault under every 64 small-object spans, and into stop-the-world pauses.
//!
//! Alone in its test binary: arenas are process-wide and reused, and the
//! advice given to a range outlives the heap that gave it.

use gort::{new_object, Ptr, Root, Type};

mod common;
use common::{par, run_ok};

/// Whether the mapping holding `addr` is advised `MADV_HUGEPAGE` (the `hg`
/// flag of its `VmFlags` line in /proc/self/smaps).
fn advised_huge(addr: usize) -> bool {
    let smaps = std::fs::read_to_string("/proc/self/smaps").expect("read /proc/self/smaps");
    let mut inside = false;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if let Some((lo, hi)) = first.split_once('-') {
            if let (Ok(lo), Ok(hi)) = (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
            {
                inside = (lo..hi).contains(&addr);
                continue;
            }
        }
        if inside {
            if let Some(flags) = line.strip_prefix("VmFlags:") {
                return flags.split_whitespace().any(|f| f == "hg");
            }
        }
    }
    panic!("no mapping holds {addr:#x}");
}

#[test]
fn large_objects_get_huge_pages_and_small_object_spans_do_not() {
    if !std::path::Path::new("/sys/kernel/mm/transparent_hugepage/enabled").exists() {
        eprintln!("skipped: this kernel has no transparent huge pages");
        return;
    }
    run_ok(par(1), || {
        let small = Type::new("pages.node", 3, &[0, 1]);
        // 4 MiB of small objects (512 one-page spans), chained.
        let n = (4 << 20) / 32;
        let mut head = Ptr::NIL;
        let mut addrs = Vec::with_capacity(n);
        for _ in 0..n {
            let p = new_object(small);
            p.store_ptr(0, head);
            head = p;
            addrs.push(p.0);
        }
        let keep = Root::new(head);
        for a in [addrs[0], addrs[n / 2], addrs[n - 1]] {
            assert!(!advised_huge(a), "small object {a:#x} on an advised range");
        }
        // An 8 MiB array: the huge pages inside it are advised.
        let big = new_object(Type::array(Type::new("pages.word", 1, &[]), 1 << 20));
        let inner = (big.0 + (2 << 20)) & !((2 << 20) - 1);
        assert!(advised_huge(inner), "large object {:#x} not advised", big.0);
        drop(keep);
    });
}
