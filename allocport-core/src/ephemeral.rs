//! The operating system's ephemeral (client-side) TCP port range, one `cfg` block per OS.
//!
//! Server ports must stay out of this range: a client connection anywhere on the machine may
//! take any of its ports at any moment, which would make a test's server fail to bind at random.

use crate::error::Error;

/// The range IANA assigns to dynamic ports (RFC 6335), used where the OS cannot be asked.
#[cfg_attr(
    any(
        windows,
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "dragonfly"
    ),
    allow(dead_code)
)]
pub(crate) const IANA_EPHEMERAL_RANGE: (u16, u16) = (49152, 65535);

/// Returns the inclusive bounds `(min, max)` of the ephemeral TCP port range of this OS.
///
/// How it is read, like PySys's `getEphemeralTCPPortRange`:
///
/// | OS | source |
/// |---|---|
/// | Linux | `/proc/sys/net/ipv4/ip_local_port_range` (missing: a warning and IANA's 49152-65535) |
/// | macOS, FreeBSD, DragonFly | `sysctl net.inet.ip.portrange.first` and `.last` |
/// | Windows | `netsh int ipv4 show dynamicport tcp` |
/// | other | IANA's 49152-65535, with a warning |
///
/// It is not called when `PYSYS_PORTS` or `PYSYS_PORTS_FILE` sets the pool.
///
/// ```
/// let (min, max) = allocport_core::ephemeral_tcp_port_range().unwrap();
/// assert!(min <= max);
/// ```
pub fn ephemeral_tcp_port_range() -> Result<(u16, u16), Error> {
    os::ephemeral_range()
}

fn range_error(what: &str, reason: impl std::fmt::Display) -> Error {
    Error::EphemeralRange {
        what: what.to_owned(),
        reason: reason.to_string(),
    }
}

/// Parses Linux's `ip_local_port_range` contents: two numbers separated by white space.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) fn parse_linux_range(text: &str, what: &str) -> Result<(u16, u16), Error> {
    let numbers: Vec<&str> = text.split_whitespace().collect();
    let [min, max] = numbers[..] else {
        return Err(range_error(
            what,
            format_args!("expected two numbers, found {text:?}"),
        ));
    };
    checked_range(parse_u16(min, what)?, parse_u16(max, what)?, what)
}

/// Parses the output of `netsh int ipv4 show dynamicport tcp`: the first two numbers after
/// colons are the start port and the number of ports (the labels are localised, so they are not
/// matched).
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) fn parse_netsh_dynamic_ports(output: &str, what: &str) -> Result<(u16, u16), Error> {
    let mut numbers = output
        .lines()
        .filter_map(|line| line.split_once(':'))
        .filter_map(|(_, value)| value.trim().parse::<u32>().ok());
    let (Some(start), Some(count)) = (numbers.next(), numbers.next()) else {
        return Err(range_error(
            what,
            format_args!("no start port and count in {output:?}"),
        ));
    };
    let end = start + count.saturating_sub(1);
    let (Ok(start), Ok(end)) = (u16::try_from(start), u16::try_from(end)) else {
        return Err(range_error(
            what,
            format_args!("start {start} with {count} ports is beyond 65535"),
        ));
    };
    checked_range(start, end, what)
}

fn parse_u16(text: &str, what: &str) -> Result<u16, Error> {
    text.parse::<u16>()
        .map_err(|_| range_error(what, format_args!("{text:?} is not a port number")))
}

fn checked_range(min: u16, max: u16, what: &str) -> Result<(u16, u16), Error> {
    if min > max {
        return Err(range_error(
            what,
            format_args!("reversed range {min}-{max}"),
        ));
    }
    Ok((min, max))
}

#[cfg(target_os = "linux")]
mod os {
    use super::*;

    const PATH: &str = "/proc/sys/net/ipv4/ip_local_port_range";

    pub(super) fn ephemeral_range() -> Result<(u16, u16), Error> {
        match read_short(PATH) {
            Ok(text) => parse_linux_range(&text, PATH),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                crate::warn::warn_once(&format!(
                    "{PATH} is missing; assuming the IANA ephemeral range 49152-65535"
                ));
                Ok(IANA_EPHEMERAL_RANGE)
            }
            Err(e) => Err(range_error(PATH, e)),
        }
    }
}

