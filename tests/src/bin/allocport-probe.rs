//! A helper process for the integration tests: holds, tries or churns ports as told, and
//! reports on stdout, so tests can prove exclusion between processes.
//!
//! - `hold N`: allocates N ports one at a time, prints `ports a,b,...`, holds them until stdin
//!   closes.
//! - `try [HOST...]`: allocates one port (default hosts if none given), prints `ok P` or
//!   `err MESSAGE`.
//! - `try-many N`: allocates N ports all or none, prints `ports a,b,...` or `err MESSAGE`.
//! - `churn THREADS MILLIS`: threads allocate, bind a listener without SO_REUSEADDR, hold it
//!   briefly and release, until MILLIS pass; prints `allocations A bind_failures F
//!   double_holds D` (D: ports handed to two threads of this process at once), then
//!   `renewals R late L` (R: lock files found deleted or replaced and made again; L:
//!   allocations made in the last quarter of the time).
//! - `holders`: prints `holders p:pid,...`, the ports other processes hold, as
//!   `allocport status` reads them, or `err MESSAGE`.
//! - `race-first THREADS`: THREADS threads make this process's first allocations at the same
//!   instant, then it prints `ports a,b,...` and holds them until stdin closes.
//! - `exhaust`: holds the whole pool, checks a further allocation times out with the
//!   configured timeout, then that releasing one port wakes a waiting thread; prints
//!   `timeout_ms T message M` and `woke_us W`.
//! - `exclude-after`: allocates and releases a port, excludes it, then takes the rest of
//!   the pool; prints `excluded P then ports a,b,... then MESSAGE` (the error for one more).
//! - `wait-cpu`: holds all but one port of the pool, then asks for two with a 1 s timeout;
//!   prints `cpu_ms C message M`: the CPU time the process spent while it waited.
//! - `repeat N`: N times, reads the pool's ports (as a user might) and allocates one port
//!   and drops it; prints `ports a,b,...` (the ports it got, in order) or `err MESSAGE`.
//! - `setuid-then-repeat UID GID N` (Unix, run as root): reads the pool's ports, then drops to
//!   UID/GID, then does `repeat N`: a process that lost its privileges after it started, so
//!   the OS refuses ports the pool was built with.
//! - `wait-threads T SECS`: T threads each ask for one port with a SECS timeout (another process
//!   holds the pool); prints `cpu_ms C timeouts N`: the CPU time the process spent while they
//!   waited, and how many timed out.
//! - `hold-and-bind N NOFILE [HARD]`: lowers the soft open-file limit to NOFILE (0: leave it)
//!   and the hard one to HARD (default: leave it), holds N
//!   ports, checks they are distinct and each bindable on 127.0.0.1, prints `ok N`.
//!
//! Each exits through `std::process::exit`; `return COMMAND...` runs COMMAND and returns its
//! exit code from `main` instead (the two exits differ on Windows).
//!
//! UDP ports, or ports held for TCP and UDP at once (KIND is `udp`, `dual` or `tcp`):
//!
//! - `udp hold KIND N`: as `hold N`, for KIND.
//! - `udp try KIND`: allocates one port of KIND checked on `127.0.0.1`, prints `ok P` or
//!   `err MESSAGE`.
//! - `churn-groups THREADS MILLIS`: as `churn`, each thread asking in turn for one port, two
//!   consecutive ports and a port with its `+10` partner, every port bound while held.
//! - `udp churn THREADS MILLIS`: as `churn`, with UDP ports and a UDP socket bound on
//!   `0.0.0.0` without `SO_REUSEADDR`; prints only the first line.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use allocport_core::{
    AddressFamily, DEFAULT_HOSTS, Error, PortRequest, TcpPortOwner, UdpPortOwner,
};
use allocport_testkit::cpu_time;
use socket2::{Domain, Socket, Type};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (returns, args) = match args.as_slice() {
        ["return", command @ ..] => (true, command),
        command => (false, command),
    };
    let code = match args {
        ["hold", n] => hold("tcp", n.parse().expect("N")),
        ["udp", "hold", kind, n] => hold(kind, n.parse().expect("N")),
        ["udp", "try", kind] => try_one(allocate(kind, &["127.0.0.1"])),
        ["udp", "churn", threads, millis] => udp_churn(
            threads.parse().expect("THREADS"),
            millis.parse().expect("MILLIS"),
        ),
        ["try", hosts @ ..] => try_one(allocate("tcp", or_default(hosts))),
        ["try-many", n] => try_many(n.parse().expect("N")),
        ["churn", threads, millis] => churn(
            threads.parse().expect("THREADS"),
            millis.parse().expect("MILLIS"),
        ),
        ["churn-groups", threads, millis] => churn_groups(
            threads.parse().expect("THREADS"),
            millis.parse().expect("MILLIS"),
        ),
        ["exhaust"] => exhaust(),
        ["holders"] => holders(),
        ["race-first", threads] => race_first(threads.parse().expect("THREADS")),
        ["exclude-after"] => exclude_after(),
        ["wait-cpu"] => wait_cpu(),
        ["repeat", n] => repeat(n.parse().expect("N")),
        #[cfg(unix)]
        ["setuid-then-repeat", uid, gid, n] => setuid_then_repeat(
            uid.parse().expect("UID"),
            gid.parse().expect("GID"),
            n.parse().expect("N"),
        ),
        ["wait-threads", threads, secs] => wait_threads(
            threads.parse().expect("THREADS"),
            Duration::from_secs_f64(secs.parse().expect("SECS")),
        ),
        ["hold-and-bind", n, nofile] => {
            hold_and_bind(n.parse().expect("N"), nofile.parse().expect("NOFILE"), None)
        }
        ["hold-and-bind", n, nofile, hard] => hold_and_bind(
            n.parse().expect("N"),
            nofile.parse().expect("NOFILE"),
            Some(hard.parse().expect("HARD")),
        ),
        _ => {
            eprintln!("allocport-probe: unknown arguments {args:?}");
            2
        }
    };
    if returns {
        ExitCode::from(u8::try_from(code).expect("an exit code of 0 to 255"))
    } else {
        std::process::exit(code)
    }
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .expect("stdout");
}

