//! `TcpPortOwner`: a port held for as long as the value lives.

use std::fmt;

use crate::claim::family::AddressFamily;
use crate::claim::host::resolve;
use crate::claim::transport::Transport;
use crate::error::Error;
use crate::request::{Ask, allocate_on};

/// The hosts PySys checks by default: every IPv4 interface (`""`) and localhost.
pub const DEFAULT_HOSTS: [&str; 2] = ["", "localhost"];

/// A TCP server port held by this value until it is dropped (PySys's `TCPPortOwner`).
///
/// While it lives no other owner, in this process or in any other process of the same user,
/// holds the same port. When it was allocated the port could be bound on every host it was
/// checked on; start your server on it promptly, as a program outside allocport could still
/// take it in between.
///
/// ```
/// use allocport_core::TcpPortOwner;
/// use std::net::TcpListener;
///
/// let owner = TcpPortOwner::new()?;
/// let listener = TcpListener::bind(("127.0.0.1", owner.port()))?;
/// println!("server on port {owner}");
/// drop(listener);
/// owner.cleanup(); // or let it drop: the port returns to the pool either way
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct TcpPortOwner {
    port: u16,
    /// `Tcp`, or `TcpAndUdp` from [`with_udp`](Self::with_udp).
    transport: Transport,
}

impl TcpPortOwner {
    /// Allocates a port free on every IPv4 interface and on localhost (PySys's defaults).
    ///
    /// Waits up to the [allocation timeout](crate::set_allocation_timeout) when every port is
    /// held; a configuration error (a bad `PYSYS_PORTS`, an unusable lock directory) is returned
    /// at once.
    pub fn new() -> Result<Self, Error> {
        Self::with_hosts(&DEFAULT_HOSTS, AddressFamily::Ipv4)
    }

    /// Allocates a port free on each of `hosts`, in `family`. `""` stands for the family's
    /// wildcard address, `localhost` for its loopback address; other names resolve once per call,
    /// to addresses of the family only. Checking only the host your server will use is the
    /// cheapest and binds nothing elsewhere.
    ///
    /// ```
    /// use allocport_core::{AddressFamily, TcpPortOwner};
    /// let owner = TcpPortOwner::with_hosts(&["localhost"], AddressFamily::Ipv4)?;
    /// assert!(owner.port() >= 1);
    /// # Ok::<(), allocport_core::Error>(())
    /// ```
    pub fn with_hosts<S: AsRef<str>>(hosts: &[S], family: AddressFamily) -> Result<Self, Error> {
        let port = allocate_one(Transport::Tcp, hosts, family)?;
        Ok(TcpPortOwner::held(port, Transport::Tcp))
    }

    /// Allocates `n` distinct ports at once, all or none: while some are held elsewhere it takes
    /// none and waits, so two callers that each want several never deadlock on each other.
    ///
    /// ```
    /// use allocport_core::{AddressFamily, TcpPortOwner};
    /// let owners = TcpPortOwner::many(3, &["localhost"], AddressFamily::Ipv4)?;
    /// assert_eq!(owners.len(), 3);
    /// # Ok::<(), allocport_core::Error>(())
    /// ```
    pub fn many<S: AsRef<str>>(
        n: usize,
        hosts: &[S],
        family: AddressFamily,
    ) -> Result<Vec<Self>, Error> {
        Self::many_of(Transport::Tcp, n, hosts, family)
    }

