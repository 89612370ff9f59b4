//! The names of the kernel store: a protocol that other programs speak too (the Python
//! client, PySys's plugin), so every byte here is fixed and documented in `docs/protocol.md`.
//!
//! Every name lives in Linux's abstract Unix socket namespace (its first byte is NUL) and
//! starts with the store's prefix, `allocport` or `allocport-<tag>` with
//! `ALLOCPORT_NAMESPACE=<tag>`. A name for port `p` ends with `p` in decimal, a NUL and `p`
//! as two bytes, big-endian: the kernel hashes abstract names with a checksum, and decimal
//! names alone crowd into a few of its 256 buckets; the binary suffix spreads them.

use crate::env::{self, ALLOCPORT_NAMESPACE, Env};
use crate::error::Error;

/// The longest tag `ALLOCPORT_NAMESPACE` may give: every name must fit `sun_path`.
pub(crate) const MAX_TAG: usize = 32;

/// How many doorbells waiting processes can ring at once (numbers 0 to 63).
pub(crate) const DOORBELLS: u8 = 64;

/// What a name stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Name {
    /// A TCP claim of the port: `\0P/tcp/<p>\0<hi><lo>`.
    Tcp(u16),
    /// A UDP claim of the port: `\0P/udp/<p>\0<hi><lo>`.
    Udp(u16),
    /// A fair waiter's reservation of the TCP port: `\0P/reserved/tcp/<p>\0<hi><lo>`.
    ReservedTcp(u16),
    /// A fair waiter's reservation of the UDP port: `\0P/reserved/udp/<p>\0<hi><lo>`.
    ReservedUdp(u16),
    /// The machine-wide wait token of multi-port waits: `\0P/wait-token`.
    WaitToken,
    /// A waiting process's doorbell, a datagram socket: `\0P/doorbell/<i>`.
    Doorbell(u8),
}

impl Name {
    /// The middle of the name, after the prefix and its `/`.
    fn kind(self) -> &'static str {
        match self {
            Name::Tcp(_) => "tcp/",
            Name::Udp(_) => "udp/",
            Name::ReservedTcp(_) => "reserved/tcp/",
            Name::ReservedUdp(_) => "reserved/udp/",
            Name::WaitToken => "wait-token",
            Name::Doorbell(_) => "doorbell/",
        }
    }

    /// The port of a port's name.
    pub(crate) fn port(self) -> Option<u16> {
        match self {
            Name::Tcp(p) | Name::Udp(p) | Name::ReservedTcp(p) | Name::ReservedUdp(p) => Some(p),
            Name::WaitToken | Name::Doorbell(_) => None,
        }
    }

    /// Every kind of port name, for reading names back: a constructor each.
    pub(crate) const PORT_KINDS: [fn(u16) -> Name; 4] =
        [Name::Tcp, Name::Udp, Name::ReservedTcp, Name::ReservedUdp];
}

/// The store's prefix: `allocport`, or `allocport-<tag>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Prefix {
    /// `allocport` or `allocport-<tag>`, without the leading NUL.
    text: String,
}

