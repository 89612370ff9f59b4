use allocport_core::with_ports;

#[with_ports(3, offsets = [0, 10000])]
#[test]
fn not_whole_groups(ports: [u16; 3]) {}

#[with_ports(2, offsets = [0, 1], consecutive)]
#[test]
fn offsets_and_consecutive(ports: [u16; 2]) {}

#[with_ports(2, exact = 6379)]
#[test]
fn exact_with_two(ports: [u16; 2]) {}

#[with_ports(1, exact = 70000)]
#[test]
fn exact_not_a_port(port: u16) {}

#[with_ports(2, offsets = [0, 0])]
#[test]
fn offset_twice(ports: [u16; 2]) {}

#[with_ports(1, strict = true)]
#[test]
fn strict_with_value(port: u16) {}

fn main() {}
