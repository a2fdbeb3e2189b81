//! Goroutine stacks: one pool of fixed-size slots, and `getg` by stack
//! address.
//!
//! Go gives every goroutine a small growable stack. gort's goroutines are
//! corosensei coroutines whose stacks cannot move, so each gets a fixed slot
//! instead. All slots are carved from a single large reservation made once
//! per process (`MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE`, one VMA for
//! the whole pool): a per-stack mmap would cost two VMAs per goroutine and
//! cap a process near 32,750 goroutines at `vm.max_map_count`. Pages are only
//! committed when touched, so a goroutine that never goes deep costs one page
//! of RSS. Transparent huge pages are disabled on the region
//! (`MADV_NOHUGEPAGE`): they would multiply RSS by 16.
//!
//! Slot layout, addresses increasing (`SLOT_SIZE` aligned):
//!
//! ```text
//!  lo              lo+GUARD           stackguard               hi-HEADER     hi
//!  | guard page     | red zone         | usable stack  <- sp     | SlotHeader |
//! ```
//!
//! Overflow detection, two layers:
//! - the software check Go calls `stackguard0`: every safepoint compares the
//!   stack pointer with `lo + GUARD + RED_ZONE` (one compare, shared with the
//!   preemption request exactly as in Go, see `preempt.rs`). The red zone is
//!   large enough for the fatal-error path to run, so an overflow caught here
//!   is reported as Go reports it (`fatal error: stack overflow`) and the
//!   runtime ends with status 2;
//! - a guard page per slot installed with `MADV_GUARD_INSTALL` (Linux >=
//!   6.13; no extra VMA, survives `MADV_DONTNEED`). Code that recurses
//!   without reaching a safepoint faults there; the SIGSEGV handler (on an
//!   alternate signal stack) recognises a guard-page address, prints the
//!   fatal error and exits the process with status 2. That path cannot
//!   return a status to an in-process caller: it is a backstop. On older
//!   kernels the guard is missing and only the software check remains (a
//!   frame larger than the red zone could then write into the neighbouring
//!   slot); `guard_pages_supported()` says which case holds.
//!
//! The header at the top of each slot names the goroutine that owns the slot.
//! That is how code running on a goroutine finds its G (`getg`) without a
//! thread-local: thread-locals are unsafe after a coroutine migrates between
//! OS threads (LLVM may cache a TLS address across a suspend), while the
//! stack pointer always tells the truth. Masking the stack pointer with the
//! slot alignment gives the slot, and the slot's header gives the G.

use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use corosensei::stack::{Stack, StackPointer};

use crate::g::G;

/// Size and alignment of one stack slot. Debug builds have frames about six
/// times larger than release builds, so they get a larger slot.
pub const SLOT_SIZE: usize = if cfg!(debug_assertions) {
    256 << 10
} else {
    64 << 10
};
/// The guard page at the bottom of each slot.
pub const GUARD: usize = 4096;
/// Room kept below `stackguard` for the code that reports an overflow
/// (formatting, unwinding a panic) to run without touching the guard page.
pub const RED_ZONE: usize = if cfg!(debug_assertions) {
    48 << 10
} else {
    16 << 10
};
/// Bytes at the top of the slot holding the `SlotHeader`.
const HEADER: usize = 64;
/// The usable stack of a goroutine in bytes, as reported in overflow errors.
pub const STACK_LIMIT: usize = SLOT_SIZE - GUARD - RED_ZONE - HEADER;

/// Number of slots reserved: 2^21 goroutines alive at once. Virtual address
/// space only (128 GiB in release, 512 GiB in debug builds, out of 128 TiB).
/// Where that much address space is refused (`ulimit -v`, valgrind), the
/// reservation halves until it succeeds, down to `MIN_SLOTS`.
const MAX_SLOTS: usize = 1 << 21;
const MIN_SLOTS: usize = 1 << 10;

const MADV_GUARD_INSTALL: libc::c_int = 102;

#[repr(C)]
struct SlotHeader {
    g: AtomicPtr<G>,
}

struct Pool {
    base: usize,
    len: usize,
    slots: usize,
    guard_pages: bool,
    /// Index of the next never-used slot.
    fresh: AtomicUsize,
    /// Slots given back, reused most-recently-freed first (their pages are
    /// still mapped and cache-warm).
    free: Mutex<Vec<usize>>,
}

/// Lower bound and length of the pool, readable without touching `POOL`
/// (the fast path of `getg`).
static REGION_BASE: AtomicUsize = AtomicUsize::new(usize::MAX);
static REGION_LEN: AtomicUsize = AtomicUsize::new(0);
static POOL: OnceLock<Pool> = OnceLock::new();

