use allocport_core::with_ports;

// `listen` hands over listeners, not port numbers: a type error, see receiver_type_errors.rs.

// The sockets are bound on one host.
#[with_ports(1, listen, hosts = ["localhost", "::1"])]
#[test]
fn two_hosts(listener: std::net::TcpListener) {}

// A flag given twice.
#[with_ports(1, udp, udp)]
#[test]
fn twice(port: u16) {}

fn main() {}
