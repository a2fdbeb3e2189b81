//! The model's shadow cells (TSan's four 32-bit cells per 8-byte word)
//! at a fixed place per address, readable without the detector's lock,
//! as TSan's own shadow is. That is what makes a repeated access cheap:
//! TSan's `ContainsSameAccess` (the same goroutine, slot, epoch, bytes
//! and kind already in a cell: most accesses of a loop) is decided from
//! the word's cells and the goroutine's own slot and epoch alone, so the
//! detector answers it without taking its lock (`Detector::access`).
//!
//! Layout: a two-level radix over 48-bit addresses, 64 MiB regions (the
//! heap's arena size) of 4 KiB pages, a page being 512 words of four
//! cells (16 bytes of shadow for 8 bytes of memory, as TSan's) and a
//! bitmap of the words whose cells are not all empty, so that clearing a
//! new allocation's range touches only the words that were written.
//! Regions and pages are made when first written and live as long as the
//! table: readers hold no lock, so nothing they can reach is freed
//! before the table is.
//!
//! Every cell and bitmap word is an atomic: a reader racing a writer sees
//! each cell before or after the write, never a torn one, so a cell it
//! finds equal to its access held that access at that moment (a word's
//! bit is published with Release after its cells are written, and read
//! with Acquire). As with TSan's shadow, a goroutine that reaches memory
//! through no synchronisation at all (a racy publication, in parallel
//! mode) may see its cells as they were before they were last cleared;
//! in deterministic mode one goroutine runs at a time and every switch
//! synchronises, so the reads see exactly what the lock would. Writers
//! (`store`, `clear`, `for_each_mut`) are serialised by the detector's
//! lock; were they not, a bitmap bit could be lost (a word then missed by
//! `clear`), never memory safety.

use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use super::tsan_shadow::{Cell, Word};

const REGION_SHIFT: u32 = 26;
const REGIONS: usize = 1 << (48 - REGION_SHIFT);
const PAGE_SHIFT: u32 = 12;
const PAGES_PER_REGION: usize = 1 << (REGION_SHIFT - PAGE_SHIFT);
const PAGE_WORDS: usize = 1 << (PAGE_SHIFT - 3);

struct Page {
    cells: [[AtomicU32; 4]; PAGE_WORDS],
    /// Bit i: word i's cells may be non-empty.
    touched: [AtomicU64; PAGE_WORDS / 64],
    /// Where the detector keeps the rest of these words' state (an array
    /// of `aux_stride`-byte entries), as last told by `set_aux`: only a
    /// hint for `prefetch`, never dereferenced (it may be stale).
    aux: AtomicUsize,
}

struct Region {
    pages: [AtomicPtr<Page>; PAGES_PER_REGION],
}

/// Zeroed heap memory for `T`, which must be valid all-zero.
///
/// # Safety
/// The all-zero bit pattern must be a valid `T`.
unsafe fn zeroed_box<T>() -> Box<T> {
    // SAFETY: the caller guarantees all-zero is a valid T.
    unsafe { Box::<T>::new_zeroed().assume_init() }
}

/// Four cells per 8-byte word of the address space.
pub struct CellTable {
    regions: Box<[AtomicPtr<Region>]>,
    /// Indices of the regions made, for walking and freeing them.
    made: Mutex<Vec<usize>>,
}

