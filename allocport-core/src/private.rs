//! Runtime support for the code `#[with_ports]` generates, and nothing else. Not a public
//! API: it may change in any release; the macro and this crate are pinned to the same version.

pub use crate::{AddressFamily, DEFAULT_HOSTS, Error, TcpPortOwner};

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
