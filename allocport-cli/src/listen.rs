//! `allocport exec --listen`: the command gets its ports as bound listening sockets, passed as
//! systemd socket activation passes them, so a server that accepts them never races anyone
//! for its port.
//!
//! The protocol (`sd_listen_fds(3)`): the sockets are descriptors 3, 4, ... in port order,
//! `LISTEN_FDS` says how many, `LISTEN_FDNAMES` names them (`port0:port1:...`, the names of
//! the placeholders), and `LISTEN_PID` is the pid of the process meant to take them, so a
//! child of that process that inherits the variables knows they are not its own.
//!
//! `LISTEN_PID` is only known after `fork`, and setting a variable between `fork` and `exec`
//! is not safe in a multi-threaded parent (the environment functions allocate and lock). So
//! allocport starts itself as a tiny wrapper, `allocport listen-exec -- COMMAND...`, whose
//! descriptors 3, 4, ... are already in place (moved there by `dup2`, which is safe after
//! `fork`); the wrapper, single-threaded, adds `LISTEN_PID` = its own pid and `exec`s the
//! command, which keeps that pid. Signals sent to the wrapper's pid reach the command.

#[cfg(unix)]
pub(crate) use unix::{pass_listeners, run_wrapper, wrapper_failure};

#[cfg(not(unix))]
pub(crate) use other::{pass_listeners, run_wrapper, wrapper_failure};

/// A socket passed to the command: a TCP listener, or a bound UDP socket with `--udp`.
#[cfg_attr(not(unix), allow(dead_code))]
pub(crate) enum Socket {
    Tcp(std::net::TcpListener),
    Udp(std::net::UdpSocket),
}

#[cfg(unix)]
impl std::os::fd::AsRawFd for Socket {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        match self {
            Socket::Tcp(listener) => listener.as_raw_fd(),
            Socket::Udp(socket) => socket.as_raw_fd(),
        }
    }
}

/// The hidden subcommand of the wrapper.
pub(crate) const WRAPPER: &str = "listen-exec";

/// `LISTEN_FDNAMES` for `sockets`: `port0:port1:...`; with `--tcp-and-udp` (the TCP
/// listeners, then the UDP sockets on the same ports) `port0:port1:port0-udp:port1-udp`.
#[cfg_attr(not(unix), allow(dead_code))]
pub(crate) fn names_of(sockets: &[Socket]) -> String {
    let udp = sockets
        .iter()
        .filter(|s| matches!(s, Socket::Udp(_)))
        .count();
    if udp == 0 || udp == sockets.len() {
        return fd_names(sockets.len());
    }
    let udp_names = (0..udp).map(|i| format!("port{i}-udp"));
    std::iter::once(fd_names(sockets.len() - udp))
        .chain(udp_names)
        .collect::<Vec<_>>()
        .join(":")
}

