//! Whether a request's groups can ever fit in the pool, from the pool's shape alone: a block
//! longer than the pool's longest run of consecutive ports, or offsets that leave no group
//! inside it, would otherwise wait the whole timeout and then blame whoever holds ports.
//!
//! The pool's ports are a bitset of 65536 bits, and the ports that start a whole group are that
//! set ANDed with itself shifted by each offset: one pass over the pool's words per offset,
//! however many ports the pool has.

const WORDS: usize = 65536 / 64;

/// A set of ports, one bit each.
#[derive(Clone)]
pub(crate) struct Bits(Vec<u64>);

impl Bits {
    pub(crate) fn new() -> Bits {
        Bits(vec![0; WORDS])
    }

    pub(crate) fn from_ports(ports: impl IntoIterator<Item = u16>) -> Bits {
        let mut bits = Bits::new();
        ports.into_iter().for_each(|p| bits.insert(p));
        bits
    }

    pub(crate) fn insert(&mut self, port: u16) {
        self.0[usize::from(port) / 64] |= 1 << (port % 64);
    }

    pub(crate) fn contains(&self, port: u16) -> bool {
        self.0[usize::from(port) / 64] & (1 << (port % 64)) != 0
    }

    fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Keeps the ports `p` for which `p + shift` is in `other` (a port past either end of the
    /// range is in no set).
    fn and_shifted(&mut self, other: &Bits, shift: i32) {
        for (i, word) in self.0.iter_mut().enumerate() {
            *word &= other.word_at(i as i64 * 64 + i64::from(shift));
        }
    }

    /// The 64 bits of ports `first..first + 64`, wherever `first` falls.
    fn word_at(&self, first: i64) -> u64 {
        let (index, bit) = (first.div_euclid(64), first.rem_euclid(64) as u32);
        let word = |i: i64| usize::try_from(i).ok().and_then(|i| self.0.get(i)).copied();
        let low = word(index).unwrap_or(0) >> bit;
        let high = match bit {
            0 => 0,
            _ => word(index + 1).unwrap_or(0) << (64 - bit),
        };
        low | high
    }
}

/// The ports `p` of `members` whose group, `p + o - offsets[0]` for each offset `o`, lies
/// wholly in `members`: the only first ports a pass need try.
pub(crate) fn group_starts(members: &Bits, offsets: &[u16]) -> Bits {
    let mut starts = members.clone();
    for &o in offsets {
        starts.and_shifted(members, i32::from(o) - i32::from(offsets[0]));
    }
    starts
}

/// Why no more than `fits` groups of `offsets` fit in the pool `members`, whose group starts
/// are `starts`, when fewer than `groups` do; `None` when `groups` may fit.
pub(crate) fn too_few_fit(
    members: &Bits,
    starts: &Bits,
    offsets: &[u16],
    groups: usize,
) -> Option<(usize, String)> {
    let (Some(&min), Some(&max)) = (offsets.iter().min(), offsets.iter().max()) else {
        return None;
    };
    let span = usize::from(max - min) + 1;
    if span == offsets.len() {
        // Consecutive ports: each run of the pool holds `run / span` blocks, and no more.
        let runs = runs(members);
        let fits = runs.iter().map(|run| run / span).sum();
        let longest = runs.iter().max().copied().unwrap_or(0);
        let why = format!(
            "{fits} block(s) of {span} consecutive ports fit in its runs of consecutive ports, \
             the longest {longest} ports"
        );
        return (fits < groups).then_some((fits, why));
    }
    // Each group needs a port of its own to start it: an upper bound on how many fit.
    let fits = starts.len();
    let first = offsets[0];
    let why = format!(
        "{fits} of its ports p have p + o - {first} in it for every offset o, and each group \
         needs one of its own"
    );
    (fits < groups).then_some((fits, why))
}

/// The lengths of the runs of consecutive ports in `members`.
fn runs(members: &Bits) -> Vec<usize> {
    let mut runs = Vec::new();
    let mut run = 0;
    for port in 0..=u16::MAX {
        if members.contains(port) {
            run += 1;
        } else if run > 0 {
            runs.push(run);
            run = 0;
        }
    }
    if run > 0 {
        runs.push(run);
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(ranges: &[(u16, u16)]) -> Bits {
        Bits::from_ports(ranges.iter().flat_map(|&(lo, hi)| lo..=hi))
    }

    fn too_few_fit(members: &Bits, offsets: &[u16], groups: usize) -> Option<(usize, String)> {
        super::too_few_fit(members, &group_starts(members, offsets), offsets, groups)
    }

    #[test]
    fn a_group_starts_where_its_first_offset_is() {
        let members = pool(&[(100, 110)]);
        let starts = group_starts(&members, &[5, 0, 7]);
        let got: Vec<u16> = (0..=u16::MAX).filter(|&p| starts.contains(p)).collect();
        assert_eq!(got, (105..=108).collect::<Vec<_>>());
    }

    #[test]
    fn a_block_longer_than_every_run_does_not_fit() {
        let two_runs = pool(&[(23000, 23002), (23004, 23006)]);
        let (fits, why) = too_few_fit(&two_runs, &[0, 1, 2, 3], 1).unwrap();
        assert_eq!(fits, 0);
        assert!(why.contains("the longest 3 ports"), "{why}");
        assert!(too_few_fit(&two_runs, &[0, 1, 2], 2).is_none());
        assert_eq!(too_few_fit(&two_runs, &[0, 1, 2], 3).unwrap().0, 2);
        assert_eq!(too_few_fit(&two_runs, &[1, 0], 5).unwrap().0, 2);
        assert!(too_few_fit(&pool(&[(1, 65535)]), &[0, 1], 32767).is_none());
    }

    #[test]
    fn offsets_that_leave_no_group_inside_do_not_fit() {
        let pool_ = pool(&[(20000, 20100)]);
        let (fits, why) = too_few_fit(&pool_, &[0, 65000], 1).unwrap();
        assert_eq!(fits, 0, "{why}");
        // 20000..=20050 start a group of [0, 50]; the same offsets reversed start at 20050.
        assert!(too_few_fit(&pool_, &[0, 50], 51).is_none());
        assert_eq!(too_few_fit(&pool_, &[0, 50], 52).unwrap().0, 51);
        assert_eq!(too_few_fit(&pool_, &[50, 0], 52).unwrap().0, 51);
        let ends = pool(&[(1, 1), (65535, 65535)]);
        assert!(too_few_fit(&ends, &[0, 65534], 1).is_none());
        assert_eq!(too_few_fit(&ends, &[0, 65534], 2).unwrap().0, 1);
    }

    #[test]
    fn shifts_across_words_keep_every_bit() {
        let members = pool(&[(60, 70), (200, 300)]);
        for shift in [-200, -64, -1, 0, 1, 63, 64, 65, 140] {
            let mut starts = members.clone();
            starts.and_shifted(&members, shift);
            for p in 0..=u16::MAX {
                let other = i32::from(p) + shift;
                let want =
                    members.contains(p) && u16::try_from(other).is_ok_and(|o| members.contains(o));
                assert_eq!(starts.contains(p), want, "port {p}, shift {shift}");
            }
        }
    }
}
