//! Parsing of `PYSYS_PORTS` specifications: comma-separated ports and inclusive `min-max`
//! ranges, with white space allowed around numbers and dashes.

use crate::error::Error;
use crate::ports::port_ranges::merge_spans;
use crate::ports::source::PortSource;

/// A set of ports built from `PYSYS_PORTS` ranges without expanding them: the ranges are kept
/// as intervals and merged whenever there are many, so parsing any specification costs time
/// near-linear in its length and memory bounded by the 65536-port set (a `1-65535` range is
/// one interval, not 65535 ports).
#[derive(Debug, Default)]
pub(crate) struct SpecRanges {
    /// Inclusive `(min, max)` intervals, not yet merged.
    ranges: Vec<(u16, u16)>,
    /// The first few reversed ranges, with where they were read, for one warning.
    reversed: Vec<String>,
    /// How many reversed ranges there were in all.
    reversed_count: usize,
}

/// Above this many unmerged intervals, they are merged: at most 32768 disjoint ones remain
/// (every other port), so the list never outgrows a few hundred kilobytes.
const MERGE_AT: usize = 1 << 16;

/// How many reversed ranges one warning names.
const REVERSED_NAMED: usize = 5;

impl SpecRanges {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    fn add(&mut self, min: u16, max: u16) {
        self.ranges.push((min, max));
        if self.ranges.len() >= MERGE_AT {
            self.merge();
        }
    }

    /// Sorts and merges overlapping or adjacent intervals, in place.
    fn merge(&mut self) {
        self.ranges = merge_spans(std::mem::take(&mut self.ranges));
    }

    /// The intervals, sorted and merged: what the pool starts from without naming each port.
    pub(crate) fn into_spans(mut self) -> Vec<(u16, u16)> {
        self.merge();
        self.ranges
    }

    /// The ports, sorted and without duplicates.
    #[cfg(test)]
    pub(crate) fn into_ports(mut self) -> Vec<u16> {
        self.merge();
        let count = self
            .ranges
            .iter()
            .map(|&(min, max)| usize::from(max - min) + 1)
            .sum();
        let mut ports = Vec::with_capacity(count);
        for (min, max) in self.ranges {
            ports.extend(min..=max);
        }
        ports
    }

    /// The warning for the reversed ranges seen, if any: they name no port, as in PySys, but
    /// are more likely a typo than meant.
    pub(crate) fn reversed_warning(&self) -> Option<String> {
        let first = self.reversed.first()?;
        let more = self.reversed_count - self.reversed.len();
        let listed = if self.reversed_count == 1 {
            format!("range {first} is reversed and names no port")
        } else {
            format!(
                "ranges {} are reversed and name no port",
                self.reversed.join(", ")
            )
        };
        Some(if more > 0 {
            format!("{listed} (and {more} more reversed ranges)")
        } else {
            listed
        })
    }
}

/// Parses one specification, adding the ports it names to `into`.
///
/// Empty tokens (as in a trailing comma) are skipped. A reversed range such as `65020-65018`
/// names no port, as in PySys; `into` remembers it for a warning.
/// `origin` and `line` say where it was read, for messages.
pub(crate) fn parse_spec(
    spec: &str,
    origin: &PortSource,
    line: Option<usize>,
    into: &mut SpecRanges,
) -> Result<(), Error> {
    for token in spec.split(',') {
        if token.trim().is_empty() {
            continue;
        }
        let (min, max) = parse_token(token, origin, line)?;
        if min > max {
            into.reversed_count += 1;
            if into.reversed.len() < REVERSED_NAMED {
                into.reversed
                    .push(format!("{:?} ({})", token.trim(), origin.place(line)));
            }
            continue;
        }
        into.add(min, max);
    }
    Ok(())
}

