//! # allocport-fixtures: rstest fixtures that hand tests held TCP server ports
//!
//! Each fixture allocates from [`allocport_core`]'s pool, so no two tests, threads or
//! processes of the user hold the same port at once, and hands the test a [`TcpPortOwner`]
//! by value: the port returns to the pool when the test ends, whether it passes or panics.
//! Everything a test needs is re-exported here; the test crate depends on `rstest` itself
//! (its macros look for it by name).
//!
//! ```
//! use allocport_fixtures::{TcpPortOwner, tcp_port, tcp_ports};
//! use rstest::rstest;
//!
//! #[rstest]
//! fn one(tcp_port: TcpPortOwner) {}                          // a held port
//!
//! #[rstest]
//! fn many(#[with(3)] tcp_ports: Vec<TcpPortOwner>) {}        // 3 held ports, distinct
//!
//! #[rstest]
//! fn two(#[from(tcp_port)] a: TcpPortOwner, #[from(tcp_port)] b: TcpPortOwner) {
//!     assert_ne!(a.port(), b.port());                        // two fixtures, two ports
//! }
//!
//! #[rstest]
//! #[case(1)]
//! #[case(2)]
//! fn cases(#[case] n: u32, tcp_port: TcpPortOwner) {}        // each case its own port
//! ```
//!
//! ## The fixtures
//!
//! | fixture | gives | checked free on |
//! |---|---|---|
//! | [`tcp_port`] | [`TcpPortOwner`] | every IPv4 interface and localhost (PySys's default hosts) |
//! | [`tcp_ports`] (`#[with(n)]`, default 2) | `Vec<TcpPortOwner>`, `n` distinct ports, allocated all or none | as `tcp_port` |
//! | [`localhost_tcp_port`] | [`TcpPortOwner`] | `127.0.0.1` only |
//! | [`ipv6_tcp_port`] | [`TcpPortOwner`] | `::1` only |
//! | [`tcp_listener`] | [`HeldTcpListener`]: a `std::net::TcpListener` bound on `127.0.0.1` on a held port | `127.0.0.1` |
//! | [`udp_port`] | [`UdpPortOwner`]: a held UDP port | every IPv4 interface and localhost |
//! | [`requested_tcp_ports`] (`#[with(request)]`, default one port) | `Vec<TcpPortOwner>`: what a [`PortRequest`] asks for (related, exact or strict ports) | the request's hosts |
//!
//! Use `#[from(fixture)]` to give a parameter another name, or to take two ports from the
//! same fixture. Where a fixture does not fit (other hosts, a computed count), call
//! [`TcpPortOwner::with_hosts`] or [`TcpPortOwner::many`] in the test or in a fixture of your
//! own; the owner's lifetime rules are the same.
//!
//! A fixture that cannot allocate (a bad `PYSYS_PORTS`, every port held until
//! `ALLOCPORT_TIMEOUT_SECS` passes) fails the test with a message naming the fixture and the
//! error, e.g. ``allocport fixture `tcp_port` could not get its TCP port(s): PYSYS_PORTS:
//! "abc" is not a port number``. The environment variables are those of [`allocport_core`].
//!
//! ## Async tests
//!
//! The fixtures are plain functions, so they work unchanged under `#[tokio::test]` (put
//! `#[rstest]` first). Allocation blocks the thread only while every port is held.
//!
//! ```
//! use allocport_fixtures::{TcpPortOwner, tcp_port};
//! use rstest::rstest;
//!
//! #[rstest]
//! #[tokio::test]
//! async fn serves(tcp_port: TcpPortOwner) {
//!     let listener = tokio::net::TcpListener::bind(("127.0.0.1", tcp_port.port())).await.unwrap();
//!     // ...
//! }
//! ```
//!
//! ## When the port is released
//!
//! When the owner is dropped: at the end of the test function, unless the test moved it
//! somewhere longer-lived (a `static`, a leaked box, a thread that outlives the test). A
//! server started on the port should be stopped before the test returns, or the next holder
//! of the port may find it still bound.
//!
//! ## Pitfall: never hold a port in a `#[once]` fixture
//!
//! rstest's `#[once]` keeps the fixture's value in a `static` and **never drops it**, so a
//! port allocated there is held until the test binary exits. Under `cargo test` that is the
//! whole run: one port of the pool is gone for every later test, and with a small
//! `PYSYS_PORTS` pool later tests wait and time out. Do not write this:
//!
//! ```
//! # use allocport_fixtures::TcpPortOwner;
//! # use rstest::fixture;
//! #[fixture]
//! #[once]
//! fn shared_port() -> TcpPortOwner {                // held until the process exits
//!     TcpPortOwner::new().unwrap()
//! }
//! ```
//!
//! ## Sharing one port across the cases of a test, on purpose
//!
//! Each `#[case]` is its own test and gets its own port, which is what tests usually want.
//! When the cases must reach the same server port, there are two ways.
//!
//! Allocate in one test and loop over the cases: the port is shared by construction, and
//! released when that test ends, under `cargo test` and `cargo nextest` alike.
//!
//! ```
//! use allocport_fixtures::{TcpPortOwner, tcp_port};
//! use rstest::rstest;
//!
//! #[rstest]
//! fn every_request_on_one_server(tcp_port: TcpPortOwner) {
//!     let server = std::net::TcpListener::bind(("127.0.0.1", tcp_port.port())).unwrap();
//!     for request in ["GET /", "GET /health", "POST /echo"] {
//!         // connect to tcp_port.port() and send `request`
//!     }
//! }
//! ```
//!
//! Or hold an owner in a `static` knowingly, as `#[once]` would, but visibly: the port is
//! held until the process exits. Under cargo-nextest every case runs in a process of its own,
//! so each case still allocates its own port there; the sharing only happens under
//! `cargo test`.
//!
//! ```
//! use allocport_fixtures::TcpPortOwner;
//! use rstest::rstest;
//! use std::sync::LazyLock;
//!
//! // Held on purpose for the life of this test process, by every case below.
//! static SHARED: LazyLock<TcpPortOwner> = LazyLock::new(|| {
//!     TcpPortOwner::new().unwrap_or_else(|e| panic!("SHARED port: {e}"))
//! });
//!
//! #[rstest]
//! #[case("GET /")]
//! #[case("GET /health")]
//! fn request(#[case] request: &str) {
//!     let port = SHARED.port();
//!     // connect to port and send `request`
//! }
//! # assert!(SHARED.port() > 0);
//! ```

#![warn(missing_docs)]

mod fixtures;
mod request;

pub use allocport_core::{
    AddressFamily, DEFAULT_HOSTS, Error, HeldTcpListener, HeldUdpSocket, PortRequest, TcpPortOwner,
    UdpPortOwner,
};
pub use fixtures::{
    ipv6_tcp_port, localhost_tcp_port, tcp_listener, tcp_port, tcp_ports, udp_port,
};
pub use request::requested_tcp_ports;

// Compiles the README's examples as doctests, so the README cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
