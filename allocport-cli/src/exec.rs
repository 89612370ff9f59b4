//! `allocport exec`: hold ports while a command runs.

use std::ffi::OsString;
use std::io;
use std::process::{Command, ExitStatus};
use std::time::Duration;

use std::net::{SocketAddr, TcpListener, UdpSocket};

use allocport_core::{
    AddressFamily, DEFAULT_HOSTS, Error, HeldTcpListener, HeldUdpSocket, PortRequest, TcpPortOwner,
    UdpPortOwner,
};

use crate::listen::{self, Socket};
use crate::placeholders::{self, join, substitute};
use crate::{ExecArgs, Failure};

/// allocport could not allocate the ports (as `env` and `timeout` use 125 for their own failures,
/// so they are not mistaken for the command's).
pub(crate) const EXIT_NO_PORTS: i32 = 125;
/// The command exists but cannot be run, as in shells.
pub(crate) const EXIT_CANNOT_RUN: i32 = 126;
/// The command is not found, as in shells.
pub(crate) const EXIT_NOT_FOUND: i32 = 127;

pub(crate) const AFTER_HELP: &str = "\
The command gets the ports as ALLOCPORT_PORTS=p1,p2,..., PORT_0=p1, PORT_1=p2, ..., and
in its arguments, where {port0}, {port1}, ... become single ports and {ports} the list.
The ports stay held (no other allocport user gets them) until the command exits or is
killed; SIGINT, SIGTERM and SIGHUP sent to allocport are passed on to the command.

Related and fixed ports: --offsets 0,10000 gives groups p, p+10000 (-n counts every port);
--consecutive makes the N ports one block; --exact PORT takes that port, waiting while
another allocport user holds it, so tests take turns on a server with a fixed port.

Ports in TIME_WAIT (left by a server that closed a connection first) are handed out only
when no fully free port is left: servers that bind with SO_REUSEADDR, as most do, can use
them at once. --strict refuses them, for servers that bind without it.

UDP: --udp holds UDP ports (each free for UDP on every host) instead of TCP ones, with every
option above but --strict (UDP has no TIME_WAIT); --tcp-and-udp holds each number for TCP
and UDP at once, free for both.

With --listen, the command also gets each port as a listening TCP socket (with --udp, a
bound UDP socket), already bound on the one host --hosts names (default: localhost), passed
as systemd socket activation passes them: descriptors 3, 4, ... in port order, LISTEN_FDS=N,
LISTEN_FDNAMES=port0:port1:..., and LISTEN_PID=the command's pid. Servers that accept such
sockets (the listenfd crate, sd_listen_fds, systemd-aware daemons) then never race anyone
for their port. With --tcp-and-udp each port comes as a listener and a UDP socket: the N
listeners first, then the N UDP sockets, named port0-udp, port1-udp, ... With --offsets,
--consecutive, --exact or --tcp-and-udp the request's own ports are bound (a port a program
outside allocport took first is an error, exit 125); --strict, which is about servers
binding without SO_REUSEADDR, has no use there. Unix only.

Examples:
  allocport exec -n 2 -- ./server --http {port0} --admin {port1}
  allocport exec --listen -- ./socket-activated-server
  allocport exec --listen --udp -n 2 --consecutive -- ./socket-activated-rtp-server
  allocport exec -n 3 -- sh -c 'echo \"$ALLOCPORT_PORTS\"; ./cluster --ports {ports}'
  PYSYS_PORTS=9000-9100 allocport exec -- ./server --port {port0}

Exit status: the command's (128+N if it dies from signal N); 125 when the ports cannot be
allocated; 126 when the command cannot be run; 127 when it is not found; 2 on a usage error.";

