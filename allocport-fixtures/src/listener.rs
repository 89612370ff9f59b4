//! `HeldTcpListener`: a listener bound on a held port, for servers that accept a listener.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::ops::Deref;

use allocport_core::{AddressFamily, TcpPortOwner};

/// How many freshly allocated ports to try before giving up on binding. A bind can fail only
/// when a program outside allocport takes the port between the pool's check and our bind; a
/// second such race in a row means something is wrong on the machine, not bad luck.
const BIND_ATTEMPTS: usize = 3;

/// A [`TcpListener`] bound on `127.0.0.1`, together with the [`TcpPortOwner`] that holds its
/// port, so the port stays held for exactly as long as the listener can be used.
///
/// It dereferences to the listener; [`into_parts`](Self::into_parts) hands over both halves
/// when a server wants to own the listener (keep the owner alive as long as the server runs).
///
/// ```
/// use allocport_fixtures::HeldTcpListener;
/// use std::io::{Read, Write};
/// use std::net::TcpStream;
///
/// let server = HeldTcpListener::bind_localhost()?;
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
    /// three times.
    ///
    /// ```
    /// let held = allocport_fixtures::HeldTcpListener::bind_localhost()?;
    /// assert_eq!(held.local_addr()?.port(), held.port());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bind_localhost() -> Result<Self, ListenerError> {
        let mut raced = Vec::with_capacity(BIND_ATTEMPTS);
        loop {
            let owner = TcpPortOwner::with_hosts(&["localhost"], AddressFamily::Ipv4)
                .map_err(ListenerError::Allocate)?;
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, owner.port()));
            match TcpListener::bind(addr) {
                Ok(listener) => return Ok(HeldTcpListener { listener, owner }),
                Err(source) if raced.len() + 1 < BIND_ATTEMPTS => raced.push((owner, source)),
                Err(source) => return Err(ListenerError::Bind { addr, source }),
            }
        }
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
    /// let (listener, owner) = allocport_fixtures::HeldTcpListener::bind_localhost()?.into_parts();
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

/// Why [`HeldTcpListener::bind_localhost`] failed.
///
/// Its `Display` says what failed and [`source`](std::error::Error::source) returns the cause,
/// so a reporter that walks the chain (`anyhow`'s `{:#}`, `eyre`) shows the cause once.
///
/// ```
/// use allocport_fixtures::ListenerError;
/// fn assert_error<E: std::error::Error + Send + Sync + 'static>() {}
/// assert_error::<ListenerError>();
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ListenerError {
    /// No port could be allocated (bad `PYSYS_PORTS`, timeout, ...).
    Allocate(allocport_core::Error),
    /// Every port tried was taken by a program outside allocport before it could be bound.
    Bind {
        /// The address of the last attempt.
        addr: SocketAddr,
        /// The error of the last attempt.
        source: io::Error,
    },
}

impl fmt::Display for ListenerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The cause is left to `source()`: printing it here too would show it twice in every
        // reporter that walks the chain.
        match self {
            ListenerError::Allocate(_) => {
                f.write_str("cannot allocate a port for a listener on 127.0.0.1")
            }
            ListenerError::Bind { addr, .. } => write!(
                f,
                "cannot bind a listener on {addr} although allocport holds the port \
                 ({BIND_ATTEMPTS} ports tried; a program outside allocport keeps taking them)"
            ),
        }
    }
}

impl std::error::Error for ListenerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ListenerError::Allocate(err) => Some(err),
            ListenerError::Bind { source, .. } => Some(source),
        }
    }
}

impl From<allocport_core::Error> for ListenerError {
    fn from(err: allocport_core::Error) -> Self {
        ListenerError::Allocate(err)
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;
    use std::io;
    use std::net::{Ipv4Addr, SocketAddr};

    use super::ListenerError;

    /// What a chain reporter prints: each error's `Display`, then its sources', joined by ": ".
    fn chain(err: &ListenerError) -> String {
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
        let err = ListenerError::Bind {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 40123)),
            source: io::Error::new(io::ErrorKind::AddrInUse, "the distinctive bind cause"),
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
    fn allocate_error_chain_shows_its_cause_once() {
        let cause = allocport_core::Error::TooManyPorts {
            requested: 7,
            pool_size: 3,
        };
        let cause_text = cause.to_string();
        let err = ListenerError::Allocate(cause);
        let report = chain(&err);
        assert_eq!(report.matches(&cause_text).count(), 1, "{report}");
        assert_eq!(
            err.source().map(ToString::to_string).as_deref(),
            Some(cause_text.as_str())
        );
        assert_eq!(
            err.to_string(),
            "cannot allocate a port for a listener on 127.0.0.1"
        );
    }
}
