//! The `requested_tcp_ports` fixture: a whole `PortRequest` through rstest.

use allocport_core::is_tcp_port_held;
use allocport_fixtures::{PortRequest, TcpPortOwner, requested_tcp_ports};
use rstest::rstest;

#[rstest]
fn default_is_one_held_port(requested_tcp_ports: Vec<TcpPortOwner>) {
    assert_eq!(requested_tcp_ports.len(), 1);
    assert!(is_tcp_port_held(requested_tcp_ports[0].port()));
}

#[rstest]
fn with_a_request(
    #[with(PortRequest::new().offsets(&[0, 10000]).hosts(&["localhost"]))] requested_tcp_ports: Vec<
        TcpPortOwner,
    >,
) {
    let ports: Vec<u16> = requested_tcp_ports.iter().map(TcpPortOwner::port).collect();
    assert_eq!(ports.len(), 2);
    assert_eq!(ports[1], ports[0] + 10000);
}

#[rstest]
#[should_panic(
    expected = "allocport fixture `requested_tcp_ports` could not get its TCP port(s): invalid port request"
)]
fn an_invalid_request_fails_the_test_naming_the_fixture(
    #[with(PortRequest::new().count(0))] requested_tcp_ports: Vec<TcpPortOwner>,
) {
    drop(requested_tcp_ports);
}
