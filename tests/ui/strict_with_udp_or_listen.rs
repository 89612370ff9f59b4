use allocport_core::with_ports;

// The other request options combine with `udp` and `listen`...
#[with_ports(2, udp, consecutive)]
#[test]
fn udp_block(ports: [u16; 2]) {}

#[with_ports(2, listen, offsets = [0, 10000])]
#[test]
fn related_listeners(listeners: [std::net::TcpListener; 2]) {}

// ... but `strict` (no port in TIME_WAIT) has no effect on UDP ports ...
#[with_ports(1, udp, strict)]
#[test]
fn strict_udp(port: u16) {}

// ... nor on listeners allocport binds itself.
#[with_ports(1, listen, strict)]
#[test]
fn strict_listener(listener: std::net::TcpListener) {}

fn main() {}
