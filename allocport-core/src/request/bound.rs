//! Sockets bound on the ports of a [`PortRequest`]: [`PortRequest::listen`] and
//! [`PortRequest::bind_udp`], for related, fixed or TCP+UDP ports handed over already bound.

use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};

use crate::claim::host::resolve;
use crate::error::Error;
use crate::request::PortRequest;
use crate::request::bind::{BIND_ATTEMPTS, bind_retrying};
use crate::request::listener::{HeldTcpListener, HeldUdpSocket};
use crate::request::owner::TcpPortOwner;
use crate::request::udp::UdpPortOwner;

impl PortRequest {
    /// Allocates the ports as [`allocate`](Self::allocate) does and binds a [`TcpListener`] on
    /// each, on the request's one host (set it with [`hosts`](Self::hosts); more than one is
    /// an [`Error::InvalidRequest`]), so no other allocport user can be handed a port between
    /// the check and the bind.
    ///
    /// If a program outside allocport binds one of the ports in that instant, the whole
    /// request is allocated again (the ports that lost stay held until this call returns, so
    /// they are not offered again), up to three times; an [`exact`](Self::exact) request is not
    /// retried. Then [`Error::Bind`]. `strict(true)` is an invalid request here: the listener
    /// binds with `SO_REUSEADDR`, so a port in TIME_WAIT is no obstacle.
    ///
    /// ```
    /// use allocport_core::PortRequest;
    ///
    /// let block = PortRequest::new().consecutive(2).hosts(&["localhost"]).listen()?;
    /// assert_eq!(block[1].port(), block[0].port() + 1);
    /// assert!(block[0].local_addr()?.ip().is_loopback());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn listen(&self) -> Result<Vec<HeldTcpListener>, Error> {
        if self.strict {
            return Err(Error::InvalidRequest {
                reason: "strict(true) with listen(): the listeners bind with SO_REUSEADDR, so \
                         a port in TIME_WAIT is no obstacle and strict has no use"
                    .into(),
            });
        }
        let pairs = self.bind_all(
            false,
            || self.allocate(),
            TcpPortOwner::port,
            TcpListener::bind,
        )?;
        Ok(pairs
            .into_iter()
            .map(|(listener, owner)| HeldTcpListener::from_parts(listener, owner))
            .collect())
    }

    /// Allocates UDP ports as [`allocate_udp`](Self::allocate_udp) does and binds a
    /// [`UdpSocket`] on each, on the request's one host, retrying as [`listen`](Self::listen).
    ///
    /// ```
    /// use allocport_core::PortRequest;
    ///
    /// let rtp = PortRequest::new().consecutive(2).hosts(&["localhost"]).bind_udp()?;
    /// assert_eq!(rtp[1].port(), rtp[0].port() + 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bind_udp(&self) -> Result<Vec<HeldUdpSocket>, Error> {
        let pairs = self.bind_all(
            true,
            || self.allocate_udp(),
            UdpPortOwner::port,
            UdpSocket::bind,
        )?;
        Ok(pairs
            .into_iter()
            .map(|(socket, owner)| HeldUdpSocket::from_parts(socket, owner))
            .collect())
    }

    /// Allocates with `allocate` and binds each port with `bind` on the one host, again with
    /// fresh ports while a bind loses a race.
    fn bind_all<O, S>(
        &self,
        udp: bool,
        allocate: impl Fn() -> Result<Vec<O>, Error>,
        port: fn(&O) -> u16,
        bind: impl Fn(SocketAddr) -> io::Result<S>,
    ) -> Result<Vec<(S, O)>, Error> {
        let (host, family, exact) = self.bind_target()?;
        let ip = resolve(&[host], family)?[0].ip;
        let attempts = if exact { 1 } else { BIND_ATTEMPTS };
        bind_retrying(ip, udp, attempts, allocate, port, bind)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::request::bind::test_support::{assert_udp_gave_up_holding_none, losing};

    /// Binds `request`'s UDP ports with a bind that always loses, and returns the error.
    fn bind_udp_losing(request: &PortRequest, tried: &RefCell<Vec<u16>>) -> Error {
        request
            .bind_all(
                true,
                || request.allocate_udp(),
                UdpPortOwner::port,
                losing(tried),
            )
            .unwrap_err()
    }

    #[test]
    fn a_request_that_keeps_losing_the_race_is_allocated_afresh_three_times() {
        let tried = RefCell::new(Vec::new());
        let request = PortRequest::new().consecutive(2).hosts(&["localhost"]);
        let err = bind_udp_losing(&request, &tried);
        assert_udp_gave_up_holding_none(&err, &tried.borrow());
        // Each attempt stopped at its group's first port, and never got a port tried before.
        let mut ports = tried.borrow().clone();
        assert_eq!(ports.len(), 3);
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 3, "{ports:?}");
    }

    #[test]
    fn an_exact_request_is_not_retried_and_more_than_one_host_is_invalid() {
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let tried = RefCell::new(Vec::new());
        let request = PortRequest::new().exact(port).hosts(&["localhost"]);
        let err = bind_udp_losing(&request, &tried);
        assert!(matches!(err, Error::Bind { attempts: 1, .. }), "{err}");
        assert!(err.to_string().contains("(1 port tried;"), "{err}");
        assert_eq!(*tried.borrow(), [port]);
        let two_hosts = PortRequest::new().listen().unwrap_err();
        assert!(
            matches!(two_hosts, Error::InvalidRequest { .. }),
            "{two_hosts}"
        );
    }
}
