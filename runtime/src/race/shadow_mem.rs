//! Shadow memory: what both detectors remember of each 8-byte word of
//! the program's memory, at a place computed from its address, as TSan's
//! shadow is:
//!
//! - the model's four shadow cells (TSan's 32-bit cells, 16 bytes),
//!   atomics that anyone may read without the detector's lock;
//! - the exact detector's first two accesses of the word (48 bytes,
//!   `exact::Inline`; a word with more keeps the rest in the writer's
//!   `Spills`), which also say which access each cell records.
//!
//! Reading the cells without the lock is what makes a repeated access
//! cheap: TSan's `ContainsSameAccess` (the same goroutine, slot, epoch,
//! bytes and kind already in a cell: most accesses of a loop) is decided
//! from the word's cells and the goroutine's own slot and epoch alone
//! (`Detector::access`). So the cells are packed as densely as TSan's, four
//! words to a cache line, in an array of their own: a repeated access reads
//! 2 bytes of shadow per byte of memory, and a lookup in a large map costs
//! one shadow line at TSan's footprint (on a guest whose TLB misses are
//! dear, a line per word made a 1e5 hit 2x slower). An access that is not a
//! repeat needs the word's accesses too, under the lock: the lock-free
//! check starts loading them first, and a word new to the cache (a large
//! map's insert) is then two misses, its cells and its accesses.
//!
//! Layout: a two-level radix over 48-bit addresses, 64 MiB regions (the
//! heap's arena size) of 4 KiB pages. A page holds its 512 words' cells
//! (8 KiB) and then their accesses (24 KiB). Each page also has a bitmap,
//! kept with the region's other bitmaps rather than beside its page, of the
//! words written since they were last cleared: a word whose bit is
//! clear is all empty and is not read, and clearing a new allocation's
//! range (`clear`, for `racemalloc`) touches only the words that were
//! written. Regions and pages are made when first written and live as
//! long as the table: readers hold no lock, so nothing they can reach is
//! freed before the table is. A region's pages come from one reserved
//! mapping, faulted in 2 MiB at a time (`Slab`): 8 bytes of shadow per
//! byte of memory the program touched, in units of 256 KiB of it.
//!
//! Cells and bitmaps are atomics: a reader racing a writer sees each cell
//! before or after the write, never a torn one, so a cell it finds equal
//! to its access held that access at that moment (a word's bit is set
//! with Release before its cells are written and cleared with Release
//! after they were emptied, and read with Acquire). As with TSan's
//! shadow, a goroutine that reaches memory through no synchronisation at
//! all (a racy publication, in parallel mode) may see its cells as they
//! were before they were last cleared; in deterministic mode one
//! goroutine runs at a time and every switch synchronises, so the reads
//! see exactly what the lock would. The exact detector's part is reached
//! only through the table's one `ShadowWriter` (which the detector keeps
//! under its lock), by `&mut`: one writer at a time, by construction.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

use super::exact::{Cells, Inline, Spills};
use super::tsan_shadow::{Cell, Word};

const REGION_SHIFT: u32 = 26;
const REGIONS: usize = 1 << (48 - REGION_SHIFT);
const PAGE_SHIFT: u32 = 12;
const PAGES_PER_REGION: usize = 1 << (REGION_SHIFT - PAGE_SHIFT);
const PAGE_WORDS: usize = 1 << (PAGE_SHIFT - 3);

/// Types whose all-zero bit pattern is a valid value, so that shadow
/// pages can come zeroed from the allocator.
///
/// # Safety
/// All-zero bits must be a valid value of the type.
pub unsafe trait ZeroValid {}

/// Compiles only for a `ZeroValid` type.
fn zero_valid<T: ZeroValid>() {}

/// A page's words: the cells of all of them, then their accesses.
#[repr(C, align(64))]
struct Page {
    cells: [[AtomicU32; 4]; PAGE_WORDS],
    /// Only through the `ShadowWriter` (`ShadowMem::word`).
    accesses: [UnsafeCell<Inline>; PAGE_WORDS],
}

const _: () = assert!(std::mem::size_of::<Page>() == 32 << 10);

