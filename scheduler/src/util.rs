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
}

/// Geometric run lengths (>= 1) with a given mean, drawn with integer
/// arithmetic only: a seed must replay the same interleaving on every
/// machine, and `ln` from one libm need not match another's to the last
/// bit. The table holds `P(X > k)` scaled to 2^64 for k = 1..; it is built
/// by repeated IEEE multiplication, which is exact-rounded everywhere.
#[derive(Debug)]
pub struct Geometric {
    /// `tail[k-1] = floor(q^k * 2^64)`, strictly decreasing, q = 1 - 1/mean.
    tail: Vec<u64>,
}

impl Geometric {
    pub fn new(mean: u32) -> Geometric {
        let mut tail = Vec::new();
        if mean > 1 {
            let q = 1.0 - 1.0 / mean as f64;
            let mut qk = 1.0f64;
            // Up to 64 means (the odds of running longer are e^-64), and at
            // most 2^16 entries: a huge `simswitch` gets runs of at most
            // 65,537 steps, which is "rarely switch" all the same.
            for _ in 0..(64 * mean as usize).min(1 << 16) {
                qk *= q;
                let t = (qk * 18446744073709551616.0) as u64;
                if t == 0 {
                    break;
                }
                tail.push(t);
            }
        }
        Geometric { tail }
    }

    /// One run length: 1 + the number of k with u < P(X > k).
    #[inline]
    pub fn sample(&self, rng: &FastRand) -> u64 {
        if self.tail.is_empty() {
            return 1;
        }
        let u = rng.next_u64();
        1 + self.tail.partition_point(|&t| u < t) as u64
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometric_run_lengths_have_the_asked_mean() {
        for mean in [1u32, 2, 8, 64] {
            let g = Geometric::new(mean);
            let rng = FastRand::new(7);
            let n = 200_000u64;
            let sum: u64 = (0..n).map(|_| g.sample(&rng)).sum();
            let got = sum as f64 / n as f64;
            assert!(
                (got - mean as f64).abs() < 0.03 * mean as f64 + 0.01,
                "mean {mean}: got {got}"
            );
        }
    }

    #[test]
    fn huge_means_stay_bounded() {
        let g = Geometric::new(u32::MAX);
        let rng = FastRand::new(1);
        for _ in 0..1000 {
            let x = g.sample(&rng);
            assert!((1..=(1 << 16) + 1).contains(&x));
        }
    }

    #[test]
    fn random_order_visits_every_p_once() {
        for n in 1..=12 {
            for r in [0u32, 1, 7, 12345, u32::MAX] {
                let mut seen: Vec<usize> = RandomOrder::new(n, r).collect();
                seen.sort();
                assert_eq!(seen, (0..n).collect::<Vec<_>>());
            }
        }
    }
}
