//! Ports the OS reserves for others: on Windows, Hyper-V, WSL and Docker reserve "excluded
//! port ranges" (`netsh int ipv4 show excludedportrange protocol=tcp`) whose bind fails with
//! `WSAEACCES`; the default pool leaves them out up front. Elsewhere there are none.

/// The excluded port ranges, inclusive; empty where the OS has none or cannot say (a port
/// refused later is still skipped by the bind check).
pub(crate) fn reserved_tcp_ranges() -> Vec<(u16, u16)> {
    os::reserved_tcp_ranges()
}

/// Parses `netsh int ipv4 show excludedportrange protocol=tcp`: every line that is two port
/// numbers, optionally followed by `*` (an administered exclusion), is a range; headers, in
/// any language, are not.
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) fn parse_netsh_excluded_ranges(output: &str) -> Vec<(u16, u16)> {
    output
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let start: u16 = words.next()?.parse().ok()?;
            let end: u16 = words.next()?.parse().ok()?;
            (words.all(|w| w == "*") && start <= end).then_some((start, end))
        })
        .collect()
}

/// The sorted, disjoint `spans` without the ports in `ranges`.
pub(crate) fn leave_out(spans: &[(u16, u16)], ranges: &[(u16, u16)]) -> Vec<(u16, u16)> {
    let mut out = spans.to_vec();
    for &(min, max) in ranges {
        out = out
            .into_iter()
            .flat_map(|(lo, hi)| {
                if hi < min || lo > max {
                    return vec![(lo, hi)];
                }
                // What is left below `min` and above `max` (neither end can wrap: `lo < min`
                // means `min > 0`, `hi > max` means `max < 65535`).
                let mut left = Vec::with_capacity(2);
                if lo < min {
                    left.push((lo, min - 1));
                }
                if hi > max {
                    left.push((max + 1, hi));
                }
                left
            })
            .collect();
    }
    out
}

#[cfg(windows)]
mod os {
    pub(super) fn reserved_tcp_ranges() -> Vec<(u16, u16)> {
        const WHAT: &str = "netsh int ipv4 show excludedportrange protocol=tcp";
        match std::process::Command::new("netsh")
            .args(["int", "ipv4", "show", "excludedportrange", "protocol=tcp"])
            .output()
        {
            Ok(output) if output.status.success() => {
                super::parse_netsh_excluded_ranges(&String::from_utf8_lossy(&output.stdout))
            }
            Ok(output) => {
                crate::warn::warn_once(&format!(
                    "{WHAT} exited with {}; excluded port ranges are skipped as they are met",
                    output.status
                ));
                Vec::new()
            }
            Err(e) => {
                crate::warn::warn_once(&format!(
                    "{WHAT} cannot run ({e}); excluded port ranges are skipped as they are met"
                ));
                Vec::new()
            }
        }
    }
}

#[cfg(not(windows))]
mod os {
    pub(super) fn reserved_tcp_ranges() -> Vec<(u16, u16)> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from Windows 11 with Hyper-V and Docker Desktop.
    const ENGLISH: &str = "\r\nProtocol tcp Port Exclusion Ranges\r\n\r\nStart Port    End Port\r\n\
        ----------    --------\r\n      1080        1080\r\n      5357        5357\r\n     \
        49685       49784\r\n     50000       50059     *\r\n\r\n* - Administered port exclusions.\r\n\r\n";

    /// The same, from a German Windows.
    const GERMAN: &str = "\r\nProtokoll tcp Portausschlussbereiche\r\n\r\nStartport    Endport\r\n\
        ----------    --------\r\n      2869        2869\r\n     50000       50059     *\r\n\r\n\
        * - Verwaltete Portausschlüsse.\r\n";

    #[test]
    fn english_and_localised_output() {
        assert_eq!(
            parse_netsh_excluded_ranges(ENGLISH),
            vec![(1080, 1080), (5357, 5357), (49685, 49784), (50000, 50059)]
        );
        assert_eq!(
            parse_netsh_excluded_ranges(GERMAN),
            vec![(2869, 2869), (50000, 50059)]
        );
    }

    #[test]
    fn nothing_excluded_and_garbage_give_no_range() {
        let none = "\r\nProtocol tcp Port Exclusion Ranges\r\n\r\nStart Port    End Port\r\n\
            ----------    --------\r\n\r\n* - Administered port exclusions.\r\n";
        assert!(parse_netsh_excluded_ranges(none).is_empty());
        assert!(parse_netsh_excluded_ranges("1 2 3\n70000 70001\n9 5\nx y\n").is_empty());
    }

    #[test]
    fn ranges_leave_the_ports() {
        let spans = leave_out(&[(1078, 1082), (5357, 5358)], &[(1080, 1080), (5357, 5357)]);
        assert_eq!(spans, vec![(1078, 1079), (1081, 1082), (5358, 5358)]);
        assert_eq!(leave_out(&[(1, 10)], &[(0, 3), (9, 65535)]), vec![(4, 8)]);
    }
}
