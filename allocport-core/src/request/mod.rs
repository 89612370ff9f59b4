//! What users hold and ask with: `PortRequest` (here, everything one allocation can ask for,
//! as a builder), the owners it hands out, bound sockets, `pick_unused_port`, the receivers.

pub(crate) mod bind;
pub(crate) mod bound;
pub(crate) mod listener;
pub(crate) mod owner;
pub(crate) mod pick;
pub(crate) mod receive;
pub(crate) mod udp;

use std::time::Duration;

use crate::claim::family::AddressFamily;
use crate::claim::host::{CheckAddr, resolve};
use crate::claim::transport::Transport;
use crate::error::Error;
use crate::pool::timeout::allocation_timeout;
use crate::pool::{Want, pool};
use crate::request::owner::{DEFAULT_HOSTS, TcpPortOwner};
use crate::request::udp::UdpPortOwner;

/// What to allocate: how many ports, checked where, related how, and how long to wait.
///
/// [`TcpPortOwner::new`], [`with_hosts`](TcpPortOwner::with_hosts) and
/// [`many`](TcpPortOwner::many) are shortcuts for the common requests; this builder asks for
/// the rest. Every request is all or none: its ports are held together or not at all.
///
/// ```
/// use allocport_core::PortRequest;
/// use std::time::Duration;
///
/// // A Redis cluster node: a port and the port 10000 above it, both from the pool.
/// let node = PortRequest::new()
///     .hosts(&["localhost"])
///     .offsets(&[0, 10000])
///     .timeout(Duration::from_secs(60))
///     .allocate();
/// # // The default pool may lack p + 10000 for every p on some systems: only check the shape.
/// if let Ok(node) = node {
///     assert_eq!(node[1].port(), node[0].port() + 10000);
/// }
///
/// // Three servers on consecutive ports.
/// let block = PortRequest::new().consecutive(3).hosts(&["localhost"]).allocate()?;
/// assert_eq!(block[2].port(), block[0].port() + 2);
/// # Ok::<(), allocport_core::Error>(())
/// ```
///
/// # UDP
///
/// [`allocate_udp`](Self::allocate_udp) hands out UDP ports ([`UdpPortOwner`]) for the same
/// request, each checked with a UDP bind on every host; [`tcp_and_udp`](Self::tcp_and_udp)
/// makes [`allocate`](Self::allocate) hold each port for TCP and UDP at once, free for both,
/// for a server that serves both on one number (DNS, QUIC with a TCP fallback). Every other
/// option means the same for UDP, except [`strict`](Self::strict): UDP has no TIME_WAIT, so
/// `strict(true)` with `allocate_udp` is an invalid request.
///
/// ```
/// use allocport_core::PortRequest;
/// use std::net::{TcpListener, UdpSocket};
///
/// // Two UDP ports next to each other (an RTP stream and its RTCP port).
/// let rtp = PortRequest::new().consecutive(2).hosts(&["localhost"]).allocate_udp()?;
/// assert_eq!(rtp[1].port(), rtp[0].port() + 1);
/// let media = UdpSocket::bind(("127.0.0.1", rtp[0].port()))?;
///
/// // A DNS server: TCP and UDP on one number.
/// let dns = PortRequest::new().hosts(&["localhost"]).tcp_and_udp().allocate()?;
/// assert!(dns[0].holds_udp());
/// let tcp = TcpListener::bind(("127.0.0.1", dns[0].port()))?;
/// let udp = UdpSocket::bind(("127.0.0.1", dns[0].port()))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Ports in TIME_WAIT
///
/// A port whose server closed a connection first stays in TIME_WAIT for up to a minute: a
/// plain `bind` is refused, but one with `SO_REUSEADDR` (what Rust's std `TcpListener`, tokio,
/// Redis and nginx do) succeeds. Fully free ports are handed out first; when none is left, a
/// port whose only obstacle is lingering connections (it binds with `SO_REUSEADDR` and nothing
/// listens on it) is handed out rather than waited for. [`strict(true)`](Self::strict) refuses
/// those, for a server that binds without `SO_REUSEADDR`. Only Linux can tell such a port
/// apart (elsewhere a bind with `SO_REUSEADDR` succeeds beside a listener): on other systems
/// every refused port counts as in use, as if strict.
///
/// # Invalid requests
///
/// [`allocate`](Self::allocate) returns [`Error::InvalidRequest`] at once, allocating nothing,
/// for a count of 0, more ports in all than exist (65535), both `offsets` and `consecutive`, no offsets, a repeated offset, a group
/// wider than the port range, port 0 asked for exactly, `exact` with a count above 1, or
/// [`tcp_and_udp`](Self::tcp_and_udp) or `strict(true)` with
/// [`allocate_udp`](Self::allocate_udp).
#[derive(Debug, Clone)]
#[must_use = "a request allocates nothing until `allocate` is called"]
pub struct PortRequest {
    count: usize,
    hosts: Vec<String>,
    family: AddressFamily,
    offsets: Option<Vec<u16>>,
    consecutive: Option<usize>,
    exact: Option<u16>,
    pub(crate) strict: bool,
    timeout: Option<Duration>,
    /// The protocols each port is claimed for by [`allocate`](Self::allocate): `Tcp`, or
    /// `TcpAndUdp` after [`tcp_and_udp`](Self::tcp_and_udp).
    transport: Transport,
}

