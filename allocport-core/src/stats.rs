//! Allocation statistics, PySys's `logPortAllocationStats`.

use std::io::Write;

use crate::pool::existing_pool;

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

/// The statistics so far; all zero when nothing has been allocated yet.
pub fn port_allocation_stats() -> PortAllocationStats {
    existing_pool().map(|pool| pool.stats()).unwrap_or_default()
}

/// Logs the statistics at debug level through the `log` facade (target
/// `allocport::port_allocation_stats`), like PySys's `logPortAllocationStats`, and returns them.
///
/// To see them at process exit without a logger, set `ALLOCPORT_STATS=1`: the process then
/// prints them to standard error as it exits (nextest shows a test's output when it fails, or
/// always with `--no-capture`).
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

/// Whether `ALLOCPORT_STATS` asks for the statistics at exit.
fn stats_at_exit_wanted() -> bool {
    std::env::var_os("ALLOCPORT_STATS").is_some_and(|v| !v.is_empty() && v != "0")
}

// Runs after main returns. It only reads the pool (never builds it) and writes with an
// error-ignoring call, since standard streams may already be closed this late.
#[dtor::dtor(unsafe)]
fn print_stats_at_exit() {
    if existing_pool().is_none() || !stats_at_exit_wanted() {
        return;
    }
    let line = format!("allocport: {}\n", port_allocation_stats());
    let _ = std::io::stderr().write_all(line.as_bytes());
}
