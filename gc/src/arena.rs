//! Heap arenas and the process-wide arena map (Go's `heapArena`,
//! `mheap_.arenas`).
//!
//! An arena is 64 MiB of address space (Go's `heapArenaBytes` on 64-bit
//! Linux), bump-allocated from bumpalo, aligned to its size, and split into
//! 8,192 pages of 8 KiB. Its `spans` table (inline, as in Go's
//! `heapArena`) maps each page to the span that owns it, so `span_of(addr)`
//! is two dependent table loads and one span load: the arena map finds
//! the arena, the page index finds the span. The arena map has one level
//! of 2^22 entries keyed by `addr >> 26`, as Go's has on linux/amd64
//! (`arenaL1Bits = 0`, `arenaL2Bits = 22`): 32 MiB of zeroed address
//! space of which only the pages holding used entries are ever touched.
//! A second level would cost every heap access one more dependent load.
//! That is how a word on a goroutine stack is recognised as a heap pointer
//! (conservative scanning) and how every access finds the object it
//! touches.
//! No arena starts on a 4 GiB boundary (`starts_at_4gib_boundary`).
//!
//! Arenas are process-wide and never unmapped: the memory of a simulated
//! heap stays addressable for the life of the process, so a stale pointer
//! reads poisoned simulated memory, never unmapped Rust memory. A heap
//! that ends (its runtime finished) returns its arenas to a free pool for
//! the next heap. Untouched pages cost no RSS (the allocator maps them
//! lazily).
//!
//! Huge pages follow Go 1.19's rule (mem_linux.go): new heap memory counts
//! as scavenged, and the first span allocated over it is committed with
//! `sysUsed`, which advises `MADV_HUGEPAGE` for the 2 MiB pages that the
//! span covers whole. So under the kernel's default THP mode (`madvise`)
//! large objects (a big map's bucket array) get huge pages and spans of
//! small objects stay on 4 KiB pages. Advising whole arenas, as gort once
//! did, made the first touch of each 2 MiB of small-object heap a 2 MiB
//! clear in the page fault: ~3 ms in which the allocating goroutine cannot
//! reach a safepoint, which a stop of the world then waits for.

use std::alloc::Layout;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::mspan::MSpan;
use crate::sizeclasses::{PAGE_SHIFT, PAGE_SIZE};

/// Go's `heapArenaBytes` (64 MiB on 64-bit Linux).
pub const ARENA_BYTES: usize = 64 << 20;
pub const ARENA_SHIFT: usize = 26;
pub const PAGES_PER_ARENA: usize = ARENA_BYTES / PAGE_SIZE;
/// The OS's pages (4 KiB), whose first touches a fresh Go process pays.
pub(crate) const OS_PAGE_SHIFT: usize = 12;
pub(crate) const OS_PAGES_PER_ARENA: usize = ARENA_BYTES >> OS_PAGE_SHIFT;

/// Bits of `addr >> ARENA_SHIFT` for 48-bit user addresses.
const ARENA_INDEX_BITS: usize = 48 - ARENA_SHIFT;

/// One arena's metadata.
///
/// Its span table is the heap's: every checked access trusts the spans it
/// finds there, so only gort-gc writes it.
///
/// ```compile_fail
/// let a = gort_gc::arena::first_arena_or_dummy();
/// a.set_spans(0, 1, std::ptr::NonNull::dangling().as_ptr());
/// ```
///
/// ```compile_fail
/// let a = gort_gc::arena::first_arena_or_dummy();
/// a.spans[0].store(std::ptr::NonNull::dangling().as_ptr(), std::sync::atomic::Ordering::Relaxed);
/// ```
pub struct HeapArena {
    pub base: usize,
    /// The id of the heap the arena belongs to (`Heap::id`), 0 while it
    /// is in the free pool. Arenas are process-wide, and a word that
    /// points into one may come from another runtime (a stale word on a
    /// goroutine stack slot that runtime used before): a collector marks
    /// only in its own heap's arenas.
    owner: AtomicUsize,
    /// Its heap's `writeBarrier.enabled`, copied into each of the heap's
    /// arenas: the barrier's fast path asks the arena of the slot being
    /// written, so whether one runtime takes the barrier's slow path never
    /// depends on another runtime's collection (a different path leaves
    /// different stale words on a goroutine stack, and a seed would not
    /// replay beside other runtimes).
    pub(crate) wb: AtomicBool,
    /// Pages `[0, committed)` have been part of a span (Go's "Ready"
    /// memory); the rest has never been touched (Go counts it scavenged).
    /// The page allocator is first-fit by address, so fresh pages are
    /// always the arena's top.
    committed: AtomicUsize,
    /// Pages `[0, used)` have been part of a span since the arena joined
    /// its current heap: the memory a fresh Go process of that runtime
    /// would have touched (`first_touch`). Reset when the arena is reused.
    used: AtomicUsize,
    /// The span owning each page (null: free page).
    pub(crate) spans: [AtomicPtr<MSpan>; PAGES_PER_ARENA],
    /// Deterministic mode: how each 4 KiB OS page was first touched since
    /// the arena joined its heap (`pagetouch`). Reset when it is reused.
    pub(crate) os_pages: [AtomicU8; OS_PAGES_PER_ARENA],
}

