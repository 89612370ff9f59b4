use allocport_core::with_ports;

#[with_ports(0)]
#[test]
fn zero(ports: [u16; 0]) {}

fn main() {}
