//! The receiving parameter is matched by type, not by spelling: any path or alias of a
//! supported type receives the ports, and the owners and held sockets can be received
//! themselves. (`crate = path` is tested in `tests/renamed`, a crate without `allocport_core`.)

use std::net;

use allocport_core::{
    HeldTcpListener, HeldUdpSocket, TcpPortOwner, UdpPortOwner, is_tcp_port_held, with_ports,
};
use rstest::{fixture, rstest};

/// An alias the macro cannot see through; the compiler can.
type Pair = [net::SocketAddr; 2];

#[with_ports(1)]
#[test]
fn module_qualified_socket_addr(addr: net::SocketAddr) {
    assert!(addr.ip().is_loopback());
    assert!(is_tcp_port_held(addr.port()));
}

#[with_ports(2)]
#[test]
fn aliased_array(addrs: Pair) {
    assert_ne!(addrs[0].port(), addrs[1].port());
    assert!(addrs.iter().all(|a| is_tcp_port_held(a.port())));
}

#[with_ports(1)]
#[test]
fn primitive_path(port: core::primitive::u16) {
    assert!(is_tcp_port_held(port));
}

// The owner itself: the port is held while the parameter lives, and no longer.
#[with_ports(1)]
#[test]
fn owner_received_and_dropped_early(owner: TcpPortOwner) {
    let port = owner.port();
    assert!(is_tcp_port_held(port));
    drop(owner);
    assert!(
        !is_tcp_port_held(port),
        "dropping the owner keeps {port} held"
    );
}

#[with_ports(2, udp)]
#[test]
fn udp_owners(owners: [UdpPortOwner; 2]) {
    let sockets: Vec<_> = owners
        .iter()
        .map(|o| net::UdpSocket::bind(("127.0.0.1", o.port())).unwrap())
        .collect();
    assert_eq!(sockets.len(), 2);
}

#[with_ports(2, listen)]
#[test]
fn held_listeners(held: [HeldTcpListener; 2]) {
    for h in &held {
        assert_eq!(h.listener().local_addr().unwrap().port(), h.port());
        assert!(is_tcp_port_held(h.port()));
    }
}

#[with_ports(1, udp, listen)]
#[test]
fn held_udp_socket(held: HeldUdpSocket) {
    assert_eq!(held.socket().local_addr().unwrap().port(), held.port());
}

#[fixture]
fn greeting() -> &'static str {
    "hello"
}

// An rstest fixture beside the ports: the parameter named `port` receives them.
#[with_ports(1)]
#[rstest]
fn fixture_and_port(greeting: &str, port: net::SocketAddr) {
    assert_eq!(greeting, "hello");
    assert!(is_tcp_port_held(port.port()));
}

// Or any name, given with `param`.
#[with_ports(1, param = server)]
#[rstest]
fn fixture_and_named_param(greeting: &str, server: u16) {
    assert_eq!(greeting, "hello");
    assert!(is_tcp_port_held(server));
}
