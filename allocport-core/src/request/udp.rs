//! `UdpPortOwner`: a UDP port held for as long as the value lives.

use std::fmt;

use crate::claim::family::AddressFamily;
use crate::claim::transport::Transport;
use crate::error::Error;
use crate::request::owner::{DEFAULT_HOSTS, allocate_one, many_owners, release};

/// A UDP port held by this value until it is dropped: the UDP twin of
/// [`TcpPortOwner`](crate::TcpPortOwner), from the same pool and with the same API.
///
/// While it lives no other owner, in this process or in any other process of the same user,
/// holds the same port for UDP. When it was allocated a UDP socket could be bound on the port
/// on every host it was checked on. Between processes UDP claims are kept apart from TCP
/// claims, so another process may hold the same number for TCP (the protocols' ports are
/// separate in the kernel too); for a number held for both, see
/// [`TcpPortOwner::with_udp`](crate::TcpPortOwner::with_udp).
///
/// ```
/// use allocport_core::UdpPortOwner;
/// use std::net::UdpSocket;
///
/// let owner = UdpPortOwner::new()?;
/// let server = UdpSocket::bind(("127.0.0.1", owner.port()))?;
/// let client = UdpSocket::bind("127.0.0.1:0")?;
/// client.send_to(b"ping", ("127.0.0.1", owner.port()))?;
/// let mut buf = [0; 4];
/// let (n, _) = server.recv_from(&mut buf)?;
/// assert_eq!(&buf[..n], b"ping");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct UdpPortOwner {
    port: u16,
}

impl UdpPortOwner {
    /// Allocates a port free for UDP on every IPv4 interface and on localhost.
    ///
    /// Waits up to the [allocation timeout](crate::set_allocation_timeout) when every port is
    /// held; a configuration error is returned at once.
    pub fn new() -> Result<Self, Error> {
        Self::with_hosts(&DEFAULT_HOSTS, AddressFamily::Ipv4)
    }

    /// Allocates a port free for UDP on each of `hosts`, in `family`, with the host rules of
    /// [`TcpPortOwner::with_hosts`](crate::TcpPortOwner::with_hosts).
    ///
    /// ```
    /// use allocport_core::{AddressFamily, UdpPortOwner};
    /// let owner = UdpPortOwner::with_hosts(&["localhost"], AddressFamily::Ipv4)?;
    /// assert!(owner.port() >= 1);
    /// # Ok::<(), allocport_core::Error>(())
    /// ```
    pub fn with_hosts<S: AsRef<str>>(hosts: &[S], family: AddressFamily) -> Result<Self, Error> {
        let port = allocate_one(Transport::Udp, hosts, family)?;
        Ok(UdpPortOwner::held(port))
    }

    /// Allocates `n` distinct UDP ports at once, all or none: the shortcut for
    /// `PortRequest::new().count(n).hosts(hosts).family(family).allocate_udp()`
    /// ([`PortRequest::allocate_udp`](crate::PortRequest::allocate_udp), which also asks for
    /// related and fixed ports).
    ///
    /// ```
    /// use allocport_core::{AddressFamily, UdpPortOwner};
    /// let owners = UdpPortOwner::many(3, &["localhost"], AddressFamily::Ipv4)?;
    /// assert_eq!(owners.len(), 3);
    /// # Ok::<(), allocport_core::Error>(())
    /// ```
    pub fn many<S: AsRef<str>>(
        n: usize,
        hosts: &[S],
        family: AddressFamily,
    ) -> Result<Vec<Self>, Error> {
        many_owners(Transport::Udp, n, hosts, family, UdpPortOwner::held)
    }

    /// The owner of a port the pool just marked held for UDP.
    pub(crate) fn held(port: u16) -> Self {
        UdpPortOwner { port }
    }

    /// The port held.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Returns the port to the pool now; dropping the owner does the same.
    pub fn cleanup(self) {}
}

impl Drop for UdpPortOwner {
    fn drop(&mut self) {
        release(Transport::Udp, self.port);
    }
}

impl fmt::Display for UdpPortOwner {
    /// The bare port number, as for [`TcpPortOwner`](crate::TcpPortOwner).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.port, f)
    }
}

impl fmt::Debug for UdpPortOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpPortOwner")
            .field("port", &self.port)
            .finish()
    }
}