impl Prefix {
    /// The prefix `ALLOCPORT_NAMESPACE` asks for in `env`.
    pub(crate) fn from_env(env: Env<'_>) -> Result<Prefix, Error> {
        let Some(value) = env::non_empty(env, ALLOCPORT_NAMESPACE) else {
            return Ok(Prefix {
                text: "allocport".to_owned(),
            });
        };
        let tag = value.to_string_lossy();
        let invalid = |reason: String| Error::InvalidEnv {
            var: ALLOCPORT_NAMESPACE,
            value: tag.clone().into_owned(),
            reason,
        };
        if tag.len() > MAX_TAG {
            return Err(invalid(format!(
                "is {} bytes long: a tag is at most {MAX_TAG}",
                tag.len()
            )));
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if let Some(bad) = tag.chars().find(|&c| !allowed(c)) {
            return Err(invalid(format!(
                "contains {bad:?}: a tag uses only letters, digits, `.`, `_` and `-`"
            )));
        }
        Ok(Prefix {
            text: format!("allocport-{tag}"),
        })
    }

    /// The prefix as written in names and in `/proc/net/unix`, without the leading NUL.
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// The bytes of `name`'s abstract address, the leading NUL included, in `buf`; returns
    /// how many. `buf` holds the longest name of the longest tag.
    pub(crate) fn write(&self, name: Name, buf: &mut NameBuf) -> usize {
        let mut w = Writer { buf, len: 0 };
        w.put(&[0]);
        w.put(self.text.as_bytes());
        w.put(b"/");
        w.put(name.kind().as_bytes());
        match name {
            Name::WaitToken => {}
            Name::Doorbell(i) => w.decimal(u32::from(i)),
            _ => {
                let port = name.port().expect("a port's name");
                w.decimal(u32::from(port));
                w.put(&[0]);
                w.put(&port.to_be_bytes());
            }
        }
        w.len
    }

    /// Reads a port's name back from the text after a NUL (as `/proc/net/unix` prints it,
    /// with `@` for each NUL): the name and how many bytes it took; `None` if `text` is not
    /// one of this prefix's port names.
    pub(crate) fn parse_port_name(&self, text: &[u8]) -> Option<(Name, usize)> {
        let rest = text
            .strip_prefix(self.text.as_bytes())?
            .strip_prefix(b"/")?;
        for make in Name::PORT_KINDS {
            let kind = make(0).kind().as_bytes();
            let Some(after) = rest.strip_prefix(kind) else {
                continue;
            };
            let digits = after.iter().take_while(|b| b.is_ascii_digit()).count();
            if digits == 0 || digits > 5 || after.get(digits) != Some(&b'@') {
                return None;
            }
            let port: u16 = std::str::from_utf8(&after[..digits]).ok()?.parse().ok()?;
            let suffix = after.get(digits + 1..digits + 3)?;
            // NULs in the suffix print as `@` too.
            let matches = port
                .to_be_bytes()
                .iter()
                .zip(suffix)
                .all(|(&b, &s)| s == b || (b == 0 && s == b'@'));
            if !matches {
                return None;
            }
            let len = self.text.len() + 1 + kind.len() + digits + 3;
            return Some((make(port), len));
        }
        None
    }
}

/// Room for the longest name: NUL, `allocport-` and a tag, `/reserved/udp/65535`, NUL and
/// two bytes.
pub(crate) type NameBuf = [u8; 1 + 10 + MAX_TAG + 19 + 3];

struct Writer<'a> {
    buf: &'a mut NameBuf,
    len: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    fn decimal(&mut self, mut n: u32) {
        let mut digits = [0u8; 10];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.put(&digits[i..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::fake;

    fn written(prefix: &Prefix, name: Name) -> Vec<u8> {
        let mut buf = [0; std::mem::size_of::<NameBuf>()];
        let len = prefix.write(name, &mut buf);
        buf[..len].to_vec()
    }

    #[test]
    fn the_names_are_the_protocols_bytes() {
        let p = Prefix::from_env(&fake(&[])).unwrap();
        assert_eq!(
            written(&p, Name::Tcp(8080)),
            b"\0allocport/tcp/8080\0\x1f\x90"
        );
        assert_eq!(written(&p, Name::Udp(53)), b"\0allocport/udp/53\0\x00\x35");
        assert_eq!(
            written(&p, Name::ReservedTcp(65535)),
            b"\0allocport/reserved/tcp/65535\0\xff\xff"
        );
        assert_eq!(
            written(&p, Name::ReservedUdp(1)),
            b"\0allocport/reserved/udp/1\0\x00\x01"
        );
        assert_eq!(written(&p, Name::WaitToken), b"\0allocport/wait-token");
        assert_eq!(written(&p, Name::Doorbell(63)), b"\0allocport/doorbell/63");
    }

    #[test]
    fn a_namespace_tag_is_folded_into_every_name() {
        let p = Prefix::from_env(&fake(&[(ALLOCPORT_NAMESPACE, "ci-1.x_y")])).unwrap();
        assert_eq!(
            written(&p, Name::Tcp(1)),
            b"\0allocport-ci-1.x_y/tcp/1\0\x00\x01"
        );
        let longest = "t".repeat(MAX_TAG);
        let p = Prefix::from_env(&fake(&[(ALLOCPORT_NAMESPACE, &longest)])).unwrap();
        let name = written(&p, Name::ReservedUdp(65535));
        assert_eq!(name.len(), std::mem::size_of::<NameBuf>());
    }

    #[test]
    fn a_bad_tag_is_refused_naming_the_variable_and_value() {
        for (tag, why) in [("a/b", "contains '/'"), ("é", "contains 'é'")] {
            let err = Prefix::from_env(&fake(&[(ALLOCPORT_NAMESPACE, tag)])).unwrap_err();
            let text = err.to_string();
            assert!(text.starts_with("ALLOCPORT_NAMESPACE: "), "{text}");
            assert!(text.contains(why), "{text}");
        }
        let long = "x".repeat(MAX_TAG + 1);
        let err = Prefix::from_env(&fake(&[(ALLOCPORT_NAMESPACE, &long)])).unwrap_err();
        assert!(err.to_string().contains("at most 32"), "{err}");
    }

    #[test]
    fn port_names_read_back_as_proc_prints_them() {
        let p = Prefix::from_env(&fake(&[])).unwrap();
        for name in [
            Name::Tcp(8080),
            Name::Udp(256),
            Name::ReservedTcp(1),
            Name::ReservedUdp(65535),
        ] {
            let bytes = written(&p, name);
            // /proc/net/unix prints every NUL as `@`; the leading one is dropped here.
            let shown: Vec<u8> = bytes[1..]
                .iter()
                .map(|&b| if b == 0 { b'@' } else { b })
                .collect();
            assert_eq!(
                p.parse_port_name(&shown),
                Some((name, shown.len())),
                "{name:?}"
            );
        }
        assert_eq!(p.parse_port_name(b"allocport/tcp/80@\x00\x51"), None);
        assert_eq!(p.parse_port_name(b"allocport/tcp/@\x00\x50"), None);
        assert_eq!(p.parse_port_name(b"allocport-x/tcp/80@@P"), None);
        assert_eq!(p.parse_port_name(b"allocport/wait-token"), None);
        // Not `@` after the digits: not a port's name, even if a suffix follows.
        assert_eq!(p.parse_port_name(b"allocport/tcp/80X@P"), None);
        // A `@` in the suffix stands for a NUL only: port 336 ends in 0x01 0x50, not `@P`.
        assert_eq!(p.parse_port_name(b"allocport/tcp/336@@P"), None);
    }
}
