//! A lock-free set of ports: one bit per port, so membership costs one atomic load.

use std::sync::atomic::{AtomicU64, Ordering};

const WORDS: usize = 65536 / 64;

pub(crate) struct PortSet([AtomicU64; WORDS]);

impl PortSet {
    /// A set holding `ports`, built at compile time so statics need no initialisation.
    pub(crate) const fn with(ports: &[u16]) -> Self {
        let mut bits = [0u64; WORDS];
        let mut i = 0;
        while i < ports.len() {
            let (word, bit) = Self::slot(ports[i]);
            bits[word] |= bit;
            i += 1;
        }
        let mut words = [const { AtomicU64::new(0) }; WORDS];
        let mut w = 0;
        while w < WORDS {
            words[w] = AtomicU64::new(bits[w]);
            w += 1;
        }
        PortSet(words)
    }

    const fn slot(port: u16) -> (usize, u64) {
        (port as usize / 64, 1 << (port % 64))
    }

    pub(crate) fn contains(&self, port: u16) -> bool {
        let (word, bit) = Self::slot(port);
        self.0[word].load(Ordering::Relaxed) & bit != 0
    }

    pub(crate) fn insert(&self, port: u16) {
        let (word, bit) = Self::slot(port);
        self.0[word].fetch_or(bit, Ordering::Relaxed);
    }

    /// Adds (`member`) or removes `port` with a plain load and store, not a locked
    /// read-modify-write; whether it was there. Only for a set whose writers all hold one
    /// mutex (the pool's state): readers without it still see the word before or after, as
    /// with [`insert`](Self::insert), and the allocation path saves a locked instruction per
    /// change.
    pub(crate) fn set_exclusively(&self, port: u16, member: bool) -> bool {
        let (word, bit) = Self::slot(port);
        let old = self.0[word].load(Ordering::Relaxed);
        let new = if member { old | bit } else { old & !bit };
        if new != old {
            self.0[word].store(new, Ordering::Relaxed);
        }
        old & bit != 0
    }

    /// The members from `lo` to `hi` inclusive, ascending, reading one word per 64 ports (the
    /// pool's start-up subtracts the excluded ports from its ranges this way). Plain loops, not
    /// iterator adapters: this runs in every test process, in unoptimised builds too.
    pub(crate) fn members_in(&self, lo: u16, hi: u16) -> Vec<u16> {
        let mut members = Vec::new();
        let mut word = usize::from(lo) / 64;
        while word <= usize::from(hi) / 64 {
            let mut bits = self.0[word].load(Ordering::Relaxed);
            while bits != 0 {
                let port = (word * 64) as u32 + bits.trailing_zeros();
                bits &= bits - 1;
                if (u32::from(lo)..=u32::from(hi)).contains(&port) {
                    members.push(port as u16);
                }
            }
            word += 1;
        }
        members
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        (0..=u16::MAX).filter(|&port| self.contains(port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_set_is_empty_and_usable() {
        static SET: PortSet = PortSet::with(&[]);
        let set = &SET;
        assert_eq!(set.iter().count(), 0);
        for port in [0, 1, 64, 6000, 65535] {
            assert!(!set.contains(port));
            set.insert(port);
            assert!(set.contains(port));
        }
        assert_eq!(set.iter().collect::<Vec<_>>(), [0, 1, 64, 6000, 65535]);
        assert!(set.set_exclusively(64, false) && !set.set_exclusively(64, false));
        assert!(!set.contains(64));
        assert!(!set.set_exclusively(64, true) && set.set_exclusively(64, true));
        // The other ports of the word are left as they were.
        assert_eq!(set.iter().collect::<Vec<_>>(), [0, 1, 64, 6000, 65535]);
    }
}
