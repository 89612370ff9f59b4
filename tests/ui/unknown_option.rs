use allocport_core::with_ports;

#[with_ports(2, timeout = 5)]
#[test]
fn unknown(ports: [u16; 2]) {}

#[with_ports(2, hosts = ["localhost"], hosts = ["::1"])]
#[test]
fn twice(ports: [u16; 2]) {}

#[with_ports(2, 3)]
#[test]
fn not_an_option(ports: [u16; 2]) {}

fn main() {}