    /// Allocates a port free for TCP **and** UDP on each of `hosts`, held for both until the
    /// owner is dropped: for servers that serve both on one number (DNS, QUIC with a TCP
    /// fallback). No other allocport user gets the number for either protocol meanwhile.
    ///
    /// ```
    /// use allocport_core::{AddressFamily, TcpPortOwner};
    /// use std::net::{TcpListener, UdpSocket};
    ///
    /// let owner = TcpPortOwner::with_udp(&["localhost"], AddressFamily::Ipv4)?;
    /// assert!(owner.holds_udp());
    /// let tcp = TcpListener::bind(("127.0.0.1", owner.port()))?;
    /// let udp = UdpSocket::bind(("127.0.0.1", owner.port()))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_udp<S: AsRef<str>>(hosts: &[S], family: AddressFamily) -> Result<Self, Error> {
        let port = allocate_one(Transport::TcpAndUdp, hosts, family)?;
        Ok(TcpPortOwner::held(port, Transport::TcpAndUdp))
    }

    /// `n` distinct ports as [`with_udp`](Self::with_udp) holds one, all or none: the shortcut
    /// for `PortRequest::new().count(n).hosts(hosts).family(family).tcp_and_udp().allocate()`
    /// ([`PortRequest::tcp_and_udp`](crate::PortRequest::tcp_and_udp)).
    pub fn many_with_udp<S: AsRef<str>>(
        n: usize,
        hosts: &[S],
        family: AddressFamily,
    ) -> Result<Vec<Self>, Error> {
        Self::many_of(Transport::TcpAndUdp, n, hosts, family)
    }

    fn many_of<S: AsRef<str>>(
        transport: Transport,
        n: usize,
        hosts: &[S],
        family: AddressFamily,
    ) -> Result<Vec<Self>, Error> {
        many_owners(transport, n, hosts, family, |port| TcpPortOwner {
            port,
            transport,
        })
    }

    /// The owner of a port the pool just marked held for `transport`.
    pub(crate) fn held(port: u16, transport: Transport) -> Self {
        TcpPortOwner { port, transport }
    }

    /// Whether the port is held for UDP too ([`with_udp`](Self::with_udp)).
    pub fn holds_udp(&self) -> bool {
        self.transport.udp()
    }

    /// The port held.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Returns the port to the pool now (PySys's `cleanup`); dropping the owner does the same.
    pub fn cleanup(self) {}
}

impl Drop for TcpPortOwner {
    fn drop(&mut self) {
        release(self.transport, self.port);
    }
}

impl fmt::Display for TcpPortOwner {
    /// The bare port number, so an owner can go straight into an address or a command line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.port, f)
    }
}

impl fmt::Debug for TcpPortOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("TcpPortOwner");
        debug.field("port", &self.port);
        if self.holds_udp() {
            debug.field("udp", &true);
        }
        debug.finish()
    }
}

/// What every owner type's `many` does: `n` ports for `transport` on `hosts`, as the
/// [`PortRequest`](crate::PortRequest) of that count, hosts and family would allocate them,
/// without building one (its copies of the host names cost every allocation heap
/// allocations); for `n == 0`, nothing held, with the configuration still checked.
pub(crate) fn many_owners<S: AsRef<str>, O>(
    transport: Transport,
    n: usize,
    hosts: &[S],
    family: AddressFamily,
    held: impl Fn(u16) -> O,
) -> Result<Vec<O>, Error> {
    Ok(allocate(transport, n, hosts, family)?
        .into_iter()
        .map(held)
        .collect())
}

/// Allocates `n` ports for `transport`, checked on `hosts`: what every owner type does.
pub(crate) fn allocate<S: AsRef<str>>(
    transport: Transport,
    n: usize,
    hosts: &[S],
    family: AddressFamily,
) -> Result<Vec<u16>, Error> {
    allocate_on(transport, &resolve(hosts, family)?, &Ask::ports(n))
}

/// One port for `transport` on `hosts`: what every owner type's single-port constructor does,
/// without a vector of owners to take it out of.
pub(crate) fn allocate_one<S: AsRef<str>>(
    transport: Transport,
    hosts: &[S],
    family: AddressFamily,
) -> Result<u16, Error> {
    let ports = allocate(transport, 1, hosts, family)?;
    Ok(ports[0])
}

/// Returns a port an owner held for `transport` to the pool.
pub(crate) fn release(transport: Transport, port: u16) {
    // An owner exists only after the pool was built, so the pool is there to return to.
    if let Some(pool) = crate::pool::existing_pool() {
        pool.release(transport, port);
    }
}
