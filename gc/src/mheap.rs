//! The heap of one runtime (Go's `mheap`): its arenas and their free
//! pages, the span pool, the central lists (`mcentral.rs`), the per-P
//! caches (`mcache.rs`), the roots, the statistics and the collector's
//! state.
//!
//! Pages are handed out as runs (first fit over the free runs, coalesced
//! when freed); a run that does not fit in any free run takes a new arena.
//! The heap lives in its runtime (created by the first allocation, or by
//! `gort::Runtime::run` with the runtime's GOGC and gctrace settings) and
//! gives its arenas back to the process-wide pool when the runtime ends.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::arena::{alloc_arena, arena_of, free_arenas, HeapArena, ARENA_BYTES, ARENA_SHIFT};
use crate::mcache::MCache;
use crate::mcentral::MCentral;
use crate::mspan::{MSpan, SpanLayout, SPAN_FREE};
use crate::mstats::MemStats;
use crate::sizeclasses::{NUM_SIZE_CLASSES, PAGE_SHIFT, PAGE_SIZE};

/// Settings of the collector (from `GOGC` and `GODEBUG=gctrace`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GcConfig {
    /// GOGC percent; None: off.
    pub gogc: Option<u32>,
    pub gctrace: u32,
    /// Deterministic mode: addresses in reports are shown relative to the
    /// heap's first arena, so a seed replays them byte for byte.
    pub det: bool,
    /// What the write barrier shades (`GODEBUG=wbmode`, gort's own key).
    pub wbmode: crate::mbarrier::WbMode,
    /// `GODEBUG=gccheckmark=1`: verify every mark at mark termination
    /// (`mcheckmark.rs`).
    pub checkmark: bool,
    /// `GODEBUG=gcscanold=0` sets it false: marking skips a growing map's
    /// `oldbuckets` word (a deliberate fault).
    pub scan_old: bool,
    /// `GODEBUG=gcstoptheworld`: 1 marks with the world stopped, 2 also
    /// sweeps before it restarts.
    pub stoptheworld: u8,
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig {
            gogc: Some(100),
            gctrace: 0,
            det: false,
            wbmode: crate::mbarrier::WbMode::Hybrid,
            checkmark: false,
            scan_old: true,
            stoptheworld: 0,
        }
    }
}

/// Free page runs and the arenas they come from.
struct Pages {
    arenas: Vec<&'static HeapArena>,
    /// Free runs: base -> number of pages.
    free: BTreeMap<usize, usize>,
    /// Spans not in use, for reuse.
    pool: Vec<&'static MSpan>,
    /// Every span this heap has made (for sweeping and statistics).
    all: Vec<&'static MSpan>,
}