fn ports_line(owners: &[TcpPortOwner]) -> String {
    let ports: Vec<String> = owners.iter().map(ToString::to_string).collect();
    format!("ports {}", ports.join(","))
}

fn report_err(e: &Error) -> i32 {
    say(&format!("err {e}"));
    1
}

/// Either kind of owner, kept alive for as long as the probe holds it.
enum Held {
    Tcp(TcpPortOwner),
    Udp(UdpPortOwner),
}

impl Held {
    fn port(&self) -> u16 {
        match self {
            Held::Tcp(owner) => owner.port(),
            Held::Udp(owner) => owner.port(),
        }
    }
}

/// One port of `kind` (`tcp`, `udp`, or `dual`: TCP and UDP at once), checked on `hosts`.
fn allocate(kind: &str, hosts: &[&str]) -> Result<Held, Error> {
    match kind {
        "tcp" => TcpPortOwner::with_hosts(hosts, AddressFamily::Ipv4).map(Held::Tcp),
        "udp" => UdpPortOwner::with_hosts(hosts, AddressFamily::Ipv4).map(Held::Udp),
        "dual" => TcpPortOwner::with_udp(hosts, AddressFamily::Ipv4).map(Held::Tcp),
        other => panic!("unknown kind {other:?}"),
    }
}

