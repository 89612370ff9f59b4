use allocport_core::with_ports;

#[with_ports(-1)]
#[test]
fn negative(port: u16) {}

fn main() {}
