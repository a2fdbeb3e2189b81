//! Go 1.19's size classes: the tables of runtime/sizeclasses.go.
//!
//! Small objects (up to `MAX_SMALL_SIZE` = 32 KiB) are not allocated at their
//! exact size: the size is rounded up to one of 67 size classes, and every
//! span (a run of `PAGE_SIZE` pages) holds objects of one class only. Class 0
//! is reserved for large objects, which get a span of their own. Go generates
//! the tables with runtime/mksizeclasses.go so that the tail waste of a span
//! and the rounding waste of an object stay at most 12.5 %; gort copies the
//! generated tables unchanged, so that its spans hold the same number of
//! objects as Go's and its heap sizes in `gctrace` grow in the same steps.
//!
//! The tables, as in Go:
//!
//! - `CLASS_TO_SIZE[c]`: the object size of class `c` (bytes).
//! - `CLASS_TO_ALLOCNPAGES[c]`: how many pages a span of class `c` takes.
//! - `CLASS_TO_DIVMAGIC[c]`: `u32::MAX / size + 1`, so that the object index
//!   of an offset `n` in a span, `n / size`, is `(n * divmagic) >> 32`
//!   (`mspan.divideByElemSize`). mksizeclasses.go checks by brute force that
//!   this is exact for `0 <= n <= npages * PAGE_SIZE`; gort computes the
//!   table with the same expression and its tests repeat that check.
//! - `SIZE_TO_CLASS8` / `SIZE_TO_CLASS128`: the size-to-class lookup,
//!   indexed by the size rounded up to a multiple of 8 (sizes up to
//!   `SMALL_SIZE_MAX - 8`) or of 128 above `SMALL_SIZE_MAX` (mallocgc's two
//!   `divRoundUp` forms), reached through `size_to_class`.
//!
//! A span of class `c` holds `objects_per_span(c)` =
//! `npages * PAGE_SIZE / size` objects; the remainder is tail waste.

/// Number of size classes, counting class 0 (large objects).
pub const NUM_SIZE_CLASSES: usize = 68;

/// Largest object size served from size classes (`_MaxSmallSize`); larger
/// objects get a span of their own (class 0).
pub const MAX_SMALL_SIZE: usize = 32768;

/// Bytes per heap page (`_PageSize`).
pub const PAGE_SIZE: usize = 8192;

/// log2(`PAGE_SIZE`) (`_PageShift`).
pub const PAGE_SHIFT: usize = 13;

/// Size granularity of `SIZE_TO_CLASS8` (`smallSizeDiv`).
pub const SMALL_SIZE_DIV: usize = 8;

/// Largest size looked up in `SIZE_TO_CLASS8` (`smallSizeMax`).
pub const SMALL_SIZE_MAX: usize = 1024;

/// Size granularity of `SIZE_TO_CLASS128` (`largeSizeDiv`).
pub const LARGE_SIZE_DIV: usize = 128;

/// Object size of each class (`class_to_size`).
pub static CLASS_TO_SIZE: [u16; NUM_SIZE_CLASSES] = [
    0, 8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256, 288, 320,
    352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792,
    2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728,
    10240, 10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672,
    32768,
];

/// Pages per span of each class (`class_to_allocnpages`).
pub static CLASS_TO_ALLOCNPAGES: [u8; NUM_SIZE_CLASSES] = [
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 2, 1, 2, 1, 2, 1, 3, 2, 3, 1, 3, 2, 3, 4, 5, 6, 1, 7, 6, 5, 4, 3, 5, 7, 2, 9, 7, 5, 8,
    3, 10, 7, 4,
];

/// `u32::MAX / size + 1` for each class, 0 for class 0
/// (`class_to_divmagic`): `(n * divmagic) >> 32 == n / size` for every
/// offset `0 <= n <= npages * PAGE_SIZE` of a span of that class.
pub static CLASS_TO_DIVMAGIC: [u32; NUM_SIZE_CLASSES] = compute_divmagic();

/// Class of each size rounded up to a multiple of `SMALL_SIZE_DIV`, indexed
/// by `(size + 7) / 8` (`size_to_class8`).
pub static SIZE_TO_CLASS8: [u8; SMALL_SIZE_MAX / SMALL_SIZE_DIV + 1] = [
    0, 1, 2, 3, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15,
    16, 16, 17, 17, 18, 18, 19, 19, 19, 19, 20, 20, 20, 20, 21, 21, 21, 21, 22, 22, 22, 22, 23, 23,
    23, 23, 24, 24, 24, 24, 25, 25, 25, 25, 26, 26, 26, 26, 27, 27, 27, 27, 27, 27, 27, 27, 28, 28,
    28, 28, 28, 28, 28, 28, 29, 29, 29, 29, 29, 29, 29, 29, 30, 30, 30, 30, 30, 30, 30, 30, 31, 31,
    31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32,
    32, 32, 32, 32, 32, 32,
];

