//! Which ports the pool may hand out: `PYSYS_PORTS`, `PYSYS_PORTS_FILE`, or every port from
//! 1024 up that is outside the OS's ephemeral range; always minus the
//! [excluded ports](crate::excluded_tcp_ports).

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::env::{self, Env, PYSYS_PORTS, PYSYS_PORTS_FILE};
use crate::error::Error;
use crate::ports::ephemeral::ephemeral_tcp_port_range;
use crate::ports::port_ranges::PortRanges;
use crate::ports::privileged::DEFAULT_UNPRIVILEGED_START;
use crate::ports::reserved::{leave_out, reserved_tcp_ranges};
use crate::ports::source::PortSource;
use crate::ports::spec::{SpecRanges, format_ports_spec, parse_spec};
use crate::warn::warn_once;

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
///   ends included; where fewer than 50 ports would remain, 1024-49151 with a warning. On
///   Windows the excluded port ranges (`netsh int ipv4 show excludedportrange protocol=tcp`)
///   are left out too.
///
/// On Linux, a process without `CAP_NET_BIND_SERVICE` leaves out the ports below
/// `net.ipv4.ip_unprivileged_port_start`, with a warning naming any that were asked for. A
/// pool from 1024 up does not read that setting: where a machine raised it above 1024, the
/// bind check refuses the ports below it and the pool leaves them out as it meets them.
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
    let (ranges, source) = server_ranges_from(
        &env::process,
        &ephemeral_tcp_port_range,
        &crate::ports::privileged::first_bindable_port_for,
    )?;
    Ok(ServerPorts {
        ports: ranges.iter().collect(),
        source,
    })
}

/// The largest `PYSYS_PORTS_FILE` accepted, in bytes (4 MiB): every port on a line of its own
/// takes under 400 KB. A larger file is refused before it is read.
pub const MAX_PORTS_FILE_BYTES: u64 = 4 << 20;

/// The logic of [`server_tcp_ports_with_source`], with the environment and the OS passed in so
/// it can be tested without touching the process's environment. `first_bindable` is the
/// lowest port this process may bind ([`crate::ports::privileged`]).
#[cfg(test)]
fn server_ports_from(
    env: Env<'_>,
    ephemeral: &dyn Fn() -> Result<(u16, u16), Error>,
    first_bindable: u16,
) -> Result<ServerPorts, Error> {
    let (ranges, source) = server_ranges_from(env, ephemeral, &|_| first_bindable)?;
    Ok(ServerPorts {
        ports: ranges.iter().collect(),
        source,
    })
}

/// The server ports as ranges, what the pool starts from: it never lists them one by one, as
/// every nextest test process pays its start-up, in the debug build tests use.
pub(crate) fn server_ranges() -> Result<(PortRanges, PortSource), Error> {
    server_ranges_from(
        &env::process,
        &ephemeral_tcp_port_range,
        &crate::ports::privileged::first_bindable_port_for,
    )
}

/// [`server_ports_from`] as ranges: sorted, without excluded ports or ports below
/// the first port this process may bind, which `first_bindable` gives for the lowest port
/// asked for; never empty.
fn server_ranges_from(
    env: Env<'_>,
    ephemeral: &dyn Fn() -> Result<(u16, u16), Error>,
    first_bindable: &dyn Fn(u16) -> u16,
) -> Result<(PortRanges, PortSource), Error> {
    let (spans, source) = if let Some(spec) = env::non_empty(env, PYSYS_PORTS) {
        let spec = spec.into_string().map_err(|raw| Error::InvalidEnv {
            var: PYSYS_PORTS,
            value: raw.to_string_lossy().into_owned(),
            reason: "is not UTF-8".to_owned(),
        })?;
        let source = PortSource::Env(spec.clone());
        let mut ranges = SpecRanges::new();
        parse_spec(&spec, &source, None, &mut ranges)?;
        (spec_spans(ranges), source)
    } else if let Some(path) = env::non_empty(env, PYSYS_PORTS_FILE) {
        let path = PathBuf::from(path);
        (spec_spans(read_ports_file(&path)?), PortSource::File(path))
    } else {
        let (spans, source) = os_ports(ephemeral()?);
        (leave_out(&spans, &reserved_tcp_ranges()), source)
    };
    let lowest = spans.iter().map(|&(lo, _)| lo).min().unwrap_or(u16::MAX);
    let ports = without_privileged(spans, &source, first_bindable(lowest));
    if ports.is_empty() {
        return Err(Error::EmptyPool { origin: source });
    }
    Ok((ports, source))
}

