//! Taking one port: the claim in the store, the bind checks, hosts and protocols; here, the
//! claim layer: a port is claimed when this process takes its claim in the store
//! ([`crate::store`]) and the bind check then finds it free on every address; released, its
//! claim is given back.
//!
//! The claim comes first: with it held no other allocport process can claim the port, so a
//! bind check that passes stays meaningful until this process lets go.

pub(crate) mod family;
pub(crate) mod host;
pub(crate) mod probe;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) mod tcp_table;
pub(crate) mod transport;

use crate::claim::host::CheckAddr;
use crate::claim::probe::{Check, check_port, check_udp_port};
use crate::claim::transport::Transport;
use crate::error::Error;
use crate::store::{self, Store, Taken, Wake};
// What the pool and the introspection need of the store, so that they reach it only through
// this layer.
pub use crate::store::PortHolder;
pub(crate) use crate::store::{Holding, Reservations, WaitToken};

/// Whether a TCP claim takes a port whose only obstacle is lingering connections (TIME_WAIT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lingering {
    /// Only fully free ports: the first pass, and every pass of a strict request.
    Refuse,
    /// Free but for lingering connections is free enough.
    Accept,
}

/// Claims and releases ports through this process's store ([`crate::store`]).
pub(crate) struct Claims {
    store: Store,
}

impl Claims {
    /// Opens the store: an unusable one is a configuration error, returned here.
    pub(crate) fn open() -> Result<Claims, Error> {
        Ok(Claims {
            store: store::open()?,
        })
    }

