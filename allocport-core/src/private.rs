//! Runtime support for the code `#[with_ports]` generates, and nothing else. Not a public
//! API: it may change in any release; the macro and this crate are pinned to the same version.
//!
//! Each allocation returns a [`Handover`] of what it allocated; the receiving parameter takes
//! its value out of it through [`ReceivePorts`], whose implementations the compiler picks
//! from the parameter's type.

pub use crate::request::receive::{Handover, Held};
pub use crate::{
    AddressFamily, DEFAULT_HOSTS, Error, HeldTcpListener, HeldUdpSocket, PortRequest, ReceivePorts,
    TcpPortOwner, UdpPortOwner,
};

/// What `test` allocated, or the test fails with the allocation error.
#[track_caller]
fn or_fail<H: Held>(
    test: &str,
    n: usize,
    what: &str,
    family: AddressFamily,
    result: Result<Vec<H>, Error>,
) -> Handover<H> {
    match result {
        Ok(items) => Handover::new(items, family),
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
) -> Handover<TcpPortOwner> {
    let owners = TcpPortOwner::many(n, hosts, family);
    or_fail(test, n, "TCP port(s)", family, owners)
}

/// [`allocate_for_test`] for `#[with_ports(n, udp)]`.
#[track_caller]
pub fn allocate_udp_for_test(
    test: &str,
    n: usize,
    hosts: &[&str],
    family: AddressFamily,
) -> Handover<UdpPortOwner> {
    let owners = UdpPortOwner::many(n, hosts, family);
    or_fail(test, n, "UDP port(s)", family, owners)
}

/// For `#[with_ports(n, listen)]`: `n` listeners bound on `hosts[0]`.
#[track_caller]
pub fn listen_for_test(
    test: &str,
    n: usize,
    hosts: &[&str],
    family: AddressFamily,
) -> Handover<HeldTcpListener> {
    let held = HeldTcpListener::many(n, hosts[0], family);
    or_fail(test, n, "TCP listener(s)", family, held)
}

/// For `#[with_ports(n, udp, listen)]`: `n` UDP sockets bound on `hosts[0]`.
#[track_caller]
pub fn bind_udp_for_test(
    test: &str,
    n: usize,
    hosts: &[&str],
    family: AddressFamily,
) -> Handover<HeldUdpSocket> {
    let held = HeldUdpSocket::many(n, hosts[0], family);
    or_fail(test, n, "UDP socket(s)", family, held)
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
) -> Handover<TcpPortOwner> {
    let owners = test_request(n, hosts, family, &options).allocate();
    or_fail(test, n, "TCP port(s)", family, owners)
}

/// [`allocate_request_for_test`] for `#[with_ports(n, udp, ..)]`.
#[track_caller]
pub fn allocate_udp_request_for_test(
    test: &str,
    n: usize,
    hosts: &[&str],
    family: AddressFamily,
    options: TestOptions,
) -> Handover<UdpPortOwner> {
    let owners = test_request(n, hosts, family, &options).allocate_udp();
    or_fail(test, n, "UDP port(s)", family, owners)
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
) -> Handover<HeldTcpListener> {
    let held = test_request(n, &hosts[..1], family, &options).listen();
    or_fail(test, n, "TCP listener(s)", family, held)
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
) -> Handover<HeldUdpSocket> {
    let held = test_request(n, &hosts[..1], family, &options).bind_udp();
    or_fail(test, n, "UDP socket(s)", family, held)
}