impl HeapArena {
    /// A leaked arena record with every page free. Allocated zeroed in
    /// place: the 64 KiB `spans` table must not pass through the (small)
    /// goroutine stack that allocates.
    fn new_leaked(base: usize) -> &'static HeapArena {
        let layout = Layout::new::<HeapArena>();
        // SAFETY: HeapArena's fields are a usize, AtomicUsizes, an
        // AtomicBool, AtomicPtrs and AtomicU8s, for which all-zero bytes
        // are valid (0, false and null); the
        // allocation is checked for null and never freed.
        unsafe {
            let p = std::alloc::alloc_zeroed(layout) as *mut HeapArena;
            if p.is_null() {
                std::alloc::handle_alloc_error(layout);
            }
            std::ptr::addr_of_mut!((*p).base).write(base);
            &*p
        }
    }

    /// The id of the heap this arena belongs to (0: none).
    #[inline(always)]
    pub fn owner(&self) -> usize {
        self.owner.load(Ordering::Acquire)
    }

    /// Go's `sysUsed` for a span of pages `[first, first + n)` about to be
    /// allocated: if any of them is fresh, the huge pages the span covers
    /// whole are advised `MADV_HUGEPAGE` (`sysHugePageOS`).
    pub(crate) fn commit(&self, first_page: usize, n: usize) {
        let end = first_page + n;
        // Read first: an unconditional read-modify-write would take the
        // cache line holding `wb`, which every pointer store reads.
        if self.committed.load(Ordering::Acquire) >= end
            || self.committed.fetch_max(end, Ordering::AcqRel) >= end
        {
            return;
        }
        const HUGE: usize = 2 << 20;
        let lo = (self.base + first_page * crate::sizeclasses::PAGE_SIZE).next_multiple_of(HUGE);
        let hi = (self.base + end * crate::sizeclasses::PAGE_SIZE) & !(HUGE - 1);
        if lo < hi {
            // SAFETY: advice on arena memory this process owns (mapped for
            // the process's life); MADV_HUGEPAGE does not change contents.
            // Failure (an old kernel, THP off) only costs speed.
            unsafe {
                libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_HUGEPAGE);
            }
        }
    }

    /// The pages of `[first_page, first_page + n)` that no span of the
    /// current heap has covered before, as `[lo, end)` page indices
    /// (empty when none): memory a Go process would be touching for the
    /// first time. First-fit by address makes them the span's top.
    pub(crate) fn first_touch(&self, first_page: usize, n: usize) -> (usize, usize) {
        let end = first_page + n;
        let before = self.used.fetch_max(end, Ordering::AcqRel);
        (before.max(first_page).min(end), end)
    }

    /// Points pages `[first, first + n)` at `s` (null to free them).
    pub(crate) fn set_spans(&self, first_page: usize, n: usize, s: *mut MSpan) {
        for e in &self.spans[first_page..first_page + n] {
            e.store(s, Ordering::Release);
        }
    }
}

/// The arena map (Go's `mheap_.arenas`): the arena of each 64 MiB of
/// address space, or null.
static ARENAS: [AtomicPtr<HeapArena>; 1 << ARENA_INDEX_BITS] = {
    #[allow(clippy::declare_interior_mutable_const)]
    const NULL: AtomicPtr<HeapArena> = AtomicPtr::new(std::ptr::null_mut());
    [NULL; 1 << ARENA_INDEX_BITS]
};

/// Arenas whose heap has ended, ready for the next one; and the bump
/// allocator new arenas come from.
struct ArenaSource {
    free: Vec<&'static HeapArena>,
    bump: bumpalo::Bump,
}

// SAFETY: the Bump is only used with the Mutex held.
unsafe impl Send for ArenaSource {}

static SOURCE: Mutex<Option<ArenaSource>> = Mutex::new(None);

/// The arena containing `addr`, if it is one of gort's.
#[inline(always)]
pub fn arena_of(addr: usize) -> Option<&'static HeapArena> {
    let a = ARENAS.get(addr >> ARENA_SHIFT)?.load(Ordering::Acquire);
    // SAFETY: arenas are leaked once installed and never freed.
    unsafe { a.as_ref() }
}

/// Whether the heap owning `addr`'s arena has its write barrier on (Go's
/// `writeBarrier.enabled`, per heap): false for an address outside the
/// arenas.
#[inline(always)]
pub fn write_barrier_on_at(addr: usize) -> bool {
    arena_of(addr).is_some_and(|a| a.wb.load(Ordering::Relaxed))
}