/// Runs the command on freshly held ports and returns the exit status allocport should have.
pub(crate) fn run(args: ExecArgs) -> Result<i32, Failure> {
    let count = usize::from(args.count);
    placeholders::check(&args.command, count)
        .map_err(|message| Failure::new(crate::EXIT_USAGE, message))?;
    if let Some(secs) = args.timeout {
        allocport_core::set_allocation_timeout(timeout(secs)?);
    }
    let hosts: Vec<String> = match &args.hosts {
        Some(list) => list.split(',').map(|h| h.trim().to_owned()).collect(),
        None if args.listen => vec!["localhost".to_owned()],
        None => DEFAULT_HOSTS.iter().map(|h| h.to_string()).collect(),
    };
    let no_ports = |e: allocport_core::Error| match e {
        Error::InvalidRequest { .. } => Failure::new(crate::EXIT_USAGE, e.to_string()),
        e => Failure::new(EXIT_NO_PORTS, e.to_string()),
    };
    let related = args.offsets.is_some() || args.consecutive || args.exact.is_some();
    if args.udp && args.strict {
        return Err(Failure::new(
            crate::EXIT_USAGE,
            "--udp with --strict: --strict refuses TCP ports in TIME_WAIT, and UDP has none",
        ));
    }
    if args.listen && args.strict {
        return Err(Failure::new(
            crate::EXIT_USAGE,
            "--listen with --strict: allocport binds the sockets itself (with SO_REUSEADDR), \
             so a port in TIME_WAIT is no obstacle and --strict has no use",
        ));
    }
    let (owners, listeners) = if args.listen {
        let [host] = hosts.as_slice() else {
            return Err(Failure::new(
                crate::EXIT_USAGE,
                format!(
                    "--listen binds each socket on one host, but --hosts gives {}: {:?}",
                    hosts.len(),
                    hosts
                ),
            ));
        };
        let family = args.family.into();
        if args.tcp_and_udp {
            // Each number as a listener and a UDP socket: TCP ones first, so that descriptors
            // 3, 4, ... are what a TCP-only server expects.
            let request = request(&args, count, &hosts)?.tcp_and_udp();
            let owners = request.allocate().map_err(no_ports)?;
            let ports: Vec<u16> = owners.iter().map(TcpPortOwner::port).collect();
            let mut sockets = bind_each(host, family, &ports, |a| {
                TcpListener::bind(a).map(Socket::Tcp)
            })?;
            sockets.extend(bind_each(host, family, &ports, |a| {
                UdpSocket::bind(a).map(Socket::Udp)
            })?);
            (Owners::Tcp(owners), sockets)
        } else if related {
            // Related or fixed ports cannot be swapped for fresh ones if a bind loses a race.
            let request = request(&args, count, &hosts)?;
            if args.udp {
                let owners = request.allocate_udp().map_err(no_ports)?;
                let ports: Vec<u16> = owners.iter().map(UdpPortOwner::port).collect();
                let sockets = bind_each(host, family, &ports, |a| {
                    UdpSocket::bind(a).map(Socket::Udp)
                })?;
                (Owners::Udp(owners), sockets)
            } else {
                let owners = request.allocate().map_err(no_ports)?;
                let ports: Vec<u16> = owners.iter().map(TcpPortOwner::port).collect();
                let sockets = bind_each(host, family, &ports, |a| {
                    TcpListener::bind(a).map(Socket::Tcp)
                })?;
                (Owners::Tcp(owners), sockets)
            }
        } else if args.udp {
            let held = HeldUdpSocket::many(count, host, family).map_err(no_ports)?;
            let (owners, sockets): (Vec<_>, Vec<_>) = held
                .into_iter()
                .map(HeldUdpSocket::into_parts)
                .map(|(s, o)| (o, Socket::Udp(s)))
                .unzip();
            (Owners::Udp(owners), sockets)
        } else {
            let held = HeldTcpListener::many(count, host, family).map_err(no_ports)?;
            let (owners, sockets): (Vec<_>, Vec<_>) = held
                .into_iter()
                .map(HeldTcpListener::into_parts)
                .map(|(l, o)| (o, Socket::Tcp(l)))
                .unzip();
            (Owners::Tcp(owners), sockets)
        }
    } else {
        let request = request(&args, count, &hosts)?;
        let owners = if args.udp {
            Owners::Udp(request.allocate_udp().map_err(no_ports)?)
        } else if args.tcp_and_udp {
            Owners::Tcp(request.tcp_and_udp().allocate().map_err(no_ports)?)
        } else {
            Owners::Tcp(request.allocate().map_err(no_ports)?)
        };
        (owners, Vec::new())
    };
    let ports = owners.ports();

    let Some((program, rest)) = args.command.split_first() else {
        return Err(Failure::new(crate::EXIT_USAGE, "no command given after --"));
    };
    let mut command = Command::new(substitute(program, &ports));
    command.args(rest.iter().map(|arg| substitute(arg, &ports)));
    command.env("ALLOCPORT_PORTS", join(&ports));
    for (i, port) in ports.iter().enumerate() {
        command.env(format!("PORT_{i}"), port.to_string());
    }

    let mut passed = None;
    if args.listen {
        let (wrapper, copies) = listen::pass_listeners(&command, &listeners)?;
        command = wrapper;
        passed = Some(copies);
    }
    // Once the command has its sockets, allocport's own copies go: a server that closes its
    // listener must not leave clients queueing on a socket nobody accepts from.
    let status = run_to_end(&mut command, program, move || drop((listeners, passed)))?;
    // The command is gone: give the ports back before anything else can go wrong.
    drop(owners);
    Ok(exit_code(status))
}

/// The owners of the command's ports, held until it exits.
enum Owners {
    Tcp(Vec<TcpPortOwner>),
    Udp(Vec<UdpPortOwner>),
}

impl Owners {
    fn ports(&self) -> Vec<u16> {
        match self {
            Owners::Tcp(owners) => owners.iter().map(TcpPortOwner::port).collect(),
            Owners::Udp(owners) => owners.iter().map(UdpPortOwner::port).collect(),
        }
    }
}

