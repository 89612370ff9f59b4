use allocport_core::with_ports;

// One build reports every misuse at once.
#[with_ports(0, timeout = 5, family = 6)]
#[test]
fn all_wrong(name: String) {}

fn main() {}