/// Bit i: word i of a page may be non-empty.
type Touched = [AtomicU64; PAGE_WORDS / 64];

/// A page and its bitmap, as readers reach them.
#[derive(Clone, Copy)]
struct PageRef<'a> {
    page: &'a Page,
    touched: &'a Touched,
}

struct Region {
    pages: [AtomicPtr<Page>; PAGES_PER_REGION],
    /// The pages' bitmaps, side by side (64 bytes per page, 1 MiB per
    /// region, faulted in as used): a large map's inserts read a bitmap
    /// line per insert, and these stay in a few TLB entries and in
    /// cache, where a line at the end of each 32 KiB page was a TLB
    /// miss of its own.
    touched: [Touched; PAGES_PER_REGION],
    /// Memory for all of the region's pages (`Slab`), handed out as
    /// `pages` are made.
    slab: Slab,
}

/// An anonymous mapping with room for every page of a region (512 MiB
/// of address space per 64 MiB region), reserved, not committed, and
/// filled in 2 MiB chunks: the first page made in a chunk has the kernel
/// fault the whole chunk in at once (`MADV_POPULATE_WRITE`). A page made
/// from the allocator cost a zeroing pass of its own and eight faults
/// (4 KiB each, 1-3 us apiece on this guest); a large map's first
/// inserts, which make a page every 64 words, spent a fifth of their
/// time in those faults.
struct Slab {
    base: *mut Page,
    /// Bit c: chunk c is populated.
    populated: [AtomicU64; SLAB_CHUNKS.div_ceil(64)],
}

const SLAB_BYTES: usize = PAGES_PER_REGION * std::mem::size_of::<Page>();
const CHUNK: usize = 2 << 20;
const SLAB_CHUNKS: usize = SLAB_BYTES.div_ceil(CHUNK);

impl Slab {
    fn new() -> Slab {
        // SAFETY: an anonymous private mapping with no address hint has
        // no preconditions; the result is checked against MAP_FAILED.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                SLAB_BYTES,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            panic!(
                "gort: cannot reserve {} MiB of address space for the race detector's shadow: {}",
                SLAB_BYTES >> 20,
                std::io::Error::last_os_error()
            );
        }
        Slab {
            base: raw.cast(),
            populated: [const { AtomicU64::new(0) }; SLAB_CHUNKS.div_ceil(64)],
        }
    }

    /// Page `p`'s memory, its chunks populated: zero until first written,
    /// as a `Page` must start (`ZeroValid`).
    fn page(&self, p: usize) -> *mut Page {
        assert!(p < PAGES_PER_REGION);
        let off = p * std::mem::size_of::<Page>();
        for c in off / CHUNK..=(off + std::mem::size_of::<Page>() - 1) / CHUNK {
            let bits = &self.populated[c / 64];
            if bits.load(Ordering::Relaxed) & 1 << (c % 64) == 0 {
                bits.fetch_or(1 << (c % 64), Ordering::Relaxed);
                let len = CHUNK.min(SLAB_BYTES - c * CHUNK);
                // SAFETY: the range lies inside the mapping (c < chunks,
                // len clamped to its end). Populating only faults pages
                // in; on a kernel without MADV_POPULATE_WRITE (before
                // Linux 5.14) it fails and pages fault in one by one.
                unsafe {
                    libc::madvise(
                        self.base.cast::<u8>().add(c * CHUNK).cast(),
                        len,
                        libc::MADV_POPULATE_WRITE,
                    )
                };
            }
        }
        // SAFETY: `p` is in range, so the result is inside the mapping.
        unsafe { self.base.add(p) }
    }
}

impl Drop for Slab {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once; its owner (a
        // region) is dropped only with the table, when no reference to
        // its pages is left.
        unsafe { libc::munmap(self.base.cast(), SLAB_BYTES) };
    }
}

/// The shadow of the whole address space.
pub struct ShadowMem {
    regions: Box<[AtomicPtr<Region>]>,
    /// Indices of the regions made, for walking and freeing them.
    made: Mutex<Vec<usize>>,
    /// Which `ShadowWriter` belongs to this table.
    id: u64,
}

