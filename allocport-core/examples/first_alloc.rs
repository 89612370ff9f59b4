//! A test process in miniature, for the benchmarks' fresh-process figures (they build it in the
//! debug profile, as cargo-nextest runs tests, and start it many times). With no argument it
//! times its first allocation (`TcpPortOwner::new()`: the pool's start-up, the lock file and
//! the two bind checks), then the same two bind checks alone, and prints
//! `first_ns=.. checks_ns=.. threads=..` (its threads while it holds the port). With
//! `suite-allocport` or `suite-port0` it does what one test
//! of a server suite does: takes two ports from allocport (or from the OS, port 0) and binds a
//! listener on each.

use std::net::TcpListener;
use std::time::Instant;

use allocport_core::{AddressFamily, DEFAULT_HOSTS, TcpPortOwner};
use socket2::{Domain, Protocol, Socket, Type};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::args().nth(1).as_deref() {
        None | Some("first") => first(),
        Some("suite-allocport") => {
            let owners = TcpPortOwner::many(2, &DEFAULT_HOSTS, AddressFamily::Ipv4)?;
            let _servers = owners
                .iter()
                .map(|o| TcpListener::bind(("127.0.0.1", o.port())))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(())
        }
        Some("suite-port0") => {
            let _servers = (0..2)
                .map(|_| TcpListener::bind(("127.0.0.1", 0)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(())
        }
        Some(other) => Err(format!("unknown mode {other:?}").into()),
    }
}

fn first() -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let owner = TcpPortOwner::new()?;
    let first = start.elapsed();
    // allocport's threads, if it started any for a port it did not wait for.
    let threads = std::fs::read_dir("/proc/self/task").map_or(0, Iterator::count);
    let port = owner.port();
    drop(owner);
    // The floor: what the allocation had to do anyway, two bind checks ("" and localhost).
    let start = Instant::now();
    for ip in ["0.0.0.0", "127.0.0.1"] {
        let addr: std::net::SocketAddr = format!("{ip}:{port}").parse()?;
        let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
        socket.bind(&addr.into())?;
    }
    let checks = start.elapsed();
    println!(
        "first_ns={} checks_ns={} threads={threads}",
        first.as_nanos(),
        checks.as_nanos()
    );
    Ok(())
}
