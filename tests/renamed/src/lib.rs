//! `#[with_ports(n, crate = path)]` in a crate whose only name for allocport-core is
//! `ports_renamed` (see Cargo.toml): the generated code must reach the runtime through the
//! path given, as tokio's `#[tokio::test(crate = "...")]` does.

#[cfg(test)]
mod tests {
    use ports_renamed::{is_tcp_port_held, with_ports};

    #[with_ports(2, crate = ports_renamed)]
    #[test]
    fn path(ports: [u16; 2]) {
        assert!(ports.iter().all(|&p| is_tcp_port_held(p)));
    }

    #[with_ports(1, crate = "::ports_renamed", consecutive)]
    #[tokio::test]
    async fn string_as_tokio_writes_it(addr: std::net::SocketAddr) {
        tokio::task::yield_now().await;
        assert!(is_tcp_port_held(addr.port()));
    }

    #[with_ports(1, udp, listen, crate = ports_renamed)]
    #[test]
    fn held_socket(socket: ports_renamed::HeldUdpSocket) {
        assert_eq!(socket.socket().local_addr().unwrap().port(), socket.port());
    }
}
