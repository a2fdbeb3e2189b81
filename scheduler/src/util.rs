//! Small helpers: the scheduler's pseudo-random generator and Go's
//! `randomOrder` for visiting Ps when stealing.
//!
//! gort uses its own generator (wyrand, as Go's `fastrand` does since 1.17)
//! rather than a `rand` engine so that a `simseed` replays the same
//! interleaving across gort versions and dependency upgrades: the sequence
//! is fixed by this file alone. It lives in an atomic so an M's generator can
//! sit in a shared structure without a lock; only its own M draws from it.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct FastRand {
    state: AtomicU64,
}

impl FastRand {
    pub fn new(seed: u64) -> FastRand {
        FastRand {
            state: AtomicU64::new(seed),
        }
    }
    pub fn seed(&self, s: u64) {
        self.state.store(s, Ordering::Relaxed);
    }
    pub fn next_u64(&self) -> u64 {
        let s = self
            .state
            .load(Ordering::Relaxed)
            .wrapping_add(0xa076_1d64_78bd_642f);
        self.state.store(s, Ordering::Relaxed);
        let t = (s as u128).wrapping_mul((s ^ 0xe703_7ed1_a0b4_28db) as u128);
        ((t >> 64) ^ t) as u64
    }
    pub fn next_u32(&self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
    /// Uniform in (0, 1].
    pub fn unit(&self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }
    /// A geometric run length with mean `mean` (>= 1): the number of steps
    /// until the next switch, drawn once per switch.
    pub fn geometric(&self, mean: u32) -> u64 {
        if mean <= 1 {
            return 1;
        }
        let p = 1.0 / mean as f64;
        let k = (self.unit().ln() / (1.0 - p).ln()).ceil();
        (k as u64).max(1)
    }
}

/// Go's `randomOrder`: visit 0..n once each, starting anywhere, stepping by
/// a random number coprime with n.
pub(crate) struct RandomOrder {
    n: usize,
    pos: usize,
    inc: usize,
    i: usize,
}

impl RandomOrder {
    pub fn new(n: usize, r: u32) -> RandomOrder {
        let coprimes: Vec<usize> = (1..=n).filter(|&k| gcd(k, n) == 1).collect();
        RandomOrder {
            n,
            pos: r as usize % n,
            inc: coprimes[(r as usize / n) % coprimes.len()],
            i: 0,
        }
    }
}

impl Iterator for RandomOrder {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        if self.i == self.n {
            return None;
        }
        self.i += 1;
        let p = self.pos;
        self.pos = (self.pos + self.inc) % self.n;
        Some(p)
    }
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}
