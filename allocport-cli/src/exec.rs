//! `allocport exec`: hold ports while a command runs.

use std::ffi::OsString;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, ExitStatus};
use std::time::Duration;

use allocport_core::{
    DEFAULT_HOSTS, Error, HeldTcpListener, HeldUdpSocket, PortRequest, TcpPortOwner, UdpPortOwner,
};

use crate::ExecArgs;
use crate::exit::{EXIT_NO_PORTS, Failure, exit_code, spawn_failure, wait_failure};
use crate::limits;
use crate::listen::{self, Socket};
use crate::placeholders::{self, join, substitute};
#[cfg(unix)]
use crate::signals;

pub(crate) const AFTER_HELP: &str = "\
The command gets the ports as ALLOCPORT_PORTS=p1,p2,..., PORT_0=p1, PORT_1=p2, ..., and
in its arguments, where {port0}, {port1}, ... become single ports and {ports} the list.
The ports stay held (no other allocport user gets them) until the command exits or is
killed; every signal sent to allocport that would end it (SIGINT, SIGTERM, SIGHUP, SIGQUIT,
SIGUSR1, SIGUSR2, SIGALRM, the real-time signals...) is passed on to the command instead.
SIGKILL cannot be: it ends allocport and frees the ports while the command runs on.

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
listeners first, then the N UDP sockets, named port0-udp, port1-udp, ... Every request
option works with --listen; if a program outside allocport binds a port between the check and
the bind, the ports are allocated afresh, up to three times (an --exact request is not), then
allocport exits with 125. --strict, which is about servers binding without SO_REUSEADDR, has
no use with --listen. Unix only.

Examples:
  allocport exec -n 2 -- ./server --http {port0} --admin {port1}
  allocport exec --listen -- ./socket-activated-server
  allocport exec --listen --udp -n 2 --consecutive -- ./socket-activated-rtp-server
  allocport exec -n 3 -- sh -c 'echo \"$ALLOCPORT_PORTS\"; ./cluster --ports {ports}'
  PYSYS_PORTS=9000-9100 allocport exec -- ./server --port {port0}

Exit status: the command's (128+N if it dies from signal N); 125 when the ports cannot be
allocated or passed (with --listen, also when allocport cannot start itself again); 126 when the command cannot be run; 127 when it is not found; 2 on a usage error.";

/// Runs the command on freshly held ports and returns the exit status allocport should have.
pub(crate) fn run(args: ExecArgs) -> Result<i32, Failure> {
    let count = usize::from(args.count);
    placeholders::check(&args.command, count).map_err(Failure::usage)?;
    if let Some(secs) = args.timeout {
        allocport_core::set_allocation_timeout(timeout(secs)?);
    }
    let hosts = hosts(&args)?;
    let request = request(&args, count, &hosts)?;
    let (owners, listeners) = if args.listen {
        listen_on(&args, request)?
    } else {
        (allocate(&args, request)?, Vec::new())
    };
    let ports = owners.ports();
    let Some((program, rest)) = args.command.split_first() else {
        return Err(Failure::usage("no command given after --"));
    };
    let mut command = Command::new(substitute(program, &ports));
    command.args(rest.iter().map(|arg| substitute(arg, &ports)));
    command.env("ALLOCPORT_PORTS", join(&ports));
    for (i, port) in ports.iter().enumerate() {
        command.env(format!("PORT_{i}"), port.to_string());
    }
    let status = start_and_wait(command, program, args.listen, listeners)?;
    // The command is gone: give the ports back before anything else can go wrong.
    drop(owners);
    Ok(exit_code(status))
}

/// The hosts each port is checked on: `--hosts`, else one for `--listen`, else the default.
fn hosts(args: &ExecArgs) -> Result<Vec<String>, Failure> {
    let hosts: Vec<String> = match &args.hosts {
        Some(list) => list.split(',').map(|h| h.trim().to_owned()).collect(),
        None if args.listen => vec!["localhost".to_owned()],
        None => DEFAULT_HOSTS.iter().map(|h| h.to_string()).collect(),
    };
    if args.listen && hosts.len() != 1 {
        return Err(Failure::usage(format!(
            "--listen binds each socket on one host, but --hosts gives {}: {:?}",
            hosts.len(),
            hosts
        )));
    }
    Ok(hosts)
}

/// What an allocation error means for `exec`: a usage error for a request the core refuses,
/// a descriptor limit for `--listen`'s sockets, otherwise no ports (125).
fn no_ports(args: &ExecArgs) -> impl Fn(Error) -> Failure + '_ {
    move |e| match e {
        Error::InvalidRequest { reason } => Failure::usage(in_flags(&reason)),
        // Not a program outside allocport taking the port, nor a port that cannot be checked:
        // allocport's own descriptors ran out, holding the sockets of --listen.
        Error::Bind { cause, .. } | Error::PortCheck { cause, .. }
            if args.listen && limits::out_of_descriptors(&cause) =>
        {
            let per_port = if args.tcp_and_udp { 2 } else { 1 };
            limits::descriptor_failure(usize::from(args.count) * per_port, &cause)
        }
        e => Failure::new(EXIT_NO_PORTS, e.to_string()),
    }
}

/// A reason the core gives for refusing a request, in the words of `exec`'s options: the
/// rules live in `PortRequest`; the command only names its flags.
fn in_flags(reason: &str) -> String {
    const FLAGS: [(&str, &str); 5] = [
        ("strict(true)", "--strict"),
        ("listen()", "--listen"),
        ("allocate_udp()", "--udp"),
        ("bind_udp()", "--udp --listen"),
        ("tcp_and_udp()", "--tcp-and-udp"),
    ];
    let mut text = reason.to_owned();
    for (api, flag) in FLAGS {
        text = text.replace(api, flag);
    }
    text
}