/// Reads a `/proc/sys` file of a few bytes: open, read, close, without the size query
/// `read_to_string` makes first, and without a read to the end once the value's newline has
/// come (every test process pays for these reads).
#[cfg(target_os = "linux")]
pub(crate) fn read_short(path: &str) -> std::io::Result<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut buf = [0u8; 64];
    let mut len = 0;
    while len < buf.len() && !buf[..len].ends_with(b"\n") {
        match file.read(&mut buf[len..])? {
            0 => break,
            n => len += n,
        }
    }
    String::from_utf8(buf[..len].to_vec())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

#[cfg(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "dragonfly"
))]
mod os {
    use super::*;
    use std::ffi::CStr;

    pub(super) fn ephemeral_range() -> Result<(u16, u16), Error> {
        let min = sysctl_int(c"net.inet.ip.portrange.first")?;
        let max = sysctl_int(c"net.inet.ip.portrange.last")?;
        checked_range(min, max, "sysctl net.inet.ip.portrange.first/last")
    }

    fn sysctl_int(name: &CStr) -> Result<u16, Error> {
        let what = format!("sysctl {}", name.to_string_lossy());
        let mut value: libc::c_int = 0;
        let mut size = std::mem::size_of::<libc::c_int>();
        // SAFETY: `value` and `size` are valid for writes and `size` holds the buffer's length.
        let rc = unsafe {
            libc::sysctlbyname(
                name.as_ptr(),
                (&raw mut value).cast(),
                &mut size,
                std::ptr::null_mut(),
                0,
            )
        };
        if rc != 0 {
            return Err(range_error(&what, std::io::Error::last_os_error()));
        }
        u16::try_from(value).map_err(|_| range_error(&what, format_args!("{value} is not a port")))
    }
}

#[cfg(windows)]
mod os {
    use super::*;

    pub(super) fn ephemeral_range() -> Result<(u16, u16), Error> {
        const WHAT: &str = "netsh int ipv4 show dynamicport tcp";
        let output = std::process::Command::new("netsh")
            .args(["int", "ipv4", "show", "dynamicport", "tcp"])
            .output()
            .map_err(|e| range_error(WHAT, e))?;
        if !output.status.success() {
            return Err(range_error(
                WHAT,
                format_args!("exited with {}", output.status),
            ));
        }
        parse_netsh_dynamic_ports(&String::from_utf8_lossy(&output.stdout), WHAT)
    }
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "dragonfly",
    windows
)))]
mod os {
    use super::*;

    pub(super) fn ephemeral_range() -> Result<(u16, u16), Error> {
        crate::warn::warn_once(
            "no known way to read the ephemeral port range here; assuming IANA's 49152-65535",
        );
        Ok(IANA_EPHEMERAL_RANGE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_format_with_tab() {
        assert_eq!(
            parse_linux_range("32768\t60999\n", "f").unwrap(),
            (32768, 60999)
        );
    }

    #[test]
    fn linux_format_errors_name_the_source() {
        for text in ["", "1", "1 2 3", "a 2", "70000 2", "500 400"] {
            let msg = parse_linux_range(text, "/proc/x").unwrap_err().to_string();
            assert!(msg.contains("/proc/x"), "{text:?}: {msg}");
        }
    }

    #[test]
    fn netsh_english_output() {
        let out = "\r\nProtocol tcp Dynamic Port Range\r\n---------------------------------\r\n\
                   Start Port      : 49152\r\nNumber of Ports : 16384\r\n";
        assert_eq!(
            parse_netsh_dynamic_ports(out, "netsh").unwrap(),
            (49152, 65535)
        );
    }

    #[test]
    fn netsh_localised_output() {
        let out = "Protokoll tcp Dynamischer Portbereich\n------\nStartport       : 10000\nAnzahl der Ports: 1000\n";
        assert_eq!(
            parse_netsh_dynamic_ports(out, "netsh").unwrap(),
            (10000, 10999)
        );
    }

    #[test]
    fn netsh_garbage_is_an_error() {
        assert!(parse_netsh_dynamic_ports("nothing here", "netsh").is_err());
        assert!(parse_netsh_dynamic_ports("a: 65000\nb: 1000\n", "netsh").is_err());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_machine_matches_proc() {
        let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
        let expected = parse_linux_range(&text, "x").unwrap();
        assert_eq!(ephemeral_tcp_port_range().unwrap(), expected);
    }
}
