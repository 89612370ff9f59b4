//! Which ports the pool may hand out: `PYSYS_PORTS`, `PYSYS_PORTS_FILE`, or every port from
//! 1024 up that is outside the OS's ephemeral range; always minus the
//! [excluded ports](crate::excluded_tcp_ports).

use std::path::{Path, PathBuf};

use crate::env::{self, Env, PYSYS_PORTS, PYSYS_PORTS_FILE};
use crate::ephemeral::ephemeral_tcp_port_range;
use crate::error::Error;
use crate::port_ranges::PortRanges;
use crate::source::PortSource;
use crate::spec::parse_spec_ranges;

/// The lowest port the OS-derived pool offers: ports below it need privileges on most systems.
const FIRST_UNPRIVILEGED_PORT: u16 = 1024;

/// Below this many ports left outside the ephemeral range, the range is ignored with a warning.
const MIN_USEFUL_POOL: usize = 50;

/// The server ports and where they came from, as [`server_tcp_ports_with_source`] returns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerPorts {
    /// Sorted, without duplicates or excluded ports; never empty.
    pub ports: Vec<u16>,
    /// Where they came from.
    pub source: PortSource,
}

/// Returns the TCP ports tests may start servers on (PySys's `getServerTCPPorts`), read afresh
/// at each call:
///
/// - `PYSYS_PORTS`, if set and not empty: comma-separated ports and inclusive `min-max` ranges,
///   e.g. `PYSYS_PORTS="2000-2020, 6001"`;
/// - else `PYSYS_PORTS_FILE`, if set and not empty: a UTF-8 file with one such specification a
///   line (blank lines and CRLF line ends are fine);
/// - else ports 1024-65535 minus the [ephemeral range](ephemeral_tcp_port_range), both of its
///   ends included; where fewer than 50 ports would remain, 1024-49151 with a warning.
///
/// The [excluded ports](crate::excluded_tcp_ports) are removed; the result is sorted, has no
/// duplicates and is never empty: an empty result is [`Error::EmptyPool`].
///
/// ```
/// let ports = allocport_core::server_tcp_ports().unwrap();
/// assert!(ports.windows(2).all(|w| w[0] < w[1]));
/// ```
pub fn server_tcp_ports() -> Result<Vec<u16>, Error> {
    server_tcp_ports_with_source().map(|server| server.ports)
}

/// Like [`server_tcp_ports`], and also says where the ports came from.
///
/// ```
/// let server = allocport_core::server_tcp_ports_with_source().unwrap();
/// println!("{} ports from {}", server.ports.len(), server.source);
/// ```
pub fn server_tcp_ports_with_source() -> Result<ServerPorts, Error> {
    server_ports_from(&env::process, &ephemeral_tcp_port_range)
}

/// The logic of [`server_tcp_ports_with_source`], with the environment and the OS passed in so
/// it can be tested without touching the process's environment.
pub(crate) fn server_ports_from(
    env: Env<'_>,
    ephemeral: &dyn Fn() -> Result<(u16, u16), Error>,
) -> Result<ServerPorts, Error> {
    let (ranges, source) = server_ranges_from(env, ephemeral)?;
    Ok(ServerPorts {
        ports: ranges.iter().collect(),
        source,
    })
}

/// The server ports as ranges, what the pool starts from: it never lists them one by one.
pub(crate) fn server_ranges() -> Result<(PortRanges, PortSource), Error> {
    server_ranges_from(&env::process, &ephemeral_tcp_port_range)
}

/// [`server_ports_from`] as ranges, sorted and without excluded ports; never empty.
pub(crate) fn server_ranges_from(
    env: Env<'_>,
    ephemeral: &dyn Fn() -> Result<(u16, u16), Error>,
) -> Result<(PortRanges, PortSource), Error> {
    let (ports, source) = if let Some(spec) = env::non_empty(env, PYSYS_PORTS) {
        let spec = spec.into_string().map_err(|raw| Error::InvalidEnv {
            var: PYSYS_PORTS,
            value: raw.to_string_lossy().into_owned(),
            reason: "is not UTF-8".to_owned(),
        })?;
        let source = PortSource::Env(spec.clone());
        (parse_spec_ranges(&spec, &source, None)?, source)
    } else if let Some(path) = env::non_empty(env, PYSYS_PORTS_FILE) {
        let path = PathBuf::from(path);
        (read_ports_file(&path)?, PortSource::File(path))
    } else {
        os_ports(ephemeral()?)
    };
    // Ranges, never a list of ports: the pool's start-up is paid by every nextest test process,
    // in the debug build tests use.
    let ports = PortRanges::new(ports);
    if ports.is_empty() {
        return Err(Error::EmptyPool { origin: source });
    }
    Ok((ports, source))
}

