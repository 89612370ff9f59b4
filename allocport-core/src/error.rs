//! The one error type of the crate: every message names the variable or path and the value
//! that caused it, so a failing test says what to fix.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::claim::family::AddressFamily;
use crate::ports::source::PortSource;

/// Everything that can go wrong when building the pool or allocating a port.
///
/// Configuration errors (a bad `PYSYS_PORTS`, an unusable lock directory, an empty pool, an
/// unknown host, an invalid [`PortRequest`](crate::PortRequest)) are returned at once; only
/// [`Error::Timeout`], [`Error::StrictTimeout`] and [`Error::ExactPortTimeout`] come after waiting.
///
/// ```
/// use allocport_core::Error;
/// fn assert_error<E: std::error::Error + Send + Sync + 'static>() {}
/// assert_error::<Error>();
/// ```
///
/// Its `Debug` form is the readable message too, so `.unwrap()` and a test returning
/// `Result<(), Box<dyn std::error::Error>>` print what to fix rather than the enum's fields:
///
/// ```
/// # use allocport_core::Error;
/// let err = Error::TooManyPorts { requested: 9, pool_size: 4 };
/// assert_eq!(format!("{err:?}"), err.to_string());
/// ```
#[non_exhaustive]
pub enum Error {
    /// A token of `PYSYS_PORTS` or of a `PYSYS_PORTS_FILE` line is not a port or a range.
    InvalidPortSpec {
        /// Where the token was read: [`PortSource::Env`] or [`PortSource::File`].
        origin: PortSource,
        /// The line of the file the token is on, from 1; `None` for `PYSYS_PORTS`.
        line: Option<usize>,
        /// The offending token, as written.
        token: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `PYSYS_PORTS_FILE` names a file that cannot be read.
    PortsFileUnreadable {
        /// The path from the variable.
        path: PathBuf,
        /// Why it cannot be read (in the message, so not also a `source()`).
        cause: io::Error,
    },
    /// `PYSYS_PORTS_FILE` names a file that is not UTF-8 text.
    PortsFileNotUtf8 {
        /// The path from the variable.
        path: PathBuf,
        /// The first line that is not UTF-8, from 1.
        line: usize,
    },
    /// The operating system's ephemeral port range cannot be read.
    EphemeralRange {
        /// What was read (a file, a sysctl or a command).
        what: String,
        /// Why it failed.
        reason: String,
    },
    /// The pool would have no port in it.
    EmptyPool {
        /// Where the ports came from.
        origin: PortSource,
    },
    /// An environment variable of this crate has a value it cannot use.
    InvalidEnv {
        /// The variable's name.
        var: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The list of hosts to check is unusable (for example empty).
    InvalidHosts {
        /// The hosts as given.
        hosts: Vec<String>,
        /// What is wrong with them.
        reason: String,
    },
    /// A host name does not resolve to an address of the family asked for.
    UnresolvableHost {
        /// The host as given.
        host: String,
        /// The family asked for.
        family: AddressFamily,
        /// The resolver's answer.
        reason: String,
    },
    /// Checking a port failed for a reason other than the port being in use, e.g. an address
    /// that is not on this machine or an address family the machine lacks.
    PortCheck {
        /// The port being checked.
        port: u16,
        /// The host as given.
        host: String,
        /// The address it resolved to.
        addr: std::net::IpAddr,
        /// The error from `bind` (in the message, so not also a `source()`).
        cause: io::Error,
    },
    /// The private directory that holds the cross-process lock files cannot be used.
    LockDir {
        /// The directory.
        dir: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// The store of the claims between processes cannot be used here: for the kernel store,
    /// a sandbox that forbids Unix sockets. Never a silent fallback to the other store, as
    /// processes on two stores do not exclude each other.
    StoreUnavailable {
        /// `kernel` or `files`.
        store: &'static str,
        /// Why it cannot be used.
        reason: String,
    },
    /// Each port held in the kernel store is a descriptor, and the process may open no more.
    OutOfDescriptors {
        /// Port names this process holds.
        held: usize,
        /// The soft limit of open descriptors.
        limit: u64,
    },
    /// No port became free within the allocation timeout.
    Timeout {
        /// The protocol the ports were asked for: `TCP`, `UDP`, or `TCP and UDP`.
        protocol: &'static str,
        /// The allocation timeout in force.
        timeout: Duration,
        /// How many ports the pool has.
        pool_size: usize,
        /// How many of them this process holds.
        held_here: usize,
        /// Who holds the others, as `allocport status` shows them: the main holding processes
        /// with their pids, port counts and commands, or that other ports are in use.
        holders: String,
    },
    /// More ports were asked for at once than the pool has.
    TooManyPorts {
        /// How many were asked for.
        requested: usize,
        /// How many ports the pool has.
        pool_size: usize,
    },
    /// A request's groups can never all fit in the pool, from its shape alone: a block of
    /// consecutive ports longer than the pool's runs of consecutive ports, or offsets that
    /// leave too few groups inside it. Returned at once, not after the timeout.
    GroupsDoNotFit {
        /// How many groups were asked for.
        groups: usize,
        /// The offsets of a group.
        offsets: Vec<u16>,
        /// How many such groups the pool's ports could hold at most.
        fits: usize,
        /// Why, from the pool's shape.
        why: String,
        /// Where the pool's ports came from.
        origin: PortSource,
    },
    /// A held port could not be bound for a [`HeldTcpListener`](crate::HeldTcpListener) or a
    /// [`HeldUdpSocket`](crate::HeldUdpSocket), on every port tried: a program outside
    /// allocport kept taking them between the check and the bind.
    Bind {
        /// The address of the last attempt.
        addr: std::net::SocketAddr,
        /// Whether it was a UDP socket (else a TCP listener).
        udp: bool,
        /// How many ports were tried.
        attempts: usize,
        /// The error of the last attempt (in the message, so not also a `source()`).
        cause: io::Error,
    },
    /// `PYSYS_PORTS_FILE` names something other than a regular file: a FIFO or a device could
    /// block or never end, so it is refused before anything is read.
    PortsFileNotRegular {
        /// The path from the variable.
        path: PathBuf,
        /// What it is instead, e.g. `a FIFO`.
        kind: &'static str,
    },
    /// `PYSYS_PORTS_FILE` names a file larger than [`MAX_PORTS_FILE_BYTES`](crate::MAX_PORTS_FILE_BYTES).
    PortsFileTooLarge {
        /// The path from the variable.
        path: PathBuf,
        /// Its size in bytes (at least this; it may still be growing).
        size: u64,
        /// The largest size accepted.
        limit: u64,
    },
    /// A [`PortRequest`](crate::PortRequest) asks for something that cannot be had, or for
    /// options that do not go together; returned before anything is allocated.
    InvalidRequest {
        /// What is wrong with it.
        reason: String,
    },
    /// A strict request timed out while ports it refused were free but for connections in
    /// TIME_WAIT.
    StrictTimeout {
        /// The allocation timeout in force.
        timeout: Duration,
        /// How many ports the pool has.
        pool_size: usize,
        /// How many of them this process holds.
        held_here: usize,
        /// How many ports the last look found in TIME_WAIT only.
        lingering: usize,
    },
    /// An exact port stayed unavailable for the whole timeout.
    ExactPortTimeout {
        /// The port asked for.
        port: u16,
        /// The allocation timeout in force.
        timeout: Duration,
        /// Whether only connections in TIME_WAIT were in the way (of a strict request).
        time_wait: bool,
    },
}

/// The messages: each names the variable or path and the offending value. Grouped by where
/// the fault lies, so each group's messages are read together; the match here is exhaustive,
/// so a new variant cannot go without a message.
impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::InvalidPortSpec { .. }
            | Error::PortsFileUnreadable { .. }
            | Error::PortsFileNotUtf8 { .. }
            | Error::PortsFileNotRegular { .. }
            | Error::PortsFileTooLarge { .. }
            | Error::EphemeralRange { .. }
            | Error::InvalidEnv { .. } => self.input_message(f),
            Error::InvalidHosts { .. }
            | Error::UnresolvableHost { .. }
            | Error::PortCheck { .. } => self.host_message(f),
            Error::LockDir { .. }
            | Error::StoreUnavailable { .. }
            | Error::OutOfDescriptors { .. } => self.store_message(f),
            Error::EmptyPool { .. }
            | Error::TooManyPorts { .. }
            | Error::GroupsDoNotFit { .. }
            | Error::InvalidRequest { .. }
            | Error::Bind { .. } => self.request_message(f),
            Error::Timeout { .. }
            | Error::StrictTimeout { .. }
            | Error::ExactPortTimeout { .. } => self.timeout_message(f),
        }
    }
}

