//! What several of the command's test binaries share.

use allocport_core::TcpPortOwner;

/// `n` ports reserved for a test through the shared pool, so that no other allocport user binds
/// them while the test hands them to `allocport` as its whole pool, and their numbers, sorted
/// as allocport's pool lists them.
pub(crate) fn reserve_ports(n: usize) -> (Vec<TcpPortOwner>, Vec<u16>) {
    let reserved = TcpPortOwner::many(n, &allocport_core::DEFAULT_HOSTS, Default::default())
        .expect("reserving ports for the test");
    let mut ports: Vec<u16> = reserved.iter().map(TcpPortOwner::port).collect();
    ports.sort_unstable();
    (reserved, ports)
}