impl Default for PortRequest {
    fn default() -> Self {
        Self::new()
    }
}

impl PortRequest {
    /// One port, free on every IPv4 interface and on localhost ([`DEFAULT_HOSTS`]), fully free
    /// preferred, waiting up to the [allocation timeout](crate::allocation_timeout).
    pub fn new() -> Self {
        PortRequest {
            count: 1,
            hosts: DEFAULT_HOSTS.iter().map(|h| h.to_string()).collect(),
            family: AddressFamily::Ipv4,
            offsets: None,
            consecutive: None,
            exact: None,
            strict: false,
            timeout: None,
            transport: Transport::Tcp,
        }
    }

    /// How many ports, or with [`offsets`](Self::offsets) or [`consecutive`](Self::consecutive)
    /// how many groups of them (default 1).
    pub fn count(mut self, n: usize) -> Self {
        self.count = n;
        self
    }

    /// The hosts each port must be free on, as in [`TcpPortOwner::with_hosts`].
    pub fn hosts<S: AsRef<str>>(mut self, hosts: &[S]) -> Self {
        self.hosts = hosts.iter().map(|h| h.as_ref().to_owned()).collect();
        self
    }

    /// The address family the hosts are checked in (default IPv4).
    pub fn family(mut self, family: AddressFamily) -> Self {
        self.family = family;
        self
    }

    /// Related ports: each group is a port `p` of the pool and the ports `p + o - offsets[0]`
    /// for the other offsets, all in the pool and held together. `&[0, 10000]` gives `p` and
    /// `p + 10000`. The owners come group by group, each in the order of `offsets`.
    pub fn offsets(mut self, offsets: &[u16]) -> Self {
        self.offsets = Some(offsets.to_vec());
        self
    }

    /// `n` consecutive ports per group: the offsets `0..n`.
    pub fn consecutive(mut self, n: usize) -> Self {
        self.consecutive = Some(n);
        self
    }

    /// Exactly `port` (with offsets, as the group's first port), for a server with a fixed
    /// port: the request waits while another owner, in any process, holds it, so tests take
    /// turns on it. It need not be in the pool; if it is, pool allocations skip it meanwhile.
    pub fn exact(mut self, port: u16) -> Self {
        self.exact = Some(port);
        self
    }

    /// `true`: only fully free ports, never one in TIME_WAIT; for a server that binds without
    /// `SO_REUSEADDR`. Default `false`.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// How long to wait when the ports are held, instead of the
    /// [allocation timeout](crate::allocation_timeout). A timeout too long for the clock to
    /// add to now (`Duration::MAX`, hundreds of billions of years) waits without end.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Each port [`allocate`](Self::allocate) hands out is free for TCP **and** UDP and held
    /// for both, as [`TcpPortOwner::with_udp`] holds one: no other allocport user gets the
    /// number for either protocol meanwhile. For UDP ports alone, use
    /// [`allocate_udp`](Self::allocate_udp).
    pub fn tcp_and_udp(mut self) -> Self {
        self.transport = Transport::TcpAndUdp;
        self
    }

    /// Allocates the ports, all or none, waiting while they are held. A request for several
    /// ports waits fairly: one-port requests that come and go cannot keep it waiting for ever.
    pub fn allocate(&self) -> Result<Vec<TcpPortOwner>, Error> {
        let ports = self.allocate_for(self.transport)?;
        Ok(ports
            .into_iter()
            .map(|port| TcpPortOwner::held(port, self.transport))
            .collect())
    }