/// The right to change a table's words (one per table, from `new`), and
/// the accesses of its words that have more than two.
pub struct ShadowWriter {
    id: u64,
    spills: Spills,
}

#[cfg(test)]
impl ShadowWriter {
    fn spills_is_empty(&self) -> bool {
        self.spills.is_empty()
    }
}

/// One word, reached through the writer: its cells and its accesses.
pub struct WordMut<'a> {
    cells: &'a [AtomicU32; 4],
    pub accesses: Cells<'a>,
    /// The word had no access since its memory was allocated (its bit
    /// was clear): its cells and accesses are empty, and were not read.
    pub fresh: bool,
}

impl WordMut<'_> {
    /// The word's cells.
    pub fn cells(&self) -> Word {
        if self.fresh {
            return Word::default();
        }
        load_cells(self.cells)
    }

    /// Sets the word's cells.
    pub fn set_cells(&self, w: Word) {
        for (a, c) in self.cells.iter().zip(w) {
            a.store(c.0, Ordering::Relaxed);
        }
    }
}

#[inline]
fn split(word: usize) -> (usize, usize, usize) {
    (
        word >> REGION_SHIFT,
        (word >> PAGE_SHIFT) & (PAGES_PER_REGION - 1),
        (word >> 3) & (PAGE_WORDS - 1),
    )
}

fn load_cells(c: &[AtomicU32; 4]) -> Word {
    c.each_ref().map(|x| Cell(x.load(Ordering::Relaxed)))
}

impl ShadowMem {
    /// A table and its one writer.
    pub fn new() -> (ShadowMem, ShadowWriter) {
        static IDS: AtomicU64 = AtomicU64::new(0);
        let id = IDS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: a null AtomicPtr is all-zero bits. The 32 MiB of
        // pointers come zeroed from the allocator (calloc, untouched
        // pages), so a table costs only the regions it uses.
        let regions =
            unsafe { Box::<[AtomicPtr<Region>]>::new_zeroed_slice(REGIONS).assume_init() };
        (
            ShadowMem {
                regions,
                made: Mutex::new(Vec::new()),
                id,
            },
            ShadowWriter {
                id,
                spills: Spills::default(),
            },
        )
    }

