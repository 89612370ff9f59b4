use allocport_core::with_ports;

#[with_ports(2, hosts = "localhost")]
#[test]
fn hosts_not_array(ports: [u16; 2]) {}

#[with_ports(2, hosts = [localhost, 1])]
#[test]
fn hosts_not_strings(ports: [u16; 2]) {}

#[with_ports(2, hosts = [])]
#[test]
fn hosts_empty(ports: [u16; 2]) {}

#[with_ports(2, family = 6)]
#[test]
fn family_number(ports: [u16; 2]) {}

#[with_ports(2, family = ipv5)]
#[test]
fn family_unknown(ports: [u16; 2]) {}

#[with_ports(2, param = "ports")]
#[test]
fn param_string(ports: [u16; 2]) {}

fn main() {}
