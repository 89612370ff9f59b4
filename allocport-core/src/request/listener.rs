//! Sockets bound on held ports: [`HeldTcpListener`] and [`HeldUdpSocket`], for servers that
//! accept a bound socket, so there is no window between the check and the bind.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::ops::Deref;

use crate::claim::family::AddressFamily;
use crate::claim::host::{CheckAddr, resolve};
use crate::claim::transport::Transport;
use crate::error::Error;
use crate::request::bind::{BIND_ATTEMPTS, bind_retrying};
use crate::request::owner::TcpPortOwner;
use crate::request::udp::UdpPortOwner;
use crate::request::{Ask, allocate_on};

/// Allocates a port for `transport` checked on `addrs` (one host, resolved), hands it to its
/// owner with `held`, and binds `bind` on the address and the port, retrying with a fresh
/// port as [`bind_retrying`] does.
fn bind_held<O, S>(
    addrs: &[CheckAddr<'_>],
    transport: Transport,
    held: impl Fn(u16) -> O,
    port: impl Fn(&O) -> u16,
    bind: impl Fn(SocketAddr) -> io::Result<S>,
) -> Result<(S, O), Error> {
    let allocate = || {
        let ports = allocate_on(transport, addrs, &Ask::ports(1))?;
        Ok(ports.into_iter().map(&held).collect())
    };
    let udp = transport == Transport::Udp;
    let mut bound = bind_retrying(addrs[0].ip, udp, BIND_ATTEMPTS, allocate, port, bind)?;
    // One port asked, all or none: one pair.
    Ok(bound.swap_remove(0))
}

/// Allocates `n` ports for `transport` on the one host `addrs` resolves, all or none, and
/// binds `bind` on each; a port lost to a program outside allocport between check and bind
/// is replaced as [`bind_held`] does, the lost owner staying held until then so it is not
/// offered again. The host is resolved once, by the caller, for all of them.
fn bind_many<O, S, H>(
    n: usize,
    addrs: &[CheckAddr<'_>],
    transport: Transport,
    held: impl Fn(u16) -> O + Copy,
    port: impl Fn(&O) -> u16,
    bind: impl Fn(SocketAddr) -> io::Result<S> + Copy,
    wrap: impl Fn(S, O) -> H + Copy,
) -> Result<Vec<H>, Error> {
    let owners: Vec<O> = allocate_on(transport, addrs, &Ask::ports(n))?
        .into_iter()
        .map(held)
        .collect();
    let ip = addrs[0].ip;
    let replace = || bind_held(addrs, transport, held, &port, bind).map(|(s, o)| wrap(s, o));
    let mut bound = Vec::with_capacity(owners.len());
    for owner in owners {
        match bind(SocketAddr::new(ip, port(&owner))) {
            Ok(socket) => bound.push(wrap(socket, owner)),
            Err(_) => bound.push(replace()?),
        }
    }
    Ok(bound)
}

/// A [`TcpListener`] bound on a held port, together with the [`TcpPortOwner`] that holds the
/// port, so the port stays held for exactly as long as the listener can be used.
///
/// It dereferences to the listener; [`into_parts`](Self::into_parts) hands over both halves
/// when a server wants to own the listener (keep the owner alive as long as the server runs).
///
/// ```
/// use allocport_core::HeldTcpListener;
/// use std::io::{Read, Write};
/// use std::net::TcpStream;
///
/// let server = HeldTcpListener::new()?;
/// let mut client = TcpStream::connect(server.local_addr()?)?;
/// client.write_all(b"hi")?;
/// let (mut conn, _) = server.accept()?; // `accept` of the TcpListener, through Deref
/// let mut buf = [0; 2];
/// conn.read_exact(&mut buf)?;
/// assert_eq!(&buf, b"hi");
/// assert!(allocport_core::is_tcp_port_held(server.port()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct HeldTcpListener {
    // Declared before `owner` so it is dropped first: the socket closes before the port
    // returns to the pool, and the next owner of the port never finds it still bound.
    listener: TcpListener,
    owner: TcpPortOwner,
}

impl HeldTcpListener {
    /// Allocates a port checked on localhost (IPv4) and binds `127.0.0.1` on it at once, so
    /// no other allocport user can be handed the port between check and bind.
    ///
    /// If a program outside allocport binds the port in that instant, another port is tried
    /// (the taken one stays held until this call returns, so it is not offered again), up to
    /// three times; then [`Error::Bind`].
    ///
    /// ```
    /// let held = allocport_core::HeldTcpListener::new()?;
    /// assert_eq!(held.local_addr()?.port(), held.port());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new() -> Result<Self, Error> {
        Self::with_host("localhost", AddressFamily::Ipv4)
    }

    /// The same as [`new`](Self::new), under the name the fixtures crate gave it.
    pub fn bind_localhost() -> Result<Self, Error> {
        Self::new()
    }

    /// Allocates a port checked on `host` and binds a listener there: `""` is the family's
    /// wildcard address, `localhost` its loopback address, other names and literals resolve as
    /// in [`TcpPortOwner::with_hosts`].
    ///
    /// ```
    /// use allocport_core::{AddressFamily, HeldTcpListener};
    /// # if std::net::TcpListener::bind("[::1]:0").is_err() { return Ok(()); } // no IPv6
    /// let held = HeldTcpListener::with_host("::1", AddressFamily::Ipv6)?;
    /// assert!(held.local_addr()?.is_ipv6());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_host(host: &str, family: AddressFamily) -> Result<Self, Error> {
        let (listener, owner) = bind_held(
            &resolve(&[host], family)?,
            Transport::Tcp,
            |port| TcpPortOwner::held(port, Transport::Tcp),
            TcpPortOwner::port,
            TcpListener::bind,
        )?;
        Ok(HeldTcpListener { listener, owner })
    }

    /// `n` listeners on distinct held ports on `host`, the ports allocated all or none as in
    /// [`TcpPortOwner::many`]. A port lost to a program outside allocport between check and
    /// bind is replaced as [`with_host`](Self::with_host) does.
    ///
    /// ```
    /// use allocport_core::{AddressFamily, HeldTcpListener};
    /// let held = HeldTcpListener::many(2, "localhost", AddressFamily::Ipv4)?;
    /// assert_ne!(held[0].port(), held[1].port());
    /// # Ok::<(), allocport_core::Error>(())
    /// ```
    pub fn many(n: usize, host: &str, family: AddressFamily) -> Result<Vec<Self>, Error> {
        bind_many(
            n,
            &resolve(&[host], family)?,
            Transport::Tcp,
            |port| TcpPortOwner::held(port, Transport::Tcp),
            TcpPortOwner::port,
            TcpListener::bind,
            Self::from_parts,
        )
    }

    /// A listener bound on the port `owner` holds.
    pub(crate) fn from_parts(listener: TcpListener, owner: TcpPortOwner) -> Self {
        HeldTcpListener { listener, owner }
    }

    /// The listener.
    pub fn listener(&self) -> &TcpListener {
        &self.listener
    }

    /// The port the listener is bound on, held until `self` (or the owner from
    /// [`into_parts`](Self::into_parts)) is dropped.
    pub fn port(&self) -> u16 {
        self.owner.port()
    }

    /// The owner holding the port.
    pub fn owner(&self) -> &TcpPortOwner {
        &self.owner
    }

    /// Splits into the listener and the owner of its port, for a server that takes the
    /// listener by value. Keep the owner alive while the listener is in use: once it is
    /// dropped, the port can be handed to another test.
    ///
    /// ```
    /// let (listener, owner) = allocport_core::HeldTcpListener::new()?.into_parts();
    /// let server = std::thread::spawn(move || listener.accept().map(|_| ()));
    /// std::net::TcpStream::connect(("127.0.0.1", owner.port()))?;
    /// server.join().unwrap()?;
    /// drop(owner); // after the server is done with the listener
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_parts(self) -> (TcpListener, TcpPortOwner) {
        (self.listener, self.owner)
    }
}

