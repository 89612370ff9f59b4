//! The figures of [`port_allocation_stats`](crate::port_allocation_stats): what the pool
//! counts, and how they read.

/// How the pool has been used by this process.
///
/// ```
/// let owner = allocport_core::TcpPortOwner::new().unwrap();
/// let stats = allocport_core::port_allocation_stats();
/// assert!(stats.pool_size > 0 && stats.peak_allocated >= 1 && stats.lifetime_total_allocated >= 1);
/// # drop(owner);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PortAllocationStats {
    /// Ports in the pool (0 until the pool is built by the first allocation).
    pub pool_size: usize,
    /// The most ports this process held at one time.
    pub peak_allocated: usize,
    /// Ports allocated over the life of this process.
    pub lifetime_total_allocated: u64,
}

impl std::fmt::Display for PortAllocationStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TCP server port allocation: pool size {}, peak allocated at once {}, lifetime total allocated {}",
            self.pool_size, self.peak_allocated, self.lifetime_total_allocated
        )
    }
}