/// One runtime's heap, created by gort-gc in the runtime's layer slot:
///
/// ```compile_fail
/// let h = gort_gc::Heap::new(gort_gc::GcConfig::default());
/// ```
pub struct Heap {
    pub cfg: GcConfig,
    /// This heap's number in the process (never 0), the `owner` of its
    /// arenas.
    pub(crate) id: usize,
    pages: Mutex<Pages>,
    pub(crate) central: Box<[MCentral]>,
    pub(crate) mcaches: Box<[MCache]>,
    /// One more than the highest P id that has allocated (the mcaches the
    /// collector must flush).
    pub(crate) mcaches_used: AtomicUsize,
    /// Large-object spans, by sweep parity as in `MCentral` (index
    /// `sweepgen/2 % 2`: swept).
    pub(crate) large: Mutex<[Vec<&'static MSpan>; 2]>,
    /// Go's `mheap_.sweepgen`.
    pub(crate) sweepgen: AtomicU32,
    /// Registered roots (`roots.rs`).
    pub(crate) roots: std::sync::Arc<Mutex<Vec<usize>>>,
    /// Bytes allocated since the last collection plus bytes marked by it
    /// (Go's `heapLive`), what the pacer compares with the trigger.
    pub(crate) heap_live: AtomicU64,
    /// Bytes of objects not yet freed (MemStats.HeapAlloc).
    pub(crate) heap_alloc: AtomicU64,
    pub(crate) heap_objects: AtomicU64,
    pub(crate) total_alloc: AtomicU64,
    pub(crate) mallocs: AtomicU64,
    pub(crate) frees: AtomicU64,
    /// Bytes of spans swept and of objects freed by sweeps, ever: the
    /// execution trace's `GCSweepDone` reports their growth over a sweep.
    pub(crate) swept_bytes: AtomicU64,
    pub(crate) reclaimed_bytes: AtomicU64,
    /// When heap_live reaches this, the next allocation collects.
    pub(crate) trigger: AtomicU64,
    pub(crate) goal: AtomicU64,
    pub(crate) heap_marked: AtomicU64,
    pub(crate) stack_scan: AtomicU64,
    /// The collector's cycle state (`mgc.rs`).
    pub(crate) gcs: crate::mgc::GcState,
    /// Go's `writeBarrier.enabled` for this heap (set only through
    /// `mbarrier::set_write_barrier`, which counts the heaps with it on).
    pub(crate) wb_enabled: AtomicBool,
    /// Each P's write-barrier buffer (Go's `p.wbBuf`, `mwbbuf.rs`).
    pub(crate) wbbufs: Box<[crate::mwbbuf::WbBuf]>,
    /// Recording barrier enqueues for tests (`mbarrier::debug_record_barriers`).
    pub(crate) debug_barriers_on: AtomicBool,
    pub(crate) debug_barriers: Mutex<Option<Vec<(usize, usize, usize)>>>,
    pub(crate) stats: Mutex<MemStats>,
    /// Total time the world was stopped for collections (for `P%`).
    pub(crate) gc_cpu_ns: AtomicU64,
    pub(crate) pages_in_use: AtomicUsize,
    /// `Some` while tests ask which objects stacks kept (`mark.rs`).
    pub(crate) debug_stack_hits: Mutex<Option<Vec<usize>>>,
    pub(crate) last_cycle: Mutex<Option<crate::mgc::CycleStats>>,
    /// Objects the next mark termination unmarks (`gc_debug_unmark`).
    pub(crate) debug_unmark: Mutex<Vec<usize>>,
}

// SAFETY: span and arena references are to leaked, never-freed objects
// whose fields are atomics; everything else is atomic or under a Mutex.
unsafe impl Sync for Heap {}
// SAFETY: as above.
unsafe impl Send for Heap {}

impl Heap {
    pub(crate) fn new(cfg: GcConfig) -> Heap {
        let goal = crate::pacer::heap_goal(0, 0, 0, cfg.gogc);
        static NEXT_ID: AtomicUsize = AtomicUsize::new(1);
        Heap {
            cfg,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            pages: Mutex::new(Pages {
                arenas: Vec::new(),
                free: BTreeMap::new(),
                pool: Vec::new(),
                all: Vec::new(),
            }),
            central: (0..NUM_SIZE_CLASSES as u8).map(MCentral::new).collect(),
            mcaches: (0..gort_scheduler::MAXPROCS_CAP)
                .map(|_| MCache::new())
                .collect(),
            mcaches_used: AtomicUsize::new(0),
            large: Mutex::new([Vec::new(), Vec::new()]),
            sweepgen: AtomicU32::new(2),
            roots: std::sync::Arc::new(Mutex::new(Vec::new())),
            heap_live: AtomicU64::new(0),
            heap_alloc: AtomicU64::new(0),
            heap_objects: AtomicU64::new(0),
            total_alloc: AtomicU64::new(0),
            mallocs: AtomicU64::new(0),
            frees: AtomicU64::new(0),
            swept_bytes: AtomicU64::new(0),
            reclaimed_bytes: AtomicU64::new(0),
            trigger: AtomicU64::new(crate::pacer::trigger(goal, 0)),
            goal: AtomicU64::new(goal),
            heap_marked: AtomicU64::new(0),
            stack_scan: AtomicU64::new(0),
            gcs: Default::default(),
            wb_enabled: AtomicBool::new(false),
            wbbufs: (0..gort_scheduler::MAXPROCS_CAP)
                .map(|_| Default::default())
                .collect(),
            debug_barriers_on: AtomicBool::new(false),
            debug_barriers: Mutex::new(None),
            stats: Mutex::new(MemStats::default()),
            gc_cpu_ns: AtomicU64::new(0),
            pages_in_use: AtomicUsize::new(0),
            debug_stack_hits: Mutex::new(None),
            last_cycle: Mutex::new(None),
            debug_unmark: Mutex::new(Vec::new()),
        }
    }