    /// Allocates UDP ports, each free for UDP on every host, all or none, as
    /// [`allocate`](Self::allocate) does for TCP: UDP claims are kept apart from TCP ones, so
    /// another process may hold the same numbers for TCP meanwhile.
    pub fn allocate_udp(&self) -> Result<Vec<UdpPortOwner>, Error> {
        if self.transport == Transport::TcpAndUdp {
            return Err(Error::InvalidRequest {
                reason: "tcp_and_udp() with allocate_udp(): a number held for both protocols \
                         comes from allocate(), as a TcpPortOwner"
                    .into(),
            });
        }
        if self.strict {
            return Err(Error::InvalidRequest {
                reason: "strict(true) with allocate_udp(): strict refuses TCP ports in \
                         TIME_WAIT, and UDP has none"
                    .into(),
            });
        }
        let ports = self.allocate_for(Transport::Udp)?;
        Ok(ports.into_iter().map(UdpPortOwner::held).collect())
    }

    /// The one host sockets are bound on, the family, and whether the request is exact, for
    /// [`listen`](Self::listen) and [`bind_udp`](Self::bind_udp).
    pub(crate) fn bind_target(&self) -> Result<(&str, AddressFamily, bool), Error> {
        match self.hosts.as_slice() {
            [host] => Ok((host, self.family, self.exact.is_some())),
            hosts => Err(Error::InvalidRequest {
                reason: format!(
                    "hosts {hosts:?} with listen() or bind_udp(): each socket is bound on one \
                     host, so give hosts() exactly one"
                ),
            }),
        }
    }

    /// The ports of the request, claimed for `transport`.
    fn allocate_for(&self, transport: Transport) -> Result<Vec<u16>, Error> {
        let offsets = self.checked_offsets()?;
        let ask = Ask {
            groups: self.count,
            offsets: &offsets,
            exact: self.exact,
            strict: self.strict,
            timeout: self.timeout,
        };
        allocate_on(transport, &resolve(&self.hosts, self.family)?, &ask)
    }

    /// The offsets of a group, once every option was checked against the others.
    fn checked_offsets(&self) -> Result<Vec<u16>, Error> {
        let invalid = |reason: String| Err(Error::InvalidRequest { reason });
        if self.count == 0 {
            return invalid("count(0): at least one port must be asked for".into());
        }
        let offsets = self.given_offsets()?;
        let Some(&first) = offsets.first() else {
            return invalid("offsets(&[]): a group needs at least one offset".into());
        };
        let ports = self.count.checked_mul(offsets.len());
        if ports.is_none_or(|n| n > usize::from(u16::MAX)) {
            return invalid(format!(
                "count({}) of {} port(s) each: more ports than exist (65535)",
                self.count,
                offsets.len()
            ));
        }
        // One look per offset, not one per pair: a block of 60,000 is checked at once.
        let mut given = vec![false; 1 << 16];
        for &o in &offsets {
            if std::mem::replace(&mut given[usize::from(o)], true) {
                return invalid(format!("offsets {offsets:?}: {o} is given twice"));
            }
        }
        let (min, max) = (offsets.iter().min(), offsets.iter().max());
        let span = u32::from(*max.unwrap_or(&0)) - u32::from(*min.unwrap_or(&0));
        if span >= u32::from(u16::MAX) {
            return invalid(format!(
                "offsets {offsets:?}: a group {span} ports wide does not fit in ports 1-65535"
            ));
        }
        if let Some(port) = self.exact {
            self.check_exact(port, &offsets, first)?;
        }
        Ok(offsets)
    }

    /// The offsets `offsets` or `consecutive` give (one of them at most), or a lone `[0]`.
    fn given_offsets(&self) -> Result<Vec<u16>, Error> {
        let invalid = |reason: String| Err(Error::InvalidRequest { reason });
        match (&self.offsets, self.consecutive) {
            (Some(_), Some(_)) => {
                invalid("offsets and consecutive both give the offsets; use one".into())
            }
            (Some(offsets), None) => Ok(offsets.clone()),
            (None, Some(n)) if n == 0 || n > usize::from(u16::MAX) => {
                invalid(format!("consecutive({n}): must be 1 to 65535"))
            }
            (None, Some(n)) => Ok((0..n as u16).collect()),
            (None, None) => Ok(vec![0]),
        }
    }

    /// Whether the exact `port` can be the first of the request's one group of `offsets`.
    fn check_exact(&self, port: u16, offsets: &[u16], first: u16) -> Result<(), Error> {
        let invalid = |reason: String| Err(Error::InvalidRequest { reason });
        if port == 0 {
            return invalid("exact(0): 0 is not a port".into());
        }
        if self.count > 1 {
            return invalid(format!(
                "exact({port}) with count({}): an exact port is one group",
                self.count
            ));
        }
        for &o in offsets {
            let p = i64::from(port) - i64::from(first) + i64::from(o);
            if !(1..=i64::from(u16::MAX)).contains(&p) {
                return invalid(format!(
                    "exact({port}) with offsets {offsets:?}: offset {o} gives port {p}, \
                     outside 1-65535"
                ));
            }
        }
        Ok(())
    }
}