impl Deref for HeldTcpListener {
    type Target = TcpListener;

    fn deref(&self) -> &TcpListener {
        &self.listener
    }
}

impl fmt::Debug for HeldTcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeldTcpListener")
            .field("listener", &self.listener)
            .field("port", &self.owner.port())
            .finish()
    }
}

/// A [`UdpSocket`] bound on a held UDP port, with the [`UdpPortOwner`] that holds it: the UDP
/// twin of [`HeldTcpListener`].
///
/// ```
/// use allocport_core::HeldUdpSocket;
/// use std::net::UdpSocket;
///
/// let server = HeldUdpSocket::new()?;
/// let client = UdpSocket::bind("127.0.0.1:0")?;
/// client.send_to(b"ping", server.local_addr()?)?;
/// let mut buf = [0; 4];
/// let (n, _) = server.recv_from(&mut buf)?; // `recv_from` of the UdpSocket, through Deref
/// assert_eq!(&buf[..n], b"ping");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct HeldUdpSocket {
    // Before `owner`, so the socket closes before the port returns to the pool.
    socket: UdpSocket,
    owner: UdpPortOwner,
}

impl HeldUdpSocket {
    /// Allocates a UDP port checked on localhost (IPv4) and binds `127.0.0.1` on it at once,
    /// retrying as [`HeldTcpListener::new`] does.
    pub fn new() -> Result<Self, Error> {
        Self::with_host("localhost", AddressFamily::Ipv4)
    }

