//! Vector clocks, the happens-before bookkeeping of both race detectors
//! (reference/race.md §2).
//!
//! A clock has one component per detector thread id (`Tid`, dense: the
//! exact detector gives each goroutine its own, for good). A component is
//! that thread's epoch: it starts at 1 and grows at each release-type
//! event, so an access made at epoch `e` by thread `t` happens before
//! everything of a thread whose clock has `t >= e`. Missing components are
//! 0: the thread has seen nothing of that one.

/// A detector thread id (the exact detector's name for a goroutine).
pub type Tid = u32;

/// A vector clock.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VClock(Vec<u64>);

impl VClock {
    /// How many components it has (missing ones are 0).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&e| e == 0)
    }

    /// `t`'s component.
    #[inline]
    pub fn get(&self, t: Tid) -> u64 {
        self.0.get(t as usize).copied().unwrap_or(0)
    }

    /// Sets `t`'s component to `e`.
    pub fn set(&mut self, t: Tid, e: u64) {
        let i = t as usize;
        if self.0.len() <= i {
            self.0.resize(i + 1, 0);
        }
        self.0[i] = e;
    }

    /// Adds one to `t`'s component (a release-type event of `t`).
    pub fn tick(&mut self, t: Tid) {
        let e = self.get(t);
        self.set(t, e + 1);
    }

    /// Componentwise maximum with `other` (an acquire: TSan's `Acquire`).
    pub fn join(&mut self, other: &VClock) {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (a, &b) in self.0.iter_mut().zip(other.0.iter()) {
            *a = (*a).max(b);
        }
    }

    /// Whether an event of thread `t` at epoch `e` happens before the
    /// owner of this clock.
    #[inline]
    pub fn covers(&self, t: Tid, e: u64) -> bool {
        self.get(t) >= e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_is_the_componentwise_maximum_and_missing_components_are_zero() {
        let mut a = VClock::default();
        a.set(0, 3);
        a.set(2, 1);
        let mut b = VClock::default();
        b.set(1, 5);
        b.set(2, 4);
        a.join(&b);
        assert_eq!((a.get(0), a.get(1), a.get(2), a.get(9)), (3, 5, 4, 0));
        assert!(a.covers(1, 5) && !a.covers(1, 6) && !a.covers(9, 1));
        a.tick(9);
        assert_eq!(a.get(9), 1);
    }
}