    /// Go's `mheap.alloc`: an in-use span laid out as `l`, already swept
    /// for this cycle.
    pub(crate) fn alloc_span(&self, l: SpanLayout) -> &'static MSpan {
        let npages = l.npages;
        let mut pages = self.pages.lock().unwrap();
        let base = match pages
            .free
            .iter()
            .find(|&(_, &n)| n >= npages)
            .map(|(&b, &n)| (b, n))
        {
            Some((b, n)) => {
                pages.free.remove(&b);
                if n > npages {
                    pages.free.insert(b + npages * PAGE_SIZE, n - npages);
                }
                b
            }
            None => {
                assert!(
                    npages * PAGE_SIZE <= ARENA_BYTES,
                    "gort: object of {} pages is larger than an arena",
                    npages
                );
                let a = take_arena(self.id);
                // Under the pages lock, which `set_write_barrier` holds
                // while it flips every arena's copy.
                a.wb.store(self.wb_enabled.load(Ordering::Acquire), Ordering::Release);
                pages.arenas.push(a);
                if npages * PAGE_SIZE < ARENA_BYTES {
                    pages.free.insert(
                        a.base + npages * PAGE_SIZE,
                        ARENA_BYTES / PAGE_SIZE - npages,
                    );
                }
                a.base
            }
        };
        let s: &'static MSpan = match pages.pool.pop() {
            Some(s) => s,
            None => {
                let s: &'static MSpan = Box::leak(Box::default());
                pages.all.push(s);
                s
            }
        };
        s.init(base, l, self.sweepgen.load(Ordering::Acquire));
        let arena = arena_of(base).expect("span in an arena");
        arena.commit((base - arena.base) >> PAGE_SHIFT, npages);
        let (lo, end) = arena.first_touch((base - arena.base) >> PAGE_SHIFT, npages);
        if lo < end {
            let ns = first_touch_ns(
                arena,
                lo * PAGE_SIZE,
                end * PAGE_SIZE,
                gort_scheduler::race::enabled_here(),
            );
            if ns > 0 {
                gort_scheduler::det_charge_now(ns);
            }
        }
        arena.set_spans(
            (base - arena.base) >> PAGE_SHIFT,
            npages,
            s as *const MSpan as *mut MSpan,
        );
        self.pages_in_use.fetch_add(npages, Ordering::Relaxed);
        s
    }

    /// Sets `writeBarrier.enabled` for this heap and its arenas' copies,
    /// under the pages lock that arena growth takes to copy it.
    pub(crate) fn set_write_barrier_flags(&self, on: bool) {
        let pages = self.pages.lock().unwrap();
        self.wb_enabled.store(on, Ordering::Release);
        for a in &pages.arenas {
            a.wb.store(on, Ordering::Release);
        }
    }

    /// Go's `mheap.freeSpan`: the span's pages go back to the free runs.
    pub(crate) fn free_span(&self, s: &'static MSpan) {
        let mut pages = self.pages.lock().unwrap();
        let base = s.base();
        let npages = s.npages.load(Ordering::Relaxed);
        // The pages keep pointing at the (now free) span until they are
        // reused, so an access through a stale pointer can still name the
        // object's type and allocation site; lookups check the state.
        crate::checked::note_free();
        s.state.store(SPAN_FREE, Ordering::Release);
        self.pages_in_use.fetch_sub(npages, Ordering::Relaxed);
        // Coalesce with the neighbouring free runs of the same arena.
        let (mut b, mut n) = (base, npages);
        if let Some((&pb, &pn)) = pages.free.range(..b).next_back() {
            if pb + pn * PAGE_SIZE == b && pb >> ARENA_SHIFT == b >> ARENA_SHIFT {
                pages.free.remove(&pb);
                b = pb;
                n += pn;
            }
        }
        let end = b + n * PAGE_SIZE;
        if let Some(&nn) = pages.free.get(&end) {
            if end >> ARENA_SHIFT == b >> ARENA_SHIFT {
                pages.free.remove(&end);
                n += nn;
            }
        }
        pages.free.insert(b, n);
        pages.pool.push(s);
    }

    /// Bytes of address space obtained from arenas (MemStats.HeapSys).
    pub fn heap_sys(&self) -> u64 {
        (self.pages.lock().unwrap().arenas.len() * ARENA_BYTES) as u64
    }

    /// An address as reports print it: real in parallel mode; in
    /// deterministic mode rebased on Go's first arena address
    /// (`0xc000000000`) by the heap's own arena order, so a seed replays
    /// byte for byte despite ASLR.
    pub fn display_addr(&self, addr: usize) -> usize {
        if !self.cfg.det {
            return addr;
        }
        let pages = self.pages.lock().unwrap();
        for (i, a) in pages.arenas.iter().enumerate() {
            if addr >= a.base && addr < a.base + ARENA_BYTES {
                return 0xc000000000 + i * ARENA_BYTES + (addr - a.base);
            }
        }
        addr
    }
}

/// `alloc_arena`, off the goroutine's stack (`off_goroutine_stack`).
fn take_arena(owner: usize) -> &'static HeapArena {
    let mut a = None;
    gort_scheduler::off_goroutine_stack(&mut || a = Some(alloc_arena(owner)));
    a.expect("arena")
}