fn read_ports_file(path: &Path) -> Result<Vec<(u16, u16)>, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::PortsFileUnreadable {
        path: path.to_owned(),
        source,
    })?;
    let origin = PortSource::File(path.to_owned());
    let mut ports = Vec::new();
    for (index, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line_number = index + 1;
        let line = std::str::from_utf8(line).map_err(|_| Error::PortsFileNotUtf8 {
            path: path.to_owned(),
            line: line_number,
        })?;
        let line = line.trim_end_matches('\r');
        ports.extend(parse_spec_ranges(line, &origin, Some(line_number))?);
    }
    Ok(ports)
}

fn os_ports((eph_min, eph_max): (u16, u16)) -> (Vec<(u16, u16)>, PortSource) {
    let ephemeral = (eph_min, eph_max);
    let (first, eph_min, eph_max) = (
        u32::from(FIRST_UNPRIVILEGED_PORT),
        u32::from(eph_min),
        u32::from(eph_max),
    );
    // Below the ephemeral range and above it, each clipped to 1024-65535 (a reversed range
    // holds no port).
    let (below, above) = if eph_min <= eph_max {
        (
            (first, eph_min.saturating_sub(1)),
            ((eph_max + 1).max(first), u32::from(u16::MAX)),
        )
    } else {
        ((first, u32::from(u16::MAX)), (1, 0))
    };
    let outside: Vec<(u16, u16)> = [below, above]
        .into_iter()
        .filter(|&(lo, hi)| lo <= hi)
        .map(|(lo, hi)| (lo as u16, hi as u16))
        .collect();
    let count: usize = outside
        .iter()
        .map(|&(lo, hi)| usize::from(hi - lo) + 1)
        .sum();
    if count >= MIN_USEFUL_POOL {
        return (outside, PortSource::Os { ephemeral });
    }
    log::warn!(
        "the ephemeral port range {eph_min}-{eph_max} leaves only {count} server ports; using 1024-49151",
    );
    (
        vec![(FIRST_UNPRIVILEGED_PORT, 49151)],
        PortSource::OsFallback { ephemeral },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DEFAULT_EXCLUDED_TCP_PORTS;
    use std::ffi::OsString;

    fn run(vars: &[(&str, &str)], ephemeral: (u16, u16)) -> Result<ServerPorts, Error> {
        server_ports_from(&env::fake(vars), &|| Ok(ephemeral))
    }

    const LINUX_DEFAULT: (u16, u16) = (32768, 60999);

    #[test]
    fn os_pool_leaves_out_ephemeral_range_with_both_ends() {
        let server = run(&[], LINUX_DEFAULT).unwrap();
        let ports = &server.ports;
        assert_eq!(
            server.source,
            PortSource::Os {
                ephemeral: LINUX_DEFAULT
            }
        );
        assert_eq!(ports[0], 1024);
        assert!(ports.contains(&32767));
        assert!(!ports.contains(&32768));
        assert!(!ports.contains(&60999));
        assert!(ports.contains(&61000));
        assert_eq!(*ports.last().unwrap(), 65535);
        assert!(
            DEFAULT_EXCLUDED_TCP_PORTS
                .iter()
                .all(|p| !ports.contains(p))
        );
        assert_eq!(
            ports.len(),
            (32768 - 1024) + (65536 - 61000) - DEFAULT_EXCLUDED_TCP_PORTS.len()
        );
    }

    #[test]
    fn tiny_remainder_falls_back_to_below_iana_range() {
        let server = run(&[], (1000, 65500)).unwrap();
        assert_eq!(
            server.source,
            PortSource::OsFallback {
                ephemeral: (1000, 65500)
            }
        );
        assert_eq!(server.ports[0], 1024);
        assert_eq!(*server.ports.last().unwrap(), 49151);
    }

    #[test]
    fn env_spec_wins_and_is_sorted_deduplicated_and_filtered() {
        let server = run(
            &[
                ("PYSYS_PORTS", "6001, 6000, 3000-3002, 3001"),
                ("PYSYS_PORTS_FILE", "/nope"),
            ],
            LINUX_DEFAULT,
        )
        .unwrap();
        assert_eq!(server.ports, vec![3000, 3001, 3002, 6001]);
        assert_eq!(
            server.source,
            PortSource::Env("6001, 6000, 3000-3002, 3001".into())
        );
    }

    #[test]
    fn pysys_test_suite_example() {
        let spec = "  2000 - 2020, 6000, 6001, 65000, 65020-65018 , 65040-65042 ";
        let server = run(&[("PYSYS_PORTS", spec)], LINUX_DEFAULT).unwrap();
        let mut expected: Vec<u16> = (2000..=2020).collect();
        expected.extend([6001, 65000, 65040, 65041, 65042]);
        assert_eq!(server.ports, expected);
    }

    #[test]
    fn empty_env_falls_through_to_file_then_os() {
        let server = run(
            &[("PYSYS_PORTS", ""), ("PYSYS_PORTS_FILE", "")],
            LINUX_DEFAULT,
        )
        .unwrap();
        assert_eq!(
            server.source,
            PortSource::Os {
                ephemeral: LINUX_DEFAULT
            }
        );
    }

    #[test]
    fn empty_pool_is_an_error_naming_the_value() {
        let msg = run(&[("PYSYS_PORTS", "6000, 6665-6669")], LINUX_DEFAULT)
            .unwrap_err()
            .to_string();
        assert!(msg.contains(r#"PYSYS_PORTS="6000, 6665-6669""#), "{msg}");
        assert!(msg.contains("empty"), "{msg}");
        let msg = run(&[("PYSYS_PORTS", " , ")], LINUX_DEFAULT)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("empty"), "{msg}");
    }

    #[test]
    fn ephemeral_error_is_returned_when_os_is_asked() {
        let err = server_ports_from(&|_| None, &|| {
            Err(Error::EphemeralRange {
                what: "probe".into(),
                reason: "broken".into(),
            })
        })
        .unwrap_err();
        assert!(err.to_string().contains("probe"));
    }

    /// A file holding `contents`, removed with the returned directory.
    fn temp_file(name: &str, contents: &[u8]) -> (allocport_testkit::TempDir, PathBuf) {
        let dir = allocport_testkit::TempDir::new("ports-file");
        let path = dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        (dir, path)
    }

    #[test]
    fn ports_file_with_blank_lines_and_crlf() {
        let (_dir, path) = temp_file("ok.txt", b"2000\r\n\r\n2001-2002\n 3000 \n");
        let server = run(
            &[("PYSYS_PORTS_FILE", path.to_str().unwrap())],
            LINUX_DEFAULT,
        )
        .unwrap();
        assert_eq!(server.ports, vec![2000, 2001, 2002, 3000]);
        assert_eq!(server.source, PortSource::File(path));
    }

    #[test]
    fn ports_file_garbage_line_names_path_line_and_token() {
        let (_dir, path) = temp_file("bad.txt", b"2000\n\nfoo\n");
        let msg = run(
            &[("PYSYS_PORTS_FILE", path.to_str().unwrap())],
            LINUX_DEFAULT,
        )
        .unwrap_err()
        .to_string();
        assert!(
            msg.contains(&format!("PYSYS_PORTS_FILE {}, line 3", path.display())),
            "{msg}"
        );
        assert!(msg.contains(r#""foo""#), "{msg}");
    }

    #[test]
    fn ports_file_not_utf8_names_path_and_line() {
        let (_dir, path) = temp_file("latin1.txt", b"2000\n\xe9\xff\n");
        let msg = run(
            &[("PYSYS_PORTS_FILE", path.to_str().unwrap())],
            LINUX_DEFAULT,
        )
        .unwrap_err()
        .to_string();
        assert!(msg.contains("PYSYS_PORTS_FILE"), "{msg}");
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains("not UTF-8") && msg.contains("line 2"), "{msg}");
    }

    #[test]
    fn ports_file_missing_names_path() {
        let msg = run(&[("PYSYS_PORTS_FILE", "/no/such/ports.txt")], LINUX_DEFAULT)
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with(r#"PYSYS_PORTS_FILE: cannot read "/no/such/ports.txt""#),
            "{msg}"
        );
    }

    #[test]
    fn ports_file_that_is_a_directory_names_path() {
        let dir = std::env::temp_dir();
        let msg = run(
            &[("PYSYS_PORTS_FILE", dir.to_str().unwrap())],
            LINUX_DEFAULT,
        )
        .unwrap_err()
        .to_string();
        assert!(
            msg.contains("PYSYS_PORTS_FILE") && msg.contains(dir.to_str().unwrap()),
            "{msg}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_env_value_is_an_error() {
        use std::os::unix::ffi::OsStringExt;
        let bad = OsString::from_vec(vec![b'1', 0xff]);
        let err = server_ports_from(&|n| (n == "PYSYS_PORTS").then(|| bad.clone()), &|| {
            Ok(LINUX_DEFAULT)
        })
        .unwrap_err();
        assert!(err.to_string().starts_with("PYSYS_PORTS:"), "{err}");
    }
}