/// Binds a socket on `host` and each of `ports`; a port a program outside allocport took
/// between the check and the bind is an error, as it cannot be swapped for another.
fn bind_each(
    host: &str,
    family: AddressFamily,
    ports: &[u16],
    bind: impl Fn(SocketAddr) -> io::Result<Socket>,
) -> Result<Vec<Socket>, Failure> {
    let ip = loopback_or_resolve(host, family)?;
    ports
        .iter()
        .map(|&port| {
            let addr = SocketAddr::new(ip, port);
            bind(addr).map_err(|e| {
                Failure::new(
                    EXIT_NO_PORTS,
                    format!(
                        "--listen: port {port} is held but cannot be bound on {addr} (a \
                         program outside allocport took it): {e}"
                    ),
                )
            })
        })
        .collect()
}

/// The address `host` stands for, as the allocation resolved it: `""` the wildcard,
/// `localhost` the loopback address, else a literal or a name of the family.
fn loopback_or_resolve(host: &str, family: AddressFamily) -> Result<std::net::IpAddr, Failure> {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};
    let v6 = family == AddressFamily::Ipv6;
    let ip = match host {
        "" if v6 => Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
        "" => Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        "localhost" if v6 => Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        "localhost" => Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        _ => (host, 0)
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.find(|a| a.is_ipv6() == v6))
            .map(|a| a.ip()),
    };
    ip.ok_or_else(|| {
        Failure::new(
            EXIT_NO_PORTS,
            format!("--listen: {host:?} has no {family} address to bind"),
        )
    })
}

/// The request the options describe; `-n` counts every port, so with `--offsets` it must be
/// whole groups.
fn request(args: &ExecArgs, count: usize, hosts: &[String]) -> Result<PortRequest, Failure> {
    let mut request = PortRequest::new()
        .hosts(hosts)
        .family(args.family.into())
        .strict(args.strict);
    if args.consecutive {
        request = request.consecutive(count);
    } else if let Some(offsets) = &args.offsets {
        let group = offsets.len().max(1);
        if count % group != 0 {
            return Err(Failure::new(
                crate::EXIT_USAGE,
                format!(
                    "-n {count} with --offsets {}: the ports come in groups of {group}, so -n \
                     must be a multiple of {group}",
                    join(offsets)
                ),
            ));
        }
        request = request.offsets(offsets).count(count / group);
    } else {
        request = request.count(count);
    }
    if let Some(port) = args.exact {
        request = request.exact(port);
    }
    Ok(request)
}

fn timeout(secs: f64) -> Result<Duration, Failure> {
    Duration::try_from_secs_f64(secs).map_err(|_| {
        Failure::new(
            crate::EXIT_USAGE,
            format!("--timeout: {secs} is not a number of seconds (0 or more)"),
        )
    })
}

#[cfg(unix)]
fn run_to_end(
    command: &mut Command,
    program: &OsString,
    started: impl FnOnce(),
) -> Result<ExitStatus, Failure> {
    use crate::signals;
    signals::install().map_err(|e| {
        Failure::new(
            EXIT_NO_PORTS,
            format!("cannot catch signals to pass them on: {e}"),
        )
    })?;
    let held = signals::hold().map_err(|e| {
        Failure::new(
            EXIT_NO_PORTS,
            format!("cannot hold signals back while starting {program:?}: {e}"),
        )
    })?;
    if let Some(signal) = signals::received() {
        // Told to stop before the command started: do not start it at all.
        return Err(Failure::new(
            128 + signal,
            format!("signal {signal} received before {program:?} started; not running it"),
        ));
    }
    held.unhold_in(command);
    let mut child = command.spawn().map_err(|e| spawn_failure(program, &e))?;
    started();
    signals::forward_to(child.id());
    drop(held);
    signals::wait_then_stop_forwarding(child.id());
    child.wait().map_err(|e| wait_failure(program, &e))
}

#[cfg(not(unix))]
fn run_to_end(
    command: &mut Command,
    program: &OsString,
    started: impl FnOnce(),
) -> Result<ExitStatus, Failure> {
    // Ctrl-C reaches every process of the console, the command included; nothing to pass on.
    let mut child = command.spawn().map_err(|e| spawn_failure(program, &e))?;
    started();
    child.wait().map_err(|e| wait_failure(program, &e))
}

fn spawn_failure(program: &OsString, e: &io::Error) -> Failure {
    if e.kind() == io::ErrorKind::NotFound {
        Failure::new(
            EXIT_NOT_FOUND,
            format!("cannot run {program:?}: command not found ({e})"),
        )
    } else {
        Failure::new(EXIT_CANNOT_RUN, format!("cannot run {program:?}: {e}"))
    }
}

fn wait_failure(program: &OsString, e: &io::Error) -> Failure {
    Failure::new(
        EXIT_CANNOT_RUN,
        format!("lost track of {program:?} while waiting for it: {e}"),
    )
}

/// The command's exit status as a shell reports it: its exit code, or 128+N after signal N.
fn exit_code(status: ExitStatus) -> i32 {
    if let Some(code) = status.code() {
        return code;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return 128 + signal;
        }
    }
    EXIT_CANNOT_RUN
}