/// `LISTEN_FDNAMES` for `n` sockets: `port0:port1:...`.
#[cfg_attr(not(unix), allow(dead_code))]
pub(crate) fn fd_names(n: usize) -> String {
    (0..n)
        .map(|i| format!("port{i}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(unix)]
mod unix {
    use std::ffi::OsString;
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
    use std::os::unix::process::CommandExt;
    use std::path::PathBuf;
    use std::process::Command;

    use super::{Socket, WRAPPER, names_of};
    use crate::exit::{EXIT_NO_PORTS, Failure, spawn_failure};

    /// The first descriptor of socket activation.
    const FIRST_FD: RawFd = 3;

    /// Turns `command` (program and arguments already set) into the wrapper that runs it with
    /// `listeners` as descriptors 3, 4, ... and the activation variables. Returns the
    /// descriptors the parent must keep open until the command has started.
    pub(crate) fn pass_listeners(
        command: &Command,
        listeners: &[Socket],
    ) -> Result<(Command, Vec<OwnedFd>), Failure> {
        let me = own_executable()?;
        let n = listeners.len();
        // Copies above the target range, close-on-exec, so the dup2 calls in the child can
        // never overwrite a copy not yet moved into place.
        let above = FIRST_FD + RawFd::try_from(n).expect("count fits a descriptor");
        let copies = listeners
            .iter()
            .map(|l| dup_above(l.as_raw_fd(), above))
            .collect::<io::Result<Vec<OwnedFd>>>()
            .map_err(|e| {
                if crate::limits::out_of_descriptors(&e) {
                    return crate::limits::descriptor_failure(n, &e);
                }
                Failure::new(
                    EXIT_NO_PORTS,
                    format!("--listen: cannot copy a listening socket: {e}"),
                )
            })?;
        let raw: Vec<RawFd> = copies.iter().map(AsRawFd::as_raw_fd).collect();

        let mut wrapper = Command::new(&me.program);
        wrapper
            .arg0(&me.name)
            .arg(WRAPPER)
            .arg("--")
            .arg(command.get_program());
        wrapper.args(command.get_args());
        for (key, value) in command.get_envs() {
            match value {
                Some(value) => wrapper.env(key, value),
                None => wrapper.env_remove(key),
            };
        }
        wrapper.env("LISTEN_FDS", n.to_string());
        wrapper.env("LISTEN_FDNAMES", names_of(listeners));
        // Never a stale value from allocport's own environment, even if the wrapper failed
        // to set it.
        wrapper.env_remove("LISTEN_PID");
        // SAFETY: the closure only calls dup2 (async-signal-safe) on descriptors open in the
        // parent, and allocates nothing: `raw` is moved in, already built.
        unsafe {
            wrapper.pre_exec(move || {
                for (i, &fd) in raw.iter().enumerate() {
                    // dup2 leaves the new descriptor without close-on-exec: it is inherited.
                    if libc::dup2(fd, FIRST_FD + i as RawFd) == -1 {
                        return Err(io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        Ok((wrapper, copies))
    }

    /// How allocport starts itself again: `program` to execute, `name` to show as its `argv[0]`.
    struct Executable {
        program: PathBuf,
        name: OsString,
    }

    /// allocport's own executable. On Linux the kernel's link to the running file, which still
    /// works when the file was replaced or removed since (a rebuild while a test ran: the
    /// path then names the new build, or nothing, and `current_exe` answers "... (deleted)");
    /// it is also the very version this process is, so the wrapper's protocol matches.
    fn own_executable() -> Result<Executable, Failure> {
        let path = std::env::current_exe().map_err(|e| {
            Failure::new(
                EXIT_NO_PORTS,
                format!("--listen: cannot find the allocport executable to start: {e}"),
            )
        })?;
        let name = path.clone().into_os_string();
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let running = PathBuf::from("/proc/self/exe");
            if running.exists() {
                return Ok(Executable {
                    program: running,
                    name,
                });
            }
        }
        Ok(Executable {
            program: path,
            name,
        })
    }

    /// Why the wrapper (allocport itself, started again to pass the sockets) could not be
    /// started: about allocport, not the command, which never ran.
    pub(crate) fn wrapper_failure(name: &std::ffi::OsStr, e: &io::Error) -> Failure {
        let hint = if e.kind() == io::ErrorKind::NotFound {
            " (was allocport replaced or removed while it ran, by a rebuild?)"
        } else {
            ""
        };
        Failure::new(
            EXIT_NO_PORTS,
            format!(
                "--listen: cannot start allocport's own executable {name:?} again, which passes \
                 the sockets to the command (the command was not run): {e}{hint}"
            ),
        )
    }

    fn dup_above(fd: RawFd, min: RawFd) -> io::Result<OwnedFd> {
        // SAFETY: fd is open (borrowed from a live listener); F_DUPFD_CLOEXEC returns a new
        // descriptor that nothing else owns.
        let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) };
        if new == -1 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `new` was just opened and is owned by nothing else.
        Ok(unsafe { OwnedFd::from_raw_fd(new) })
    }

    /// The wrapper: adds `LISTEN_PID` (its own pid, which `exec` keeps) and becomes the
    /// command. Returns only if `exec` failed, with the status a shell would give.
    pub(crate) fn run_wrapper(command: &[OsString]) -> Result<i32, Failure> {
        let Some((program, rest)) = command.split_first() else {
            return Err(Failure::usage("no command given after --"));
        };
        let e = Command::new(program)
            .args(rest)
            .env("LISTEN_PID", std::process::id().to_string())
            .exec();
        Err(spawn_failure(program, &e))
    }
}

#[cfg(not(unix))]
mod other {
    use std::ffi::OsString;
    use std::process::Command;

    use super::Socket;
    use crate::exit::Failure;

    const UNSUPPORTED: &str =
        "--listen passes sockets as systemd socket activation does, which needs Unix";

    pub(crate) fn pass_listeners(
        _command: &Command,
        _listeners: &[Socket],
    ) -> Result<(Command, Vec<()>), Failure> {
        Err(Failure::usage(UNSUPPORTED))
    }

    pub(crate) fn run_wrapper(_command: &[OsString]) -> Result<i32, Failure> {
        Err(Failure::usage(UNSUPPORTED))
    }

    pub(crate) fn wrapper_failure(_name: &std::ffi::OsStr, _e: &std::io::Error) -> Failure {
        Failure::usage(UNSUPPORTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_wrapper_that_cannot_start_is_about_allocport_not_the_command() {
        let gone = std::io::Error::from(std::io::ErrorKind::NotFound);
        let failure = wrapper_failure("/usr/bin/allocport".as_ref(), &gone);
        assert_eq!(failure.status, crate::exit::EXIT_NO_PORTS);
        assert!(
            failure
                .message
                .contains("allocport's own executable \"/usr/bin/allocport\"")
        );
        assert!(failure.message.contains("rebuild"), "{}", failure.message);
        assert!(
            !failure.message.contains("command not found"),
            "{}",
            failure.message
        );
    }

    #[test]
    fn names_are_the_placeholders_joined_by_colons() {
        assert_eq!(fd_names(1), "port0");
        assert_eq!(fd_names(3), "port0:port1:port2");
    }

    #[test]
    fn tcp_and_udp_sockets_are_named_apart() {
        let tcp = || Socket::Tcp(std::net::TcpListener::bind("127.0.0.1:0").unwrap());
        let udp = || Socket::Udp(std::net::UdpSocket::bind("127.0.0.1:0").unwrap());
        assert_eq!(names_of(&[udp(), udp()]), "port0:port1");
        assert_eq!(
            names_of(&[tcp(), tcp(), udp(), udp()]),
            "port0:port1:port0-udp:port1-udp"
        );
    }
}