/// The merged intervals of a parsed specification, after warning of its reversed ranges.
fn spec_spans(ranges: SpecRanges) -> Vec<(u16, u16)> {
    if let Some(warning) = ranges.reversed_warning() {
        warn_once(&warning);
    }
    ranges.into_spans()
}

/// The ports of `spans` minus the excluded ones and those below `first_bindable`, which this
/// process may not bind: those asked for are named in a warning.
fn without_privileged(
    spans: Vec<(u16, u16)>,
    source: &PortSource,
    first_bindable: u16,
) -> PortRanges {
    // The usual case, and every test process's: nothing to split, nothing to say.
    if spans.iter().all(|&(lo, _)| lo >= first_bindable) {
        return PortRanges::new(spans);
    }
    let (below, rest): (Vec<_>, Vec<_>) = spans
        .iter()
        .flat_map(|&(lo, hi)| {
            let split = first_bindable.clamp(lo, hi.saturating_add(1));
            [(lo, split.saturating_sub(1)), (split, hi)]
        })
        .filter(|&(lo, hi)| lo <= hi)
        .partition(|&(lo, _)| lo < first_bindable);
    let privileged: Vec<u16> = PortRanges::new(below).iter().collect();
    if !privileged.is_empty() {
        warn_once(&format!(
            "{source}: ports {} are below {first_bindable}, the first port this process may \
             bind (net.ipv4.ip_unprivileged_port_start), and are left out",
            format_ports_spec(&privileged)
        ));
    }
    PortRanges::new(rest)
}

/// Reads a ports file without ever blocking or reading without bound: it is opened
/// non-blocking (a FIFO then opens at once), must be a regular file no larger than
/// [`MAX_PORTS_FILE_BYTES`], and is read with that cap.
fn read_ports_file(path: &Path) -> Result<SpecRanges, Error> {
    let unreadable = |cause: std::io::Error| Error::PortsFileUnreadable {
        path: path.to_owned(),
        cause,
    };
    let file = open_nonblocking(path).map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err(Error::PortsFileNotRegular {
            path: path.to_owned(),
            kind: file_kind(&meta.file_type()),
        });
    }
    let too_large = |size: u64| Error::PortsFileTooLarge {
        path: path.to_owned(),
        size,
        limit: MAX_PORTS_FILE_BYTES,
    };
    if meta.len() > MAX_PORTS_FILE_BYTES {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_PORTS_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_PORTS_FILE_BYTES {
        // It grew while being read.
        return Err(too_large(bytes.len() as u64));
    }
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let origin = PortSource::File(path.to_owned());
    let mut ranges = SpecRanges::new();
    for (index, line) in text.split(|&b| b == b'\n').enumerate() {
        let line_number = index + 1;
        let line = std::str::from_utf8(line).map_err(|_| Error::PortsFileNotUtf8 {
            path: path.to_owned(),
            line: line_number,
        })?;
        let line = line.trim_end_matches('\r');
        parse_spec(line, &origin, Some(line_number), &mut ranges)?;
    }
    Ok(ranges)
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().read(true).open(path)
}

