//! What this process and the others hold, and how the pool has been used: answers for tests
//! and for the `allocport status` command, and the `ALLOCPORT_STATS` report at exit. It only
//! reads: nothing here builds the pool or takes a port.

use std::fmt::{self, Write as _};

use crate::error::Error;
use crate::pool::existing_pool;
use crate::stats::PortAllocationStats;
use crate::store::{self, Holding};
use crate::transport::Proto;

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

pub use crate::waiting::PortHolder;

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

/// The ports whose `kind` lock other processes hold, in port order.
fn holders_of(what: Holding) -> Result<Vec<PortHolder>, Error> {
    let holders = store::open()?.holders(what, 1..=u16::MAX)?;
    Ok(holders
        .into_iter()
        .map(|(port, pid)| PortHolder { port, pid })
        .collect())
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
    let mut all = holders_of(Holding::Reservation(Proto::Tcp))?;
    all.extend(holders_of(Holding::Reservation(Proto::Udp))?);
    all.sort_by_key(|h| (h.port, h.pid));
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

// Runs after main returns, when std's streams may be closed and its locks are best left
// alone: as the `dtor` docs ask, it only reads the pool (never builds it, takes no lock),
// formats on the stack and hands the line to the OS in one write whose failure is ignored.
#[dtor::dtor(unsafe)]
fn print_stats_at_exit() {
    let Some(pool) = existing_pool() else { return };
    if !pool.report_at_exit() {
        return;
    }
    let mut line = StackLine::new();
    // Cannot fail: a line too long for the buffer is cut, not refused.
    let _ = writeln!(line, "allocport: {}", pool.stats());
    write_stderr(line.as_bytes());
}

/// A line formatted without allocating: text beyond its capacity is dropped.
struct StackLine {
    buf: [u8; 256],
    len: usize,
}

impl StackLine {
    fn new() -> Self {
        StackLine {
            buf: [0; 256],
            len: 0,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl fmt::Write for StackLine {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

#[cfg(unix)]
fn write_stderr(bytes: &[u8]) {
    // SAFETY: the pointer and length describe `bytes`, alive for the call; fd 2 closed or
    // not, `write` only reports an error then.
    let _ = unsafe { libc::write(libc::STDERR_FILENO, bytes.as_ptr().cast(), bytes.len()) };
}

#[cfg(windows)]
fn write_stderr(bytes: &[u8]) {
    use windows_sys::Win32::Storage::FileSystem::WriteFile;
    use windows_sys::Win32::System::Console::{GetStdHandle, STD_ERROR_HANDLE};
    let mut written = 0u32;
    // SAFETY: GetStdHandle has no preconditions; WriteFile gets a valid buffer of the length
    // given and a live `written`, and with a null or invalid handle it only fails.
    let _ = unsafe {
        WriteFile(
            GetStdHandle(STD_ERROR_HANDLE),
            bytes.as_ptr(),
            bytes.len() as u32,
            &mut written,
            std::ptr::null_mut(),
        )
    };
}

#[cfg(not(any(unix, windows)))]
fn write_stderr(bytes: &[u8]) {
    let _ = std::io::Write::write_all(&mut std::io::stderr(), bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exit_line_is_formatted_on_the_stack() {
        let stats = PortAllocationStats {
            pool_size: 64511,
            peak_allocated: 3,
            lifetime_total_allocated: u64::MAX,
        };
        let mut line = StackLine::new();
        writeln!(line, "allocport: {stats}").unwrap();
        assert_eq!(line.as_bytes(), format!("allocport: {stats}\n").as_bytes());
    }

    #[test]
    fn a_line_too_long_is_cut_at_the_capacity() {
        let mut line = StackLine::new();
        write!(line, "{}", "x".repeat(300)).unwrap();
        assert_eq!(line.as_bytes(), "x".repeat(256).as_bytes());
    }
}