/// `hosts`, or PySys's default hosts if none are given.
fn or_default<'a>(hosts: &'a [&'a str]) -> &'a [&'a str] {
    if hosts.is_empty() {
        &DEFAULT_HOSTS[..]
    } else {
        hosts
    }
}

fn hold(kind: &str, n: usize) -> i32 {
    let mut owners = Vec::with_capacity(n);
    for _ in 0..n {
        match allocate(kind, &DEFAULT_HOSTS) {
            Ok(owner) => owners.push(owner),
            Err(e) => return report_err(&e),
        }
    }
    let ports: Vec<String> = owners.iter().map(|o| o.port().to_string()).collect();
    say(&format!("ports {}", ports.join(",")));
    // Held until the test closes stdin (or kills this process).
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    0
}

fn try_one(allocated: Result<Held, Error>) -> i32 {
    match allocated {
        Ok(owner) => {
            say(&format!("ok {}", owner.port()));
            0
        }
        Err(e) => report_err(&e),
    }
}

fn try_many(n: usize) -> i32 {
    match TcpPortOwner::many(n, &DEFAULT_HOSTS, AddressFamily::Ipv4) {
        Ok(owners) => {
            say(&ports_line(&owners));
            0
        }
        Err(e) => report_err(&e),
    }
}

fn repeat(n: usize) -> i32 {
    let mut got = Vec::with_capacity(n);
    for _ in 0..n {
        if let Err(e) = allocport_core::server_tcp_ports() {
            return report_err(&e);
        }
        match TcpPortOwner::new() {
            Ok(owner) => got.push(owner.port().to_string()),
            Err(e) => return report_err(&e),
        }
    }
    say(&format!("ports {}", got.join(",")));
    0
}

#[cfg(unix)]
fn setuid_then_repeat(uid: libc::uid_t, gid: libc::gid_t, n: usize) -> i32 {
    if let Err(e) = allocport_core::server_tcp_ports() {
        return report_err(&e);
    }
    // SAFETY: plain system calls on this single-threaded process's credentials; each result
    // is checked.
    let dropped = unsafe {
        libc::setgroups(0, std::ptr::null()) == 0
            && libc::setgid(gid) == 0
            && libc::setuid(uid) == 0
    };
    if !dropped {
        say(&format!(
            "err cannot drop privileges: {}",
            std::io::Error::last_os_error()
        ));
        return 1;
    }
    repeat(n)
}

/// Binds like a server that does not ask for address reuse: fails if anyone else has the port.
fn strict_bind(port: u16) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())?;
    socket.listen(8)?;
    Ok(socket)
}

fn holders() -> i32 {
    match allocport_core::tcp_port_holders() {
        Ok(holders) => {
            let list: Vec<String> = holders
                .iter()
                .map(|h| format!("{}:{}", h.port, h.pid.map_or(0, |p| p)))
                .collect();
            say(&format!("holders {}", list.join(",")));
            0
        }
        Err(e) => report_err(&e),
    }
}

fn churn(threads: usize, millis: u64) -> i32 {
    let counts = churn_with(threads, millis, "tcp", strict_bind);
    say(&counts.line());
    say(&format!(
        "renewals {} late {}",
        allocport_core::lock_files_renewed(),
        counts.late
    ));
    0
}

fn udp_churn(threads: usize, millis: u64) -> i32 {
    // std's UdpSocket sets no SO_REUSEADDR: the bind fails if anyone has the port.
    let counts = churn_with(threads, millis, "udp", |port| {
        UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port))
    });
    say(&counts.line());
    0
}

/// What the threads of a churn did, summed.
struct Churned {
    allocations: u64,
    bind_failures: u64,
    /// Ports handed to two threads of this process at once.
    double_holds: u64,
    /// Allocations made in the last quarter of the time.
    late: u64,
}

impl Churned {
    fn line(&self) -> String {
        format!(
            "allocations {} bind_failures {} double_holds {}",
            self.allocations, self.bind_failures, self.double_holds
        )
    }
}

