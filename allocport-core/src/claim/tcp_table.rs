//! The kernel's table of TCP sockets (`/proc/net/tcp` and `/proc/net/tcp6` on Linux): whether
//! a port has connections on it, to tell a port refused to a plain bind because connections
//! linger there (TIME_WAIT and the like) from one an outside program has bound without
//! listening yet. Such a bound socket is in neither of the tables the kernel lists (only
//! listeners and connections are), and both let a bind with `SO_REUSEADDR` succeed.
//!
//! Only read when a plain bind failed and a bind with `SO_REUSEADDR` did not, which is rare:
//! the tables of a busy machine run to megabytes, so they are streamed, stop at the first
//! match, and are never read past [`MAX_BYTES`] each.

use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

/// The most read of each table: about 200,000 sockets, far more than a test machine has.
pub(crate) const MAX_BYTES: u64 = 32 << 20;

/// The states the table lists that are not connections: a listener (`0A`) and a closed socket
/// (`07`). Every other state (TIME_WAIT is `06`) is a connection, which a server binding with
/// `SO_REUSEADDR` can listen beside.
const NOT_CONNECTIONS: [&str; 2] = ["0A", "07"];

/// What the tables say about a port.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Connections {
    /// At least one connection has the port as its local port.
    Some,
    /// None does (as far as [`MAX_BYTES`] of each table tell).
    None,
    /// The IPv4 table cannot be read (no `/proc`, or a sandbox hides it).
    Unknown,
}

/// Whether connections have `port` as their local port, from both tables.
pub(crate) fn connections_on(port: u16) -> Connections {
    connections_in(
        Path::new("/proc/net/tcp"),
        Path::new("/proc/net/tcp6"),
        port,
    )
}

fn connections_in(v4: &Path, v6: &Path, port: u16) -> Connections {
    match scan_file(v4, port) {
        Err(_) => Connections::Unknown,
        Ok(true) => Connections::Some,
        // A machine without IPv6 has no tcp6 table: nothing there, then.
        Ok(false) if scan_file(v6, port).unwrap_or(false) => Connections::Some,
        Ok(false) => Connections::None,
    }
}

fn scan_file(path: &Path, port: u16) -> io::Result<bool> {
    scan(std::fs::File::open(path)?, port, MAX_BYTES)
}

/// Whether a line of the first `cap` bytes of `table` (the header first) is a connection on
/// local `port`.
fn scan(table: impl Read, port: u16, cap: u64) -> io::Result<bool> {
    let mut lines = BufReader::with_capacity(64 << 10, table.take(cap));
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        if lines.read_until(b'\n', &mut line)? == 0 {
            return Ok(false);
        }
        if is_connection_on(&line, port) {
            return Ok(true);
        }
    }
}

/// `  sl  local_address rem_address   st ...`, e.g. `0: 0100007F:5E88 0100007F:A1B2 06 ...`:
/// the local port is the hex after the local address's colon, the state the fourth field.
fn is_connection_on(line: &[u8], port: u16) -> bool {
    let Ok(line) = std::str::from_utf8(line) else {
        return false;
    };
    let mut fields = line.split_ascii_whitespace();
    let (Some(_), Some(local), Some(_), Some(state)) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return false;
    };
    let local_port = local
        .rsplit_once(':')
        .and_then(|(_, hex)| u16::from_str_radix(hex, 16).ok());
    local_port == Some(port) && !NOT_CONNECTIONS.contains(&state)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when \
                          retrnsmt   uid  timeout inode\n";

    fn table(rows: &[&str]) -> String {
        let mut text = HEADER.to_owned();
        for row in rows {
            text += row;
            text += "\n";
        }
        text
    }

    #[test]
    fn a_connection_in_time_wait_on_the_port_counts_and_a_listener_does_not() {
        // 0x5E88 = 24200.
        let listening =
            "0: 0100007F:5E88 00000000:0000 0A 00000000:00000000 00:00000000 00000000 1000 0 1";
        let lingering =
            "1: 0100007F:5E88 0100007F:A1B2 06 00000000:00000000 03:00000F9C 00000000 0 0 0";
        let elsewhere =
            "2: 0100007F:5E89 0100007F:5E88 06 00000000:00000000 03:00000F9C 00000000 0 0 0";
        let scan_rows = |rows: &[&str]| scan(table(rows).as_bytes(), 24200, MAX_BYTES).unwrap();
        assert!(!scan_rows(&[listening]));
        // The remote side being the port does not make it the local port.
        assert!(!scan_rows(&[listening, elsewhere]));
        assert!(scan_rows(&[listening, elsewhere, lingering]));
    }

    #[test]
    fn ipv6_addresses_and_broken_lines_are_read_without_fuss() {
        let v6 = "0: 00000000000000000000000001000000:5E88 00000000000000000000000001000000:C350 06 0 0 0";
        assert!(scan(table(&[v6]).as_bytes(), 24200, MAX_BYTES).unwrap());
        let broken = table(&["garbage", "1: nothing:here", "\u{fffd} :5E88 x"]);
        assert!(!scan(broken.as_bytes(), 24200, MAX_BYTES).unwrap());
        assert!(!scan(&[0xff_u8, b':', b'\n'][..], 24200, MAX_BYTES).unwrap());
    }

    #[test]
    fn reading_stops_at_the_cap() {
        // The only match lies past the cap: not found, so the rest is never read.
        let filler = "0: 0100007F:0001 00000000:0000 0A 0 0 0\n".repeat(100);
        let text = format!("{filler}1: 0100007F:5E88 0100007F:A1B2 06 0 0 0\n");
        assert!(!scan(text.as_bytes(), 24200, filler.len() as u64).unwrap());
        assert!(scan(text.as_bytes(), 24200, text.len() as u64).unwrap());
    }

    #[test]
    fn an_unreadable_ipv4_table_is_unknown_and_a_missing_ipv6_one_is_empty() {
        let dir = std::env::temp_dir().join(format!("allocport-tcp-table-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let v4 = dir.join("tcp");
        let missing = dir.join("missing");
        std::fs::write(&v4, table(&["0: 0100007F:5E88 0100007F:A1B2 06 0 0 0"])).unwrap();
        assert_eq!(connections_in(&missing, &v4, 24200), Connections::Unknown);
        assert_eq!(connections_in(&v4, &missing, 24200), Connections::Some);
        assert_eq!(connections_in(&v4, &missing, 24201), Connections::None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
