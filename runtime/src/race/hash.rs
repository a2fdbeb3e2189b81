//! The detectors' hash maps are keyed by addresses and small ids, looked
//! up on every instrumented access: std's SipHash costs more than the
//! rest of an access, and its resistance to chosen keys buys nothing
//! here (the keys are the program's own addresses). This is FxHash's
//! multiply-rotate step, finished with murmur3's mix so that the low bits
//! hashbrown indexes buckets by depend on the whole key (an 8-aligned
//! address times an odd constant keeps its three zero low bits).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

const K: u64 = 0x517c_c1b7_2722_0a95;

#[derive(Default, Clone, Copy)]
pub struct AddrHasher(u64);

impl Hasher for AddrHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(K);
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.write_u64(n as u64);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // murmur3's finaliser: every input bit reaches the low bits.
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^ (x >> 33)
    }
}

pub type AddrMap<K, V> = HashMap<K, V, BuildHasherDefault<AddrHasher>>;
pub type AddrSet<K> = HashSet<K, BuildHasherDefault<AddrHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn aligned_addresses_spread_over_the_low_bits() {
        let b = BuildHasherDefault::<AddrHasher>::default();
        let mut low = std::collections::BTreeSet::new();
        for i in 0..64usize {
            low.insert(b.hash_one(0x7f00_0000_0000usize + i * 8) & 63);
        }
        // 64 consecutive words land in most of 64 buckets, not 8.
        assert!(low.len() > 32, "{}", low.len());
    }
}