impl Drop for Heap {
    fn drop(&mut self) {
        crate::checked::note_free();
        let pages = self.pages.get_mut().unwrap();
        for s in &pages.all {
            if s.in_use() {
                let base = s.base();
                s.state.store(SPAN_FREE, Ordering::Release);
                if let Some(a) = arena_of(base) {
                    a.set_spans(
                        (base - a.base) >> PAGE_SHIFT,
                        s.npages.load(Ordering::Relaxed),
                        std::ptr::null_mut(),
                    );
                }
            }
        }
        free_arenas(&pages.arenas);
    }
}

/// The heap's slot in its runtime (DESIGN.md's layer hooks): typed, so
/// nothing but a `Heap` can be read through it.
pub(crate) static HEAP: gort_scheduler::LayerKey<Heap> = gort_scheduler::LayerKey::new();

/// The heap of the current goroutine's runtime (created with default
/// settings if the runtime has none yet), or of the runtime whose
/// `systemstack` call is running on this thread.
///
/// Crate-private: the heap is dropped with its runtime, and every use here
/// stays inside one runtime call of the goroutine (or systemstack call)
/// that looked it up.
#[inline]
pub(crate) fn current() -> Option<&'static Heap> {
    // SAFETY: gort-gc keeps the reference within the current runtime call
    // (see above).
    unsafe {
        HEAP.get_or_init(|| Heap::new(GcConfig::default()))
            .or_else(|| HEAP.get_system())
    }
}

/// Creates the current runtime's heap with `cfg` (call first thing on the
/// main goroutine; later calls keep the first heap). False outside a
/// goroutine.
///
/// No reference to the heap leaves gort-gc: it is dropped with its runtime.
///
/// ```compile_fail
/// let heap: &'static gort_gc::Heap = gort_gc::mheap::current().unwrap();
/// ```
pub fn init(cfg: GcConfig) -> bool {
    // Built off the goroutine's stack: the registry lock and the Rust
    // allocator are process-wide, and their paths (contended or not)
    // would leave stale words that depend on other runtimes
    // (`off_goroutine_stack`).
    let mut cfg = Some(cfg);
    let mut heap = None;
    gort_scheduler::off_goroutine_stack(&mut || {
        // The heap's frames are the runtime's: hidden in tracebacks.
        gort_scheduler::traceback::register_runtime_dir(file!());
        heap = cfg.take().map(|c| Box::new(Heap::new(c)));
    });
    let heap = heap.expect("heap built");
    // SAFETY: the reference is dropped here.
    unsafe { HEAP.get_or_init(|| *heap) }.is_some()
}

/// The current heap; panics outside a goroutine.
#[inline]
pub(crate) fn must() -> &'static Heap {
    match current() {
        Some(h) => h,
        None => panic!("gort: the heap is used outside a goroutine"),
    }
}

/// Deterministic mode's cost, charged when a span is made, of the fresh
/// memory `[lo, hi)` (byte offsets in `arena`) it covers: Go's heap is new
/// to its process. Most of it is charged later, page by page, as the
/// program touches it (`pagetouch`); here only what a span's creation
/// decides:
///
/// - a 2 MiB huge page the span covers whole (memory advised
///   `MADV_HUGEPAGE`, which `commit` gives such pages, as Go's `sysUsed`
///   does) faults whole on its first touch: 240-380 us on this guest (a
///   C loop touching fresh anonymous memory, 2026-12-07), up to 6 ms when
///   the kernel compacts. Charged here, to the goroutine that made the
///   span; its OS pages then count as written;
/// - with the race detector (`race`), the memory's shadow is new too:
///   Go's race runtime maps shadow for each heap arena without touching
///   it, and TSan v3 keeps 2 bytes of shadow and half a byte of meta
///   shadow per byte of heap, each 4 KiB of which faults on its first
///   use (`PAGE_FAULT_NS`).
fn first_touch_ns(arena: &HeapArena, lo: usize, hi: usize, race: bool) -> u64 {
    const HUGE: usize = 2 << 20;
    const OS_PAGE: usize = 4 << 10;
    const HUGE_FAULT_NS: u64 = 300_000;
    // Arenas are 64 MiB-aligned, so offsets align as addresses do.
    let (hlo, hhi) = (lo.next_multiple_of(HUGE), hi & !(HUGE - 1));
    let huge = if hlo < hhi {
        crate::pagetouch::mark_written(arena, hlo, hhi);
        (hhi - hlo) / HUGE
    } else {
        0
    };
    let shadow = if race {
        ((hi - lo) * 5 / 2).div_ceil(OS_PAGE)
    } else {
        0
    };
    huge as u64 * HUGE_FAULT_NS + shadow as u64 * gort_scheduler::PAGE_FAULT_NS
}
