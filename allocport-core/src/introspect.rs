//! What this process and the others hold, and how the pool has been used: answers for tests
//! and for the `allocport status` command. It only reads: nothing here builds the pool or
//! takes a port.

use crate::claim::transport::Proto;
use crate::claim::{self, Holding};
use crate::error::Error;
use crate::pool::existing_pool;
use crate::pool::stats::PortAllocationStats;

/// The ports this process holds now, in port order. A number held for UDP
/// ([`UdpPortOwner`](crate::UdpPortOwner)) is among them too: within one process a number is
/// held by one owner at a time, whatever the protocol.
///
/// ```
/// let owner = allocport_core::TcpPortOwner::new().unwrap();
/// assert!(allocport_core::held_tcp_ports().contains(&owner.port()));
/// ```
pub fn held_tcp_ports() -> Vec<u16> {
    crate::pool::held_here()
}

/// Whether this process holds `port` now.
///
/// ```
/// let owner = allocport_core::TcpPortOwner::new().unwrap();
/// let port = owner.port();
/// assert!(allocport_core::is_tcp_port_held(port));
/// drop(owner);
/// assert!(!allocport_core::is_tcp_port_held(port));
/// ```
pub fn is_tcp_port_held(port: u16) -> bool {
    crate::pool::is_held_here(port)
}

pub use crate::claim::PortHolder;

/// The ports that other processes hold right now, in port order, read from the lock files
/// (ports this process holds are in [`held_tcp_ports`]). It answers
/// "why does my allocation wait?", as the `allocport status` command does. It checks the lock
/// directory and creates it if missing, as an allocation would.
///
/// ```
/// for holder in allocport_core::tcp_port_holders().unwrap() {
///     println!("port {} held by {:?}", holder.port, holder.pid);
/// }
/// ```
pub fn tcp_port_holders() -> Result<Vec<PortHolder>, Error> {
    holders_of(Holding::Claim(Proto::Tcp))
}

/// The ports other processes hold (or reserved) as `what` says, in port order.
fn holders_of(what: Holding) -> Result<Vec<PortHolder>, Error> {
    let [found] = claim::holders_anywhere([what])?;
    found
}

/// The UDP ports that other processes hold right now, in port order: [`tcp_port_holders`] for
/// the UDP claims, which are kept apart from the TCP ones (a number held for TCP and UDP at
/// once is in both lists).
///
/// ```
/// for holder in allocport_core::udp_port_holders().unwrap() {
///     println!("UDP port {} held by {:?}", holder.port, holder.pid);
/// }
/// ```
pub fn udp_port_holders() -> Result<Vec<PortHolder>, Error> {
    holders_of(Holding::Claim(Proto::Udp))
}

/// The ports other processes reserved right now for a fair wait, in port order: a request for
/// several ports that has waited takes the machine-wide wait token and reserves ports held
/// elsewhere, so that once released they go to it rather than to one-port requests
/// ([`PortRequest`](crate::PortRequest) explains the fair wait). The holder is the waiting
/// process, not the one that holds the port meanwhile (that one is in [`tcp_port_holders`]).
///
/// ```
/// for reserved in allocport_core::port_reservations().unwrap() {
///     println!("port {} reserved by {:?}", reserved.port, reserved.pid);
/// }
/// ```
pub fn port_reservations() -> Result<Vec<PortHolder>, Error> {
    let [tcp, udp] = claim::holders_anywhere([
        Holding::Reservation(Proto::Tcp),
        Holding::Reservation(Proto::Udp),
    ])?;
    let mut all = tcp?;
    all.extend(udp?);
    all.sort_unstable();
    all.dedup();
    Ok(all)
}

/// The statistics so far; all zero when nothing has been allocated yet.
pub fn port_allocation_stats() -> PortAllocationStats {
    existing_pool().map(|pool| pool.stats()).unwrap_or_default()
}

/// Logs the statistics at debug level through the `log` facade (target
/// `allocport::port_allocation_stats`), like PySys's `logPortAllocationStats`, and returns them.
///
/// To see them at process exit without a logger, set `ALLOCPORT_STATS=1` (it is read when the
/// first allocation builds the pool): the process then prints them to standard error as it
/// exits (nextest shows a test's output when it fails, or always with `--no-capture`).
///
/// ```
/// let stats = allocport_core::log_port_allocation_stats();
/// println!("{stats}");
/// ```
pub fn log_port_allocation_stats() -> PortAllocationStats {
    let stats = port_allocation_stats();
    log::debug!(target: "allocport::port_allocation_stats", "{stats}");
    stats
}
