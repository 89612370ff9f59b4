use allocport_core::with_ports;

#[with_ports(2)]
async fn needs_a_runtime(_ports: [u16; 2]) {}

fn main() {}
