use allocport_core::with_ports;
use std::net::SocketAddr;

#[with_ports(2)]
#[test]
fn wrong_length(addrs: [SocketAddr; 3]) {}

#[with_ports(2)]
#[test]
fn single_for_two(addr: SocketAddr) {}

fn main() {}