/// The span owning the page of `addr`, if any.
#[inline(always)]
pub fn span_of(addr: usize) -> Option<&'static MSpan> {
    let a = arena_of(addr)?;
    let s = a.spans[(addr >> PAGE_SHIFT) & (PAGES_PER_ARENA - 1)].load(Ordering::Acquire);
    // SAFETY: spans are leaked and recycled, never freed: a non-null entry
    // is a valid MSpan (possibly reused; callers check its state and range).
    unsafe { s.as_ref() }
}

fn install(a: &'static HeapArena) {
    ARENAS[a.base >> ARENA_SHIFT].store(a as *const HeapArena as *mut HeapArena, Ordering::Release);
}

/// A placeholder arena (base 0, no spans in use) for caches that need an
/// initial value; never installed in the arena map.
pub fn first_arena_or_dummy() -> &'static HeapArena {
    static DUMMY: std::sync::OnceLock<&'static HeapArena> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| HeapArena::new_leaked(0))
}

/// Whether an arena at `base` would begin a 4 GiB-aligned region, where
/// words that were never pointers point.
///
/// A 32-bit store into a stack slot leaves the slot's upper half as it was:
/// a debug build spills `Yield::Park` (3) as a `u32` into a slot of
/// `gopark_on`'s frame that held a stack address, and the word reads
/// `0x7f5b_0000_0003`, the stack's upper half over a small integer. Such
/// words sit in live frames of every parked goroutine, so a conservative
/// scan takes them for pointers to the first bytes of the 4 GiB region the
/// upper half names; if an arena begins there, they keep its first object
/// alive (a node that tests/heap.rs freed, then read, survived that way
/// whenever its heap's first arena started on such a boundary). With no
/// arena there, an integer below 64 MiB under any pointer's upper half
/// points into no arena.
fn starts_at_4gib_boundary(base: usize) -> bool {
    base & 0xffff_ffff == 0
}

/// The first of the 64 MiB-aligned blocks `next` hands out that may hold
/// an arena: one on a 4 GiB boundary is left unused (address space only,
/// never touched) and the next one taken.
fn usable_arena_base(mut next: impl FnMut() -> usize) -> usize {
    loop {
        let base = next();
        if !starts_at_4gib_boundary(base) {
            return base;
        }
    }
}

/// A fresh or recycled arena for heap `owner`, its pages all free.
pub(crate) fn alloc_arena(owner: usize) -> &'static HeapArena {
    let mut src = SOURCE.lock().unwrap();
    let src = src.get_or_insert_with(|| ArenaSource {
        free: Vec::new(),
        bump: bumpalo::Bump::new(),
    });
    if let Some(a) = src.free.pop() {
        // New to this heap, as all memory is to a new Go process (its
        // pages are resident already, which only the cost model ignores).
        a.used.store(0, Ordering::Release);
        for t in &a.os_pages {
            t.store(0, Ordering::Relaxed);
        }
        a.owner.store(owner, Ordering::Release);
        return a;
    }
    let layout = Layout::from_size_align(ARENA_BYTES, ARENA_BYTES).expect("arena layout");
    // One 64 MiB-aligned block in 64 starts on a 4 GiB boundary.
    let base = usable_arena_base(|| src.bump.alloc_layout(layout).as_ptr() as usize);
    let a = HeapArena::new_leaked(base);
    a.owner.store(owner, Ordering::Release);
    install(a);
    a
}

/// Gives arenas back when their heap ends. Their pages must be free.
pub(crate) fn free_arenas(arenas: &[&'static HeapArena]) {
    let mut src = SOURCE.lock().unwrap();
    if let Some(src) = src.as_mut() {
        for a in arenas {
            a.owner.store(0, Ordering::Release);
            a.wb.store(false, Ordering::Release);
        }
        src.free.extend_from_slice(arenas);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_arena_holds_a_small_integer_under_a_pointers_upper_half() {
        // A spilled u32 (3) over the upper half of a stack address in the
        // same 4 GiB region as the arenas.
        let word = 0x7f5b_0000_0003usize;
        let blocks = [0x7f5b_0000_0000usize, 0x7f5b_0400_0000];
        let mut it = blocks.iter().copied();
        let base = usable_arena_base(|| it.next().unwrap());
        assert_eq!(
            base, 0x7f5b_0400_0000,
            "the block on the boundary is skipped"
        );
        assert!(!(base..base + ARENA_BYTES).contains(&word));
        // Blocks off the boundary are taken as they come.
        let mut it = blocks[1..].iter().copied();
        assert_eq!(usable_arena_base(|| it.next().unwrap()), 0x7f5b_0400_0000);
    }
}