    #[inline]
    fn page(&self, r: usize, p: usize) -> Option<PageRef<'_>> {
        let region = self.regions.get(r)?.load(Ordering::Acquire);
        // SAFETY: a region, once published (Release, after it was made),
        // is freed only when the table is dropped, and `&self` outlives
        // the reference.
        let region = unsafe { region.as_ref() }?;
        let page = region.pages[p].load(Ordering::Acquire);
        // SAFETY: as for regions: pages are freed only with the table.
        // Through `&Page` other threads touch only atomics; `accesses`
        // is reached only with the writer (`word`).
        let page = unsafe { page.as_ref() }?;
        Some(PageRef {
            page,
            touched: &region.touched[p],
        })
    }

    /// The cells of the word at `word` (8-aligned); None when they are
    /// all empty. A word whose bit is clear costs no read of its line.
    #[cfg(test)]
    pub fn load(&self, word: usize) -> Option<Word> {
        let (r, p, i) = split(word);
        let page = self.page(r, p)?;
        if page.touched[i / 64].load(Ordering::Acquire) & 1 << (i % 64) == 0 {
            return None;
        }
        Some(load_cells(&page.page.cells[i]))
    }

    /// Whether `cur` is in the cells of `word` (TSan's
    /// `ContainsSameAccess`), with no lock: see the module comment. When
    /// it is not, the access goes on to the detector's lock, so the
    /// word's cells and accesses start loading now (for a new word,
    /// before anything else the lock's path does).
    #[inline]
    pub fn contains_or_prefetch(&self, word: usize, cur: Cell) -> bool {
        let (r, p, i) = split(word);
        let Some(page) = self.page(r, p) else {
            return false;
        };
        let cells = &page.page.cells[i];
        let acc = &page.page.accesses[i];
        if page.touched[i / 64].load(Ordering::Acquire) & 1 << (i % 64) != 0 {
            if super::tsan_shadow::contains_same_access(&load_cells(cells), cur) {
                return true;
            }
        } else {
            prefetch(cells as *const _ as usize);
        }
        prefetch(acc as *const _ as usize);
        false
    }

    /// Starts loading the cells of the words of `[addr, addr+size)` (the
    /// lines of those whose page exists): a hint for a check to come.
    #[inline]
    pub fn prefetch_cells(&self, addr: usize, size: usize) {
        let (lo, hi) = (addr & !7, addr.saturating_add(size));
        let mut word = lo;
        while word < hi {
            let (r, p, i) = split(word);
            if let Some(page) = self.page(r, p) {
                prefetch(&page.page.cells[i] as *const _ as usize);
            }
            // The next line of cells (four words each); none past the end
            // of the address space.
            match (word | 31).checked_add(1) {
                Some(next) => word = next,
                None => break,
            }
        }
    }

    fn page_or_make(&self, r: usize, p: usize) -> Option<PageRef<'_>> {
        if let Some(page) = self.page(r, p) {
            return Some(page);
        }
        let slot = self.regions.get(r)?;
        let mut region = slot.load(Ordering::Acquire);
        if region.is_null() {
            // The pointer array zeroed (every page absent), then the slab.
            // SAFETY: all-zero is a valid array of atomic pointers; the
            // zeroed `slab` field is overwritten before use, with
            // `ptr::write` so that no drop of the zero value runs.
            let fresh = Box::into_raw(unsafe {
                let mut b = Box::<Region>::new_zeroed();
                std::ptr::addr_of_mut!((*b.as_mut_ptr()).slab).write(Slab::new());
                b.assume_init()
            });
            match slot.compare_exchange(
                std::ptr::null_mut(),
                fresh,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    region = fresh;
                    self.made.lock().unwrap_or_else(|e| e.into_inner()).push(r);
                }
                Err(other) => {
                    // SAFETY: `fresh` was never published.
                    drop(unsafe { Box::from_raw(fresh) });
                    region = other;
                }
            }
        }
        // SAFETY: published regions live as long as the table.
        let region = unsafe { &*region };
        let slot = &region.pages[p];
        // A Page is atomics and `Inline`s, all valid when zero: the
        // slab's untouched memory is every word empty.
        zero_valid::<Inline>();
        let fresh = region.slab.page(p);
        // Whoever loses a race to make the page publishes the same one.
        let page = match slot.compare_exchange(
            std::ptr::null_mut(),
            fresh,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => fresh,
            Err(other) => other,
        };
        // SAFETY: published pages live as long as the table.
        let page = unsafe { &*page };
        Some(PageRef {
            page,
            touched: &region.touched[p],
        })
    }

    /// The word at `word`, to read and change, its page made if need be.
    /// None beyond 48-bit user addresses, where no Linux x86-64 or arm64
    /// process makes an access.
    ///
    /// # Panics
    /// If `w` is another table's writer.
    #[inline]
    pub fn word<'a>(&'a self, w: &'a mut ShadowWriter, word: usize) -> Option<WordMut<'a>> {
        assert_eq!(w.id, self.id, "a shadow table's own writer");
        let (r, p, i) = split(word);
        let page = self.page_or_make(r, p)?;
        let bits = &page.touched[i / 64];
        let b = bits.load(Ordering::Relaxed);
        let fresh = b & 1 << (i % 64) == 0;
        if fresh {
            bits.store(b | 1 << (i % 64), Ordering::Release);
        }
        let e = (&page.page.cells[i], &page.page.accesses[i]);
        // SAFETY: `accesses` is reached only here and in `clear` and
        // `for_each_mut`, each holding the table's one writer by `&mut`
        // for as long as the reference lives: no other reference to it
        // exists. Readers without the writer touch only the atomics.
        let inline = unsafe { &mut *e.1.get() };
        Some(WordMut {
            cells: e.0,
            accesses: Cells::new(inline, &mut w.spills, word & !7),
            fresh,
        })
    }

    /// Empties every word of `[lo, hi)` (a new allocation). Lines are
    /// only written, never read (spilled accesses go by range): a read
    /// of each line would wait for it, where stores to many lines are in
    /// flight at once.
    pub fn clear(&self, w: &mut ShadowWriter, lo: usize, hi: usize) {
        assert_eq!(w.id, self.id, "a shadow table's own writer");
        let lo = lo & !7;
        if hi <= lo {
            return;
        }
        w.spills.clear_range(lo, hi);
        let mut page_no = lo >> PAGE_SHIFT;
        let last = (hi - 1) >> PAGE_SHIFT;
        while page_no <= last {
            let base = page_no << PAGE_SHIFT;
            page_no += 1;
            let (r, p, _) = split(base);
            let Some(page) = self.page(r, p) else {
                continue;
            };
            let from = (lo.max(base) - base) >> 3;
            let to = ((hi.min(base + (PAGE_WORDS << 3)) - base + 7) >> 3).min(PAGE_WORDS);
            for (k, bits) in page.touched.iter().enumerate() {
                let (wlo, whi) = (k * 64, k * 64 + 64);
                if whi <= from || wlo >= to {
                    continue;
                }
                let mut range = !0u64;
                if from > wlo {
                    range &= !0u64 << (from - wlo);
                }
                if to < whi {
                    range &= (1u64 << (to - wlo)) - 1;
                }
                let b = bits.load(Ordering::Relaxed);
                let hit = b & range;
                let mut left = hit;
                while left != 0 {
                    let i = wlo + left.trailing_zeros() as usize;
                    left &= left - 1;
                    for c in &page.page.cells[i] {
                        c.store(0, Ordering::Relaxed);
                    }
                    // SAFETY: as in `word`: the writer is held by `&mut`.
                    unsafe { *page.page.accesses[i].get() = Inline::default() };
                }
                if hit != 0 {
                    bits.store(b & !hit, Ordering::Release);
                }
            }
        }
    }

    /// Every word that may be non-empty, to change in place.
    pub fn for_each_mut(
        &self,
        w: &mut ShadowWriter,
        mut f: impl FnMut(usize, &mut Word, &mut Cells),
    ) {
        assert_eq!(w.id, self.id, "a shadow table's own writer");
        let made = self.made.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for r in made {
            for p in 0..PAGES_PER_REGION {
                let Some(page) = self.page(r, p) else {
                    continue;
                };
                let base = (r << REGION_SHIFT) | (p << PAGE_SHIFT);
                for (k, bits) in page.touched.iter().enumerate() {
                    let mut b = bits.load(Ordering::Relaxed);
                    while b != 0 {
                        let i = k * 64 + b.trailing_zeros() as usize;
                        b &= b - 1;
                        let e = (&page.page.cells[i], &page.page.accesses[i]);
                        let mut cells = load_cells(e.0);
                        // SAFETY: as in `word`: the writer is held by `&mut`.
                        let inline = unsafe { &mut *e.1.get() };
                        let mut acc = Cells::new(inline, &mut w.spills, base + i * 8);
                        f(base + i * 8, &mut cells, &mut acc);
                        for (a, c) in e.0.iter().zip(cells) {
                            a.store(c.0, Ordering::Relaxed);
                        }
                    }
                }
            }
        }
    }
}

