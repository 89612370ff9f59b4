//! Ports never handed out, process-wide: browsers' refused ports and the caller's additions.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::pool::portset::{Lane, PortSet};
use crate::ports::browsers::DEFAULT_EXCLUDED_TCP_PORTS;

static EXCLUDED: PortSet = PortSet::of(Lane::Excluded);

/// Set once a port beyond the defaults is excluded: until then the excluded ports are
/// [`DEFAULT_EXCLUDED_TCP_PORTS`], which the pool's start-up reads instead of the whole set.
static EXTENDED: AtomicBool = AtomicBool::new(false);

/// The ports that are never allocated, process-wide, ascending and without duplicates; it
/// starts as [`DEFAULT_EXCLUDED_TCP_PORTS`].
///
/// ```
/// use allocport_core::{excluded_tcp_ports, DEFAULT_EXCLUDED_TCP_PORTS};
/// let excluded = excluded_tcp_ports();
/// assert!(DEFAULT_EXCLUDED_TCP_PORTS.iter().all(|p| excluded.binary_search(p).is_ok()));
/// assert!(excluded.windows(2).all(|w| w[0] < w[1]));
/// ```
pub fn excluded_tcp_ports() -> Vec<u16> {
    EXCLUDED.iter().collect()
}

/// Adds ports to the excluded set. They leave later
/// [`server_tcp_ports`](crate::server_tcp_ports) results, and a pool that already exists never
/// hands them out again (ports held now stay held until dropped).
///
/// ```
/// allocport_core::exclude_tcp_ports([20000, 20001]);
/// assert!(allocport_core::excluded_tcp_ports().contains(&20001));
/// ```
pub fn exclude_tcp_ports(ports: impl IntoIterator<Item = u16>) {
    ports.into_iter().for_each(|port| EXCLUDED.insert(port));
    EXTENDED.store(true, Ordering::Release);
}

/// The excluded ports from `lo` to `hi` inclusive, ascending.
pub(crate) fn excluded_in(lo: u16, hi: u16) -> Vec<u16> {
    if EXTENDED.load(Ordering::Acquire) {
        return EXCLUDED.members_in(lo, hi);
    }
    let mut ports = Vec::new();
    for &port in &DEFAULT_EXCLUDED_TCP_PORTS {
        if lo <= port && port <= hi {
            ports.push(port);
        }
    }
    ports
}

/// Whether `port` is excluded; one atomic load, as the pool asks on every take.
pub(crate) fn is_excluded(port: u16) -> bool {
    EXCLUDED.contains(port)
}
