//! Binding freshly allocated ports, and allocating afresh while a bind loses a race: the one
//! loop behind [`HeldTcpListener`](crate::HeldTcpListener), [`HeldUdpSocket`](crate::HeldUdpSocket)
//! and [`PortRequest::listen`](crate::PortRequest::listen).

use std::io;
use std::net::{IpAddr, SocketAddr};

use crate::error::Error;

/// How many freshly allocated ports to try before giving up on binding. A bind can fail only
/// when a program outside allocport takes the port between the pool's check and our bind; a
/// second such race in a row means something is wrong on the machine, not bad luck.
pub(crate) const BIND_ATTEMPTS: usize = 3;

/// Allocates owners with `allocate` and binds `bind` on `ip` and each owner's `port`; when a
/// bind loses a race, allocates afresh, up to `attempts` allocations in all, then
/// [`Error::Bind`] for the last port lost. The owners that lost stay held until this returns,
/// so they are not offered again.
pub(crate) fn bind_retrying<O, S>(
    ip: IpAddr,
    udp: bool,
    attempts: usize,
    allocate: impl Fn() -> Result<Vec<O>, Error>,
    port: impl Fn(&O) -> u16,
    bind: impl Fn(SocketAddr) -> io::Result<S>,
) -> Result<Vec<(S, O)>, Error> {
    let mut raced = Vec::with_capacity(attempts);
    loop {
        let owners = allocate()?;
        let mut sockets = Vec::with_capacity(owners.len());
        let mut lost = None;
        for owner in &owners {
            let addr = SocketAddr::new(ip, port(owner));
            match bind(addr) {
                Ok(socket) => sockets.push(socket),
                Err(cause) => {
                    lost = Some((addr, cause));
                    break;
                }
            }
        }
        let Some((addr, cause)) = lost else {
            return Ok(sockets.into_iter().zip(owners).collect());
        };
        // The ports bound so far in this attempt go back with the rest: all or none.
        drop(sockets);
        raced.push(owners);
        if raced.len() >= attempts {
            return Err(Error::Bind {
                addr,
                udp,
                attempts: raced.len(),
                cause,
            });
        }
    }
}

/// What the tests of both users of [`bind_retrying`] give it and check of it.
#[cfg(test)]
pub(crate) mod test_support {
    use std::cell::RefCell;
    use std::io;
    use std::net::SocketAddr;

    use super::BIND_ATTEMPTS;
    use crate::error::Error;

    /// A bind that always loses the race, recording the ports it was asked for: every port
    /// tried before is still held while the next is tried, so it is never the same one.
    pub(crate) fn losing(tried: &RefCell<Vec<u16>>) -> impl Fn(SocketAddr) -> io::Result<()> + '_ {
        |addr| {
            assert!(!tried.borrow().contains(&addr.port()));
            tried.borrow_mut().push(addr.port());
            Err(io::Error::new(io::ErrorKind::AddrInUse, "taken"))
        }
    }

    /// Checks that binding UDP sockets gave up after [`BIND_ATTEMPTS`] allocations, and that
    /// none of the ports `tried` is held any more.
    pub(crate) fn assert_udp_gave_up_holding_none(err: &Error, tried: &[u16]) {
        assert!(
            matches!(
                err,
                Error::Bind {
                    udp: true,
                    attempts: BIND_ATTEMPTS,
                    ..
                }
            ),
            "{err}"
        );
        for port in tried {
            assert!(!crate::is_tcp_port_held(*port), "port {port} still held");
        }
    }
}