/// Starts loading the cache line at `addr`: a hint that reads nothing
/// and never faults.
#[inline(always)]
fn prefetch(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE is part of x86-64; `prefetcht0` accesses no memory
    // architecturally and cannot fault, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(addr as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

impl Drop for ShadowMem {
    fn drop(&mut self) {
        let made = std::mem::take(self.made.get_mut().unwrap_or_else(|e| e.into_inner()));
        for r in made {
            let region = std::mem::replace(self.regions[r].get_mut(), std::ptr::null_mut());
            // SAFETY: `&mut self`: no reader is left; the region was made
            // by `Box::into_raw` and is freed once (its slot is nulled).
            // Its pages, in its slab, go with it; a page owns no heap
            // memory (spilled accesses are the writer's).
            drop(unsafe { Box::from_raw(region) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::race::exact::{record, Exact};

    fn cell(n: u32) -> Word {
        [Cell(n), Cell(0), Cell(0), Cell(n + 1)]
    }

    #[test]
    fn words_are_found_again_cleared_by_range_and_walked() {
        let (t, mut w) = ShadowMem::new();
        for a in (0x10_0000..0x10_3000).step_by(8) {
            t.word(&mut w, a).unwrap().set_cells(cell(a as u32));
        }
        // Across a region boundary too.
        t.word(&mut w, (1 << REGION_SHIFT) - 8)
            .unwrap()
            .set_cells(cell(7));
        t.word(&mut w, 1 << REGION_SHIFT)
            .unwrap()
            .set_cells(cell(9));
        assert_eq!(t.load(0x10_1008), Some(cell(0x10_1008)));
        assert_eq!(t.load(0x20_0000), None);
        assert!(t.contains_or_prefetch(0x10_1008, Cell(0x10_1009)));
        assert!(!t.contains_or_prefetch(0x10_1008, Cell(0x10_1008 + 2)));
        // One word of page 0, all of page 1, two of page 2.
        t.clear(&mut w, 0x10_0ff8, 0x10_2010);
        assert_eq!(t.load(0x10_0ff0), Some(cell(0x10_0ff0)));
        assert_eq!(t.load(0x10_0ff8), None);
        assert_eq!(t.load(0x10_1008), None);
        assert_eq!(t.load(0x10_2008), None);
        assert_eq!(t.load(0x10_2010), Some(cell(0x10_2010)));
        // A range ending inside a word clears that word.
        t.clear(&mut w, 0x10_2018, 0x10_2019);
        assert_eq!(t.load(0x10_2018), None);
        let mut walked = Vec::new();
        t.for_each_mut(&mut w, |a, c, _| {
            walked.push(a);
            c[1] = Cell(1);
        });
        assert_eq!(walked.len(), 3 * 512 - (1 + 512 + 3) + 2);
        assert!(walked.contains(&(1 << REGION_SHIFT)));
        assert_eq!(t.load(0x10_2010).map(|c| c[1]), Some(Cell(1)));
        // Addresses beyond 48 bits have no shadow.
        assert!(t.word(&mut w, usize::MAX & !7).is_none());
        assert_eq!(t.load(usize::MAX & !7), None);
    }

    #[test]
    fn a_words_accesses_spill_past_two_and_go_with_a_new_allocation() {
        let (t, mut w) = ShadowMem::new();
        let mut d = Exact::new();
        let main = d.go_start(None);
        let kids: Vec<_> = (0..4).map(|_| d.go_start(Some(main))).collect();
        for (n, &k) in kids.iter().enumerate() {
            let mut a = d.make(k, 0xff, false, false, n as u32, 0);
            a.cell = 100 + n as u32;
            record(&mut t.word(&mut w, 0x5000).unwrap().accesses, a, |_| false);
        }
        let word = t.word(&mut w, 0x5000).unwrap();
        for n in 0..4 {
            let a = word.accesses.rec_of(100 + n).expect("kept");
            assert_eq!((a.tid, a.site), (kids[n as usize], n));
        }
        t.clear(&mut w, 0x5000, 0x5008);
        let word = t.word(&mut w, 0x5000).unwrap();
        assert!(word.accesses.rec_of(100).is_none());
        assert!(word.accesses.rec_of(103).is_none());
        assert!(w.spills_is_empty());
    }

    #[test]
    fn a_prefetch_of_any_range_changes_nothing() {
        let (t, mut w) = ShadowMem::new();
        t.word(&mut w, 0x10_0008).unwrap().set_cells(cell(3));
        // A made page, a page never made, a range across both, and the
        // end of the address space.
        t.prefetch_cells(0x10_0000, 64);
        t.prefetch_cells(0x90_0000, 64);
        t.prefetch_cells(0x10_0ff0, 0x2000);
        t.prefetch_cells(usize::MAX - 3, 8);
        t.prefetch_cells(0, 0);
        assert_eq!(t.load(0x10_0008), Some(cell(3)));
        assert_eq!(t.load(0x10_0010), None);
    }

    #[test]
    #[should_panic(expected = "own writer")]
    fn another_tables_writer_is_refused() {
        let (a, _) = ShadowMem::new();
        let (_, mut wb) = ShadowMem::new();
        let _ = a.word(&mut wb, 0x1000);
    }
}