/// Class of each size above `SMALL_SIZE_MAX` rounded up to a multiple of
/// `LARGE_SIZE_DIV`, indexed by `(size - 1024 + 127) / 128`
/// (`size_to_class128`).
pub static SIZE_TO_CLASS128: [u8; (MAX_SMALL_SIZE - SMALL_SIZE_MAX) / LARGE_SIZE_DIV + 1] = [
    32, 33, 34, 35, 36, 37, 37, 38, 38, 39, 39, 40, 40, 40, 41, 41, 41, 42, 43, 43, 44, 44, 44, 44,
    44, 45, 45, 45, 45, 45, 45, 46, 46, 46, 46, 47, 47, 47, 47, 47, 47, 48, 48, 48, 49, 49, 50, 51,
    51, 51, 51, 51, 51, 51, 51, 51, 51, 52, 52, 52, 52, 52, 52, 52, 52, 52, 52, 53, 53, 54, 54, 54,
    54, 55, 55, 55, 55, 55, 56, 56, 56, 56, 56, 56, 56, 56, 56, 56, 56, 57, 57, 57, 57, 57, 57, 57,
    57, 57, 57, 58, 58, 58, 58, 58, 58, 59, 59, 59, 59, 59, 59, 59, 59, 59, 59, 59, 59, 59, 59, 59,
    59, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 61, 61, 61, 61, 61, 62, 62,
    62, 62, 62, 62, 62, 62, 62, 62, 62, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 64, 64, 64, 64, 64,
    64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 65, 65, 65, 65, 65, 65, 65,
    65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 65, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66,
    66, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67,
    67, 67, 67, 67, 67, 67, 67, 67, 67,
];

/// mksizeclasses.go's `^uint32(0)/size + 1` for every class.
const fn compute_divmagic() -> [u32; NUM_SIZE_CLASSES] {
    let mut t = [0u32; NUM_SIZE_CLASSES];
    let mut c = 1;
    while c < NUM_SIZE_CLASSES {
        t[c] = u32::MAX / CLASS_TO_SIZE[c] as u32 + 1;
        c += 1;
    }
    t
}

/// The size class of a small allocation of `size` bytes,
/// `1 <= size <= MAX_SMALL_SIZE`, as mallocgc computes it.
///
/// Go picks the table with `size <= smallSizeMax-8` and then indexes the
/// large table with `divRoundUp(size-smallSizeMax, largeSizeDiv)`, which for
/// 1017..=1023 relies on the unsigned subtraction wrapping around and the
/// `+ 127` wrapping back; adding 127 before subtracting 1024 gives the same
/// index without the wrap.
///
/// # Panics
/// If `size` is 0 or above `MAX_SMALL_SIZE` (class 0 is chosen by the
/// caller for those).
pub fn size_to_class(size: usize) -> u8 {
    assert!(
        (1..=MAX_SMALL_SIZE).contains(&size),
        "gort: size_to_class({size}): not a small object size"
    );
    if size <= SMALL_SIZE_MAX - 8 {
        // divRoundUp(size, smallSizeDiv)
        SIZE_TO_CLASS8[size.div_ceil(SMALL_SIZE_DIV)]
    } else {
        // divRoundUp(size-smallSizeMax, largeSizeDiv), without the wrap.
        SIZE_TO_CLASS128[(size + LARGE_SIZE_DIV - 1 - SMALL_SIZE_MAX) / LARGE_SIZE_DIV]
    }
}

