//! The fixture for everything the other fixtures do not ask for: a whole [`PortRequest`].

use allocport_core::{PortRequest, TcpPortOwner};
use rstest::fixture;

use crate::fixtures::or_fail_test;

/// The ports of `request` (one port on the default hosts unless the test says
/// `#[with(request)]`): related ports, an exact port, strict checks, other hosts.
///
/// ```
/// use allocport_fixtures::{PortRequest, TcpPortOwner, requested_tcp_ports};
/// use rstest::rstest;
///
/// #[rstest]
/// fn block(
///     #[with(PortRequest::new().consecutive(3).hosts(&["localhost"]))]
///     requested_tcp_ports: Vec<TcpPortOwner>,
/// ) {
///     assert_eq!(requested_tcp_ports[2].port(), requested_tcp_ports[0].port() + 2);
/// }
/// ```
///
/// # Panics
///
/// Fails the test, naming this fixture and the error, when the request is invalid or its
/// ports cannot be had.
#[fixture]
pub fn requested_tcp_ports(
    #[default(PortRequest::new())] request: PortRequest,
) -> Vec<TcpPortOwner> {
    or_fail_test("requested_tcp_ports", request.allocate())
}
