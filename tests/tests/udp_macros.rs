//! `#[with_ports]`'s `udp` and `listen` options: UDP ports, and sockets already bound on held
//! ports handed to the test.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};

use allocport_core::{is_tcp_port_held, with_ports};

#[with_ports(2, udp)]
#[test]
fn udp_ports_are_distinct_held_and_bindable_for_udp(ports: [u16; 2]) {
    assert_ne!(ports[0], ports[1]);
    for port in ports {
        assert!(is_tcp_port_held(port));
        UdpSocket::bind(("0.0.0.0", port)).unwrap();
    }
}

fn serve(listener: &TcpListener) {
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    client.write_all(b"hi").unwrap();
    let (mut conn, _) = listener.accept().unwrap();
    let mut buf = [0; 2];
    conn.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hi");
}

#[with_ports(2, listen)]
#[test]
fn listen_hands_over_listeners_on_held_loopback_ports(listeners: [TcpListener; 2]) {
    for listener in &listeners {
        let addr = listener.local_addr().unwrap();
        assert_eq!(addr.ip(), std::net::Ipv4Addr::LOCALHOST);
        assert!(is_tcp_port_held(addr.port()));
        serve(listener);
    }
}

#[with_ports(1, listen, hosts = ["::1"], family = ipv6)]
#[test]
fn listen_on_ipv6_loopback(listener: std::net::TcpListener) {
    assert!(listener.local_addr().unwrap().is_ipv6());
    serve(&listener);
}

#[with_ports(1, udp, listen)]
#[test]
fn udp_and_listen_hand_over_a_bound_udp_socket(socket: UdpSocket) {
    let port = socket.local_addr().unwrap().port();
    assert!(is_tcp_port_held(port));
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .send_to(b"ping", socket.local_addr().unwrap())
        .unwrap();
    let mut buf = [0; 4];
    let (n, _) = socket.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ping");
}

/// The listener may be moved into a server thread; the port stays held until the test ends.
#[with_ports(1, listen)]
#[test]
fn a_listener_moved_into_a_thread_keeps_its_port_held(listener: TcpListener) {
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || serve(&listener));
    server.join().unwrap();
    assert!(is_tcp_port_held(port));
}