    /// Allocates a UDP port checked on `host` and binds a socket there (host rules as in
    /// [`HeldTcpListener::with_host`]).
    pub fn with_host(host: &str, family: AddressFamily) -> Result<Self, Error> {
        let (socket, owner) = bind_held(
            &resolve(&[host], family)?,
            Transport::Udp,
            UdpPortOwner::held,
            UdpPortOwner::port,
            UdpSocket::bind,
        )?;
        Ok(HeldUdpSocket { socket, owner })
    }

    /// `n` UDP sockets on distinct held ports on `host`, all or none, as
    /// [`HeldTcpListener::many`].
    pub fn many(n: usize, host: &str, family: AddressFamily) -> Result<Vec<Self>, Error> {
        bind_many(
            n,
            &resolve(&[host], family)?,
            Transport::Udp,
            UdpPortOwner::held,
            UdpPortOwner::port,
            UdpSocket::bind,
            Self::from_parts,
        )
    }

    /// A socket bound on the port `owner` holds.
    pub(crate) fn from_parts(socket: UdpSocket, owner: UdpPortOwner) -> Self {
        HeldUdpSocket { socket, owner }
    }

    /// The socket.
    pub fn socket(&self) -> &UdpSocket {
        &self.socket
    }

    /// The port the socket is bound on, held until `self` (or the owner from
    /// [`into_parts`](Self::into_parts)) is dropped.
    pub fn port(&self) -> u16 {
        self.owner.port()
    }

    /// The owner holding the port.
    pub fn owner(&self) -> &UdpPortOwner {
        &self.owner
    }

    /// Splits into the socket and the owner of its port; keep the owner alive while the
    /// socket is in use.
    pub fn into_parts(self) -> (UdpSocket, UdpPortOwner) {
        (self.socket, self.owner)
    }
}

impl Deref for HeldUdpSocket {
    type Target = UdpSocket;

    fn deref(&self) -> &UdpSocket {
        &self.socket
    }
}

impl fmt::Debug for HeldUdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeldUdpSocket")
            .field("socket", &self.socket)
            .field("port", &self.owner.port())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;
    use std::net::Ipv4Addr;

    use super::*;
    use crate::request::bind::test_support::{assert_udp_gave_up_holding_none, losing};

    /// What a chain reporter prints: each error's `Display`, then its sources', joined by ": ".
    fn chain(err: &Error) -> String {
        let mut parts = vec![err.to_string()];
        let mut next = err.source();
        while let Some(cause) = next {
            parts.push(cause.to_string());
            next = cause.source();
        }
        parts.join(": ")
    }

    #[test]
    fn bind_error_chain_shows_its_cause_once() {
        let err = Error::Bind {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 40123)),
            udp: false,
            attempts: BIND_ATTEMPTS,
            cause: io::Error::new(io::ErrorKind::AddrInUse, "the distinctive bind cause"),
        };
        let report = chain(&err);
        assert_eq!(
            report.matches("the distinctive bind cause").count(),
            1,
            "{report}"
        );
        assert!(
            err.to_string()
                .starts_with("cannot bind a listener on 127.0.0.1:40123"),
            "{err}"
        );
    }

    #[test]
    fn a_bind_that_always_loses_the_race_gives_up_after_three_ports_holding_none() {
        let tried = std::cell::RefCell::new(Vec::new());
        let addrs = resolve(&["localhost"], AddressFamily::Ipv4).unwrap();
        let err = bind_held(
            &addrs,
            Transport::Udp,
            UdpPortOwner::held,
            UdpPortOwner::port,
            losing(&tried),
        )
        .unwrap_err();
        assert_udp_gave_up_holding_none(&err, &tried.borrow());
        assert!(
            err.to_string()
                .starts_with("cannot bind a UDP socket on 127.0.0.1:"),
            "{err}"
        );
        assert_eq!(tried.borrow().len(), BIND_ATTEMPTS);
    }
}
