//! Parsing of `PYSYS_PORTS` specifications: comma-separated ports and inclusive `min-max`
//! ranges, with white space allowed around numbers and dashes.

use crate::error::Error;
use crate::source::PortSource;

/// Parses one specification into the ports it names, in the order written.
///
/// Empty tokens (as in a trailing comma) are skipped. A reversed range such as `65020-65018`
/// names no port and logs a warning, as PySys does.
/// `origin` and `line` say where it was read, for messages.
// The pool reads ranges ([`parse_spec_ranges`]); this list form is what the tests check.
#[cfg(test)]
pub(crate) fn parse_spec(
    spec: &str,
    origin: &PortSource,
    line: Option<usize>,
) -> Result<Vec<u16>, Error> {
    let ranges = parse_spec_ranges(spec, origin, line)?;
    Ok(ranges
        .into_iter()
        .flat_map(|(min, max)| min..=max)
        .collect())
}

/// [`parse_spec`] as inclusive `(min, max)` ranges in the order written, so that a pool can be
/// built without naming each port.
pub(crate) fn parse_spec_ranges(
    spec: &str,
    origin: &PortSource,
    line: Option<usize>,
) -> Result<Vec<(u16, u16)>, Error> {
    let mut ports = Vec::new();
    for token in spec.split(',') {
        if token.trim().is_empty() {
            continue;
        }
        let (min, max) = parse_token(token, origin, line)?;
        if min > max {
            log::warn!(
                "{}: range {:?} is reversed and names no port",
                origin.place(line),
                token.trim()
            );
            continue;
        }
        ports.push((min, max));
    }
    Ok(ports)
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
        parse_spec(spec, &PortSource::Env(spec.to_owned()), None)
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
        let msg = parse_spec("junk", &origin, Some(3))
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
