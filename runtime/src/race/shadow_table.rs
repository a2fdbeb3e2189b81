//! Shadow storage for both detectors: a word's state found through its
//! 4 KiB page, as TSan finds shadow by address arithmetic rather than by
//! hashing every word. A hash map from page number to a page of 512 word
//! entries keeps the per-access lookup in a small, cache-resident table
//! (a map of 10^5 words touches a few hundred pages), and a word's entry
//! is then one indexed load, where a map keyed by word would miss the
//! cache on most accesses of a large map.
//!
//! Pages are created when first written and dropped when new allocations
//! have reset every word written in them (`clear`), so memory follows
//! what the program touches.

use super::hash::AddrMap;

const PAGE_SHIFT: u32 = 12;
const PAGE_WORDS: usize = 1 << (PAGE_SHIFT - 3);

/// One page: its words' states and which of them were ever written (so
/// that clearing and walking touch only those: a map's shadow, say, has
/// its element words written and its keys and tophashes never).
struct Page<T> {
    touched: [u64; PAGE_WORDS / 64],
    words: Box<[T]>,
}

/// Per-word state `T` for every 8-byte word written so far.
pub struct ShadowTable<T> {
    pages: AddrMap<usize, Page<T>>,
    /// Emptied pages (every word back to its default), kept for reuse: a
    /// program allocating fresh memory empties and needs pages at the same
    /// pace, and making one is the cost of a 512-word initialisation.
    free: Vec<Page<T>>,
}

/// Emptied pages kept for reuse.
const FREE_PAGES: usize = 256;

impl<T: Clone + Default> Default for ShadowTable<T> {
    fn default() -> Self {
        ShadowTable {
            pages: AddrMap::default(),
            free: Vec::new(),
        }
    }
}

#[inline]
fn split(word: usize) -> (usize, usize) {
    (word >> PAGE_SHIFT, (word >> 3) & (PAGE_WORDS - 1))
}

impl<T: Clone + Default> ShadowTable<T> {
    /// The state of the word at `word` (8-aligned), if its page exists.
    #[inline]
    pub fn get(&self, word: usize) -> Option<&T> {
        let (p, i) = split(word);
        self.pages.get(&p).map(|page| &page.words[i])
    }

    /// The state of the word at `word`, its page created if need be.
    #[inline]
    pub fn get_mut(&mut self, word: usize) -> &mut T {
        let (p, i) = split(word);
        let free = &mut self.free;
        let page = self.pages.entry(p).or_insert_with(|| {
            free.pop().unwrap_or_else(|| Page {
                touched: [0; PAGE_WORDS / 64],
                words: vec![T::default(); PAGE_WORDS].into_boxed_slice(),
            })
        });
        page.touched[i / 64] |= 1 << (i % 64);
        &mut page.words[i]
    }

    /// Resets the words of `[lo, hi)` (a new allocation), handing each
    /// old state to `f` first. Pages left with no written word are
    /// dropped.
    pub fn clear(&mut self, lo: usize, hi: usize, mut f: impl FnMut(usize, &T)) {
        let lo = lo & !7;
        if hi <= lo {
            return;
        }
        let first = lo >> PAGE_SHIFT;
        let last = (hi - 1) >> PAGE_SHIFT;
        let mut emptied = Vec::new();
        let mut visit = |p: usize, page: &mut Page<T>| {
            let base = p << PAGE_SHIFT;
            let from = (lo.max(base) - base) >> 3;
            let to = (hi.min(base + (PAGE_WORDS << 3)) - base) >> 3;
            for (k, bits) in page.touched.iter_mut().enumerate() {
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
                let mut hit = *bits & range;
                *bits &= !range;
                while hit != 0 {
                    let i = wlo + hit.trailing_zeros() as usize;
                    hit &= hit - 1;
                    f(base + i * 8, &page.words[i]);
                    page.words[i] = T::default();
                }
            }
            if page.touched.iter().all(|&b| b == 0) {
                emptied.push(p);
            }
        };
        if last - first < self.pages.len() {
            for p in first..=last {
                if let Some(page) = self.pages.get_mut(&p) {
                    visit(p, page);
                }
            }
        } else {
            for (&p, page) in self.pages.iter_mut() {
                if p >= first && p <= last {
                    visit(p, page);
                }
            }
        }
        for p in emptied {
            if let Some(page) = self.pages.remove(&p) {
                if self.free.len() < FREE_PAGES {
                    self.free.push(page);
                }
            }
        }
    }

    /// Every written word's state, to change in place.
    pub fn for_each_mut(&mut self, mut f: impl FnMut(usize, &mut T)) {
        for (&p, page) in self.pages.iter_mut() {
            for (k, &bits) in page.touched.iter().enumerate() {
                let mut b = bits;
                while b != 0 {
                    let i = k * 64 + b.trailing_zeros() as usize;
                    b &= b - 1;
                    f((p << PAGE_SHIFT) + i * 8, &mut page.words[i]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_found_again_and_cleared_by_range() {
        let mut t: ShadowTable<u32> = ShadowTable::default();
        for w in (0x10_0000..0x10_3000).step_by(8) {
            *t.get_mut(w) = w as u32;
        }
        assert_eq!(t.get(0x10_1008), Some(&0x10_1008));
        assert_eq!(t.get(0x20_0000), None);
        let mut seen = 0;
        t.clear(0x10_0ff8, 0x10_2010, |_, &v| seen += (v != 0) as usize);
        // One word of page 0, all of page 1, two of page 2.
        assert_eq!(seen, 1 + 512 + 2);
        let mut walked = 0;
        t.for_each_mut(|_, _| walked += 1);
        assert_eq!(walked, 3 * 512 - seen);
        assert_eq!(t.get(0x10_0ff0), Some(&0x10_0ff0));
        assert_eq!(t.get(0x10_0ff8), Some(&0));
        assert_eq!(t.get(0x10_1008), None);
        assert_eq!(t.get(0x10_2008), Some(&0));
        assert_eq!(t.get(0x10_2010), Some(&0x10_2010));
    }
}