/// Parses a port or an inclusive range into its bounds.
fn parse_token(token: &str, origin: &PortSource, line: Option<usize>) -> Result<(u16, u16), Error> {
    let invalid = |reason: &str| Error::InvalidPortSpec {
        origin: origin.clone(),
        line,
        token: token.trim().to_owned(),
        reason: reason.to_owned(),
    };
    let mut parts = token.split('-');
    let first = parts.next().unwrap_or_default();
    match (parts.next(), parts.next()) {
        (None, _) => {
            let port = parse_port(first).map_err(|r| invalid(&r))?;
            Ok((port, port))
        }
        (Some(second), None) => {
            if first.trim().is_empty() {
                return Err(invalid(
                    "is not a port number (negative numbers and ranges without a start are not allowed)",
                ));
            }
            let bound = |which: &str, text: &str| {
                parse_port(text).map_err(|r| {
                    invalid(&format!(
                        "is not a range: its {which} {:?} {r}",
                        text.trim()
                    ))
                })
            };
            Ok((bound("start", first)?, bound("end", second)?))
        }
        (Some(_), Some(_)) => Err(invalid(
            "is not a port or a min-max range (too many dashes)",
        )),
    }
}

/// Parses one port number, 1 to 65535, surrounded by optional white space.
fn parse_port(text: &str) -> Result<u16, String> {
    let digits = text.trim();
    if digits.is_empty() {
        return Err("is missing".to_owned());
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("is not a port number".to_owned());
    }
    match digits.parse::<u32>() {
        Ok(0) => Err("is not a server port (ports are 1 to 65535)".to_owned()),
        Ok(n) if n <= u32::from(u16::MAX) => Ok(n as u16),
        _ => Err("is above 65535, the largest port".to_owned()),
    }
}

