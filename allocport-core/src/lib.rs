//! # allocport: TCP server ports for tests, never handed out twice
//!
//! Tests that start servers need ports nobody else is using, and when tests run in parallel,
//! as under `cargo test` threads or cargo-nextest processes, two of them must never get the
//! same one. `allocport` keeps one pool of server ports per process and claims shared by
//! every process on the machine, so a port is held by at most one [`TcpPortOwner`] on the
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
//! UDP ports come from the same pool ([`UdpPortOwner`]), a number can be held for TCP and UDP
//! at once ([`TcpPortOwner::with_udp`]), and [`HeldTcpListener`] / [`HeldUdpSocket`] hand over
//! the socket already bound on its held port, so nothing can take the port in between.
//!
//! ## Where the ports come from
//!
//! [`server_tcp_ports`] decides, on the first allocation of each process:
//!
//! | variable | meaning |
//! |---|---|
//! | `PYSYS_PORTS` | comma-separated ports and inclusive ranges: `PYSYS_PORTS="2000-2100, 3000"` |
//! | `PYSYS_PORTS_FILE` | a UTF-8 regular file of at most [`MAX_PORTS_FILE_BYTES`], one such specification a line |
//! | neither | ports 1024-65535 outside the OS's [ephemeral range](ephemeral_tcp_port_range) |
//! | `ALLOCPORT_TIMEOUT_SECS` | how long an allocation waits when every port is held (default 300) |
//! | `ALLOCPORT_STORE` | where claims between processes are kept: `kernel` (Linux's default) or `files` (see [`store_kind`]; on Linux, with the [`file-store` feature](#cargo-features)) |
//! | `ALLOCPORT_NAMESPACE` | a tag that gives the kernel store names of its own, apart from everyone else's |
//! | `ALLOCPORT_LOCK_DIR` | the file store's private directory (see [`lock_dir`]); setting it chooses the file store |
//! | `ALLOCPORT_STATS=1` | print [`port_allocation_stats`] to standard error at exit |
//!
//! Every configuration error names the variable or file and the offending value, and comes
//! back at once from the allocation that needed it. Warnings (a reversed range, a fallback
//! range, ports this process may not bind, a wait of 5 s) go once per process to standard
//! error as `allocport: warning: ...`, no logger needed, and through the `log` facade.
//!
//! ## How a port is allocated
//!
//! The pool hands out its never-used ports in a shuffled order, computed one port at a time
//! (so a process's first allocation costs the same for any pool size), then released ports
//! least-recently-released first. A candidate is taken
//! when its claim between processes is free and a plain bind (no `SO_REUSEADDR`) succeeds on each
//! host asked for; a busy candidate goes to the back of the queue and the next is tried at
//! once. Only when no port can be had does the allocation wait, until a port is released or
//! the [timeout](set_allocation_timeout) passes. A port refused only because of connections in
//! TIME_WAIT is handed out when no fully free one is left (see [`PortRequest`]), and a request
//! for several ports waits fairly against one-port requests.
//!
//! ## Between processes
//!
//! On Linux a claim is a Unix socket bound to the port's name in the kernel's abstract
//! namespace (`\0allocport/tcp/<port>...`, see `docs/protocol.md`): the kernel refuses a second
//! bind of a name and forgets it when its holder dies, even by `SIGKILL`. Every user and every
//! process sharing the machine's network is excluded; nothing on disk can be deleted or aged
//! out. Each held port is one descriptor (the soft limit is raised toward the hard one when
//! needed). Elsewhere, or with `ALLOCPORT_STORE=files` (on Linux, with the [`file-store`
//! feature](#cargo-features)), each held port is one byte-range lock
//! on one of 64 files in a private per-user directory ([`lock_dir`]); deleted or replaced lock
//! files free no port ([`lock_files_renewed`] counts such events). Processes on different
//! stores do not exclude each other. `docs/guarantee.md` states each store's guarantee and
//! limits.
//!
//! Under cargo-nextest, each test process starts in a different part of the pool (from
//! `NEXTEST_TEST_GLOBAL_SLOT`), so concurrent tests rarely even try the same port. A process
//! waiting for ports is woken when another process releases one of them (on Linux; elsewhere
//! it looks again now and then).
//!
//! ## Cargo features
//!
//! - `macros` (default): [`with_ports`], re-exported from `allocport-macros`.
//! - `file-store`: the file store on Linux, with [`lock_dir`] and [`lock_files_renewed`].
//!   Linux uses the kernel store unless told otherwise, and the file store is a tenth of this
//!   crate's code, which every cold debug build of a test suite would compile for nothing; so
//!   it is off by default. Without it, choosing the files (`ALLOCPORT_STORE=files`, or
//!   `ALLOCPORT_LOCK_DIR` set) is an [`Error::InvalidEnv`] naming the variable, never the
//!   kernel store instead. macOS, the BSDs and Windows always have the file store: it is
//!   their only one.
// Where this build leaves the file store's functions out, the crate docs' links to them lead
// to the feature that brings them instead of breaking the docs' build.
#![cfg_attr(
    any(feature = "file-store", not(target_os = "linux")),
    doc = "",
    doc = " [`lock_dir`]: lock_dir",
    doc = " [`lock_files_renewed`]: lock_files_renewed"
)]
#![cfg_attr(
    not(any(feature = "file-store", not(target_os = "linux"))),
    doc = "",
    doc = " [`lock_dir`]: crate#cargo-features",
    doc = " [`lock_files_renewed`]: crate#cargo-features"
)]