impl Default for CellTable {
    fn default() -> Self {
        // SAFETY: a null AtomicPtr is all-zero bits. The 32 MiB of
        // pointers come zeroed from the allocator (calloc, untouched
        // pages), so a table costs only the regions it uses.
        let regions =
            unsafe { Box::<[AtomicPtr<Region>]>::new_zeroed_slice(REGIONS).assume_init() };
        CellTable {
            regions,
            made: Mutex::new(Vec::new()),
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

impl CellTable {
    #[inline]
    fn page(&self, r: usize, p: usize) -> Option<&Page> {
        let region = self.regions.get(r)?.load(Ordering::Acquire);
        // SAFETY: a region, once published (Release, after it was made),
        // is freed only when the table is dropped, and `&self` outlives
        // the reference.
        let region = unsafe { region.as_ref() }?;
        let page = region.pages[p].load(Ordering::Acquire);
        // SAFETY: as for regions: pages are freed only with the table.
        unsafe { page.as_ref() }
    }

    /// The cells of the word at `word` (8-aligned); None when they are
    /// all empty. A word whose bit is clear has empty cells (`clear`
    /// empties them before it clears the bit; `store` sets it after it
    /// wrote them), so a word not written since its memory was allocated,
    /// most words an insert writes, costs no read of its cache line.
    #[inline]
    pub fn load(&self, word: usize) -> Option<Word> {
        let (r, p, i) = split(word);
        let page = self.page(r, p)?;
        if page.touched[i / 64].load(Ordering::Acquire) & 1 << (i % 64) == 0 {
            return None;
        }
        Some(load_cells(&page.cells[i]))
    }

    /// Whether `cur` is in the cells of `word` (TSan's
    /// `ContainsSameAccess`), with no lock: see the module comment. When
    /// it is not, the access goes on to the detector's lock,
    /// so the cache lines it will need there (the word's cells and its
    /// entry in the `aux` array, `aux_stride` bytes each) start loading
    /// now, together: for a word new to the cache (a large map's insert),
    /// two misses overlap instead of following each other.
    #[inline]
    pub fn contains_or_prefetch(&self, word: usize, cur: Cell, aux_stride: usize) -> bool {
        let (r, p, i) = split(word);
        let Some(page) = self.page(r, p) else {
            return false;
        };
        if page.touched[i / 64].load(Ordering::Acquire) & 1 << (i % 64) != 0 {
            let w = load_cells(&page.cells[i]);
            if super::tsan_shadow::contains_same_access(&w, cur) {
                return true;
            }
        } else {
            prefetch(page.cells[i].as_ptr() as usize);
        }
        let aux = page.aux.load(Ordering::Relaxed);
        if aux != 0 {
            prefetch(aux.wrapping_add(i * aux_stride));
        }
        false
    }

    /// Tells where the state beside the cells of `word`'s page is kept
    /// (the address of the page's first word's entry), for `prefetch`.
    pub fn set_aux(&self, word: usize, base: usize) {
        let (r, p, _) = split(word);
        if let Some(page) = self.page_or_make(r, p) {
            if page.aux.load(Ordering::Relaxed) != base {
                page.aux.store(base, Ordering::Relaxed);
            }
        }
    }

    fn page_or_make(&self, r: usize, p: usize) -> Option<&Page> {
        if let Some(page) = self.page(r, p) {
            return Some(page);
        }
        let slot = self.regions.get(r)?;
        let mut region = slot.load(Ordering::Acquire);
        if region.is_null() {
            // SAFETY: a Region is an array of atomic pointers: all-zero is
            // every page absent.
            let fresh = Box::into_raw(unsafe { zeroed_box::<Region>() });
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
        // SAFETY: a Page is atomics only: all-zero is empty cells and an
        // empty bitmap.
        let fresh = Box::into_raw(unsafe { zeroed_box::<Page>() });
        let page = match slot.compare_exchange(
            std::ptr::null_mut(),
            fresh,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => fresh,
            Err(other) => {
                // SAFETY: `fresh` was never published.
                drop(unsafe { Box::from_raw(fresh) });
                other
            }
        };
        // SAFETY: published pages live as long as the table.
        Some(unsafe { &*page })
    }

    /// Sets the cells of `word` (by the detector, holding its lock). A
    /// word beyond 48-bit user addresses has no shadow (no access of a
    /// Linux x86-64 or arm64 process is made there).
    #[inline]
    pub fn store(&self, word: usize, cells: Word) {
        let (r, p, i) = split(word);
        if cells == Word::default() && self.page(r, p).is_none() {
            return;
        }
        let Some(page) = self.page_or_make(r, p) else {
            return;
        };
        for (a, c) in page.cells[i].iter().zip(cells) {
            a.store(c.0, Ordering::Relaxed);
        }
        let bits = &page.touched[i / 64];
        let b = bits.load(Ordering::Relaxed);
        if b & (1 << (i % 64)) == 0 {
            bits.store(b | 1 << (i % 64), Ordering::Release);
        }
    }

    /// Empties the cells of every word of `[lo, hi)` (a new allocation).
    pub fn clear(&self, lo: usize, hi: usize) {
        let lo = lo & !7;
        if hi <= lo {
            return;
        }
        let mut page_lo = lo >> PAGE_SHIFT;
        let page_hi = (hi - 1) >> PAGE_SHIFT;
        while page_lo <= page_hi {
            let base = page_lo << PAGE_SHIFT;
            let (r, p, _) = split(base);
            let Some(page) = self.page(r, p) else {
                page_lo += 1;
                continue;
            };
            let from = (lo.max(base) - base) >> 3;
            let to = (hi.min(base + (PAGE_WORDS << 3)) - base + 7) >> 3;
            clear_page(page, from, to.min(PAGE_WORDS));
            page_lo += 1;
        }
    }

    /// Every word whose cells may be non-empty, to change in place.
    pub fn for_each_mut(&self, mut f: impl FnMut(usize, &mut Word)) {
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
                        let mut w = load_cells(&page.cells[i]);
                        f(base + i * 8, &mut w);
                        for (a, c) in page.cells[i].iter().zip(w) {
                            a.store(c.0, Ordering::Relaxed);
                        }
                    }
                }
            }
        }
    }
}

