//! The pool's ports as sorted, disjoint inclusive ranges, with the port of any rank found by a
//! binary search over the ranges: the pool starts without naming its ports one by one, so its
//! start-up costs the same for 100 ports as for 60,000.

use crate::ports::exclude::excluded_in;

/// Sorted, disjoint, non-adjacent inclusive ranges of ports, without excluded ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PortRanges {
    spans: Vec<(u16, u16)>,
    /// `ends[i]`: how many ports the spans up to and including `i` hold.
    ends: Vec<u32>,
}

impl PortRanges {
    /// The ports of `spans` (in any order, overlapping or not; reversed ones are empty) minus
    /// the ports excluded now.
    pub(crate) fn new(mut spans: Vec<(u16, u16)>) -> PortRanges {
        spans.retain(|&(lo, hi)| lo <= hi);
        let spans = subtract_excluded(merge_spans(spans));
        let mut total = 0;
        let ends = spans
            .iter()
            .map(|&(lo, hi)| {
                total += u32::from(hi - lo) + 1;
                total
            })
            .collect();
        PortRanges { spans, ends }
    }

    /// How many ports there are.
    pub(crate) fn len(&self) -> usize {
        self.ends.last().map_or(0, |&n| n as usize)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The port of rank `index` (0 is the lowest); `index` must be below [`len`](Self::len).
    pub(crate) fn nth(&self, index: usize) -> u16 {
        let index = index as u32;
        // The first span whose cumulative end lies beyond `index`.
        let span = self.ends.partition_point(|&end| end <= index);
        let before = if span == 0 { 0 } else { self.ends[span - 1] };
        self.spans[span].0 + (index - before) as u16
    }

    /// The rank of `port` (its `index` for [`nth`](Self::nth)), if it is one of these ports.
    pub(crate) fn rank(&self, port: u16) -> Option<usize> {
        // The first span that ends at or above `port`.
        let span = self.spans.partition_point(|&(_, hi)| hi < port);
        let &(lo, _) = self.spans.get(span).filter(|&&(lo, _)| lo <= port)?;
        let before = if span == 0 { 0 } else { self.ends[span - 1] };
        Some(before as usize + usize::from(port - lo))
    }

    /// The ranges, ascending.
    pub(crate) fn spans(&self) -> &[(u16, u16)] {
        &self.spans
    }

    /// Every port, ascending.
    pub(crate) fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        self.spans.iter().flat_map(|&(lo, hi)| lo..=hi)
    }
}

/// `spans` (inclusive, none reversed) sorted, with overlapping or adjacent ones merged: at most
/// 32,768 remain (every other port).
pub(crate) fn merge_spans(mut spans: Vec<(u16, u16)>) -> Vec<(u16, u16)> {
    spans.sort_unstable();
    let mut merged: Vec<(u16, u16)> = Vec::with_capacity(spans.len().min(32768));
    for (lo, hi) in spans {
        match merged.last_mut() {
            Some(last) if u32::from(lo) <= u32::from(last.1) + 1 => last.1 = last.1.max(hi),
            _ => merged.push((lo, hi)),
        }
    }
    merged
}

/// Splits the sorted, disjoint `spans` around the excluded ports inside them.
fn subtract_excluded(spans: Vec<(u16, u16)>) -> Vec<(u16, u16)> {
    let mut out = Vec::with_capacity(spans.len() + 4);
    for (lo, hi) in spans {
        let mut start = u32::from(lo);
        for excluded in excluded_in(lo, hi) {
            let excluded = u32::from(excluded);
            if excluded > start {
                out.push((start as u16, (excluded - 1) as u16));
            }
            start = excluded + 1;
        }
        if start <= u32::from(hi) {
            out.push((start as u16, hi));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::browsers::DEFAULT_EXCLUDED_TCP_PORTS;

    #[test]
    fn merges_sorts_and_drops_excluded_and_reversed() {
        let r = PortRanges::new(vec![
            (3000, 3002),
            (2000, 2001),
            (2002, 2003),
            (3001, 3001),
            (9, 5),
        ]);
        assert_eq!(
            r.iter().collect::<Vec<_>>(),
            [2000, 2001, 2002, 2003, 3000, 3001, 3002]
        );
        let r = PortRanges::new(vec![(5990, 6010), (1719, 1720)]);
        let ports: Vec<u16> = r.iter().collect();
        assert!(!ports.contains(&6000) && ports.contains(&5999) && ports.contains(&6001));
        assert_eq!(ports.len(), 20);
        assert!(PortRanges::new(vec![(6665, 6669)]).is_empty());
    }

    #[test]
    fn spans_sharing_a_port_or_touching_merge_and_others_stay_apart() {
        assert_eq!(
            merge_spans(vec![(5, 9), (20, 20), (1, 5), (10, 12), (14, 15)]),
            [(1, 12), (14, 15), (20, 20)]
        );
        assert_eq!(merge_spans(vec![(65535, 65535), (1, 65534)]), [(1, 65535)]);
    }

    #[test]
    fn nth_is_the_port_of_that_rank() {
        let r = PortRanges::new(vec![(1024, 32767), (61000, 65535), (1, 1)]);
        let all: Vec<u16> = r.iter().collect();
        assert_eq!(all.len(), r.len());
        assert_eq!(
            r.len(),
            1 + (32768 - 1024) + (65536 - 61000) - DEFAULT_EXCLUDED_TCP_PORTS.len()
        );
        for (i, &port) in all.iter().enumerate() {
            assert_eq!(r.nth(i), port, "rank {i}");
            assert_eq!(r.rank(port), Some(i), "port {port}");
        }
        for outside in [0, 2, 1023, 32768, 60999, 6000] {
            assert_eq!(r.rank(outside), None, "port {outside}");
        }
    }

    #[test]
    fn a_set_s_members_in_a_range_are_read_word_by_word() {
        // A local set: the process-wide excluded set must not change under other tests.
        let set = crate::pool::portset::PortSet::with(&[1, 63, 64, 6000, 6001, 65535]);
        assert_eq!(set.members_in(1, 65535), [1, 63, 64, 6000, 6001, 65535]);
        assert_eq!(set.members_in(63, 6000), [63, 64, 6000]);
        assert_eq!(set.members_in(2, 62), [] as [u16; 0]);
        assert_eq!(set.members_in(65535, 65535), [65535]);
    }

    #[test]
    fn the_whole_port_space_fits() {
        let r = PortRanges::new(vec![(1, 65535)]);
        assert_eq!(r.len(), 65535 - DEFAULT_EXCLUDED_TCP_PORTS.len());
        assert_eq!(r.nth(r.len() - 1), 65535);
        assert_eq!(r.nth(0), 1);
    }
}
