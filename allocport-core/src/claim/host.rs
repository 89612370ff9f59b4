//! Hosts to check a port on, resolved once per allocation to the addresses the bind check
//! ([`crate::claim::probe`]) tries.

use std::net::{IpAddr, ToSocketAddrs};

use crate::claim::family::AddressFamily;
use crate::error::Error;

/// One host to check, with the address it resolved to. The name is borrowed from the
/// caller's list: it is needed only in messages, and copying it cost every allocation a heap
/// allocation per host.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CheckAddr<'a> {
    pub(crate) host: &'a str,
    pub(crate) ip: IpAddr,
}

/// How many resolved hosts [`Addrs`] keeps without a heap allocation: PySys's defaults are
/// two, and a request rarely names more.
const FEW: usize = 4;

/// The resolved hosts of one allocation, a slice through `Deref`: a few kept inline, so that
/// an allocation asks the allocator for nothing here.
#[derive(Debug)]
pub(crate) struct Addrs<'a> {
    few: [CheckAddr<'a>; FEW],
    len: usize,
    more: Vec<CheckAddr<'a>>,
}

impl<'a> Addrs<'a> {
    fn new() -> Self {
        let unused = CheckAddr {
            host: "",
            ip: IpAddr::from([0, 0, 0, 0]),
        };
        Addrs {
            few: [unused; FEW],
            len: 0,
            more: Vec::new(),
        }
    }

    fn push(&mut self, addr: CheckAddr<'a>) {
        if self.more.is_empty() && self.len < FEW {
            self.few[self.len] = addr;
            self.len += 1;
            return;
        }
        if self.more.is_empty() {
            self.more.extend_from_slice(&self.few[..self.len]);
        }
        self.more.push(addr);
    }
}

impl<'a> std::ops::Deref for Addrs<'a> {
    type Target = [CheckAddr<'a>];

    fn deref(&self) -> &Self::Target {
        if self.more.is_empty() {
            &self.few[..self.len]
        } else {
            &self.more
        }
    }
}

/// Resolves each host to one address of `family`:
/// `""` is the family's wildcard address (as PySys's `""`), `localhost` its loopback address
/// (RFC 6761, with or without the trailing dot; no resolver round trip on every allocation),
/// an IP literal itself, and any other name the first address of that family the system
/// resolver gives.
pub(crate) fn resolve<S: AsRef<str>>(
    hosts: &[S],
    family: AddressFamily,
) -> Result<Addrs<'_>, Error> {
    if hosts.is_empty() {
        return Err(Error::InvalidHosts {
            hosts: Vec::new(),
            reason: "no host to check the port on".into(),
        });
    }
    let mut resolved = Addrs::new();
    for host in hosts {
        let host = host.as_ref();
        let ip = resolve_one(host, family)?;
        if !resolved.iter().any(|c| c.ip == ip) {
            resolved.push(CheckAddr { host, ip });
        }
    }
    Ok(resolved)
}

fn resolve_one(host: &str, family: AddressFamily) -> Result<IpAddr, Error> {
    let unresolvable = |reason: String| Error::UnresolvableHost {
        host: host.to_owned(),
        family,
        reason,
    };
    match host {
        "" => return Ok(family.wildcard()),
        // The usual spelling, before the general comparison below.
        "localhost" => return Ok(family.loopback()),
        _ => {}
    }
    // `localhost.` is the same name, fully qualified.
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.eq_ignore_ascii_case("localhost") {
        return Ok(family.loopback());
    }
    let trimmed = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = trimmed.parse::<IpAddr>() {
        return if family.matches(&ip) {
            Ok(ip)
        } else {
            Err(unresolvable(format!("{ip} is not an {family} address")))
        };
    }
    let addrs = (host, 0u16)
        .to_socket_addrs()
        .map_err(|e| unresolvable(e.to_string()))?;
    let mut any = false;
    for addr in addrs {
        any = true;
        if family.matches(&addr.ip()) {
            return Ok(addr.ip());
        }
    }
    Err(unresolvable(if any {
        format!("it has no {family} address")
    } else {
        "no address found".into()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    #[test]
    fn empty_host_is_the_wildcard_and_localhost_the_loopback() {
        let v4 = resolve(&["", "localhost"], AddressFamily::Ipv4).unwrap();
        assert_eq!(
            v4.iter().map(|c| c.ip).collect::<Vec<_>>(),
            vec![IpAddr::from([0, 0, 0, 0]), IpAddr::from([127, 0, 0, 1])]
        );
        let v6 = resolve(&["", "LocalHost"], AddressFamily::Ipv6).unwrap();
        assert_eq!(v6[1].ip, IpAddr::from(Ipv6Addr::LOCALHOST));
        for host in ["localhost.", "LOCALHOST."] {
            let hosts = [host];
            let v4 = resolve(&hosts, AddressFamily::Ipv4).unwrap();
            assert_eq!(v4[0].ip, IpAddr::from([127, 0, 0, 1]), "{host}");
        }
    }

    #[test]
    fn more_hosts_than_are_kept_inline_all_resolve_in_order() {
        let hosts: Vec<String> = (1..=FEW + 3).map(|i| format!("127.0.0.{i}")).collect();
        let addrs = resolve(&hosts, AddressFamily::Ipv4).unwrap();
        let ips: Vec<IpAddr> = addrs.iter().map(|c| c.ip).collect();
        let expected: Vec<IpAddr> = (1..=FEW + 3)
            .map(|i| IpAddr::from([127, 0, 0, i as u8]))
            .collect();
        assert_eq!(ips, expected);
        assert_eq!(addrs[FEW + 2].host, "127.0.0.7");
    }

    #[test]
    fn duplicates_are_checked_once() {
        let addrs = resolve(&["localhost", "127.0.0.1"], AddressFamily::Ipv4).unwrap();
        assert_eq!(addrs.len(), 1);
    }

    #[test]
    fn ip_literal_of_the_wrong_family_is_an_error() {
        let msg = resolve(&["127.0.0.1"], AddressFamily::Ipv6)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains(r#""127.0.0.1""#) && msg.contains("IPv6"),
            "{msg}"
        );
        let msg = resolve(&["[::1]"], AddressFamily::Ipv4)
            .unwrap_err()
            .to_string();
        assert!(msg.contains(r#""[::1]""#) && msg.contains("IPv4"), "{msg}");
    }

    #[test]
    fn unresolvable_host_names_the_host() {
        let msg = resolve(&["no-such-host.invalid"], AddressFamily::Ipv4)
            .unwrap_err()
            .to_string();
        assert!(msg.contains(r#""no-such-host.invalid""#), "{msg}");
    }

    #[test]
    fn empty_host_list_is_an_error() {
        let hosts: [&str; 0] = [];
        assert!(matches!(
            resolve(&hosts, AddressFamily::Ipv4),
            Err(Error::InvalidHosts { .. })
        ));
    }
}