/// The ports as numbers, held by owners.
fn allocate(args: &ExecArgs, request: PortRequest) -> Result<Owners, Failure> {
    let no_ports = no_ports(args);
    Ok(if args.udp {
        Owners::Udp(request.allocate_udp().map_err(no_ports)?)
    } else if args.tcp_and_udp {
        Owners::Tcp(request.tcp_and_udp().allocate().map_err(no_ports)?)
    } else {
        Owners::Tcp(request.allocate().map_err(no_ports)?)
    })
}

/// The ports as bound sockets for `--listen`, and their owners.
fn listen_on(args: &ExecArgs, request: PortRequest) -> Result<(Owners, Vec<Socket>), Failure> {
    let no_ports = no_ports(args);
    if args.udp {
        let held = request.bind_udp().map_err(no_ports)?;
        let (owners, sockets) = held
            .into_iter()
            .map(HeldUdpSocket::into_parts)
            .map(|(s, o)| (o, Socket::Udp(s)))
            .unzip();
        return Ok((Owners::Udp(owners), sockets));
    }
    let request = if args.tcp_and_udp {
        request.tcp_and_udp()
    } else {
        request
    };
    let held = request.listen().map_err(no_ports)?;
    let (owners, mut sockets): (Vec<_>, Vec<_>) = held
        .into_iter()
        .map(HeldTcpListener::into_parts)
        .map(|(l, o)| (o, Socket::Tcp(l)))
        .unzip();
    if args.tcp_and_udp {
        // A UDP socket on each listener's address, after the listeners, so that descriptors
        // 3, 4, ... are what a TCP-only server expects.
        let udp = bind_udp_beside(&sockets)?;
        sockets.extend(udp);
    }
    Ok((Owners::Tcp(owners), sockets))
}

/// Starts the command (with `--listen`, through allocport's wrapper, which passes it the
/// sockets) and waits for it to end.
fn start_and_wait(
    mut command: Command,
    program: &OsString,
    listen: bool,
    listeners: Vec<Socket>,
) -> Result<ExitStatus, Failure> {
    let mut passed = None;
    if listen {
        let (wrapper, copies) = listen::pass_listeners(&command, &listeners)?;
        command = wrapper;
        passed = Some(copies);
    }
    limits::check_command_size(&command)?;
    // With --listen the process started is allocport itself, as the wrapper: a failure to
    // start it is about allocport, not the command.
    let wrapper = passed.as_ref().map(|_| command.get_program().to_owned());
    let cannot_start = |e: &io::Error| match &wrapper {
        Some(wrapper) => listen::wrapper_failure(wrapper, e),
        None => spawn_failure(program, e),
    };
    // Once the command has its sockets, allocport's own copies go: a server that closes its
    // listener must not leave clients queueing on a socket nobody accepts from.
    let started = move || drop((listeners, passed));
    run_to_end(&mut command, program, started, cannot_start)
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

/// A UDP socket on the address of each listener, whose port is held for UDP too.
fn bind_udp_beside(listeners: &[Socket]) -> Result<Vec<Socket>, Failure> {
    let lost = |addr: Option<SocketAddr>, e: io::Error| {
        if limits::out_of_descriptors(&e) {
            return limits::descriptor_failure(listeners.len() * 2, &e);
        }
        let addr = addr.map_or_else(|| "its address".to_owned(), |a| a.to_string());
        Failure::new(
            EXIT_NO_PORTS,
            format!(
                "--listen --tcp-and-udp: cannot bind a UDP socket on {addr}, although allocport \
                 holds the port (a program outside allocport took it): {e}"
            ),
        )
    };
    let mut sockets = Vec::with_capacity(listeners.len());
    for listener in listeners {
        let Socket::Tcp(listener) = listener else {
            continue;
        };
        let addr = listener.local_addr().map_err(|e| lost(None, e))?;
        sockets.push(Socket::Udp(
            UdpSocket::bind(addr).map_err(|e| lost(Some(addr), e))?,
        ));
    }
    Ok(sockets)
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
            return Err(Failure::usage(format!(
                "-n {count} with --offsets {}: the ports come in groups of {group}, so -n \
                     must be a multiple of {group}",
                join(offsets)
            )));
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
        Failure::usage(format!(
            "--timeout: {secs} is not a number of seconds (0 or more)"
        ))
    })
}

/// Starts the command, calls `started`, and waits for the command to end. On Unix every
/// signal that would end allocport is passed on to the command meanwhile; elsewhere Ctrl-C
/// reaches every process of the console, the command included, and there is nothing to pass on.
fn run_to_end(
    command: &mut Command,
    program: &OsString,
    started: impl FnOnce(),
    cannot_start: impl Fn(&io::Error) -> Failure,
) -> Result<ExitStatus, Failure> {
    #[cfg(unix)]
    let held = hold_signals(command, program)?;
    let mut child = command.spawn().map_err(|e| cannot_start(&e))?;
    started();
    #[cfg(unix)]
    pass_signals_until_exit(held, child.id());
    child.wait().map_err(|e| wait_failure(program, &e))
}

/// Catches the signals to pass on and holds them back until the command has started (the
/// command itself gets them unblocked), so none is lost in between; a signal that came
/// already means the command is not started at all.
#[cfg(unix)]
fn hold_signals(command: &mut Command, program: &OsString) -> Result<signals::Held, Failure> {
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
    Ok(held)
}

/// Passes signals on to `child` from now on, lets the held ones through, and stops passing
/// them once the child has exited.
#[cfg(unix)]
fn pass_signals_until_exit(held: signals::Held, child: u32) {
    signals::forward_to(child);
    drop(held);
    signals::wait_then_stop_forwarding(child);
}
