use allocport_core::with_ports;

#[with_ports(2)]
#[test]
fn no_parameters() {}

// A parameter of another type is taken all the same (the macro does not read types): the
// compiler refuses the type, see receiver_type_errors.rs.

#[with_ports(2, param = servers)]
#[test]
fn param_names_nothing(ports: [u16; 2]) {}

#[with_ports(2)]
#[test]
fn ambiguous(a: [u16; 2], b: [u16; 2]) {}

fn main() {}