fn pool() -> &'static Pool {
    POOL.get_or_init(|| {
        let mut slots = MAX_SLOTS;
        let (raw, len) = loop {
            let len = SLOT_SIZE * slots;
            // Over-allocate by one slot so the base can be aligned to
            // SLOT_SIZE.
            // SAFETY: an anonymous private mapping with no address hint has
            // no preconditions; the result is checked against MAP_FAILED.
            let raw = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len + SLOT_SIZE,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                    -1,
                    0,
                )
            };
            if raw != libc::MAP_FAILED {
                break (raw, len);
            }
            if slots == MIN_SLOTS {
                panic!(
                    "gort: cannot reserve {} MiB of address space for goroutine stacks: {}",
                    len >> 20,
                    std::io::Error::last_os_error()
                );
            }
            slots /= 2;
        };
        let base = (raw as usize + SLOT_SIZE - 1) & !(SLOT_SIZE - 1);
        // SAFETY: [base, base+len) lies inside the mapping just made.
        unsafe {
            libc::madvise(base as *mut libc::c_void, len, libc::MADV_NOHUGEPAGE);
        }
        // Probe for MADV_GUARD_INSTALL on the first slot's guard page.
        // SAFETY: the first guard page lies inside the mapping; an
        // unsupported advice value fails with EINVAL and changes nothing.
        let guard_pages =
            unsafe { libc::madvise(base as *mut libc::c_void, GUARD, MADV_GUARD_INSTALL) } == 0;
        REGION_LEN.store(len, Ordering::Release);
        REGION_BASE.store(base, Ordering::Release);
        crate::signal::install_handler();
        Pool {
            base,
            len,
            slots,
            guard_pages,
            fresh: AtomicUsize::new(0),
            free: Mutex::new(Vec::new()),
        }
    })
}

/// Whether each slot has a kernel guard page (see the module comment).
pub fn guard_pages_supported() -> bool {
    pool().guard_pages
}

/// One goroutine's stack slot. Owned by exactly one G for the G's life (a
/// dead G keeps its stack on the free list, as Go's `gfput` does).
///
/// Slots, their owner records and coroutine stacks on them are the
/// scheduler's alone: a slot given out twice, or an owner record naming
/// no G, would be memory corruption.
///
/// ```compile_fail
/// let s = gort_scheduler::stack::SlotStack::alloc();
/// ```
///
/// ```compile_fail
/// let g = gort_scheduler::stack::slot_owner(8);
/// ```
#[derive(Debug)]
pub struct SlotStack {
    lo: usize,
}

impl SlotStack {
    /// Takes a slot from the pool.
    pub(crate) fn alloc() -> SlotStack {
        let pool = pool();
        if let Some(lo) = pool.free.lock().unwrap().pop() {
            return SlotStack { lo };
        }
        let i = pool.fresh.fetch_add(1, Ordering::Relaxed);
        if i >= pool.slots {
            crate::fatal::throw_process(&format!(
                "runtime: cannot allocate goroutine stack: {} goroutine stacks in use",
                pool.slots
            ));
        }
        let lo = pool.base + i * SLOT_SIZE;
        if pool.guard_pages && i != 0 {
            // SAFETY: the page lies inside the pool and belongs to this
            // fresh slot only; nobody has touched it.
            unsafe {
                libc::madvise(lo as *mut libc::c_void, GUARD, MADV_GUARD_INSTALL);
            }
        }
        SlotStack { lo }
    }

    /// Gives the slot back to the pool, returning its touched pages to the
    /// kernel (the guard page survives `MADV_DONTNEED`).
    pub(crate) fn release(self) {
        let pool = pool();
        // SAFETY: the slot is ours and no coroutine runs on it any more;
        // dropping its pages only zeroes memory nobody refers to.
        unsafe {
            libc::madvise(
                (self.lo + GUARD) as *mut libc::c_void,
                SLOT_SIZE - GUARD,
                libc::MADV_DONTNEED,
            );
        }
        pool.free.lock().unwrap().push(self.lo);
    }

