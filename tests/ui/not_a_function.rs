use allocport_core::with_ports;

#[with_ports(2)]
struct Servers {
    ports: [u16; 2],
}

#[with_ports(1)]
#[derive(Debug)]
enum Kind {
    Tcp,
}

fn main() {}
