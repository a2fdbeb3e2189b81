//! `runtime.MemStats`: the subset of Go 1.19's memory statistics that gort's
//! heap keeps (runtime/mstats.go), with Go's field meanings.
//!
//! The collector updates the counters as it allocates, sweeps and
//! finishes cycles; `runtime.ReadMemStats` hands out a copy. The pause
//! history is Go's: two 256-entry circular buffers, `pause_ns` and
//! `pause_end`, indexed by the cycle number. `record_pause` is the one
//! place that ends a cycle's accounting, in the order of Go's
//! `gcMarkTermination`: it writes slot `num_gc % 256` and *then*
//! increments `num_gc`, so afterwards the most recent pause is at
//! `pause_ns[(num_gc + 255) % 256]`, as Go documents. Callers must not
//! increment `num_gc` themselves.
//!
//! Go fields gort leaves out: `Lookups` (always 0 in Go), `HeapReleased`
//! (gort never returns memory to an OS), the stack and off-heap `*Sys`
//! breakdown, `EnableGC`/`DebugGC` and `BySize`.

/// Length of the pause circular buffers (`len(MemStats.PauseNs)`).
pub const PAUSE_BUFFER_LEN: usize = 256;

/// Statistics about the simulated heap and its collector (Go's
/// `runtime.MemStats`, abridged).
#[derive(Clone, Debug)]
pub struct MemStats {
    /// Bytes of allocated heap objects; the same as `heap_alloc`.
    pub alloc: u64,
    /// Cumulative bytes allocated for heap objects. It increases as objects
    /// are allocated and, unlike `alloc` and `heap_alloc`, does not
    /// decrease when they are freed.
    pub total_alloc: u64,
    /// Total bytes of memory obtained from the OS; in gort, the arenas the
    /// heap has mapped (the sum of the `*_sys` fields gort keeps).
    pub sys: u64,
    /// Cumulative count of heap objects allocated. The number of live
    /// objects is `mallocs - frees`.
    pub mallocs: u64,
    /// Cumulative count of heap objects freed.
    pub frees: u64,
    /// Bytes of allocated heap objects: all reachable objects plus
    /// unreachable ones the collector has not yet freed. It increases as
    /// objects are allocated and decreases as the heap is swept.
    pub heap_alloc: u64,
    /// Bytes of heap memory obtained from the OS, used or not: an estimate
    /// of the largest size the heap has had.
    pub heap_sys: u64,
    /// Bytes in idle spans, which hold no objects and can be reused for
    /// any size class.
    pub heap_idle: u64,
    /// Bytes in in-use spans, which hold at least one object and can only
    /// be used for objects of their size class. `heap_inuse - heap_alloc`
    /// bounds the fragmentation.
    pub heap_inuse: u64,
    /// Number of allocated heap objects; like `heap_alloc`, it increases
    /// with allocation and decreases as the heap is swept.
    pub heap_objects: u64,
    /// The heap goal of the next cycle: the collector aims at keeping
    /// `heap_alloc <= next_gc`.
    pub next_gc: u64,
    /// When the last cycle finished, in nanoseconds since the Unix epoch
    /// (virtual time in deterministic mode); 0 before the first cycle.
    pub last_gc: u64,
    /// Cumulative nanoseconds in stop-the-world pauses since the program
    /// started.
    pub pause_total_ns: u64,
    /// Circular buffer of recent pause times in nanoseconds: the most
    /// recent is at `pause_ns[(num_gc + 255) % 256]`; in general
    /// `pause_ns[n % 256]` is the pause of cycle `n + 1` (the sum of the
    /// cycle's stop-the-world pauses).
    pub pause_ns: [u64; PAUSE_BUFFER_LEN],
    /// Circular buffer of recent pause end times, in nanoseconds since the
    /// Unix epoch, filled like `pause_ns`; the end of a cycle's last pause.
    pub pause_end: [u64; PAUSE_BUFFER_LEN],
    /// Number of completed GC cycles.
    pub num_gc: u32,
    /// Number of cycles forced by the program calling `runtime.GC()`.
    pub num_forced_gc: u32,
    /// Fraction of the available CPU time (the integral of GOMAXPROCS
    /// since the program started) used by the collector, between 0 and 1;
    /// the `P%` of gctrace. Excludes write barriers.
    pub gc_cpu_fraction: f64,
}

