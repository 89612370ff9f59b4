use allocport_core::with_ports;

#[with_ports("2")]
#[test]
fn string(ports: [u16; 2]) {}

#[with_ports(2.0)]
#[test]
fn float(ports: [u16; 2]) {}

const N: usize = 2;

#[with_ports(N)]
#[test]
fn constant(ports: [u16; N]) {}

fn main() {}
