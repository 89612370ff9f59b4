//! The address family a port is checked in.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The address family a port is checked in, like PySys's `socketAddressFamily`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AddressFamily {
    /// IPv4 (`AF_INET`), the default.
    #[default]
    Ipv4,
    /// IPv6 (`AF_INET6`).
    Ipv6,
}

impl fmt::Display for AddressFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressFamily::Ipv4 => "IPv4",
            AddressFamily::Ipv6 => "IPv6",
        })
    }
}

impl AddressFamily {
    /// The address that stands for every interface, for the host `""`.
    pub(crate) fn wildcard(self) -> IpAddr {
        match self {
            AddressFamily::Ipv4 => Ipv4Addr::UNSPECIFIED.into(),
            AddressFamily::Ipv6 => Ipv6Addr::UNSPECIFIED.into(),
        }
    }

    /// The loopback address, for the host `localhost`.
    pub(crate) fn loopback(self) -> IpAddr {
        match self {
            AddressFamily::Ipv4 => Ipv4Addr::LOCALHOST.into(),
            AddressFamily::Ipv6 => Ipv6Addr::LOCALHOST.into(),
        }
    }

    /// Whether `ip` is of this family.
    pub(crate) fn matches(self, ip: &IpAddr) -> bool {
        matches!(
            (self, ip),
            (AddressFamily::Ipv4, IpAddr::V4(_)) | (AddressFamily::Ipv6, IpAddr::V6(_))
        )
    }
}
