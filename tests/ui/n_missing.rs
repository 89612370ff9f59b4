use allocport_core::with_ports;

#[with_ports]
#[test]
fn no_parentheses(ports: [u16; 2]) {}

#[with_ports(param = ports)]
#[test]
fn option_only(ports: [u16; 2]) {}

fn main() {}
