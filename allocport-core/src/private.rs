//! Runtime support for the code `#[with_ports]` generates, and nothing else. Not a public
//! API: it may change in any release; the macro and this crate are pinned to the same version.

use std::net::SocketAddr;

pub use crate::{AddressFamily, DEFAULT_HOSTS, Error, PortRequest, TcpPortOwner};

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
    match TcpPortOwner::many(n, hosts, family) {
        Ok(owners) => owners,
        Err(e) => {
            panic!("#[with_ports({n})] on test `{test}`: could not allocate {n} TCP port(s): {e}")
        }
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
    match request.allocate() {
        Ok(owners) => owners,
        Err(e) => {
            panic!("#[with_ports({n})] on test `{test}`: could not allocate {n} TCP port(s): {e}")
        }
    }
}

/// The ports of `owners` as loopback addresses of `family`, in an array of the test's length.
pub fn addr_array<const N: usize>(
    owners: &[TcpPortOwner],
    family: AddressFamily,
) -> [SocketAddr; N] {
    std::array::from_fn(|i| SocketAddr::new(family.loopback(), owners[i].port()))
}

/// The port of a test that asked for one, as a loopback address of `family`.
pub fn single_addr(owners: &[TcpPortOwner], family: AddressFamily) -> SocketAddr {
    SocketAddr::new(family.loopback(), owners[0].port())
}

/// The ports of `owners` as an array of the length the test asked for.
///
/// The macro passes the same `N` to [`allocate_for_test`] and here, so `owners` has `N`
/// elements; the indexing cannot fail for generated code.
pub fn port_array<const N: usize>(owners: &[TcpPortOwner]) -> [u16; N] {
    std::array::from_fn(|i| owners[i].port())
}

/// The port of a test that asked for one, received as a plain `u16`.
pub fn single_port(owners: &[TcpPortOwner]) -> u16 {
    owners[0].port()
}
