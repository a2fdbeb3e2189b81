//! ThreadSanitizer v3's shadow word, as Go 1.19's race runtime (LLVM
//! 127e59048cd3, built with `TSAN_VECTORIZE` on x86-64) keeps it: four
//! 32-bit cells per 8-byte application word, each one remembered access.
//! This is where the model of Go's detector forgets: a fifth access to a
//! word evicts one of four, so an earlier access that would race with a
//! later one can be gone by then (reference/race.md §2, the "evict"
//! cliff).
//!
//! A cell packs the access's byte mask (bits 0-7), its slot id (`sid`,
//! 8-15), the slot's epoch (14 bits, 16-29), and read (30) and atomic
//! (31) flags; 0 is an empty cell. The rules, in TSan's order:
//!
//! - `contains_same_access`: an access already in a cell (for a read: a
//!   cell equal to it but for the read bit) is skipped whole, before it
//!   is even traced, so it moves no trace position.
//! - `check_races`: a cell races with the access when their bytes
//!   intersect, their slots differ, they are not both reads or both
//!   atomics, and the slot's epoch in the thread's clock is below the
//!   cell's. The first racing cell is reported, and the word's cells are
//!   reset so the word does not report again. Otherwise the access is
//!   stored: over the first cell of the same slot and bytes that is not
//!   stronger (a write replaces anything, a read only a read or an
//!   atomic), else into the first empty cell, else over the cell chosen by
//!   the thread's trace position (`trace_pos / 2 % 16 / 4`), reads
//!   included (later LLVM stopped storing reads there; Go 1.19's did
//!   not, which is why 8 readers hide an earlier one).

/// One shadow cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Cell(pub u32);

/// The cells of one application word.
pub type Word = [Cell; 4];

const READ_BIT: u32 = 1 << 30;
const ATOMIC_BIT: u32 = 1 << 31;
const EPOCH_MASK: u32 = 0x3fff;
/// What a reported word's cells become: cell 0 holds this marker (read
/// bit only: never intersects, never empty), the others are empty.
const REPORTED: u32 = READ_BIT;

impl Cell {
    pub const EMPTY: Cell = Cell(0);

    /// An access of `mask` bytes by slot `sid` at `epoch`.
    pub fn new(mask: u8, sid: u8, epoch: u16, read: bool, atomic: bool) -> Cell {
        Cell(
            mask as u32
                | (sid as u32) << 8
                | ((epoch as u32) & EPOCH_MASK) << 16
                | if read { READ_BIT } else { 0 }
                | if atomic { ATOMIC_BIT } else { 0 },
        )
    }
    pub fn mask(self) -> u8 {
        self.0 as u8
    }
    pub fn sid(self) -> u8 {
        (self.0 >> 8) as u8
    }
    pub fn epoch(self) -> u16 {
        ((self.0 >> 16) & EPOCH_MASK) as u16
    }
    pub fn is_read(self) -> bool {
        self.0 & READ_BIT != 0
    }
    pub fn is_atomic(self) -> bool {
        self.0 & ATOMIC_BIT != 0
    }
}

/// Whether `cur` is already in `word` (TSan's `ContainsSameAccess`).
pub fn contains_same_access(word: &Word, cur: Cell) -> bool {
    if !cur.is_read() {
        return word.contains(&cur);
    }
    word.iter().any(|c| Cell(c.0 | READ_BIT) == cur)
}

/// TSan's `CheckRaces` for access `cur` made with `trace_pos` (bytes of
/// trace the thread has written, this access's event included) and the
/// thread's clock (`clock(sid)`: the epoch of slot `sid` it has seen).
/// Returns the cell it races with, if any (the word is then reset), else
/// the index of the cell it was stored in (the caller needs it, and
/// comparing the word it just wrote would wait for that store).
pub fn check_races_at(
    word: &mut Word,
    cur: Cell,
    trace_pos: u64,
    clock: impl Fn(u8) -> u16,
) -> Result<usize, Cell> {
    let racing = word.iter().copied().find(|&old| {
        old.mask() & cur.mask() != 0
            && old.sid() != cur.sid()
            && (old.0 & cur.0) & (READ_BIT | ATOMIC_BIT) == 0
            && clock(old.sid()) < old.epoch()
    });
    if let Some(old) = racing {
        *word = [Cell(REPORTED), Cell::EMPTY, Cell::EMPTY, Cell::EMPTY];
        return Err(old);
    }
    let kind = cur.0 & (READ_BIT | ATOMIC_BIT);
    let rewrite = word
        .iter()
        .position(|&c| c.0 & 0xffff == cur.0 & 0xffff && c.0 >= kind);
    let i = rewrite
        .or_else(|| word.iter().position(|&c| c == Cell::EMPTY))
        .unwrap_or(((trace_pos / 2) % 16 / 4) as usize);
    word[i] = cur;
    Ok(i)
}

