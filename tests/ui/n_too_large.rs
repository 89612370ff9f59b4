use allocport_core::with_ports;

#[with_ports(65536)]
#[test]
fn more_than_any_pool(ports: [u16; 65536]) {}

#[with_ports(99999999999999999999999999)]
#[test]
fn absurd(ports: [u16; 2]) {}

fn main() {}