/// Formats sorted ports as the shortest `PYSYS_PORTS` specification that names the same set,
/// e.g. to pass a pool on to another program.
///
/// ```
/// assert_eq!(allocport_core::format_ports_spec(&[2000, 2001, 2002, 6001]), "2000-2002,6001");
/// ```
pub fn format_ports_spec(sorted_ports: &[u16]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < sorted_ports.len() {
        let start = sorted_ports[i];
        let mut end = start;
        while i + 1 < sorted_ports.len() && sorted_ports[i + 1] == end.wrapping_add(1) {
            i += 1;
            end = sorted_ports[i];
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(spec: &str) -> Result<Vec<u16>, Error> {
        let mut ranges = SpecRanges::new();
        parse_spec(spec, &PortSource::Env(spec.to_owned()), None, &mut ranges)?;
        Ok(ranges.into_ports())
    }

    fn message(spec: &str) -> String {
        parse(spec).unwrap_err().to_string()
    }

    #[test]
    fn pysys_example_with_spaces_and_reversed_range() {
        let ports = parse("  2000 - 2020, 6000, 6001, 65000, 65020-65018 , 65040-65042 ").unwrap();
        let mut expected: Vec<u16> = (2000..=2020).collect();
        expected.extend([6000, 6001, 65000, 65040, 65041, 65042]);
        assert_eq!(ports, expected);
    }

    #[test]
    fn reversed_ranges_are_named_in_one_warning() {
        let mut ranges = SpecRanges::new();
        let origin = PortSource::Env(String::new());
        parse_spec("5000-4000, 7", &origin, None, &mut ranges).unwrap();
        assert_eq!(
            ranges.reversed_warning().unwrap(),
            r#"range "5000-4000" (PYSYS_PORTS) is reversed and names no port"#
        );
        let spec = (0..8).map(|i| format!("{}-1", i + 2)).collect::<Vec<_>>();
        let mut ranges = SpecRanges::new();
        parse_spec(&spec.join(","), &origin, None, &mut ranges).unwrap();
        let warning = ranges.reversed_warning().unwrap();
        assert!(
            warning.starts_with(r#"ranges "2-1" (PYSYS_PORTS), "3-1""#),
            "{warning}"
        );
        assert!(
            warning.ends_with("(and 3 more reversed ranges)"),
            "{warning}"
        );
        let mut ranges = SpecRanges::new();
        parse_spec("1-2", &origin, None, &mut ranges).unwrap();
        assert_eq!(ranges.reversed_warning(), None);
    }

    #[test]
    fn overlapping_and_adjacent_ranges_merge_without_expanding() {
        assert_eq!(parse("10-20, 15-25, 26, 5-9, 30-30").unwrap(), {
            let mut v: Vec<u16> = (5..=26).collect();
            v.push(30);
            v
        });
        // Enough ranges to merge several times on the way.
        let mut ranges = SpecRanges::new();
        let origin = PortSource::Env(String::new());
        for i in 0..(3 * MERGE_AT) {
            let start = (i % 60000) as u16 + 1;
            ranges.add(start, start.saturating_add(3));
            assert!(ranges.ranges.len() <= MERGE_AT);
        }
        parse_spec("65535", &origin, None, &mut ranges).unwrap();
        assert_eq!(
            ranges.into_ports(),
            (1..=60003).chain([65535]).collect::<Vec<u16>>()
        );
    }

    #[test]
    fn the_4000_overlapping_full_ranges_are_one_set() {
        let spec = vec!["1-65535"; 4000].join(",");
        assert_eq!(parse(&spec).unwrap().len(), 65535);
    }

    #[test]
    fn single_port_and_single_port_range() {
        assert_eq!(parse("1").unwrap(), vec![1]);
        assert_eq!(parse("65535").unwrap(), vec![65535]);
        assert_eq!(parse("7-7").unwrap(), vec![7]);
        assert_eq!(parse("1-3,").unwrap(), vec![1, 2, 3]);
        assert_eq!(parse(" , ").unwrap(), Vec::<u16>::new());
    }

    #[test]
    fn non_numeric_token_names_variable_and_token() {
        assert_eq!(
            message("2000,abc"),
            r#"PYSYS_PORTS: "abc" is not a port number"#
        );
    }

    #[test]
    fn bad_tokens_are_errors_naming_the_token() {
        for (spec, token, fragment) in [
            ("0", "0", "is not a server port"),
            ("65536", "65536", "is above 65535"),
            (
                "99999999999999999999",
                "99999999999999999999",
                "is above 65535",
            ),
            (
                "100-70000",
                "100-70000",
                r#"its end "70000" is above 65535"#,
            ),
            ("0-10", "0-10", r#"its start "0" is not a server port"#),
            ("1-2-3", "1-2-3", "too many dashes"),
            ("-5", "-5", "negative numbers"),
            ("5-", "5-", r#"its end "" is missing"#),
            ("+5", "+5", "is not a port number"),
            ("1.5", "1.5", "is not a port number"),
            ("１２", "１２", "is not a port number"),
        ] {
            let msg = message(spec);
            assert!(msg.starts_with("PYSYS_PORTS: "), "{spec}: {msg}");
            assert!(msg.contains(&format!("{token:?}")), "{spec}: {msg}");
            assert!(msg.contains(fragment), "{spec}: {msg}");
        }
    }

    #[test]
    fn file_origin_names_path_and_line() {
        let origin = PortSource::File("/x/ports.txt".into());
        let msg = parse_spec("junk", &origin, Some(3), &mut SpecRanges::new())
            .unwrap_err()
            .to_string();
        assert_eq!(
            msg,
            r#"PYSYS_PORTS_FILE /x/ports.txt, line 3: "junk" is not a port number"#
        );
    }

    #[test]
    fn format_spec_collapses_runs() {
        assert_eq!(
            format_ports_spec(&[1, 2, 3, 5, 7, 8, 65535]),
            "1-3,5,7-8,65535"
        );
        assert_eq!(format_ports_spec(&[]), "");
    }

    proptest! {
        #[test]
        fn parsing_never_panics(spec in "\\PC{0,40}") {
            let _ = parse(&spec);
        }

        #[test]
        fn parsing_spec_like_text_never_panics(spec in "[0-9 ,\\-]{0,40}") {
            let _ = parse(&spec);
        }

        #[test]
        fn formatted_sets_round_trip(ports in proptest::collection::btree_set(1u16..=u16::MAX, 0..200)) {
            let sorted: Vec<u16> = ports.into_iter().collect();
            let spec = format_ports_spec(&sorted);
            let mut parsed = parse(&spec).unwrap();
            parsed.sort_unstable();
            prop_assert_eq!(parsed, sorted);
        }

        #[test]
        fn accepted_specs_reformat_to_the_same_set(spec in "[0-9 ,\\-]{0,40}") {
            if let Ok(mut ports) = parse(&spec) {
                ports.sort_unstable();
                ports.dedup();
                let mut again = parse(&format_ports_spec(&ports)).unwrap();
                again.sort_unstable();
                prop_assert_eq!(again, ports);
            }
        }
    }
}