/// Starts loading the cache line at `addr`: a hint that reads nothing
/// and never faults, so a stale address costs a useless load at most.
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

/// Empties words `[from, to)` of `page`, visiting only those whose bit is
/// set.
fn clear_page(page: &Page, from: usize, to: usize) {
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
        if hit == 0 {
            continue;
        }
        let mut left = hit;
        while left != 0 {
            let i = wlo + left.trailing_zeros() as usize;
            left &= left - 1;
            for c in &page.cells[i] {
                c.store(0, Ordering::Relaxed);
            }
        }
        bits.store(b & !hit, Ordering::Release);
    }
}

impl Drop for CellTable {
    fn drop(&mut self) {
        let made = std::mem::take(self.made.get_mut().unwrap_or_else(|e| e.into_inner()));
        for r in made {
            let region = *self.regions[r].get_mut();
            // SAFETY: `&mut self`: no reader is left; the region was made
            // by `Box::into_raw` and is freed once (its slot is nulled).
            let mut region = unsafe { Box::from_raw(region) };
            *self.regions[r].get_mut() = std::ptr::null_mut();
            for slot in region.pages.iter_mut() {
                let page = *slot.get_mut();
                if !page.is_null() {
                    // SAFETY: made by `Box::into_raw`, freed once.
                    drop(unsafe { Box::from_raw(page) });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(n: u32) -> Word {
        [Cell(n), Cell(0), Cell(0), Cell(n + 1)]
    }

    #[test]
    fn cells_are_found_again_cleared_by_range_and_walked() {
        let t = CellTable::default();
        for w in (0x10_0000..0x10_3000).step_by(8) {
            t.store(w, cell(w as u32));
        }
        // Across a region boundary too.
        t.store((1 << REGION_SHIFT) - 8, cell(7));
        t.store(1 << REGION_SHIFT, cell(9));
        assert_eq!(t.load(0x10_1008), Some(cell(0x10_1008)));
        assert_eq!(t.load(0x20_0000), None);
        assert!(t.contains_or_prefetch(0x10_1008, Cell(0x10_1009), 64));
        assert!(!t.contains_or_prefetch(0x10_1008, Cell(0x10_1008 + 2), 64));
        // A stale hint is only prefetched, never read.
        t.set_aux(0x10_1008, 0x8);
        assert!(!t.contains_or_prefetch(0x10_1010, Cell(1), 64));
        // One word of page 0, all of page 1, two of page 2.
        t.clear(0x10_0ff8, 0x10_2010);
        assert_eq!(t.load(0x10_0ff0), Some(cell(0x10_0ff0)));
        assert_eq!(t.load(0x10_0ff8), None);
        assert_eq!(t.load(0x10_1008), None);
        assert_eq!(t.load(0x10_2008), None);
        assert_eq!(t.load(0x10_2010), Some(cell(0x10_2010)));
        // A range ending inside a word clears that word.
        t.clear(0x10_2018, 0x10_2019);
        assert_eq!(t.load(0x10_2018), None);
        let mut walked = Vec::new();
        t.for_each_mut(|w, c| {
            walked.push(w);
            c[1] = Cell(1);
        });
        assert_eq!(walked.len(), 3 * 512 - (1 + 512 + 3) + 2);
        assert!(walked.contains(&(1 << REGION_SHIFT)));
        assert_eq!(t.load(0x10_2010).map(|c| c[1]), Some(Cell(1)));
        // Addresses beyond 48 bits have no shadow and are never found.
        t.store(usize::MAX & !7, cell(3));
        assert_eq!(t.load(usize::MAX & !7), None);
    }
}
