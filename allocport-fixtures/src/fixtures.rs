//! The fixtures. Each allocates when rstest builds the test's arguments and hands the owner to
//! the test by value, so the port returns to the pool when the test ends, pass or fail.

use std::fmt::Display;

use allocport_core::{AddressFamily, Error, HeldTcpListener, TcpPortOwner, UdpPortOwner};
use rstest::fixture;

/// Fails the test that asked for `fixture`, naming the fixture and the allocation error: a
/// fixture has no other way to report that it could not be built.
#[track_caller]
pub(crate) fn or_fail_test<T, E: Display>(fixture: &str, result: Result<T, E>) -> T {
    match result {
        Ok(value) => value,
        Err(err) => panic!("allocport fixture `{fixture}` could not get its TCP port(s): {err}"),
    }
}

/// A port free on every IPv4 interface and on localhost (PySys's default hosts), held until
/// the test ends.
///
/// ```
/// use allocport_fixtures::{TcpPortOwner, tcp_port};
/// use rstest::rstest;
///
/// #[rstest]
/// fn serves(tcp_port: TcpPortOwner) {
///     let server = std::net::TcpListener::bind(("0.0.0.0", tcp_port.port())).unwrap();
///     // ...
/// }
/// ```
///
/// # Panics
///
/// Fails the test, naming this fixture and the allocation error, when no port can be had
/// (a bad `PYSYS_PORTS`, or every port held until `ALLOCPORT_TIMEOUT_SECS` passes).
#[fixture]
pub fn tcp_port() -> TcpPortOwner {
    or_fail_test("tcp_port", TcpPortOwner::new())
}

/// `n` distinct ports (2 unless the test says `#[with(n)]`), allocated all at once: a test
/// never holds some of its ports while waiting for the rest, so tests that each want several
/// cannot deadlock on each other.
///
/// ```
/// use allocport_fixtures::{TcpPortOwner, tcp_ports};
/// use rstest::rstest;
///
/// #[rstest]
/// fn cluster(#[with(3)] tcp_ports: Vec<TcpPortOwner>) {
///     assert_eq!(tcp_ports.len(), 3);
/// }
/// ```
///
/// # Panics
///
/// Fails the test, naming this fixture and the allocation error, when the ports cannot be had
/// (as [`tcp_port`], or `n` larger than the pool).
#[fixture]
pub fn tcp_ports(#[default(2)] n: usize) -> Vec<TcpPortOwner> {
    or_fail_test(
        "tcp_ports",
        TcpPortOwner::many(n, &allocport_core::DEFAULT_HOSTS, AddressFamily::Ipv4),
    )
}

/// A port checked on the IPv4 loopback address only, for servers that listen on `127.0.0.1`:
/// the cheapest check, and it binds nothing on the machine's other interfaces.
///
/// ```
/// use allocport_fixtures::{TcpPortOwner, localhost_tcp_port};
/// use rstest::rstest;
///
/// #[rstest]
/// fn local(localhost_tcp_port: TcpPortOwner) {
///     std::net::TcpListener::bind(("127.0.0.1", localhost_tcp_port.port())).unwrap();
/// }
/// ```
///
/// # Panics
///
/// As [`tcp_port`].
#[fixture]
pub fn localhost_tcp_port() -> TcpPortOwner {
    or_fail_test(
        "localhost_tcp_port",
        TcpPortOwner::with_hosts(&["localhost"], AddressFamily::Ipv4),
    )
}

/// A port checked on the IPv6 loopback address `::1`, for servers that listen there.
///
/// ```
/// use allocport_fixtures::{TcpPortOwner, ipv6_tcp_port};
/// use rstest::rstest;
///
/// #[rstest]
/// fn v6(ipv6_tcp_port: TcpPortOwner) {
///     std::net::TcpListener::bind(("::1", ipv6_tcp_port.port())).unwrap();
/// }
/// ```
///
/// # Panics
///
/// As [`tcp_port`]; also when the machine has no IPv6 loopback address (the error says it
/// cannot check the port on `::1`).
#[fixture]
pub fn ipv6_tcp_port() -> TcpPortOwner {
    or_fail_test(
        "ipv6_tcp_port",
        TcpPortOwner::with_hosts(&["::1"], AddressFamily::Ipv6),
    )
}

/// A [`std::net::TcpListener`] already bound on `127.0.0.1` on a held port, for servers that
/// accept a listener: no other allocport user can be handed the port between check and bind.
/// See [`HeldTcpListener`].
///
/// ```
/// use allocport_fixtures::{HeldTcpListener, tcp_listener};
/// use rstest::rstest;
///
/// #[rstest]
/// fn accepts(tcp_listener: HeldTcpListener) {
///     let addr = tcp_listener.local_addr().unwrap();
///     let _client = std::net::TcpStream::connect(addr).unwrap();
///     tcp_listener.accept().unwrap();
/// }
/// ```
///
/// # Panics
///
/// As [`tcp_port`]; also when the ports tried kept being bound by programs outside allocport.
#[fixture]
pub fn tcp_listener() -> HeldTcpListener {
    or_fail_test(
        "tcp_listener",
        HeldTcpListener::bind_localhost().map_err(listener_failure),
    )
}

/// A UDP port free on every IPv4 interface and on localhost, held until the test ends.
///
/// ```
/// use allocport_fixtures::{UdpPortOwner, udp_port};
/// use rstest::rstest;
///
/// #[rstest]
/// fn serves(udp_port: UdpPortOwner) {
///     let server = std::net::UdpSocket::bind(("127.0.0.1", udp_port.port())).unwrap();
///     // ...
/// }
/// ```
///
/// # Panics
///
/// As [`tcp_port`].
#[fixture]
pub fn udp_port() -> UdpPortOwner {
    or_fail_test("udp_port", UdpPortOwner::new())
}

/// The text `tcp_listener` fails with: the error's message, which names its cause, as in the
/// other fixtures.
fn listener_failure(err: Error) -> String {
    err.to_string()
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::net::{Ipv4Addr, SocketAddr};

    use super::{Error, listener_failure};

    #[test]
    fn listener_failure_reads_like_the_other_fixtures_and_keeps_the_cause() {
        let cause = allocport_core::Error::TooManyPorts {
            requested: 7,
            pool_size: 3,
        };
        let cause_text = cause.to_string();
        assert_eq!(listener_failure(cause), cause_text);

        let text = listener_failure(Error::Bind {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 40123)),
            udp: false,
            attempts: 3,
            cause: io::Error::new(io::ErrorKind::AddrInUse, "the distinctive bind cause"),
        });
        assert!(
            text.starts_with("cannot bind a listener on 127.0.0.1:40123"),
            "{text}"
        );
        assert_eq!(
            text.matches("the distinctive bind cause").count(),
            1,
            "{text}"
        );
    }
}
