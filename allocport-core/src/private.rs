//! Runtime support for the code `#[with_ports]` generates, and nothing else. Not a public
//! API: it may change in any release; the macro and this crate are pinned to the same version.

use std::net::{SocketAddr, TcpListener, UdpSocket};

pub use crate::{AddressFamily, DEFAULT_HOSTS, Error, PortRequest, TcpPortOwner};
use crate::{HeldTcpListener, HeldUdpSocket, UdpPortOwner};

/// Fails the test `test` that asked for `n` `what`, with the allocation error.
#[track_caller]
fn or_fail<T>(test: &str, n: usize, what: &str, result: Result<T, Error>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("#[with_ports({n})] on test `{test}`: could not allocate {n} {what}: {e}"),
    }
}

/// Allocates the ports of one test, failing the test with the allocation error if it cannot.
///
/// `#[track_caller]`: the generated call carries the span of the user's `#[with_ports(n)]`,
/// so the panic's location is the attribute, not this file.
#[track_caller]
pub fn allocate_for_test(
    test: &str,
    n: usize,
    hosts: &[&str],
    family: AddressFamily,
) -> Vec<TcpPortOwner> {
    or_fail(test, n, "TCP port(s)", TcpPortOwner::many(n, hosts, family))
}

/// [`allocate_for_test`] for `#[with_ports(n, udp)]`.
#[track_caller]
pub fn allocate_udp_for_test(
    test: &str,
    n: usize,
    hosts: &[&str],
    family: AddressFamily,
) -> Vec<UdpPortOwner> {
    or_fail(test, n, "UDP port(s)", UdpPortOwner::many(n, hosts, family))
}

/// For `#[with_ports(n, listen)]`: `n` listeners bound on `hosts[0]`, and the owners that
/// hold their ports (kept by the generated code until the test ends).
#[track_caller]
pub fn listen_for_test(
    test: &str,
    n: usize,
    hosts: &[&str],
    family: AddressFamily,
) -> (Vec<TcpPortOwner>, Vec<TcpListener>) {
    let held = or_fail(
        test,
        n,
        "TCP listener(s)",
        HeldTcpListener::many(n, hosts[0], family),
    );
    held.into_iter()
        .map(HeldTcpListener::into_parts)
        .map(|(listener, owner)| (owner, listener))
        .unzip()
}

/// For `#[with_ports(n, udp, listen)]`: `n` UDP sockets bound on `hosts[0]`, and their owners.
#[track_caller]
pub fn bind_udp_for_test(
    test: &str,
    n: usize,
    hosts: &[&str],
    family: AddressFamily,
) -> (Vec<UdpPortOwner>, Vec<UdpSocket>) {
    let held = or_fail(
        test,
        n,
        "UDP socket(s)",
        HeldUdpSocket::many(n, hosts[0], family),
    );
    held.into_iter()
        .map(HeldUdpSocket::into_parts)
        .map(|(socket, owner)| (owner, socket))
        .unzip()
}

/// An owner of a port, TCP or UDP.
pub trait HoldsPort {
    /// The port held.
    fn held_port(&self) -> u16;
}

impl HoldsPort for TcpPortOwner {
    fn held_port(&self) -> u16 {
        self.port()
    }
}

impl HoldsPort for UdpPortOwner {
    fn held_port(&self) -> u16 {
        self.port()
    }
}

/// The request options of `#[with_ports(n, offsets = [..], consecutive, exact = P, strict)]`,
/// already checked against each other and against `n` by the macro.
pub struct TestOptions {
    /// `offsets = [..]`, or empty.
    pub offsets: &'static [u16],
    /// `consecutive`: the `n` ports are one block.
    pub consecutive: bool,
    /// `exact = P`.
    pub exact: Option<u16>,
    /// `strict`.
    pub strict: bool,
}

/// The request `#[with_ports(n, ..)]` describes.
fn test_request(
    n: usize,
    hosts: &[&str],
    family: AddressFamily,
    options: &TestOptions,
) -> PortRequest {
    let mut request = PortRequest::new()
        .hosts(hosts)
        .family(family)
        .strict(options.strict);
    if options.consecutive {
        request = request.consecutive(n);
    } else if !options.offsets.is_empty() {
        request = request
            .offsets(options.offsets)
            .count(n / options.offsets.len());
    } else {
        request = request.count(n);
    }
    if let Some(port) = options.exact {
        request = request.exact(port);
    }
    request
}

