//! `#[with_ports]` with request options and `udp` or `listen`: UDP blocks, related listeners,
//! an exact UDP socket, each held until the test ends.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};

use allocport_core::{is_tcp_port_held, with_ports};

#[with_ports(3, udp, consecutive, hosts = ["localhost"])]
#[test]
fn a_block_of_udp_ports(ports: [u16; 3]) {
    assert_eq!(ports[1], ports[0] + 1);
    assert_eq!(ports[2], ports[0] + 2);
    for port in ports {
        assert!(is_tcp_port_held(port));
        UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
    }
}

#[with_ports(2, udp, consecutive, hosts = ["localhost"])]
#[test]
fn udp_ports_as_addresses(addrs: [SocketAddr; 2]) {
    assert_eq!(addrs[1].port(), addrs[0].port() + 1);
    assert!(addrs[0].ip().is_loopback());
    UdpSocket::bind(addrs[1]).unwrap();
}

#[with_ports(4, listen, consecutive)]
#[test]
fn consecutive_listeners(listeners: [TcpListener; 4]) {
    let first = listeners[0].local_addr().unwrap();
    assert!(first.ip().is_loopback());
    for (i, listener) in listeners.iter().enumerate() {
        let addr = listener.local_addr().unwrap();
        assert_eq!(addr.port(), first.port() + i as u16);
        assert!(is_tcp_port_held(addr.port()));
    }
    let _client = TcpStream::connect(listeners[3].local_addr().unwrap()).unwrap();
    listeners[3].accept().unwrap();
}

#[with_ports(2, udp, listen, offsets = [0, 2])]
#[test]
fn related_udp_sockets(sockets: [UdpSocket; 2]) {
    let a = sockets[0].local_addr().unwrap();
    let b = sockets[1].local_addr().unwrap();
    assert_eq!(b.port(), a.port() + 2);
    sockets[0].send_to(b"ping", b).unwrap();
    let mut buf = [0; 4];
    let (n, from) = sockets[1].recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"ping"[..], a));
}

#[with_ports(1, udp, exact = 25610, hosts = ["localhost"])]
#[test]
fn an_exact_udp_port(port: u16) {
    assert_eq!(port, 25610);
    UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
}