/// The message of each group of variants; [`Display`](std::fmt::Display) routes every variant
/// to its group, so another reaching a group is a bug.
impl Error {
    /// Where the ports and settings come from: `PYSYS_PORTS`, its file, the OS's ephemeral
    /// range, another variable.
    fn input_message(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::InvalidPortSpec {
                origin,
                line,
                token,
                reason,
            } => write!(f, "{}: {token:?} {reason}", origin.place(*line)),
            Error::PortsFileUnreadable { path, cause } => {
                write!(f, "PYSYS_PORTS_FILE: cannot read {path:?}: {cause}")
            }
            Error::PortsFileNotUtf8 { path, line } => write!(
                f,
                "PYSYS_PORTS_FILE: {path:?} is not UTF-8 text (line {line})"
            ),
            Error::PortsFileNotRegular { path, kind } => write!(
                f,
                "PYSYS_PORTS_FILE: cannot read {path:?}: it is {kind}, not a regular file (give a file of port specifications)"
            ),
            Error::PortsFileTooLarge { path, size, limit } => write!(
                f,
                "PYSYS_PORTS_FILE: cannot read {path:?}: it is {size} bytes, more than the {limit} a ports file may have"
            ),
            Error::EphemeralRange { what, reason } => write!(
                f,
                "cannot determine the ephemeral TCP port range ({what}): {reason}"
            ),
            Error::InvalidEnv { var, value, reason } => write!(f, "{var}: {value:?} {reason}"),
            _ => unreachable!("not an input error"),
        }
    }

    /// The hosts a port is checked on.
    fn host_message(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::InvalidHosts { hosts, reason } => {
                write!(f, "invalid host list {hosts:?}: {reason}")
            }
            Error::UnresolvableHost {
                host,
                family,
                reason,
            } => write!(
                f,
                "host {host:?} does not resolve to an {family} address: {reason}"
            ),
            Error::PortCheck {
                port,
                host,
                addr,
                cause,
            } => write!(
                f,
                "cannot check port {port} on host {host:?} ({addr}): {cause}"
            ),
            _ => unreachable!("not a host error"),
        }
    }

    /// The store of the claims between processes.
    fn store_message(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::LockDir { dir, reason } => write!(
                f,
                "lock directory {dir:?} (set ALLOCPORT_LOCK_DIR to choose another) is unusable: {reason}"
            ),
            Error::StoreUnavailable { store, reason } => write!(
                f,
                "the {store} store of allocport's claims is unusable: {reason} \
                 (ALLOCPORT_STORE=files chooses the file store, on Linux with allocport-core's \
                 `file-store` feature, but only processes on the same store exclude each other)"
            ),
            Error::OutOfDescriptors { held, limit } => write!(
                f,
                "cannot hold another port: this process may open {limit} files and holds \
                 {held} port claims (one descriptor each, besides its other files); raise the \
                 limit (`ulimit -n`, up to the hard limit, which allocport already tried)"
            ),
            _ => unreachable!("not a store error"),
        }
    }

    /// What was asked of the pool, refused at once, and the sockets bound for it.
    fn request_message(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::EmptyPool { origin } => write!(
                f,
                "the pool of server TCP ports is empty: {origin} leaves no port once the excluded ports and those this process may not bind are removed"
            ),
            Error::TooManyPorts {
                requested,
                pool_size,
            } => write!(
                f,
                "{requested} ports were asked for at once but the pool has only {pool_size}"
            ),
            Error::GroupsDoNotFit {
                groups,
                offsets,
                fits,
                why,
                origin,
            } => write!(
                f,
                "{groups} group(s) with offsets {offsets:?} were asked for but the pool \
                 ({origin}) has room for {fits} at most, however many ports are free: {why}"
            ),
            Error::InvalidRequest { reason } => write!(f, "invalid port request: {reason}"),
            Error::Bind {
                addr,
                udp,
                attempts,
                cause,
            } => write!(
                f,
                "cannot bind {} on {addr} although allocport holds the port ({attempts} port{} tried; \
         a program outside allocport keeps taking them): {cause}",
                if *udp { "a UDP socket" } else { "a listener" },
                if *attempts == 1 { "" } else { "s" }
            ),
            _ => unreachable!("not a request error"),
        }
    }

    /// The waits that ran out.
    fn timeout_message(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Timeout {
                protocol,
                timeout,
                pool_size,
                held_here,
                holders,
            } => write!(
                f,
                "timed out after {timeout:?} waiting for a free {protocol} server port: the pool has {pool_size} ports, \
         {held_here} held by this process; {holders} \
         (raise the timeout with ALLOCPORT_TIMEOUT_SECS or set_allocation_timeout, or widen PYSYS_PORTS)"
            ),
            Error::StrictTimeout {
                timeout,
                pool_size,
                held_here,
                lingering,
            } => write!(
                f,
                "timed out after {timeout:?} waiting for a fully free TCP server port: {lingering} \
         port(s) were free but for connections in TIME_WAIT, which a strict request refuses \
         (drop strict if the server binds with SO_REUSEADDR, as Rust's std, tokio and most \
         servers do); the pool has {pool_size} ports, {held_here} held by this process"
            ),
            Error::ExactPortTimeout {
                port,
                timeout,
                time_wait,
            } => write!(
                f,
                "timed out after {timeout:?} waiting for port {port}: {}",
                exact_reason(*time_wait)
            ),
            _ => unreachable!("not a timeout"),
        }
    }
}