    /// For a slot kept by an abandoned goroutine (never resumed, never
    /// reused): returns the pages below its saved stack pointer `sp` to
    /// the kernel, keeping the frames it was suspended in (with a page of
    /// margin for the registers the switch pushed), where waiter records
    /// may still be read.
    pub(crate) fn trim_below(&self, sp: usize) {
        let from = self.lo + GUARD;
        let to = sp.saturating_sub(4096) & !4095;
        if to > from {
            // SAFETY: [from, to) lies in this slot above its guard page and
            // below every frame of its (finished, never resumed) coroutine
            // that anyone may still read; zeroing it changes nothing live.
            unsafe {
                libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_DONTNEED);
            }
        }
    }

    pub fn lo(&self) -> usize {
        self.lo
    }
    /// The top of the usable stack (below the header).
    pub fn hi(&self) -> usize {
        self.lo + SLOT_SIZE - HEADER
    }
    /// Go's `stackguard0` for this slot when no preemption is requested.
    pub fn stackguard(&self) -> usize {
        self.lo + GUARD + RED_ZONE
    }

    fn header(&self) -> &SlotHeader {
        // SAFETY: the header lies inside this slot, which is mapped
        // read-write for the life of the process; SlotHeader is a single
        // atomic, valid for any bit pattern including all-zero pages.
        unsafe { &*((self.lo + SLOT_SIZE - HEADER) as *const SlotHeader) }
    }

    /// Records which G owns the slot, for `getg`.
    pub(crate) fn set_owner(&self, g: *const G) {
        self.header().g.store(g as *mut G, Ordering::Release);
    }
}

/// A borrowed view of a slot that corosensei runs a coroutine on. The G
/// keeps the `SlotStack`; the coroutine only needs its bounds.
#[derive(Debug)]
pub struct CoStack {
    lo: usize,
}

impl CoStack {
    pub(crate) fn of(s: &SlotStack) -> CoStack {
        CoStack { lo: s.lo }
    }
}

// SAFETY: the slot is at least 64 KiB of mapped read-write memory, 16-byte
// aligned at both ends, with a guard page at its bottom when the kernel
// supports one and a software stackguard check always (see the module
// comment); the slot belongs to one G, which runs one coroutine at a time on it.
unsafe impl Stack for CoStack {
    fn base(&self) -> StackPointer {
        StackPointer::new(self.lo + SLOT_SIZE - HEADER).unwrap()
    }
    fn limit(&self) -> StackPointer {
        StackPointer::new(self.lo).unwrap()
    }
}

/// The current stack pointer, approximately (exact to within this frame).
#[inline(always)]
pub fn current_sp() -> usize {
    let sp: usize;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: reads a register, touches no memory.
    unsafe {
        std::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags));
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: reads a register, touches no memory.
    unsafe {
        std::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags));
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let x = 0u8;
        sp = std::hint::black_box(&x) as *const u8 as usize;
    }
    sp
}

/// Returns the slot's low address if `addr` lies in the stack pool.
#[inline(always)]
pub fn slot_of(addr: usize) -> Option<usize> {
    let base = REGION_BASE.load(Ordering::Relaxed);
    let off = addr.wrapping_sub(base);
    if off < REGION_LEN.load(Ordering::Relaxed) {
        Some(base + (off & !(SLOT_SIZE - 1)))
    } else {
        None
    }
}

/// Go's `getg()`: the G running on the current stack, or None when called
/// from an ordinary thread stack (an M's g0, or a thread outside gort).
///
/// Crate-private: the reference is only valid while the G's runtime runs,
/// and `G: Sync` would let safe code elsewhere send it past that.
#[inline(always)]
pub(crate) fn getg() -> Option<&'static G> {
    let lo = slot_of(current_sp())?;
    // SAFETY: `lo` is a slot of the pool, mapped for the process's life; the
    // header is an AtomicPtr (any bit pattern is valid). A non-null owner is
    // a G that lives until its runtime is dropped, and a runtime is only
    // dropped after every coroutine on its Gs has finished or been reset
    // (teardown), so no code can still be running on this stack by then.
    let g = unsafe { &*((lo + SLOT_SIZE - HEADER) as *const SlotHeader) }
        .g
        .load(Ordering::Acquire);
    // SAFETY: see above: the owner outlives code running on its stack.
    unsafe { g.as_ref() }
}

/// If `addr` lies in the guard page of some slot, returns that slot.
pub fn guard_page_slot(addr: usize) -> Option<usize> {
    let lo = slot_of(addr)?;
    (addr - lo < GUARD).then_some(lo)
}

/// The G owning slot `lo`, for the signal handler (no allocation, no lock).
pub(crate) fn slot_owner(lo: usize) -> *const G {
    // SAFETY: as in `getg`.
    unsafe { &*((lo + SLOT_SIZE - HEADER) as *const SlotHeader) }
        .g
        .load(Ordering::Acquire)
}

/// The pool's bounds, for tests and diagnostics.
pub fn region() -> (usize, usize) {
    let p = pool();
    (p.base, p.len)
}
