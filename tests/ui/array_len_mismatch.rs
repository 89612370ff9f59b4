use allocport_core::with_ports;

#[with_ports(2)]
#[test]
fn array_too_long(ports: [u16; 3]) {}

#[with_ports(3)]
#[test]
fn single_port_for_three(port: u16) {}

fn main() {}
