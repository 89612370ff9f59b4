// What `#[with_ports]` emits for the receiving parameter (see the expansion snapshots in
// allocport-macros), written out here: trybuild builds without `--cfg test`, which leaves out
// the bodies of `#[test]` functions, and so their type errors.

use allocport_core::__private::{
    AddressFamily, HeldTcpListener, ReceivePorts, TcpPortOwner, UdpPortOwner, allocate_for_test,
};

// The compiler, not the macro, reads the type: an alias of the wrong length is refused too.
type Three = [u16; 3];

fn main() {
    let mut tcp = allocate_for_test("t", 2, &["localhost"], AddressFamily::Ipv4);
    // #[with_ports(2)] on `ports: Three`
    let _ports: Three = <Three as ReceivePorts<TcpPortOwner, 2>>::receive(&mut tcp);
    // #[with_ports(3)] on `port: u16`
    let _port: u16 = <u16 as ReceivePorts<TcpPortOwner, 3>>::receive(&mut tcp);
    // #[with_ports(1)] on `name: String`
    let _name: String = <String as ReceivePorts<TcpPortOwner, 1>>::receive(&mut tcp);
    // #[with_ports(1, udp)] on `owner: TcpPortOwner`
    let _owner = <TcpPortOwner as ReceivePorts<UdpPortOwner, 1>>::receive;
    // #[with_ports(2, listen)] on `ports: [u16; 2]`: listen hands over sockets, not numbers
    let _ports = <[u16; 2] as ReceivePorts<HeldTcpListener, 2>>::receive;
}