// The folders, each using only those above it here (and the small files at the top: `env`,
// `error`, `warn`, `background`): `ports/` (where the pool's ports come from), `store/` (the
// claims between processes: `kernel/` on Linux, `files/` elsewhere and with the `file-store`
// feature), `claim/` (taking one port: claim, bind checks, hosts, protocols), `pool/` (the
// queue, its order, waiting, statistics), `request/` (what users hold and ask with:
// `PortRequest`, owners, bound sockets); `introspect` reads all of it, and `private.rs`
// serves the macro's expansion.
mod background;
mod claim;
mod env;
mod error;
mod introspect;
mod pool;
mod ports;
mod request;
mod store;
mod warn;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use claim::family::AddressFamily;
pub use env::ENVIRONMENT;
pub use error::Error;
pub use introspect::{
    PortHolder, held_tcp_ports, is_tcp_port_held, log_port_allocation_stats, port_allocation_stats,
    port_reservations, tcp_port_holders, udp_port_holders,
};
pub use pool::stats::PortAllocationStats;
pub use pool::timeout::{DEFAULT_ALLOCATION_TIMEOUT, allocation_timeout, set_allocation_timeout};
pub use pool::waiting::process_command_line;
pub use ports::browsers::DEFAULT_EXCLUDED_TCP_PORTS;
pub use ports::ephemeral::ephemeral_tcp_port_range;
pub use ports::exclude::{exclude_tcp_ports, excluded_tcp_ports};
pub use ports::server_ports::{
    MAX_PORTS_FILE_BYTES, ServerPorts, server_tcp_ports, server_tcp_ports_with_source,
};
pub use ports::source::PortSource;
pub use ports::spec::format_ports_spec;
pub use request::PortRequest;
pub use request::listener::{HeldTcpListener, HeldUdpSocket};
pub use request::owner::{DEFAULT_HOSTS, TcpPortOwner};
pub use request::pick::pick_unused_port;
pub use request::receive::ReceivePorts;
pub use request::udp::UdpPortOwner;
#[cfg(any(feature = "file-store", not(target_os = "linux")))]
pub use store::files::{lock_dir, lock_files_renewed};
pub use store::{StoreKind, store_description, store_kind};

