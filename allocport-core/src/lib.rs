//! # allocport: TCP server ports for tests, never handed out twice
//!
//! Tests that start servers need ports nobody else is using, and when tests run in parallel,
//! as under `cargo test` threads or cargo-nextest processes, two of them must never get the
//! same one. `allocport` keeps one pool of server ports per process and a lock file shared by
//! every process of the user, so a port is held by at most one [`TcpPortOwner`] on the
//! machine at a time, and returns to the pool when its owner is dropped, or when its process
//! dies, even by `SIGKILL`.
//!
//! It is a Rust port of PySys's `pysys.utils.allocport`, with the same environment
//! variables and the same names in Rust case (PySys's `TCPPortOwner` is [`TcpPortOwner`],
//! `getServerTCPPorts` is [`server_tcp_ports`], `getEphemeralTCPPortRange` is
//! [`ephemeral_tcp_port_range`], `excludedTCPPorts` is [`excluded_tcp_ports`],
//! `logPortAllocationStats` is [`log_port_allocation_stats`]).
//!
//! ```
//! use allocport_core::TcpPortOwner;
//! use std::io::{Read, Write};
//! use std::net::{TcpListener, TcpStream};
//!
//! let owner = TcpPortOwner::new()?;                  // held until dropped
//! let server = TcpListener::bind(("127.0.0.1", owner.port()))?;
//! let mut client = TcpStream::connect(("127.0.0.1", owner.port()))?;
//! client.write_all(b"ping")?;
//! let (mut conn, _) = server.accept()?;
//! let mut buf = [0; 4];
//! conn.read_exact(&mut buf)?;
//! assert_eq!(&buf, b"ping");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! With the default `macros` feature, `#[with_ports(n)]` hands a test function its ports
//! directly; see [`with_ports`].
//!
//! ## Where the ports come from
//!
//! [`server_tcp_ports`] decides, on the first allocation of each process:
//!
//! | variable | meaning |
//! |---|---|
//! | `PYSYS_PORTS` | comma-separated ports and inclusive ranges: `PYSYS_PORTS="2000-2100, 3000"` |
//! | `PYSYS_PORTS_FILE` | a UTF-8 file, one such specification a line |
//! | neither | ports 1024-65535 outside the OS's [ephemeral range](ephemeral_tcp_port_range) |
//! | `ALLOCPORT_TIMEOUT_SECS` | how long an allocation waits when every port is held (default 300) |
//! | `ALLOCPORT_LOCK_DIR` | the private directory of the cross-process lock file (see [`lock_dir`]) |
//! | `ALLOCPORT_STATS=1` | print [`port_allocation_stats`] to standard error at exit |
//!
//! Every configuration error names the variable or file and the offending value, and comes
//! back at once from the allocation that needed it.
//!
//! ## How a port is allocated
//!
//! The pool is shuffled once and used least-recently-released first. A candidate is taken
//! when its cross-process lock is free and a plain bind (no `SO_REUSEADDR`) succeeds on each
//! host asked for; a busy candidate goes to the back of the queue and the next is tried at
//! once. Only when no port can be had does the allocation wait, until a port is released or
//! the [timeout](set_allocation_timeout) passes.
//!
//! ## Between processes
//!
//! The lock file holds one byte-range lock per held port, so a process holding thousands of
//! ports uses one file descriptor, and the kernel frees a dead process's locks. Under
//! cargo-nextest, each test process starts in a different part of the pool (from
//! `NEXTEST_TEST_GLOBAL_SLOT`), so concurrent tests rarely even try the same port.

#![warn(missing_docs)]

mod ephemeral;
mod error;
mod host;
mod lock;
mod owner;
mod pool;
mod portset;
mod server_ports;
mod spec;
mod stats;
mod timeout;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use ephemeral::ephemeral_tcp_port_range;
pub use error::{Error, SpecOrigin};
pub use host::AddressFamily;
pub use lock::{PortHolder, lock_dir, tcp_port_holders};
pub use owner::{DEFAULT_HOSTS, TcpPortOwner};
pub use server_ports::{
    DEFAULT_EXCLUDED_TCP_PORTS, PortSource, ServerPorts, exclude_tcp_ports, excluded_tcp_ports,
    server_tcp_ports, server_tcp_ports_with_source,
};
pub use spec::format_ports_spec;
pub use stats::{PortAllocationStats, log_port_allocation_stats, port_allocation_stats};
pub use timeout::{DEFAULT_ALLOCATION_TIMEOUT, allocation_timeout, set_allocation_timeout};

/// Injects held ports into a test function: `#[with_ports(n)]`.
///
/// ```ignore
/// use allocport_core::with_ports;
///
/// #[with_ports(2)]
/// #[test]
/// fn two_servers(ports: [u16; 2]) {
///     // ports[0] and ports[1] are held until the test ends
/// }
/// ```
#[cfg(feature = "macros")]
pub use allocport_macros::with_ports;

/// The ports this process holds now, in port order.
///
/// ```
/// let owner = allocport_core::TcpPortOwner::new().unwrap();
/// assert!(allocport_core::held_tcp_ports().contains(&owner.port()));
/// ```
pub fn held_tcp_ports() -> Vec<u16> {
    pool::held_here()
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
    pool::is_held_here(port)
}