/// Allocates the ports of a test whose attribute has request options, failing the test with
/// the allocation error if it cannot.
#[track_caller]
pub fn allocate_request_for_test(
    test: &str,
    n: usize,
    hosts: &[&str],
    family: AddressFamily,
    options: TestOptions,
) -> Vec<TcpPortOwner> {
    let request = test_request(n, hosts, family, &options);
    or_fail(test, n, "TCP port(s)", request.allocate())
}

/// [`allocate_request_for_test`] for `#[with_ports(n, udp, ..)]`.
#[track_caller]
pub fn allocate_udp_request_for_test(
    test: &str,
    n: usize,
    hosts: &[&str],
    family: AddressFamily,
    options: TestOptions,
) -> Vec<UdpPortOwner> {
    let request = test_request(n, hosts, family, &options);
    or_fail(test, n, "UDP port(s)", request.allocate_udp())
}

/// For `#[with_ports(n, listen, ..)]` with request options: the request's ports, each bound
/// on `hosts[0]` (validation allows one host), as [`PortRequest::listen`] binds them.
#[track_caller]
pub fn listen_request_for_test(
    test: &str,
    n: usize,
    hosts: &[&str],
    family: AddressFamily,
    options: TestOptions,
) -> (Vec<TcpPortOwner>, Vec<TcpListener>) {
    let request = test_request(n, &hosts[..1], family, &options);
    let held = or_fail(test, n, "TCP listener(s)", request.listen());
    held.into_iter()
        .map(HeldTcpListener::into_parts)
        .map(|(listener, owner)| (owner, listener))
        .unzip()
}

/// For `#[with_ports(n, udp, listen, ..)]` with request options, as
/// [`listen_request_for_test`].
#[track_caller]
pub fn bind_udp_request_for_test(
    test: &str,
    n: usize,
    hosts: &[&str],
    family: AddressFamily,
    options: TestOptions,
) -> (Vec<UdpPortOwner>, Vec<UdpSocket>) {
    let request = test_request(n, &hosts[..1], family, &options);
    let held = or_fail(test, n, "UDP socket(s)", request.bind_udp());
    held.into_iter()
        .map(HeldUdpSocket::into_parts)
        .map(|(socket, owner)| (owner, socket))
        .unzip()
}

/// The ports of `owners` as loopback addresses of `family`, in an array of the test's length.
pub fn addr_array<const N: usize>(
    owners: &[impl HoldsPort],
    family: AddressFamily,
) -> [SocketAddr; N] {
    std::array::from_fn(|i| SocketAddr::new(family.loopback(), owners[i].held_port()))
}

/// The port of a test that asked for one, as a loopback address of `family`.
pub fn single_addr(owners: &[impl HoldsPort], family: AddressFamily) -> SocketAddr {
    SocketAddr::new(family.loopback(), owners[0].held_port())
}

/// The ports of `owners` as an array of the length the test asked for.
///
/// The macro passes the same `N` to [`allocate_for_test`] and here, so `owners` has `N`
/// elements; the indexing cannot fail for generated code.
pub fn port_array<const N: usize>(owners: &[impl HoldsPort]) -> [u16; N] {
    std::array::from_fn(|i| owners[i].held_port())
}

/// The port of a test that asked for one, received as a plain `u16`.
pub fn single_port(owners: &[impl HoldsPort]) -> u16 {
    owners[0].held_port()
}

/// The sockets as an array of the length the test asked for (`N` elements, as for
/// [`port_array`]).
pub fn socket_array<const N: usize, S>(sockets: Vec<S>) -> [S; N] {
    let mut sockets = sockets.into_iter();
    std::array::from_fn(|_| sockets.next().expect("as many sockets as ports"))
}

/// The socket of a test that asked for one.
pub fn single_socket<S>(sockets: Vec<S>) -> S {
    sockets.into_iter().next().expect("one socket")
}