/// All zero, like Go's `var m runtime.MemStats` (written out because
/// `Default` is not derived for 256-element arrays).
impl Default for MemStats {
    fn default() -> Self {
        MemStats {
            alloc: 0,
            total_alloc: 0,
            sys: 0,
            mallocs: 0,
            frees: 0,
            heap_alloc: 0,
            heap_sys: 0,
            heap_idle: 0,
            heap_inuse: 0,
            heap_objects: 0,
            next_gc: 0,
            last_gc: 0,
            pause_total_ns: 0,
            pause_ns: [0; PAUSE_BUFFER_LEN],
            pause_end: [0; PAUSE_BUFFER_LEN],
            num_gc: 0,
            num_forced_gc: 0,
            gc_cpu_fraction: 0.0,
        }
    }
}

impl MemStats {
    /// Ends a cycle's accounting as `gcMarkTermination` does: stores the
    /// cycle's total pause `pause_ns` and the end of its last pause
    /// `end_ns` (also the new `last_gc`) in slot `num_gc % 256`, adds the
    /// pause to `pause_total_ns`, then increments `num_gc`. `num_forced_gc`
    /// is counted by the caller when it starts a forced cycle, as Go does
    /// in `gcStart`.
    pub fn record_pause(&mut self, pause_ns: u64, end_ns: u64) {
        let slot = self.num_gc as usize % PAUSE_BUFFER_LEN;
        self.pause_ns[slot] = pause_ns;
        self.pause_end[slot] = end_ns;
        self.pause_total_ns += pause_ns;
        self.last_gc = end_ns;
        self.num_gc = self.num_gc.wrapping_add(1);
    }

    /// The most recent cycle's pause, `pause_ns[(num_gc + 255) % 256]`
    /// (0 before the first cycle).
    pub fn last_pause_ns(&self) -> u64 {
        self.pause_ns[(self.num_gc as usize + PAUSE_BUFFER_LEN - 1) % PAUSE_BUFFER_LEN]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_zero() {
        let m = MemStats::default();
        assert_eq!(m.num_gc, 0);
        assert!(m.pause_ns.iter().chain(m.pause_end.iter()).all(|&x| x == 0));
        assert_eq!(m.last_pause_ns(), 0);
        assert_eq!(m.gc_cpu_fraction, 0.0);
    }

    #[test]
    fn record_pause_follows_go_indexing() {
        // Go 1.19.8, after 9 cycles: PauseNs[(NumGC+255)%256] is the last
        // pause, PauseNs[NumGC%256] still 0, LastGC == PauseEnd of the last.
        let mut m = MemStats::default();
        m.record_pause(100, 1_000);
        assert_eq!(m.num_gc, 1);
        assert_eq!(m.pause_ns[0], 100);
        assert_eq!(m.pause_end[0], 1_000);
        assert_eq!(m.pause_ns[(m.num_gc as usize + 255) % 256], 100);
        assert_eq!(m.pause_ns[m.num_gc as usize % 256], 0);
        assert_eq!(m.last_gc, 1_000);
        m.record_pause(50, 2_000);
        assert_eq!(m.num_gc, 2);
        assert_eq!(m.pause_ns[1], 50);
        assert_eq!(m.last_pause_ns(), 50);
        assert_eq!(m.pause_total_ns, 150);
        assert_eq!(m.last_gc, m.pause_end[(m.num_gc as usize + 255) % 256]);
    }

    #[test]
    fn record_pause_wraps_around() {
        let mut m = MemStats::default();
        for i in 1..=300u64 {
            m.record_pause(i, i * 10);
        }
        assert_eq!(m.num_gc, 300);
        assert_eq!(m.last_pause_ns(), 300);
        // Cycle n's pause is at (n - 1) % 256: cycles 257..=300 overwrote
        // slots 0..=43, slots 44.. still hold cycles 45..=256.
        assert_eq!(m.pause_ns[0], 257);
        assert_eq!(m.pause_ns[43], 300);
        assert_eq!(m.pause_ns[44], 45);
        assert_eq!(m.pause_ns[255], 256);
        assert_eq!(m.pause_end[43], 3_000);
        assert_eq!(m.pause_total_ns, 300 * 301 / 2);
    }
}
