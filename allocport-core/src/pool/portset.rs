//! Sets of ports, one bit per port, so membership costs one atomic load.
//!
//! The process's sets (the excluded ports and the pool's four) share one table that keeps the
//! words of each 64 ports side by side: a port's first use touches one page of memory, not
//! one per set. Each first touch of a page is a page fault, which costs a test process
//! microseconds (several in a virtual machine), and every test process under nextest pays
//! them at its first allocation.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::ports::browsers::DEFAULT_EXCLUDED_TCP_PORTS;

const WORDS: usize = 65536 / 64;

/// The sets of the process's table.
#[derive(Clone, Copy)]
pub(crate) enum Lane {
    /// Ports never handed out ([`crate::ports::exclude`]).
    Excluded,
    /// Ports this process holds.
    Held,
    /// Ports in the pool's queue.
    Queued,
    /// Ports of the pool's that left it.
    Dropped,
    /// Fresh ports taken out of turn.
    Drawn,
}

const LANES: usize = 5;

/// The table: word `w` of lane `l` at `w * LANES + l`. Built at compile time, so it needs no
/// initialisation and costs nothing until used.
static TABLE: [AtomicU64; LANES * WORDS] = {
    let plain = words_with(&DEFAULT_EXCLUDED_TCP_PORTS);
    let mut table = [const { AtomicU64::new(0) }; LANES * WORDS];
    let mut w = 0;
    while w < WORDS {
        table[w * LANES + Lane::Excluded as usize] = AtomicU64::new(plain[w]);
        w += 1;
    }
    table
};

/// The words of a set of `ports`, at compile time.
const fn words_with(ports: &[u16]) -> [u64; WORDS] {
    let mut bits = [0u64; WORDS];
    let mut i = 0;
    while i < ports.len() {
        let (word, bit) = PortSet::slot(ports[i]);
        bits[word] |= bit;
        i += 1;
    }
    bits
}

/// A set of ports: a lane of the process's table, or words of its own (in tests).
pub(crate) struct PortSet {
    words: &'static [AtomicU64],
    stride: usize,
    lane: usize,
}

impl PortSet {
    /// The set in `lane` of the process's table.
    pub(crate) const fn of(lane: Lane) -> Self {
        PortSet {
            words: &TABLE,
            stride: LANES,
            lane: lane as usize,
        }
    }

    /// A set of its own holding `ports`, for tests.
    #[cfg(test)]
    pub(crate) fn with(ports: &[u16]) -> Self {
        let words = words_with(ports).map(AtomicU64::new);
        PortSet {
            words: Box::leak(Box::new(words)),
            stride: 1,
            lane: 0,
        }
    }

    fn word(&self, word: usize) -> &AtomicU64 {
        &self.words[word * self.stride + self.lane]
    }

    const fn slot(port: u16) -> (usize, u64) {
        (port as usize / 64, 1 << (port % 64))
    }

    pub(crate) fn contains(&self, port: u16) -> bool {
        let (word, bit) = Self::slot(port);
        self.word(word).load(Ordering::Relaxed) & bit != 0
    }

    pub(crate) fn insert(&self, port: u16) {
        let (word, bit) = Self::slot(port);
        self.word(word).fetch_or(bit, Ordering::Relaxed);
    }

    /// Adds (`member`) or removes `port` with a plain load and store, not a locked
    /// read-modify-write; whether it was there. Only for a set whose writers all hold one
    /// mutex (the pool's state): readers without it still see the word before or after, as
    /// with [`insert`](Self::insert), and the allocation path saves a locked instruction per
    /// change.
    pub(crate) fn set_exclusively(&self, port: u16, member: bool) -> bool {
        let (word, bit) = Self::slot(port);
        let old = self.word(word).load(Ordering::Relaxed);
        let new = if member { old | bit } else { old & !bit };
        if new != old {
            self.word(word).store(new, Ordering::Relaxed);
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
            let mut bits = self.word(word).load(Ordering::Relaxed);
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

    /// The sets of a table like the process's, with words of its own.
    fn table_sets() -> Vec<PortSet> {
        let words: Vec<AtomicU64> = (0..LANES * WORDS).map(|_| AtomicU64::new(0)).collect();
        let words: &'static [AtomicU64] = Box::leak(words.into_boxed_slice());
        (0..LANES)
            .map(|lane| PortSet {
                words,
                stride: LANES,
                lane,
            })
            .collect()
    }

    #[test]
    fn the_sets_of_one_table_keep_their_own_ports() {
        let sets = table_sets();
        // Ports of the same word in every lane, and the first and last words.
        let ports = |lane: usize| [lane as u16, 64 + lane as u16, 6000, 65535 - lane as u16];
        for (lane, set) in sets.iter().enumerate() {
            for port in ports(lane) {
                set.insert(port);
            }
        }
        for (lane, set) in sets.iter().enumerate() {
            let mut expected = ports(lane).to_vec();
            expected.sort_unstable();
            assert_eq!(set.iter().collect::<Vec<_>>(), expected, "lane {lane}");
            assert_eq!(set.members_in(0, u16::MAX), expected, "lane {lane}");
        }
        assert!(sets[1].set_exclusively(6000, false));
        assert!(!sets[1].contains(6000));
        assert!(
            sets.iter()
                .enumerate()
                .all(|(l, s)| l == 1 || s.contains(6000))
        );
    }

    #[test]
    fn the_process_table_starts_with_the_default_excluded_ports_in_their_lane() {
        // Read only: the pool's lanes belong to the pool's tests.
        let excluded = PortSet::of(Lane::Excluded);
        for &port in &DEFAULT_EXCLUDED_TCP_PORTS {
            assert!(excluded.contains(port), "{port}");
            assert!(
                !excluded.contains(port + 1) || DEFAULT_EXCLUDED_TCP_PORTS.contains(&(port + 1))
            );
        }
        assert_eq!(excluded.members_in(0, 1718), [] as [u16; 0]);
        for lane in [Lane::Held, Lane::Queued, Lane::Dropped, Lane::Drawn] {
            let set = PortSet::of(lane);
            assert!(DEFAULT_EXCLUDED_TCP_PORTS.iter().all(|&p| !set.contains(p)));
        }
    }

    #[test]
    fn an_empty_set_is_empty_and_usable() {
        let set = &PortSet::with(&[]);
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