/// No `source()`: an I/O cause is in the message already, so a chain reporter prints it once.
impl std::error::Error for Error {}

/// The readable message, as [`Display`](std::fmt::Display) gives it: what `.unwrap()` and a
/// failing test's `Result` print.
impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

fn exact_reason(time_wait: bool) -> &'static str {
    if time_wait {
        "it is free but for connections in TIME_WAIT, which a strict request refuses \
         (drop strict if the server binds with SO_REUSEADDR)"
    } else {
        "another allocport user (a process, or a thread of this one) holds it, or a program \
         outside allocport uses it"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What an error-chain reporter prints: each error's message, then its sources'.
    fn chain(err: &Error) -> String {
        let mut text = err.to_string();
        let mut next = std::error::Error::source(err);
        while let Some(cause) = next {
            text = format!("{text}: {cause}");
            next = cause.source();
        }
        text
    }

    #[test]
    fn an_io_cause_is_printed_once_by_a_chain_reporter() {
        let cause = || io::Error::other("the distinctive cause");
        let errors = [
            Error::PortsFileUnreadable {
                path: "ports.txt".into(),
                cause: cause(),
            },
            Error::PortCheck {
                port: 4000,
                host: "localhost".into(),
                addr: [127, 0, 0, 1].into(),
                cause: cause(),
            },
        ];
        for err in &errors {
            let report = chain(err);
            assert_eq!(
                report.matches("the distinctive cause").count(),
                1,
                "{report}"
            );
        }
    }
}