    /// Takes the claim of `port` for each protocol of `transport`, then checks it can be bound
    /// on every address in each: [`Claim::Claimed`] when the port is now this process's;
    /// otherwise nothing is kept. `lingering` says whether a TCP port whose only obstacle is
    /// lingering connections will do; `reservations` whether to step aside from a port another
    /// process reserved for its multi-port wait.
    pub(crate) fn claim(
        &self,
        transport: Transport,
        addrs: &[CheckAddr<'_>],
        port: u16,
        lingering: Lingering,
        reservations: Reservations,
    ) -> Result<Claim, Error> {
        if self.lock(transport, port, reservations)? != Taken::Yes {
            return Ok(Claim::Locked);
        }
        let mut free = Ok(Claim::Claimed);
        if transport.tcp() && matches!(free, Ok(Claim::Claimed)) {
            free = free_everywhere(addrs, port, check_port);
            if lingering == Lingering::Accept && matches!(free, Ok(Claim::Lingering)) {
                free = Ok(Claim::Claimed);
            }
        }
        if transport.udp() && matches!(free, Ok(Claim::Claimed)) {
            free = free_everywhere(addrs, port, check_udp_port);
        }
        if !matches!(free, Ok(Claim::Claimed)) {
            self.release(transport, port);
        }
        free
    }

    /// Takes every claim `transport` needs, or none; respecting `reservations`, none either
    /// when another process reserved the port (asked with the first claim).
    fn lock(
        &self,
        transport: Transport,
        port: u16,
        reservations: Reservations,
    ) -> Result<Taken, Error> {
        let protos = transport.protos();
        for (i, &proto) in protos.iter().enumerate() {
            let asked = if i == 0 {
                reservations
            } else {
                Reservations::Ignore
            };
            let taken = self.store.try_claim(proto, port, asked);
            if !matches!(taken, Ok(Taken::Yes)) {
                for &done in &protos[..i] {
                    self.store.release(done, port, Wake::Nobody);
                }
                return taken;
            }
        }
        Ok(Taken::Yes)
    }

    /// Gives back the claims of a port claimed for `transport`.
    pub(crate) fn release(&self, transport: Transport, port: u16) {
        self.unlock(transport, port, Wake::Nobody);
    }

    /// Gives back the claims of a port held for `transport`, and wakes other processes waiting
    /// for it. Not after a claim given back unused: that frees nothing new, and two processes
    /// each waiting for several ports would wake each other with their give-backs for ever.
    pub(crate) fn release_held(&self, transport: Transport, port: u16) {
        self.unlock(transport, port, Wake::Waiters);
    }

    fn unlock(&self, transport: Transport, port: u16, wake: Wake) {
        let protos = transport.protos();
        for (i, &proto) in protos.iter().enumerate() {
            // Announced once, after the last: a waiter woken earlier would find it half held.
            let now = if i + 1 == protos.len() {
                wake
            } else {
                Wake::Nobody
            };
            self.store.release(proto, port, now);
        }
    }

    /// Which of `ports` other processes hold for `transport` (TCP when both), and which they
    /// reserved for their fair waits, and who: one look at the store for both.
    pub(crate) fn holders_and_reservations(
        &self,
        transport: Transport,
        ports: impl IntoIterator<Item = u16>,
    ) -> [Result<Vec<PortHolder>, Error>; 2] {
        let proto = transport.protos()[0];
        let what = [Holding::Claim(proto), Holding::Reservation(proto)];
        self.store.holders(what, ports)
    }

    /// Takes the machine-wide wait token if it is free (see [`WaitToken`]).
    pub(crate) fn try_wait_token(&self) -> Result<Option<WaitToken>, Error> {
        self.store.try_wait_token()
    }

    /// Starts the thread that wakes this process's waiters when another process releases a
    /// port of `pool`; `false` where none can: waiters must poll.
    pub(crate) fn watch_releases(
        &self,
        pool: Vec<(u16, u16)>,
        wanted: impl Fn(bool) -> bool + Send + 'static,
        wake: impl Fn() + Send + 'static,
    ) -> bool {
        self.store.watch_releases(pool, wanted, wake)
    }
}

/// Which ports other processes hold or reserved, among all ports, for each of `what` (one look
/// at the store for all): the store is opened as for a claim, so an unusable one is the
/// error; each list may fail on its own.
pub(crate) fn holders_anywhere<const N: usize>(
    what: [Holding; N],
) -> Result<[Result<Vec<PortHolder>, Error>; N], Error> {
    Ok(store::open()?.holders(what, 1..=u16::MAX))
}

/// What claiming a port came to.
#[derive(Debug)]
pub(crate) enum Claim {
    /// The port is this process's now.
    Claimed,
    /// Something outside allocport uses it.
    Busy,
    /// Another allocport process holds or reserved it.
    Locked,
    /// Free but for lingering connections (TIME_WAIT), and those were not accepted.
    Lingering,
    /// It cannot be bound on `host` for a reason other than use: of no use to this process.
    Unbindable {
        /// The host as given, and the address it resolved to.
        host: String,
        addr: std::net::IpAddr,
        error: std::io::Error,
    },
}

/// Whether the bind check `check` finds `port` free on every address: [`Claim::Lingering`]
/// when it is free on each but for lingering connections on some.
fn free_everywhere(
    addrs: &[CheckAddr<'_>],
    port: u16,
    check: fn(&CheckAddr<'_>, u16) -> Result<Check, Error>,
) -> Result<Claim, Error> {
    let mut lingering = false;
    for addr in addrs {
        match check(addr, port)? {
            Check::Free => {}
            Check::Lingering => lingering = true,
            Check::InUse => return Ok(Claim::Busy),
            Check::Unbindable(error) => {
                return Ok(Claim::Unbindable {
                    host: addr.host.to_owned(),
                    addr: addr.ip,
                    error,
                });
            }
        }
    }
    Ok(if lingering {
        Claim::Lingering
    } else {
        Claim::Claimed
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, TcpListener};

    /// 127.0.0.1, as the host `localhost`.
    const LOOPBACK: [CheckAddr<'static>; 1] = [CheckAddr {
        host: "localhost",
        ip: IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
    }];

    /// A claim of `port` for `transport` on the loopback, refusing lingering connections and
    /// respecting reservations, as a plain allocation claims.
    fn claim_plain(claims: &Claims, transport: Transport, port: u16) -> Claim {
        claims
            .claim(
                transport,
                &LOOPBACK,
                port,
                Lingering::Refuse,
                Reservations::Respect,
            )
            .unwrap()
    }

    #[test]
    fn a_port_in_use_is_not_claimed_and_a_free_one_is() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let claims = Claims::open().unwrap();
        assert!(matches!(
            claim_plain(&claims, Transport::Tcp, port),
            Claim::Busy
        ));
        drop(listener);
        assert!(matches!(
            claim_plain(&claims, Transport::Tcp, port),
            Claim::Claimed
        ));
        claims.release(Transport::Tcp, port);
    }

    #[test]
    fn a_udp_claim_takes_its_own_lock_and_checks_udp() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = socket.local_addr().unwrap().port();
        let claims = Claims::open().unwrap();
        assert!(matches!(
            claim_plain(&claims, Transport::Udp, port),
            Claim::Busy
        ));
        assert!(matches!(
            claim_plain(&claims, Transport::TcpAndUdp, port),
            Claim::Busy
        ));
        drop(socket);
        assert!(matches!(
            claim_plain(&claims, Transport::TcpAndUdp, port),
            Claim::Claimed
        ));
        // This process's own claims never show as another's holder. Windows cannot tell its
        // own locks from another's (store/files/windows.rs): there the UDP lock shows as held.
        let [held, _] = claims.holders_and_reservations(Transport::Udp, [port]);
        let held = held.unwrap();
        assert_eq!(held.len(), usize::from(cfg!(windows)), "{held:?}");
        claims.release(Transport::TcpAndUdp, port);
    }

    #[test]
    fn a_claim_checks_only_its_protocols_and_holds_each_until_given_back() {
        let addrs = [CheckAddr {
            host: "localhost",
            ip: IpAddr::from([127, 0, 0, 1]),
        }];
        let claims = Claims::open().unwrap();
        let claim = |transport, port, lingering| {
            claims
                .claim(transport, &addrs, port, lingering, Reservations::Respect)
                .unwrap()
        };
        // A TCP listener is no obstacle to a UDP claim, and accepting lingering connections
        // does not make a port in use free.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(matches!(
            claim(Transport::Tcp, port, Lingering::Accept),
            Claim::Busy
        ));
        assert!(matches!(
            claim(Transport::Udp, port, Lingering::Refuse),
            Claim::Claimed
        ));
        claims.release(Transport::Udp, port);
        drop(listener);
        // A UDP socket is no obstacle to a TCP claim; a claim held refuses a second one until
        // it is released. Only the kernel store refuses this process a second claim: the file
        // store's locks are per process, and the pool keeps this process's threads apart.
        let refuses_here = store::store_kind().unwrap() == store::StoreKind::Kernel;
        let second = |transport, port| match claim(transport, port, Lingering::Refuse) {
            Claim::Locked => true,
            Claim::Claimed if !refuses_here => {
                claims.release(transport, port);
                true
            }
            _ => false,
        };
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = socket.local_addr().unwrap().port();
        assert!(matches!(
            claim(Transport::Tcp, port, Lingering::Refuse),
            Claim::Claimed
        ));
        assert!(second(Transport::Tcp, port));
        claims.release_held(Transport::Tcp, port);
        drop(socket);
        // Both protocols' claims are taken, and both given back.
        assert!(matches!(
            claim(Transport::TcpAndUdp, port, Lingering::Refuse),
            Claim::Claimed
        ));
        assert!(second(Transport::Udp, port));
        claims.release_held(Transport::TcpAndUdp, port);
        assert!(matches!(
            claim(Transport::Udp, port, Lingering::Refuse),
            Claim::Claimed
        ));
        claims.release(Transport::Udp, port);
    }
}
