//! `allocport exec`: hold ports while a command runs.

use std::ffi::OsString;
use std::io;
use std::process::{Command, ExitStatus};
use std::time::Duration;

use allocport_core::{DEFAULT_HOSTS, Error, HeldTcpListener, PortRequest, TcpPortOwner};

use crate::listen;
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

With --listen, the command also gets each port as a listening TCP socket, already bound on
the one host --hosts names (default: localhost), passed as systemd socket activation passes
them: descriptors 3, 4, ... in port order, LISTEN_FDS=N, LISTEN_FDNAMES=port0:port1:...,
and LISTEN_PID=the command's pid. Servers that accept such sockets (the listenfd crate,
sd_listen_fds, systemd-aware daemons) then never race anyone for their port. Unix only.

Examples:
  allocport exec -n 2 -- ./server --http {port0} --admin {port1}
  allocport exec --listen -- ./socket-activated-server
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
    let related = args.offsets.is_some() || args.consecutive || args.exact.is_some() || args.strict;
    if args.listen && related {
        return Err(Failure::new(
            crate::EXIT_USAGE,
            "--listen does not combine with --offsets, --consecutive, --exact or --strict yet",
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
        let held = HeldTcpListener::many(count, host, args.family.into()).map_err(no_ports)?;
        held.into_iter()
            .map(HeldTcpListener::into_parts)
            .map(|(l, o)| (o, l))
            .unzip()
    } else {
        let owners = request(&args, count, &hosts)?
            .allocate()
            .map_err(no_ports)?;
        (owners, Vec::new())
    };
    let ports: Vec<u16> = owners.iter().map(TcpPortOwner::port).collect();

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
