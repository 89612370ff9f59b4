//! A helper process for the UDP tests: holds, tries or churns UDP ports (or ports held for
//! TCP and UDP at once) as told, and reports on stdout.
//!
//! - `hold udp|dual N`: allocates N ports one at a time, prints `ports a,b,...`, holds them
//!   until stdin closes.
//! - `try udp|dual|tcp`: allocates one port checked on `127.0.0.1`, prints `ok P` or
//!   `err MESSAGE`.
//! - `churn THREADS MILLIS`: threads allocate UDP ports, bind a UDP socket on `0.0.0.0`
//!   without `SO_REUSEADDR`, hold it briefly and release, until MILLIS pass; prints
//!   `allocations A bind_failures F double_holds D` (D: ports handed to two threads at once).

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, UdpSocket};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use allocport_core::{AddressFamily, DEFAULT_HOSTS, Error, TcpPortOwner, UdpPortOwner};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let code = match args.as_slice() {
        ["hold", kind, n] => hold(kind, n.parse().expect("N")),
        ["try", kind] => try_one(kind),
        ["churn", threads, millis] => churn(
            threads.parse().expect("THREADS"),
            millis.parse().expect("MILLIS"),
        ),
        _ => {
            eprintln!("allocport-udp-probe: unknown arguments {args:?}");
            2
        }
    };
    std::process::exit(code);
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .expect("stdout");
}

/// Either kind of owner, kept alive for as long as the probe holds it.
enum Held {
    Udp(UdpPortOwner),
    Tcp(TcpPortOwner),
}

impl Held {
    fn port(&self) -> u16 {
        match self {
            Held::Udp(owner) => owner.port(),
            Held::Tcp(owner) => owner.port(),
        }
    }
}

fn allocate(kind: &str, hosts: &[&str]) -> Result<Held, Error> {
    match kind {
        "udp" => UdpPortOwner::with_hosts(hosts, AddressFamily::Ipv4).map(Held::Udp),
        "dual" => TcpPortOwner::with_udp(hosts, AddressFamily::Ipv4).map(Held::Tcp),
        "tcp" => TcpPortOwner::with_hosts(hosts, AddressFamily::Ipv4).map(Held::Tcp),
        other => panic!("unknown kind {other:?}"),
    }
}

fn hold(kind: &str, n: usize) -> i32 {
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        match allocate(kind, &DEFAULT_HOSTS) {
            Ok(owner) => held.push(owner),
            Err(e) => {
                say(&format!("err {e}"));
                return 1;
            }
        }
    }
    let ports: Vec<String> = held.iter().map(|h| h.port().to_string()).collect();
    say(&format!("ports {}", ports.join(",")));
    // Held until the test closes stdin (or kills this process).
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    0
}

fn try_one(kind: &str) -> i32 {
    match allocate(kind, &["127.0.0.1"]) {
        Ok(owner) => {
            say(&format!("ok {}", owner.port()));
            0
        }
        Err(e) => {
            say(&format!("err {e}"));
            1
        }
    }
}

fn churn(threads: usize, millis: u64) -> i32 {
    let deadline = Instant::now() + Duration::from_millis(millis);
    let allocations = AtomicU64::new(0);
    let failures = AtomicU64::new(0);
    let double_holds = AtomicU64::new(0);
    // The ports this process's threads hold now, kept beside the pool's own bookkeeping.
    let held = Mutex::new(HashSet::new());
    std::thread::scope(|s| {
        for t in 0..threads {
            let (allocations, failures, double_holds, held) =
                (&allocations, &failures, &double_holds, &held);
            s.spawn(move || {
                let mut i = 0u64;
                while Instant::now() < deadline {
                    let owner =
                        UdpPortOwner::new().unwrap_or_else(|e| panic!("allocation failed: {e}"));
                    if !held.lock().unwrap().insert(owner.port()) {
                        eprintln!("allocport-udp-probe: port {owner} handed to two threads");
                        double_holds.fetch_add(1, Ordering::Relaxed);
                    }
                    // std's UdpSocket sets no SO_REUSEADDR: the bind fails if anyone has it.
                    match UdpSocket::bind((Ipv4Addr::UNSPECIFIED, owner.port())) {
                        Ok(socket) => {
                            std::thread::sleep(Duration::from_micros(
                                (i * 37 + t as u64 * 101) % 500,
                            ));
                            drop(socket);
                        }
                        Err(e) => {
                            eprintln!("allocport-udp-probe: bind of held port {owner} failed: {e}");
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    held.lock().unwrap().remove(&owner.port());
                    drop(owner);
                    allocations.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            });
        }
    });
    say(&format!(
        "allocations {} bind_failures {} double_holds {}",
        allocations.load(Ordering::Relaxed),
        failures.load(Ordering::Relaxed),
        double_holds.load(Ordering::Relaxed)
    ));
    0
}