/// `check_races_at`, the racing cell only.
#[cfg(test)]
pub fn check_races(
    word: &mut Word,
    cur: Cell,
    trace_pos: u64,
    clock: impl Fn(u8) -> u16,
) -> Option<Cell> {
    check_races_at(word, cur, trace_pos, clock).err()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(mask: u8, sid: u8, epoch: u16) -> Cell {
        Cell::new(mask, sid, epoch, false, false)
    }
    fn r(mask: u8, sid: u8, epoch: u16) -> Cell {
        Cell::new(mask, sid, epoch, true, false)
    }
    /// A clock that has seen nothing of any other slot.
    fn blind(_: u8) -> u16 {
        0
    }

    #[test]
    fn a_cell_packs_what_tsan_packs() {
        let c = Cell::new(0x0f, 7, 0x3fff, true, true);
        assert_eq!(c.0, 0xffff_070f);
        assert_eq!(
            (c.mask(), c.sid(), c.epoch(), c.is_read(), c.is_atomic()),
            (0x0f, 7, 0x3fff, true, true)
        );
    }

    #[test]
    fn accesses_fill_empty_cells_and_same_accesses_are_skipped() {
        let mut word = [Cell::EMPTY; 4];
        assert_eq!(check_races(&mut word, r(0xff, 1, 1), 8, blind), None);
        assert_eq!(check_races(&mut word, r(0xff, 2, 1), 8, blind), None);
        assert_eq!(&word[..2], &[r(0xff, 1, 1), r(0xff, 2, 1)]);
        assert!(contains_same_access(&word, r(0xff, 2, 1)));
        assert!(!contains_same_access(&word, r(0xff, 2, 2)));
        // A read matches a write of the same slot, epoch and bytes.
        word[3] = w(0x0f, 3, 4);
        assert!(contains_same_access(&word, r(0x0f, 3, 4)));
        assert!(!contains_same_access(&word, w(0x0f, 3, 5)));
    }

    #[test]
    fn a_write_replaces_its_slots_read_but_a_read_keeps_the_write() {
        let mut word = [Cell::EMPTY; 4];
        check_races(&mut word, r(0xff, 1, 1), 8, blind);
        check_races(&mut word, w(0xff, 1, 2), 16, blind);
        assert_eq!(word, [w(0xff, 1, 2), Cell::EMPTY, Cell::EMPTY, Cell::EMPTY]);
        check_races(&mut word, r(0xff, 1, 3), 24, blind);
        assert_eq!(&word[..2], &[w(0xff, 1, 2), r(0xff, 1, 3)]);
        // Other bytes of the same slot take a cell of their own.
        check_races(&mut word, w(0x01, 1, 4), 32, blind);
        assert_eq!(word[2], w(0x01, 1, 4));
    }

    #[test]
    fn a_full_word_evicts_the_cell_the_trace_position_picks_reads_too() {
        let full = [r(0xff, 1, 1), r(0xff, 2, 1), r(0xff, 3, 1), r(0xff, 4, 1)];
        for (events, cell) in [(8u64, 0usize), (9, 1), (10, 2), (11, 3), (13, 1)] {
            let mut word = full;
            assert_eq!(
                check_races(&mut word, r(0xff, 5, 1), events * 8, blind),
                None
            );
            assert_eq!(word[cell], r(0xff, 5, 1), "trace position {events} events");
        }
    }

    #[test]
    fn an_unordered_conflicting_access_races_and_resets_the_word() {
        let mut word = [Cell::EMPTY; 4];
        check_races(&mut word, w(0xff, 1, 5), 8, blind);
        // Slot 1 at epoch 5 seen: ordered, no race.
        let mut ordered = word;
        assert_eq!(
            check_races(&mut ordered, w(0xff, 2, 1), 8, |s| if s == 1 {
                5
            } else {
                0
            }),
            None
        );
        // Only epoch 4 seen: a race with the cell, then the word is reset.
        assert_eq!(
            check_races(&mut word, r(0xff, 2, 1), 8, |s| if s == 1 { 4 } else { 0 }),
            Some(w(0xff, 1, 5))
        );
        assert_eq!(
            word,
            [Cell(REPORTED), Cell::EMPTY, Cell::EMPTY, Cell::EMPTY]
        );
        // Disjoint bytes, two reads and two atomics never race.
        let mut word = [
            w(0x0f, 1, 5),
            r(0xf0, 3, 5),
            Cell::new(0xf0, 4, 5, false, true),
            Cell::EMPTY,
        ];
        assert_eq!(
            check_races(&mut word, w(0xf0, 2, 1), 8, blind),
            Some(r(0xf0, 3, 5))
        );
        let mut word = [
            r(0xff, 3, 5),
            Cell::new(0xff, 4, 5, false, true),
            Cell::EMPTY,
            Cell::EMPTY,
        ];
        assert_eq!(
            check_races(&mut word, Cell::new(0xff, 2, 1, true, true), 8, blind),
            None
        );
    }

    #[test]
    fn readers_past_four_can_evict_the_access_a_later_write_races_with() {
        // A (slot 1) reads; readers in slots 2..=k read, each ordered
        // after nothing; Z (slot 9) has seen every reader but not A, and
        // writes. Z's race with A is found only while A's cell survives.
        let found = |k: u8| {
            let mut word = [Cell::EMPTY; 4];
            check_races(&mut word, r(0xff, 1, 1), 8, blind);
            for sid in 2..=k {
                // Each reader's event is its trace's third.
                check_races(&mut word, r(0xff, sid, 1), 3 * 8, blind);
            }
            check_races(&mut word, w(0xff, 9, 1), 8, |s| {
                if (2..=k).contains(&s) {
                    1
                } else {
                    0
                }
            }) == Some(r(0xff, 1, 1))
        };
        assert!(found(4), "A and three readers fit in four cells");
        // A fifth reader lands on cell 3 % 4 = 3, a reader's; A stays.
        assert!(found(5));
        // With readers at trace position 0 (cell 0), A's cell is evicted.
        let mut word = [r(0xff, 1, 1), r(0xff, 2, 1), r(0xff, 3, 1), r(0xff, 4, 1)];
        check_races(&mut word, r(0xff, 5, 1), 0, blind);
        assert_eq!(
            check_races(&mut word, w(0xff, 9, 1), 8, |s| if (2..=5).contains(&s) {
                1
            } else {
                0
            }),
            None
        );
    }
}