/// Gives a test function `n` ports of its own: `#[with_ports(n)]`.
///
/// The attribute allocates `n` ports with [`TcpPortOwner::many`] (a [`PortRequest`] when it
/// has request options) when the test starts, passes
/// them to one of the function's parameters, which disappears from the signature, and keeps
/// them held until the body ends: when it returns, returns `Err`, or panics. No other test, in
/// this process or another, gets these ports meanwhile, so tests running in parallel never
/// start servers on the same port.
///
/// ```test_harness
/// use allocport_core::with_ports;
/// use std::net::TcpListener;
///
/// #[with_ports(2)]
/// #[test]
/// fn two_servers(ports: [u16; 2]) {
///     let a = TcpListener::bind(("127.0.0.1", ports[0])).unwrap();
///     let b = TcpListener::bind(("127.0.0.1", ports[1])).unwrap();
///     // ... run the code under test against a and b
/// }
///
/// #[with_ports(1)] // no test attribute: the macro adds #[test]
/// fn one_server(port: u16) {
///     let server = TcpListener::bind(("127.0.0.1", port)).unwrap();
/// }
///
/// #[with_ports(2)]
/// #[test]
/// #[should_panic(expected = "boom")]
/// fn panics(ports: [u16; 2]) {
///     panic!("boom") // the ports are released as the test unwinds
/// }
///
/// #[with_ports(2)]
/// #[test]
/// fn fallible(ports: [u16; 2]) -> Result<(), std::io::Error> {
///     let server = TcpListener::bind(("127.0.0.1", ports[0]))?;
///     Ok(())
/// }
/// ```
///
/// Async tests and rstest cases work the same way (these need `tokio` with the `macros` and
/// `rt` features, and `rstest`, as dev-dependencies; the workspace's `tests/tests/macros_forms.rs`
/// builds and runs both):
///
/// ```ignore
/// use allocport_core::with_ports;
///
/// #[with_ports(3)]
/// #[tokio::test]
/// async fn in_async(ports: [u16; 3]) {
///     // held across every .await until the test's future completes
/// }
///
/// #[with_ports(2)]
/// #[rstest::rstest]
/// #[case(1)]
/// #[case(2)]
/// fn per_case(#[case] n: u32, ports: [u16; 2]) {
///     // each case allocates its own ports when it runs and releases them when it ends
/// }
/// ```
///
/// # Attribute order
///
/// Put `#[with_ports]` **above** `#[test]`, `#[tokio::test]`, `#[rstest]` and the like.
/// Attributes expand from the top, and those test attributes must see the function after
/// `#[with_ports]` has taken the ports parameter away. A test attribute is one whose last path
/// segment is `test` (`#[test]`, `#[tokio::test]`, `#[async_std::test]`, `#[test_log::test]`)
/// or `rstest`; only when there is none does the macro add `#[test]` itself (an `async fn`
/// without one is a compile error, as plain `#[test]` cannot run it). Placed below:
/// - `#[rstest]` (or a `#[case]` of it) copies `#[with_ports]` onto each generated case, which
///   has no parameter left: the macro reports that no parameter can receive the ports and
///   states this ordering rule;
/// - `#[test]` reports "functions used as tests can not have any arguments" before
///   `#[with_ports]` runs;
/// - `#[tokio::test]` happens to work (the ports are allocated before the runtime starts and
///   held until it ends), but do not rely on it.
///
/// # The receiving parameter
///
/// Which parameter: the one `param = name` names; else the function's only parameter without
/// attributes of its own (rstest's `#[case]`, `#[values(..)]`, `#[future]` are never taken);
/// else, among several (rstest fixtures beside the ports), the one named `port` or `ports`.
/// Any irrefutable pattern works: `[http, admin]: [u16; 2]`.
///
/// Its type is read by the compiler, not by the macro: the ports are converted through
/// [`ReceivePorts`], so any spelling or alias of a supported type works (`net::SocketAddr`
/// after `use std::net;`, `type Pair = [u16; 2]`). One port comes as `u16`, as a
/// `SocketAddr` (the loopback address of the `family`) or as its owner ([`TcpPortOwner`],
/// [`UdpPortOwner`] with `udp`); with `listen`, as the bound `TcpListener` / `UdpSocket` or
/// the [`HeldTcpListener`] / [`HeldUdpSocket`]; `n` ports as an array `[T; n]` of these.
/// Another type, or an array of another length, is a type error naming `ReceivePorts`.
///
/// # Options
///
/// | option | meaning | default |
/// |---|---|---|
/// | `param = name` | the parameter that receives the ports | see above |
/// | `hosts = ["localhost", "::1"]` | the hosts each port must be free on, as in [`TcpPortOwner::with_hosts`] | [`DEFAULT_HOSTS`] |
/// | `family = ipv4` or `ipv6` | the [`AddressFamily`] of the hosts | `ipv4` |
/// | `offsets = [0, 10000]` | the ports come in groups `p + o`, as [`PortRequest::offsets`]; `n` is a multiple of the group size | one port a group |
/// | `consecutive` | the `n` ports are one block of consecutive ports | |
/// | `exact = 6379` | that port (the first of its group), waiting while another test holds it, as [`PortRequest::exact`] | |
/// | `strict` | no port in TIME_WAIT, for a server that binds without `SO_REUSEADDR` ([`PortRequest::strict`]) | |
/// | `crate = path` | where allocport-core is, when `Cargo.toml` renames it (`crate = my_ports` or, as tokio writes it, `crate = "my_ports"`) | `::allocport_core` |
/// | `udp` | UDP ports, as [`UdpPortOwner::many`] holds them (with the options above, as [`PortRequest::allocate_udp`]) | TCP |
/// | `listen` | bound sockets instead of numbers: `[TcpListener; n]` (or `TcpListener`), bound on the one host of `hosts`, as [`HeldTcpListener::many`]; with `udp`, `[UdpSocket; n]`; with `offsets`, `consecutive` or `exact`, the request's ports, as [`PortRequest::listen`] and [`PortRequest::bind_udp`] bind them | numbers; `hosts = ["localhost"]` |
///
/// ```test_harness
/// use allocport_core::with_ports;
///
/// #[with_ports(2, param = servers, hosts = ["localhost"])]
/// #[test]
/// fn named(servers: [u16; 2]) {}
///
/// #[with_ports(1, hosts = ["::1"], family = ipv6)]
/// #[test]
/// fn over_ipv6(port: u16) {}
///
/// #[with_ports(3, consecutive, hosts = ["localhost"])]
/// #[test]
/// fn a_block(addrs: [std::net::SocketAddr; 3]) {
///     assert_eq!(addrs[2].port(), addrs[0].port() + 2);
/// }
///
/// #[with_ports(2, udp)]
/// #[test]
/// fn two_udp_ports(ports: [u16; 2]) {
///     let socket = std::net::UdpSocket::bind(("127.0.0.1", ports[0])).unwrap();
/// }
///
/// #[with_ports(2, listen)] // bound on 127.0.0.1: no window between check and bind
/// #[test]
/// fn two_listeners(listeners: [std::net::TcpListener; 2]) {
///     let addr = listeners[0].local_addr().unwrap();
/// }
///
/// #[with_ports(1, udp, listen)]
/// #[test]
/// fn one_udp_socket(socket: std::net::UdpSocket) {}
///
/// #[with_ports(2, udp, consecutive, hosts = ["localhost"])]
/// #[test]
/// fn rtp_and_rtcp(ports: [u16; 2]) {
///     assert_eq!(ports[1], ports[0] + 1);
/// }
/// ```
///
/// The ports of `listen` stay held until the test ends, even if the sockets are moved into a
/// server thread or dropped earlier.
///
/// # Failures
///
/// A misuse is a compile error pointing at the offending token, never a panic of the macro:
/// `n` missing, zero, negative, not an integer literal or larger than 65535 (every port
/// `PYSYS_PORTS` can name; a pool smaller than `n` fails when the test runs); no parameter
/// that can receive the ports, or several and none named; an unknown option or an option with a value of the wrong type; request options
/// that contradict each other or `n` (`offsets` with `consecutive`, `n` not a multiple of the
/// offsets, `exact` with more ports than one group, `strict` with `udp` or `listen`, where it
/// has no effect); the attribute on something other than a
/// function. One build reports all of them. A receiving type that does not fit `n` (an
/// array of another length, `u16` for two ports) is then a type error of the test's body.
///
/// ```compile_fail
/// use allocport_core::with_ports;
///
/// #[with_ports(2, param = servers)]
/// #[test]
/// fn misnamed(ports: [u16; 2]) {} // error: `misnamed` has no parameter named `servers`
/// ```
///
/// When the ports cannot be allocated (a bad `PYSYS_PORTS`, or every port still held when the
/// [allocation timeout](set_allocation_timeout) passes), the test fails with a message naming
/// the test, `n` and the allocation error, at the line of its `#[with_ports(n)]`. Allocation
/// may wait for other tests' ports; in an async test it blocks the runtime's thread while it
/// waits, which happens once, before the test's own code runs.
///
/// # Fixtures
///
/// Ports follow the test: never hold a [`TcpPortOwner`] in an rstest `#[once]` fixture (or any
/// `static`). Such a value is never dropped, so its ports would not return to the pool until
/// the process exits.
#[cfg(feature = "macros")]
pub use allocport_macros::with_ports;