/// What a file that is not a regular file is, for the message.
fn file_kind(kind: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

fn os_ports((eph_min, eph_max): (u16, u16)) -> (Vec<(u16, u16)>, PortSource) {
    let ephemeral = (eph_min, eph_max);
    let (first, eph_min, eph_max) = (
        u32::from(DEFAULT_UNPRIVILEGED_START),
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
    warn_once(&format!(
        "the ephemeral port range {eph_min}-{eph_max} leaves only {count} server ports; using 1024-49151"
    ));
    (
        vec![(DEFAULT_UNPRIVILEGED_START, 49151)],
        PortSource::OsFallback { ephemeral },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DEFAULT_EXCLUDED_TCP_PORTS;

    fn run(vars: &[(&str, &str)], ephemeral: (u16, u16)) -> Result<ServerPorts, Error> {
        server_ports_from(&env::fake(vars), &|| Ok(ephemeral), 1)
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
        assert!(crate::warn::given(
            "the ephemeral port range 1000-65500 leaves only 35 server ports; using 1024-49151"
        ));
    }

    #[test]
    fn a_reversed_range_is_warned() {
        run(&[("PYSYS_PORTS", "3000, 9999-9001")], LINUX_DEFAULT).unwrap();
        assert!(crate::warn::given(
            r#"range "9999-9001" (PYSYS_PORTS) is reversed and names no port"#
        ));
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
        let err = server_ports_from(
            &|_| None,
            &|| {
                Err(Error::EphemeralRange {
                    what: "probe".into(),
                    reason: "broken".into(),
                })
            },
            1,
        )
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
        assert!(msg.contains(&format!("{path:?}")), "{msg}");
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
            msg.contains("PYSYS_PORTS_FILE") && msg.contains(&format!("{dir:?}")),
            "{msg}"
        );
    }

    #[test]
    fn a_byte_order_mark_at_the_start_of_a_ports_file_is_ignored() {
        let (_dir, path) = temp_file("bom.txt", b"\xEF\xBB\xBF2000, 2001\n");
        let server = run(
            &[("PYSYS_PORTS_FILE", path.to_str().unwrap())],
            LINUX_DEFAULT,
        )
        .unwrap();
        assert_eq!(server.ports, vec![2000, 2001]);
    }

    #[test]
    fn an_oversized_ports_file_is_refused_before_reading() {
        let (_dir, path) = temp_file("big.txt", b"");
        let file = File::options().write(true).open(&path).unwrap();
        file.set_len(MAX_PORTS_FILE_BYTES + 1).unwrap();
        let err = run(
            &[("PYSYS_PORTS_FILE", path.to_str().unwrap())],
            LINUX_DEFAULT,
        )
        .unwrap_err();
        assert!(matches!(err, Error::PortsFileTooLarge { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.starts_with("PYSYS_PORTS_FILE: ") && msg.contains(&format!("{path:?}")),
            "{msg}"
        );
        assert!(
            msg.contains(&(MAX_PORTS_FILE_BYTES + 1).to_string()),
            "{msg}"
        );
    }

    #[test]
    fn a_ports_file_at_the_size_limit_is_read() {
        let mut text = b"2000\n".to_vec();
        text.resize(MAX_PORTS_FILE_BYTES as usize, b' ');
        let (_dir, path) = temp_file("limit.txt", &text);
        let server = run(
            &[("PYSYS_PORTS_FILE", path.to_str().unwrap())],
            LINUX_DEFAULT,
        )
        .unwrap();
        assert_eq!(server.ports, vec![2000]);
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_or_a_device_is_refused_at_once_naming_what_it_is() {
        let dir = allocport_testkit::TempDir::new("ports-fifo");
        let fifo = dir.path().join("fifo");
        let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo only creates a file.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        for (path, kind) in [
            (fifo.to_str().unwrap(), "a FIFO"),
            ("/dev/zero", "a device"),
        ] {
            let err = run(&[("PYSYS_PORTS_FILE", path)], LINUX_DEFAULT).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "PYSYS_PORTS_FILE: cannot read {path:?}: it is {kind}, not a regular file (give a file of port specifications)"
                )
            );
        }
    }

    #[test]
    fn ports_below_the_first_bindable_are_left_out() {
        let server = server_ports_from(
            &env::fake(&[("PYSYS_PORTS", "80, 443, 1023-1025, 23004")]),
            &|| Ok(LINUX_DEFAULT),
            1024,
        )
        .unwrap();
        assert_eq!(server.ports, vec![1024, 1025, 23004]);
        let err = server_ports_from(
            &env::fake(&[("PYSYS_PORTS", "80,443")]),
            &|| Ok(LINUX_DEFAULT),
            1024,
        )
        .unwrap_err();
        assert!(matches!(err, Error::EmptyPool { .. }), "{err}");
        // A raised start trims the OS pool too.
        let server = server_ports_from(&env::fake(&[]), &|| Ok(LINUX_DEFAULT), 2000).unwrap();
        assert_eq!(server.ports[0], 2000);
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_env_value_is_an_error() {
        use std::ffi::OsString;
        use std::os::unix::ffi::OsStringExt;
        let bad = OsString::from_vec(vec![b'1', 0xff]);
        let err = server_ports_from(
            &|n| (n == "PYSYS_PORTS").then(|| bad.clone()),
            &|| Ok(LINUX_DEFAULT),
            1,
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("PYSYS_PORTS:"), "{err}");
    }
}