/// What one allocation asks besides its protocols and addresses, checked already: a
/// [`PortRequest`]'s options, or the owners' plain `n` ports ([`Ask::ports`]).
pub(crate) struct Ask<'a> {
    pub(crate) groups: usize,
    pub(crate) offsets: &'a [u16],
    pub(crate) exact: Option<u16>,
    pub(crate) strict: bool,
    /// `None`: the timeout `ALLOCPORT_TIMEOUT` gives.
    pub(crate) timeout: Option<Duration>,
}

impl Ask<'static> {
    /// `n` ports, unrelated, from the pool: what the owner types' constructors ask for.
    pub(crate) fn ports(n: usize) -> Self {
        Ask {
            groups: n,
            offsets: &[0],
            exact: None,
            strict: false,
            timeout: None,
        }
    }
}

/// Allocates what `ask` says for `transport`, each port checked on `addrs`: the one place a
/// request's [`Want`] is built, for a [`PortRequest`] and for the owners alike.
pub(crate) fn allocate_on(
    transport: Transport,
    addrs: &[CheckAddr<'_>],
    ask: &Ask<'_>,
) -> Result<Vec<u16>, Error> {
    let timeout = match ask.timeout {
        Some(timeout) => timeout,
        None => allocation_timeout()?,
    };
    pool()?.allocate(&Want {
        transport,
        addrs,
        groups: ask.groups,
        offsets: ask.offsets,
        exact: ask.exact,
        strict: ask.strict,
        timeout,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(request: PortRequest) -> String {
        match request.checked_offsets() {
            Err(Error::InvalidRequest { reason }) => reason,
            other => panic!("expected an invalid request, got {other:?}"),
        }
    }

    #[test]
    fn invalid_combinations_are_named() {
        assert!(reason(PortRequest::new().count(0)).contains("count(0)"));
        let both = PortRequest::new().offsets(&[0, 1]).consecutive(2);
        assert!(reason(both).contains("offsets and consecutive"));
        assert!(reason(PortRequest::new().offsets(&[])).contains("offsets(&[])"));
        assert!(reason(PortRequest::new().offsets(&[0, 5, 5])).contains("5 is given twice"));
        assert!(reason(PortRequest::new().consecutive(0)).contains("consecutive(0)"));
        assert!(reason(PortRequest::new().offsets(&[0, 65535])).contains("65535 ports wide"));
        assert!(reason(PortRequest::new().exact(0)).contains("exact(0)"));
        let huge = PortRequest::new().count(1 << 63).offsets(&[0, 1]);
        assert!(reason(huge).contains("more ports than exist"));
        assert!(reason(PortRequest::new().count(usize::MAX)).contains("more ports than exist"));
        assert!(reason(PortRequest::new().count(65536)).contains("count(65536) of 1 port(s)"));
        assert!(reason(PortRequest::new().count(21846).consecutive(3)).contains("21846"));
        assert!(reason(PortRequest::new().exact(80).count(2)).contains("count(2)"));
        let past_end = PortRequest::new().exact(60000).offsets(&[0, 10000]);
        assert!(reason(past_end).contains("gives port 70000"));
        match PortRequest::new().tcp_and_udp().allocate_udp() {
            Err(Error::InvalidRequest { reason }) => assert!(reason.contains("tcp_and_udp()")),
            other => panic!("expected an invalid request, got {other:?}"),
        }
        match PortRequest::new().strict(true).allocate_udp() {
            Err(Error::InvalidRequest { reason }) => assert!(reason.contains("strict(true)")),
            other => panic!("expected an invalid request, got {other:?}"),
        }
    }

    #[test]
    fn offsets_come_from_the_options() {
        let offsets = |r: PortRequest| r.checked_offsets().unwrap();
        assert_eq!(offsets(PortRequest::new()), vec![0]);
        assert_eq!(offsets(PortRequest::new().consecutive(3)), vec![0, 1, 2]);
        assert_eq!(
            offsets(PortRequest::new().offsets(&[0, 10000])),
            vec![0, 10000]
        );
        assert_eq!(offsets(PortRequest::new().exact(6379).count(1)), vec![0]);
    }
}
