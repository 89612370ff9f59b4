//! How a test parameter receives the ports of `#[with_ports(n)]`: by its type, through
//! [`ReceivePorts`], so the compiler (not the macro, which sees only tokens) picks the
//! conversion, and any spelling or alias of a supported type works.

use std::net::{SocketAddr, TcpListener, UdpSocket};

use crate::{AddressFamily, HeldTcpListener, HeldUdpSocket, TcpPortOwner, UdpPortOwner};

/// A type that can receive the ports of `#[with_ports(N)]`: the type of the test parameter
/// the attribute fills.
///
/// `H` is what the attribute allocated, one per port: [`TcpPortOwner`] (the default),
/// [`UdpPortOwner`] (`udp`), [`HeldTcpListener`] (`listen`) or [`HeldUdpSocket`]
/// (`udp, listen`). The implementations:
///
/// | parameter type | receives | with |
/// |---|---|---|
/// | `u16` | the port number; the attribute keeps the owner until the test ends | port numbers, TCP or `udp` |
/// | [`SocketAddr`] | the port with the loopback address of the `family` | port numbers, TCP or `udp` |
/// | [`TcpPortOwner`] / [`UdpPortOwner`] | the owner itself: the port is held while the parameter lives | port numbers, TCP / `udp` |
/// | [`TcpListener`] / [`UdpSocket`] | the bound socket; the attribute keeps its owner until the test ends | `listen` / `udp, listen` |
/// | [`HeldTcpListener`] / [`HeldUdpSocket`] | the socket with its owner | `listen` / `udp, listen` |
/// | `[T; N]` for any `T` above | `N` of them, in allocation order | |
///
/// A type receives one port (`N` = 1), and an array `[T; N]` receives `N`. Any spelling works:
/// `net::SocketAddr`, `core::primitive::u16`, `type Ports = [u16; 2]`. Another type, or an
/// array of the wrong length, is a compile error naming this trait. The trait is sealed: its
/// method belongs to the code the attribute generates.
///
/// ```test_harness
/// use allocport_core::with_ports;
/// use std::net;
///
/// type Pair = [net::SocketAddr; 2];
///
/// #[with_ports(2)]
/// #[test]
/// fn by_alias(addrs: Pair) {
///     assert!(addrs[0].ip().is_loopback());
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot receive {N} port(s) of #[with_ports], which come as `{H}`",
    label = "not a type that receives {N} port(s) held as `{H}`",
    note = "a parameter receives one port as `u16`, `SocketAddr` or the owner (`TcpPortOwner`, `UdpPortOwner` with `udp`); with `listen`, as `TcpListener` or `HeldTcpListener` (`UdpSocket` or `HeldUdpSocket` with `udp`); and `n` ports as an array `[T; n]` of one of these",
    note = "see the trait `ReceivePorts` of allocport-core"
)]
pub trait ReceivePorts<H: Held, const N: usize>: Sized + sealed::Sealed {
    /// Takes this parameter's value out of what the attribute allocated.
    #[doc(hidden)]
    fn receive(from: &mut Handover<H>) -> Self;
}

mod sealed {
    /// Keeps [`super::ReceivePorts`] to the types of this file.
    pub trait Sealed {}
}

/// What `#[with_ports]` allocated, handed to the receiving parameter one item at a time. The
/// owners of the items handed over as bare numbers or sockets stay here, and the generated
/// code keeps this value until the test's body ends.
#[doc(hidden)]
pub struct Handover<H: Held> {
    items: std::vec::IntoIter<H>,
    kept: Vec<H::Owner>,
    family: AddressFamily,
}

impl<H: Held> Handover<H> {
    pub(crate) fn new(items: Vec<H>, family: AddressFamily) -> Self {
        Handover {
            items: items.into_iter(),
            kept: Vec::new(),
            family,
        }
    }

    /// The next item. The macro asks for as many as it allocated (`N` is the same constant in
    /// both places), so running out is a bug of this crate, not a user error.
    fn next(&mut self) -> H {
        self.items
            .next()
            .expect("allocport: #[with_ports] handed over more items than it allocated")
    }

    /// The items not handed over and the owners kept, for tests of this crate.
    #[cfg(test)]
    fn counts(&self) -> (usize, usize) {
        (self.items.len(), self.kept.len())
    }
}

