use allocport_core::with_ports;

#[with_ports(2)]
#[test]
fn no_parameters() {}

#[with_ports(2)]
#[test]
fn wrong_type(name: String) {}

#[with_ports(2)]
#[test]
fn named_but_wrong_type(ports: Vec<u16>) {}

#[with_ports(2, param = servers)]
#[test]
fn param_names_nothing(ports: [u16; 2]) {}

#[with_ports(2)]
#[test]
fn ambiguous(a: [u16; 2], b: [u16; 2]) {}

fn main() {}
