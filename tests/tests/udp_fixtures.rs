//! The fixtures crate's UDP fixture, and the held listener it now takes from the core.

use allocport_fixtures::{HeldTcpListener, UdpPortOwner, tcp_listener, udp_port};
use rstest::rstest;

#[rstest]
fn udp_port_is_held_and_bindable_for_udp(udp_port: UdpPortOwner) {
    assert!(allocport_core::is_tcp_port_held(udp_port.port()));
    std::net::UdpSocket::bind(("0.0.0.0", udp_port.port())).unwrap();
}

#[rstest]
fn two_udp_fixtures_give_two_ports(
    #[from(udp_port)] a: UdpPortOwner,
    #[from(udp_port)] b: UdpPortOwner,
) {
    assert_ne!(a.port(), b.port());
}

#[rstest]
fn the_listener_fixture_is_the_core_type(tcp_listener: HeldTcpListener) {
    let core: &allocport_core::HeldTcpListener = &tcp_listener;
    assert_eq!(core.local_addr().unwrap().port(), core.port());
}