/// One allocated item: an owner, or a socket bound on a held port.
#[doc(hidden)]
pub trait Held {
    /// What keeps the port held once the item is handed over without it.
    type Owner;
}

impl Held for TcpPortOwner {
    type Owner = TcpPortOwner;
}

impl Held for UdpPortOwner {
    type Owner = UdpPortOwner;
}

impl Held for HeldTcpListener {
    type Owner = TcpPortOwner;
}

impl Held for HeldUdpSocket {
    type Owner = UdpPortOwner;
}

/// Port numbers come from owners only: with `listen`, a number alone would drop its socket.
macro_rules! numbers_from {
    ($($owner:ty),*) => {$(
        impl ReceivePorts<$owner, 1> for u16 {
            fn receive(from: &mut Handover<$owner>) -> u16 {
                let owner = from.next();
                let port = owner.port();
                from.kept.push(owner);
                port
            }
        }

        impl ReceivePorts<$owner, 1> for SocketAddr {
            fn receive(from: &mut Handover<$owner>) -> SocketAddr {
                let port = <u16 as ReceivePorts<$owner, 1>>::receive(from);
                SocketAddr::new(from.family.loopback(), port)
            }
        }
    )*};
}

numbers_from!(TcpPortOwner, UdpPortOwner);

/// The items themselves: owners, and held sockets.
macro_rules! items {
    ($($held:ty),*) => {$(
        impl sealed::Sealed for $held {}

        impl ReceivePorts<$held, 1> for $held {
            fn receive(from: &mut Handover<$held>) -> $held {
                from.next()
            }
        }
    )*};
}

items!(TcpPortOwner, UdpPortOwner, HeldTcpListener, HeldUdpSocket);

/// The bare sockets of `listen`, their owners kept.
macro_rules! sockets_from {
    ($($held:ty => $socket:ty),*) => {$(
        impl sealed::Sealed for $socket {}

        impl ReceivePorts<$held, 1> for $socket {
            fn receive(from: &mut Handover<$held>) -> $socket {
                let (socket, owner) = from.next().into_parts();
                from.kept.push(owner);
                socket
            }
        }
    )*};
}

sockets_from!(HeldTcpListener => TcpListener, HeldUdpSocket => UdpSocket);

impl sealed::Sealed for u16 {}
impl sealed::Sealed for SocketAddr {}
impl<T: sealed::Sealed, const N: usize> sealed::Sealed for [T; N] {}

impl<H: Held, T: ReceivePorts<H, 1>, const N: usize> ReceivePorts<H, N> for [T; N] {
    fn receive(from: &mut Handover<H>) -> [T; N] {
        std::array::from_fn(|_| T::receive(from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owners(n: usize) -> Vec<TcpPortOwner> {
        TcpPortOwner::many(n, &["localhost"], AddressFamily::Ipv4).unwrap()
    }

    #[test]
    fn numbers_keep_their_owners_and_addresses_use_the_family() {
        let owners = owners(2);
        let ports: Vec<u16> = owners.iter().map(TcpPortOwner::port).collect();
        let mut from = Handover::new(owners, AddressFamily::Ipv6);
        let first = <u16 as ReceivePorts<TcpPortOwner, 1>>::receive(&mut from);
        let second = <SocketAddr as ReceivePorts<TcpPortOwner, 1>>::receive(&mut from);
        assert_eq!([first, second.port()], [ports[0], ports[1]]);
        assert_eq!(second.ip(), AddressFamily::Ipv6.loopback());
        assert_eq!(from.counts(), (0, 2), "both owners kept");
        for port in ports {
            assert!(crate::is_tcp_port_held(port), "port {port} released early");
        }
    }

    #[test]
    fn arrays_take_their_length_and_owners_move_out() {
        let mut from = Handover::new(owners(3), AddressFamily::Ipv4);
        let pair = <[u16; 2] as ReceivePorts<TcpPortOwner, 2>>::receive(&mut from);
        let owner = <TcpPortOwner as ReceivePorts<TcpPortOwner, 1>>::receive(&mut from);
        assert_eq!(from.counts(), (0, 2), "the moved owner is not kept");
        assert!(!pair.contains(&owner.port()));
        let port = owner.port();
        drop(owner);
        assert!(!crate::is_tcp_port_held(port), "the received owner held it");
    }
}
