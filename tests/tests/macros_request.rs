//! `#[with_ports]` with request options and `SocketAddr` receivers, run as real tests.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};

use allocport_core::{is_tcp_port_held, with_ports};

fn bind_all(addrs: &[SocketAddr]) -> Vec<TcpListener> {
    addrs
        .iter()
        .map(|a| TcpListener::bind(a).unwrap_or_else(|e| panic!("cannot bind {a}: {e}")))
        .collect()
}

#[with_ports(2, hosts = ["localhost"])]
#[test]
fn socket_addrs_are_loopback_with_the_ports(addrs: [SocketAddr; 2]) {
    for addr in addrs {
        assert_eq!(addr.ip(), Ipv4Addr::LOCALHOST);
        assert!(is_tcp_port_held(addr.port()));
    }
    assert_ne!(addrs[0].port(), addrs[1].port());
    let _servers = bind_all(&addrs);
}

#[with_ports(1, hosts = ["::1"], family = ipv6)]
#[test]
fn one_socket_addr_of_the_family(addr: SocketAddr) {
    assert_eq!(addr.ip(), Ipv6Addr::LOCALHOST);
    assert!(is_tcp_port_held(addr.port()));
}

#[with_ports(4, offsets = [0, 10000], hosts = ["localhost"])]
#[test]
fn offsets_give_groups(ports: [u16; 4]) {
    assert_eq!(ports[1], ports[0] + 10000);
    assert_eq!(ports[3], ports[2] + 10000);
    assert!(ports.iter().all(|&p| is_tcp_port_held(p)));
}

#[with_ports(3, consecutive, strict, hosts = ["localhost"])]
#[test]
fn consecutive_ports(addrs: [SocketAddr; 3]) {
    assert_eq!(addrs[1].port(), addrs[0].port() + 1);
    assert_eq!(addrs[2].port(), addrs[0].port() + 2);
    let _servers = bind_all(&addrs);
}

// A fixed port, as a vendor server's: it need not be in the pool.
#[with_ports(1, exact = 24340, hosts = ["localhost"])]
#[test]
fn exact_port(port: u16) {
    assert_eq!(port, 24340);
    assert!(is_tcp_port_held(24340));
}
