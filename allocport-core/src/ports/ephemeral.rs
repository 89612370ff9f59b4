//! The operating system's ephemeral (client-side) TCP port range, one `cfg` block per OS.
//!
//! Server ports must stay out of this range: a client connection anywhere on the machine may
//! take any of its ports at any moment, which would make a test's server fail to bind at random.

use crate::error::Error;

/// The range IANA assigns to dynamic ports (RFC 6335), used where the OS cannot be asked.
#[cfg_attr(
    any(
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
/// | Windows | `netsh int ipv4 show dynamicport tcp` (unreadable: a warning and Windows' default 49152-65535) |
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
/// colons are the start port and the number of ports. The labels are localised (and written in
/// the console's code page), so they are not matched; the colon may be a full-width one.
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) fn parse_netsh_dynamic_ports(output: &str, what: &str) -> Result<(u16, u16), Error> {
    let mut numbers = output
        .lines()
        .filter_map(|line| line.split_once([':', '\u{ff1a}']))
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

/// The dynamic range as `read`, or, where it could not be read, Windows' default since Vista
/// (IANA's 49152-65535) with a warning naming why: `netsh` is missing from minimal images,
/// prints nothing under Wine, and no documented API or registry value gives the range in a
/// form that does not depend on the display language (only the WMI class behind PowerShell's
/// `Get-NetTCPSetting` does), so failing every allocation there would help no one.
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) fn or_windows_default(read: Result<(u16, u16), Error>) -> (u16, u16) {
    read.unwrap_or_else(|e| {
        crate::warn::warn_once(&windows_default_warning(&e));
        IANA_EPHEMERAL_RANGE
    })
}

#[cfg_attr(not(windows), allow(dead_code))]
fn windows_default_warning(e: &Error) -> String {
    format!("{e}; assuming Windows' default dynamic port range 49152-65535")
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
/// `read_to_string` makes first, without a read to the end once the value's newline has come,
/// and without the check whether the descriptor is still open that `File` makes before its
/// close in a debug build (every test process pays for these reads, in debug builds mostly).
#[cfg(target_os = "linux")]
pub(crate) fn read_short(path: &str) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind};
    let mut c_path = [0u8; 64];
    if path.len() >= c_path.len() || path.contains('\0') {
        return Err(Error::new(ErrorKind::InvalidInput, "not a short path"));
    }
    c_path[..path.len()].copy_from_slice(path.as_bytes());
    // SAFETY: a NUL-terminated path in a live buffer.
    let fd = unsafe { libc::open(c_path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd == -1 {
        return Err(Error::last_os_error());
    }
    let mut buf = [0u8; 64];
    let mut len = 0;
    let read = loop {
        if len == buf.len() || buf[..len].ends_with(b"\n") {
            break Ok(());
        }
        // SAFETY: `fd` is open; the pointer and length describe the buffer's free tail.
        match unsafe { libc::read(fd, buf[len..].as_mut_ptr().cast(), buf.len() - len) } {
            0 => break Ok(()),
            -1 if Error::last_os_error().kind() == ErrorKind::Interrupted => {}
            -1 => break Err(Error::last_os_error()),
            n => len += n as usize,
        }
    };
    // SAFETY: `fd` was opened above and is closed once, here.
    unsafe { libc::close(fd) };
    read?;
    String::from_utf8(buf[..len].to_vec()).map_err(|e| Error::new(ErrorKind::InvalidData, e))
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
        Ok(or_windows_default(read_netsh()))
    }

    fn read_netsh() -> Result<(u16, u16), Error> {
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

    #[cfg(target_os = "linux")]
    #[test]
    fn a_short_read_stops_at_the_newline_and_names_what_went_wrong() {
        use std::io::ErrorKind;
        let text = read_short("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
        assert!(
            text.ends_with('\n') && text.split_whitespace().count() == 2,
            "{text:?}"
        );
        // A missing file is NotFound: the ephemeral range's reader warns and falls back on it.
        let missing = read_short("/proc/sys/net/ipv4/no_such_setting").unwrap_err();
        assert_eq!(missing.kind(), ErrorKind::NotFound);
        let long = format!("/proc/sys/{}", "x".repeat(60));
        assert_eq!(
            read_short(&long).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            read_short("/proc\0/x").unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    }

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
    fn netsh_french_output_in_the_oem_code_page() {
        // "Port de démarrage", "Nombre de ports": netsh writes code page 850 to a pipe, where
        // "é" is the byte 0x82, not UTF-8.
        let bytes = b"\r\nProtocole tcp Plage de ports dynamique\r\n-------------------\r\n\
                      Port de d\x82marrage   : 1025\r\nNombre de ports     : 64511\r\n";
        let out = String::from_utf8_lossy(bytes);
        assert_eq!(
            parse_netsh_dynamic_ports(&out, "netsh").unwrap(),
            (1025, 65535)
        );
    }

    #[test]
    fn netsh_full_width_colons() {
        let out = "\u{958b}\u{59cb}\u{30dd}\u{30fc}\u{30c8}\u{ff1a}20000\n\u{30dd}\u{30fc}\u{30c8}\u{6570}\u{ff1a}500\n";
        assert_eq!(
            parse_netsh_dynamic_ports(out, "netsh").unwrap(),
            (20000, 20499)
        );
    }

    #[test]
    fn netsh_printing_nothing_is_an_error_naming_the_command() {
        let msg = parse_netsh_dynamic_ports("", "netsh int ipv4 show dynamicport tcp")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("(netsh int ipv4 show dynamicport tcp): no start port and count in \"\""),
            "{msg}"
        );
    }

    #[test]
    fn an_unreadable_range_is_windows_default_with_one_warning() {
        let read = parse_netsh_dynamic_ports("\r\n", "netsh int ipv4 show dynamicport tcp");
        let warning = windows_default_warning(read.as_ref().unwrap_err());
        assert!(!crate::warn::given(&warning));
        assert_eq!(or_windows_default(read), (49152, 65535));
        assert!(crate::warn::given(&warning), "{warning}");
        assert!(warning.ends_with("assuming Windows' default dynamic port range 49152-65535"));
    }

    #[test]
    fn a_readable_range_is_kept() {
        let out = "Startport       : 10000\nAnzahl der Ports: 1000\n";
        assert_eq!(
            or_windows_default(parse_netsh_dynamic_ports(out, "netsh")),
            (10000, 10999)
        );
    }

    /// On Windows the range is always there: read, or Windows' default (under Wine, whose
    /// netsh prints nothing, always the default).
    #[cfg(windows)]
    #[test]
    fn this_machine_has_a_range() {
        let range = ephemeral_tcp_port_range().unwrap();
        assert!(range.0 <= range.1, "{range:?}");
        if allocport_testkit::under_wine() {
            assert_eq!(range, IANA_EPHEMERAL_RANGE);
        }
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
