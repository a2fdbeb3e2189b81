//! Heap arenas and the process-wide arena map (Go's `heapArena`,
//! `mheap_.arenas`).
//!
//! An arena is 64 MiB of address space (Go's `heapArenaBytes` on 64-bit
//! Linux), bump-allocated from bumpalo, aligned to its size, and split into
//! 8,192 pages of 8 KiB. Its `spans` table maps each page to the span that
//! owns it, so `span_of(addr)` is two table loads and one span load: the
//! arena map (two levels keyed by `addr >> 26`, like Go's `arenaL1/L2`)
//! finds the arena, the page index finds the span. That is how a word on a
//! goroutine stack is recognised as a heap pointer (conservative scanning)
//! and how every access finds the object it touches.
//!
//! Arenas are process-wide and never unmapped: the memory of a simulated
//! heap stays addressable for the life of the process, so a stale pointer
//! reads poisoned simulated memory, never unmapped Rust memory. A heap
//! that ends (its runtime finished) returns its arenas to a free pool for
//! the next heap. Untouched pages cost no RSS (the allocator maps them
//! lazily).

use std::alloc::Layout;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Mutex;

use crate::mspan::MSpan;
use crate::sizeclasses::{PAGE_SHIFT, PAGE_SIZE};

/// Go's `heapArenaBytes` (64 MiB on 64-bit Linux).
pub const ARENA_BYTES: usize = 64 << 20;
pub const ARENA_SHIFT: usize = 26;
pub const PAGES_PER_ARENA: usize = ARENA_BYTES / PAGE_SIZE;

const L2_BITS: usize = 10;
const L1_BITS: usize = 48 - ARENA_SHIFT - L2_BITS;

/// One arena's metadata.
pub struct HeapArena {
    pub base: usize,
    /// The span owning each page (null: free page).
    pub spans: Box<[AtomicPtr<MSpan>]>,
}

impl HeapArena {
    fn new(base: usize) -> HeapArena {
        HeapArena {
            base,
            spans: (0..PAGES_PER_ARENA)
                .map(|_| AtomicPtr::new(std::ptr::null_mut()))
                .collect(),
        }
    }

    /// Points pages `[first, first + n)` at `s` (null to free them).
    pub fn set_spans(&self, first_page: usize, n: usize, s: *mut MSpan) {
        for e in &self.spans[first_page..first_page + n] {
            e.store(s, Ordering::Release);
        }
    }
}

type L2 = [AtomicPtr<HeapArena>; 1 << L2_BITS];

/// The arena map: `addr >> 26` split into an L1 and an L2 index.
static ARENA_L1: [AtomicPtr<L2>; 1 << L1_BITS] = {
    #[allow(clippy::declare_interior_mutable_const)]
    const NULL: AtomicPtr<L2> = AtomicPtr::new(std::ptr::null_mut());
    [NULL; 1 << L1_BITS]
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
    let i = addr >> ARENA_SHIFT;
    let l1 = i >> L2_BITS;
    if l1 >= 1 << L1_BITS {
        return None;
    }
    let l2 = ARENA_L1[l1].load(Ordering::Acquire);
    // SAFETY: L2 tables are leaked once installed and never freed.
    let l2 = unsafe { l2.as_ref() }?;
    let a = l2[i & ((1 << L2_BITS) - 1)].load(Ordering::Acquire);
    // SAFETY: arenas are leaked once installed and never freed.
    unsafe { a.as_ref() }
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
    let i = a.base >> ARENA_SHIFT;
    let l1 = &ARENA_L1[i >> L2_BITS];
    let mut l2 = l1.load(Ordering::Acquire);
    if l2.is_null() {
        let fresh: *mut L2 = Box::into_raw(Box::new(std::array::from_fn(|_| {
            AtomicPtr::new(std::ptr::null_mut())
        })));
        match l1.compare_exchange(
            std::ptr::null_mut(),
            fresh,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => l2 = fresh,
            Err(existing) => {
                // SAFETY: `fresh` was never published.
                drop(unsafe { Box::from_raw(fresh) });
                l2 = existing;
            }
        }
    }
    // SAFETY: installed L2 tables are never freed.
    let l2: &L2 = unsafe { &*l2 };
    l2[i & ((1 << L2_BITS) - 1)].store(a as *const HeapArena as *mut HeapArena, Ordering::Release);
}

/// A placeholder arena (base 0, no spans in use) for caches that need an
/// initial value; never installed in the arena map.
pub fn first_arena_or_dummy() -> &'static HeapArena {
    static DUMMY: std::sync::OnceLock<&'static HeapArena> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| Box::leak(Box::new(HeapArena::new(0))))
}

/// A fresh or recycled arena, its pages all free.
pub fn alloc_arena() -> &'static HeapArena {
    let mut src = SOURCE.lock().unwrap();
    let src = src.get_or_insert_with(|| ArenaSource {
        free: Vec::new(),
        bump: bumpalo::Bump::new(),
    });
    if let Some(a) = src.free.pop() {
        return a;
    }
    let layout = Layout::from_size_align(ARENA_BYTES, ARENA_BYTES).expect("arena layout");
    let mem = src.bump.alloc_layout(layout);
    let a: &'static HeapArena = Box::leak(Box::new(HeapArena::new(mem.as_ptr() as usize)));
    install(a);
    a
}

/// Gives arenas back when their heap ends. Their pages must be free.
pub fn free_arenas(arenas: &[&'static HeapArena]) {
    let mut src = SOURCE.lock().unwrap();
    if let Some(src) = src.as_mut() {
        src.free.extend_from_slice(arenas);
    }
}