/// `threads` threads allocate a port of `kind`, `bind` it, hold it briefly and release it,
/// until `millis` pass.
fn churn_with<S>(
    threads: usize,
    millis: u64,
    kind: &str,
    bind: impl Fn(u16) -> std::io::Result<S> + Sync,
) -> Churned {
    let deadline = Instant::now() + Duration::from_millis(millis);
    let late_from = deadline - Duration::from_millis(millis / 4);
    let late = AtomicU64::new(0);
    let allocations = AtomicU64::new(0);
    let failures = AtomicU64::new(0);
    let double_holds = AtomicU64::new(0);
    // The ports this process's threads hold now, kept beside the pool's own bookkeeping.
    let held = Mutex::new(HashSet::new());
    std::thread::scope(|s| {
        for t in 0..threads {
            let (allocations, failures, double_holds, held, late, bind) =
                (&allocations, &failures, &double_holds, &held, &late, &bind);
            s.spawn(move || {
                let mut i = 0u64;
                while Instant::now() < deadline {
                    let owner = allocate(kind, &DEFAULT_HOSTS)
                        .unwrap_or_else(|e| panic!("allocation failed: {e}"));
                    let port = owner.port();
                    if !held.lock().unwrap().insert(port) {
                        eprintln!(
                            "allocport-probe: {kind} port {port} handed to two threads at once"
                        );
                        double_holds.fetch_add(1, Ordering::Relaxed);
                    }
                    match bind(port) {
                        Ok(socket) => {
                            // Hold briefly, varying by thread so holds overlap unevenly.
                            std::thread::sleep(Duration::from_micros(
                                (i * 37 + t as u64 * 101) % 500,
                            ));
                            drop(socket);
                        }
                        Err(e) => {
                            eprintln!(
                                "allocport-probe: bind of held {kind} port {port} failed: {e}"
                            );
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    held.lock().unwrap().remove(&port);
                    drop(owner);
                    allocations.fetch_add(1, Ordering::Relaxed);
                    if Instant::now() >= late_from {
                        late.fetch_add(1, Ordering::Relaxed);
                    }
                    i += 1;
                }
            });
        }
    });
    Churned {
        allocations: allocations.into_inner(),
        bind_failures: failures.into_inner(),
        double_holds: double_holds.into_inner(),
        late: late.into_inner(),
    }
}

/// Groups take fresh ports out of the pool's order while other threads take single ones from
/// it: the pool's bookkeeping of which ports are out is what keeps them apart within a process
/// (its lock files do not: they exclude other processes).
fn churn_groups(threads: usize, millis: u64) -> i32 {
    let deadline = Instant::now() + Duration::from_millis(millis);
    let (allocations, failures, double_holds) =
        (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let held = Mutex::new(HashSet::new());
    std::thread::scope(|s| {
        for t in 0..threads {
            let (allocations, failures, double_holds, held) =
                (&allocations, &failures, &double_holds, &held);
            s.spawn(move || {
                let mut i = 0u64;
                while Instant::now() < deadline {
                    let request = match (i + t as u64) % 3 {
                        0 => PortRequest::new(),
                        1 => PortRequest::new().consecutive(2),
                        _ => PortRequest::new().offsets(&[0, 10]),
                    };
                    let owners = request
                        .allocate()
                        .unwrap_or_else(|e| panic!("allocation failed: {e}"));
                    let ports: Vec<u16> = owners.iter().map(TcpPortOwner::port).collect();
                    for &port in &ports {
                        if !held.lock().unwrap().insert(port) {
                            eprintln!("allocport-probe: port {port} handed to two threads at once");
                            double_holds.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    let sockets: Vec<Socket> = ports
                        .iter()
                        .filter_map(|&port| {
                            strict_bind(port)
                                .inspect_err(|e| {
                                    eprintln!(
                                        "allocport-probe: bind of held port {port} failed: {e}"
                                    );
                                    failures.fetch_add(1, Ordering::Relaxed);
                                })
                                .ok()
                        })
                        .collect();
                    std::thread::sleep(Duration::from_micros((i * 37 + t as u64 * 101) % 300));
                    drop(sockets);
                    for port in &ports {
                        held.lock().unwrap().remove(port);
                    }
                    drop(owners);
                    allocations.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            });
        }
    });
    let counts = Churned {
        allocations: allocations.into_inner(),
        bind_failures: failures.into_inner(),
        double_holds: double_holds.into_inner(),
        late: 0,
    };
    say(&counts.line());
    0
}

fn race_first(threads: usize) -> i32 {
    let start = std::sync::Barrier::new(threads);
    let owners: Vec<TcpPortOwner> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    TcpPortOwner::new()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread").expect("allocation"))
            .collect()
    });
    say(&ports_line(&owners));
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    0
}

fn exhaust() -> i32 {
    let pool = allocport_core::server_tcp_ports().expect("pool").len();
    let mut owners =
        TcpPortOwner::many(pool, &DEFAULT_HOSTS, AddressFamily::Ipv4).expect("whole pool");

    allocport_core::set_allocation_timeout(Duration::from_millis(300));
    let start = Instant::now();
    let err = TcpPortOwner::new().expect_err("an allocation from an exhausted pool succeeded");
    say(&format!(
        "timeout_ms {} message {err}",
        start.elapsed().as_millis()
    ));

    allocport_core::set_allocation_timeout(Duration::from_secs(30));
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let owner = TcpPortOwner::new();
        tx.send(Instant::now()).expect("send");
        owner
    });
    if rx.recv_timeout(Duration::from_millis(200)).is_ok() {
        say("err the waiter got a port while the pool was exhausted");
        return 1;
    }
    let released = Instant::now();
    let freed = owners.pop().expect("one owner").port();
    let woke = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("waiter never woke");
    let got = waiter
        .join()
        .expect("waiter")
        .expect("waiter's allocation")
        .port();
    if got != freed {
        say(&format!("err waiter got {got}, not the released {freed}"));
        return 1;
    }
    say(&format!(
        "woke_us {}",
        woke.duration_since(released).as_micros()
    ));
    0
}

fn exclude_after() -> i32 {
    let port = TcpPortOwner::new().expect("first allocation").port();
    allocport_core::exclude_tcp_ports([port]);
    let rest = allocport_core::server_tcp_ports().expect("pool").len();
    let owners = TcpPortOwner::many(rest, &DEFAULT_HOSTS, AddressFamily::Ipv4)
        .expect("the rest of the pool");
    let more = TcpPortOwner::many(rest + 1, &DEFAULT_HOSTS, AddressFamily::Ipv4)
        .expect_err("more than the pool");
    let ports: Vec<String> = owners.iter().map(ToString::to_string).collect();
    say(&format!(
        "excluded {port} then ports {} then {more}",
        ports.join(",")
    ));
    0
}

fn wait_cpu() -> i32 {
    let pool = allocport_core::server_tcp_ports().expect("pool").len();
    let _held =
        TcpPortOwner::many(pool - 1, &DEFAULT_HOSTS, AddressFamily::Ipv4).expect("all but one");
    allocport_core::set_allocation_timeout(Duration::from_secs(1));
    let before = cpu_time();
    let err = TcpPortOwner::many(2, &DEFAULT_HOSTS, AddressFamily::Ipv4)
        .expect_err("two ports from one free");
    let spent = cpu_time().saturating_sub(before);
    say(&format!("cpu_ms {} message {err}", spent.as_millis()));
    0
}

fn wait_threads(threads: usize, timeout: Duration) -> i32 {
    allocport_core::set_allocation_timeout(timeout);
    let before = cpu_time();
    let timeouts = std::thread::scope(|scope| {
        let waiting: Vec<_> = (0..threads)
            .map(|_| scope.spawn(|| matches!(TcpPortOwner::new(), Err(Error::Timeout { .. }))))
            .collect();
        waiting
            .into_iter()
            .map(|t| t.join())
            .filter(|timed_out| matches!(timed_out, Ok(true)))
            .count()
    });
    let spent = cpu_time().saturating_sub(before);
    say(&format!("cpu_ms {} timeouts {timeouts}", spent.as_millis()));
    0
}

fn hold_and_bind(n: usize, nofile: u64, hard: Option<u64>) -> i32 {
    #[cfg(not(unix))]
    let _ = (nofile, hard); // Windows has no per-process descriptor limit to lower.
    #[cfg(unix)]
    if nofile > 0 {
        let hard = hard.unwrap_or(u64::MAX);
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `limit` is a valid rlimit for the duration of the call.
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
        limit.rlim_max = limit.rlim_max.min(hard as libc::rlim_t);
        limit.rlim_cur = (nofile as libc::rlim_t).min(limit.rlim_max);
        // SAFETY: `limit` is a valid rlimit for the duration of the call.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            say(&format!(
                "err setrlimit: {}",
                std::io::Error::last_os_error()
            ));
            return 1;
        }
    }
    let mut owners = Vec::with_capacity(n);
    for _ in 0..n {
        match TcpPortOwner::new() {
            Ok(owner) => owners.push(owner),
            Err(e) => return report_err(&e),
        }
    }
    let distinct: HashSet<u16> = owners.iter().map(TcpPortOwner::port).collect();
    if distinct.len() != n {
        say(&format!(
            "err only {} distinct ports among {n}",
            distinct.len()
        ));
        return 1;
    }
    for owner in &owners {
        if let Err(e) = std::net::TcpListener::bind(("127.0.0.1", owner.port())) {
            say(&format!(
                "err held port {owner} cannot be bound on 127.0.0.1: {e}"
            ));
            return 1;
        }
    }
    say(&format!("ok {n}"));
    0
}