/// Objects in one span of `class` (`npages * PAGE_SIZE / size`, the
/// "objects" column of sizeclasses.go).
///
/// # Panics
/// For class 0 (a large object's span holds exactly one object of its own
/// size) and for classes out of range.
pub fn objects_per_span(class: u8) -> usize {
    let c = usize::from(class);
    assert!(
        (1..NUM_SIZE_CLASSES).contains(&c),
        "gort: objects_per_span({class}): not a small size class"
    );
    usize::from(CLASS_TO_ALLOCNPAGES[c]) * PAGE_SIZE / usize::from(CLASS_TO_SIZE[c])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_agree() {
        assert_eq!(1 << PAGE_SHIFT, PAGE_SIZE);
        assert_eq!(
            usize::from(CLASS_TO_SIZE[NUM_SIZE_CLASSES - 1]),
            MAX_SMALL_SIZE
        );
        assert_eq!(CLASS_TO_SIZE[0], 0);
        assert_eq!(CLASS_TO_ALLOCNPAGES[0], 0);
        assert_eq!(CLASS_TO_DIVMAGIC[0], 0);
        // Sizes strictly increase and are multiples of 8.
        for w in CLASS_TO_SIZE[1..].windows(2) {
            assert!(w[0] < w[1], "{w:?}");
        }
        assert!(CLASS_TO_SIZE.iter().all(|&s| s % 8 == 0));
    }

    #[test]
    fn divmagic_matches_go_literals() {
        // A few entries of Go's table, written out: ^uint32(0)/size + 1.
        assert_eq!(CLASS_TO_DIVMAGIC[1], 536_870_912); // 8
        assert_eq!(CLASS_TO_DIVMAGIC[3], 178_956_971); // 24
        assert_eq!(CLASS_TO_DIVMAGIC[67], 131_072); // 32768
        assert_eq!(CLASS_TO_DIVMAGIC[65], 157_533); // 27264
    }

    #[test]
    fn divmagic_divides_exactly_over_whole_span() {
        for c in 1..NUM_SIZE_CLASSES {
            let size = u64::from(CLASS_TO_SIZE[c]);
            let magic = u64::from(CLASS_TO_DIVMAGIC[c]);
            let max = u64::from(CLASS_TO_ALLOCNPAGES[c]) * PAGE_SIZE as u64;
            for n in 0..=max {
                assert_eq!((n * magic) >> 32, n / size, "class {c} size {size} n {n}");
            }
        }
    }

    #[test]
    fn size_to_class_is_smallest_fitting_class() {
        for size in 1..=MAX_SMALL_SIZE {
            let c = usize::from(size_to_class(size));
            assert!(c >= 1, "size {size}");
            assert!(
                usize::from(CLASS_TO_SIZE[c]) >= size,
                "size {size} class {c}"
            );
            assert!(
                usize::from(CLASS_TO_SIZE[c - 1]) < size,
                "size {size} class {c}"
            );
        }
        // Both sides of the table switch, and the ends.
        assert_eq!(size_to_class(1), 1);
        assert_eq!(size_to_class(8), 1);
        assert_eq!(size_to_class(9), 2);
        assert_eq!(size_to_class(1016), 32);
        assert_eq!(size_to_class(1017), 32);
        assert_eq!(size_to_class(1024), 32);
        assert_eq!(size_to_class(1025), 33);
        assert_eq!(size_to_class(32767), 67);
        assert_eq!(size_to_class(32768), 67);
    }

    #[test]
    #[should_panic(expected = "size_to_class(32769)")]
    fn size_to_class_rejects_large() {
        size_to_class(MAX_SMALL_SIZE + 1);
    }

    #[test]
    fn objects_per_span_matches_go_comment() {
        // The "objects" column of sizeclasses.go's header comment.
        let go: [usize; NUM_SIZE_CLASSES - 1] = [
            1024, 512, 341, 256, 170, 128, 102, 85, 73, 64, 56, 51, 46, 42, 39, 36, 34, 32, 28, 25,
            23, 21, 19, 18, 17, 16, 14, 12, 11, 10, 9, 8, 7, 6, 11, 5, 9, 4, 7, 3, 8, 5, 7, 2, 5,
            3, 4, 5, 6, 7, 1, 6, 5, 4, 3, 2, 3, 4, 1, 4, 3, 2, 3, 1, 3, 2, 1,
        ];
        for (i, &n) in go.iter().enumerate() {
            assert_eq!(objects_per_span(i as u8 + 1), n, "class {}", i + 1);
        }
        // Tail waste is below one object.
        for c in 1..NUM_SIZE_CLASSES as u8 {
            let span = usize::from(CLASS_TO_ALLOCNPAGES[usize::from(c)]) * PAGE_SIZE;
            let size = usize::from(CLASS_TO_SIZE[usize::from(c)]);
            assert!(span - objects_per_span(c) * size < size);
        }
    }

    #[test]
    #[should_panic(expected = "objects_per_span(0)")]
    fn objects_per_span_rejects_class_0() {
        objects_per_span(0);
    }
}
