//! Who holds a port: the one answer every store, the claim layer and the public introspection
//! give.

/// A port held by another process, as [`tcp_port_holders`](crate::tcp_port_holders) reports it.
///
/// ```
/// let holders: Vec<allocport_core::PortHolder> = allocport_core::tcp_port_holders().unwrap();
/// assert!(holders.windows(2).all(|w| w[0].port <= w[1].port));
/// ```
///
/// Holders order by port, then pid (`None` first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PortHolder {
    /// The port.
    pub port: u16,
    /// The holding process, where the OS tells it (Unix does, Windows does not). `Some(0)`
    /// on Unix: a process in another pid namespace (another container), which the kernel
    /// does not name to this one.
    pub pid: Option<u32>,
}
