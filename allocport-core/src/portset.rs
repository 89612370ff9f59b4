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

    pub(crate) fn remove(&self, port: u16) {
        let (word, bit) = Self::slot(port);
        self.0[word].fetch_and(!bit, Ordering::Relaxed);
    }

    /// The members from `lo` to `hi` inclusive, ascending, reading one word per 64 ports (the
    /// pool's start-up subtracts the excluded ports from its ranges this way).
    pub(crate) fn members_in(&self, lo: u16, hi: u16) -> impl Iterator<Item = u16> + '_ {
        (usize::from(lo) / 64..=usize::from(hi) / 64).flat_map(move |word| {
            let mut bits = self.0[word].load(Ordering::Relaxed);
            std::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let bit = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                Some((word * 64 + bit) as u16)
            })
            .filter(move |&port| (lo..=hi).contains(&port))
        })
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        (0..=u16::MAX).filter(|&port| self.contains(port))
    }
}
