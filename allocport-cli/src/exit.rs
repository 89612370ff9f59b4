//! Every exit status `allocport` gives, and the one way a failure becomes a line on standard
//! error and a status: scripts branch on these, so they live in one place.

use std::ffi::OsStr;
use std::io;
use std::process::ExitStatus;

/// `ports` or `status` failed.
pub(crate) const EXIT_FAILURE: i32 = 1;
/// A usage error, as clap and most Unix tools use.
pub(crate) const EXIT_USAGE: i32 = 2;
/// allocport could not allocate the ports (as `env` and `timeout` use 125 for their own
/// failures, so they are not mistaken for the command's).
pub(crate) const EXIT_NO_PORTS: i32 = 125;
/// The command exists but cannot be run, as in shells.
pub(crate) const EXIT_CANNOT_RUN: i32 = 126;
/// The command is not found, as in shells.
pub(crate) const EXIT_NOT_FOUND: i32 = 127;

/// A failure worth one line on standard error, with the exit status it calls for.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) message: String,
    pub(crate) status: i32,
}

impl Failure {
    pub(crate) fn new(status: i32, message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            status,
        }
    }

    /// A usage error.
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Failure::new(EXIT_USAGE, message)
    }
}

/// Starting `program` failed: 127 when it is not found, 126 otherwise, as shells say.
pub(crate) fn spawn_failure(program: &OsStr, e: &io::Error) -> Failure {
    if e.kind() == io::ErrorKind::NotFound {
        Failure::new(
            EXIT_NOT_FOUND,
            format!("cannot run {program:?}: command not found ({e})"),
        )
    } else {
        Failure::new(EXIT_CANNOT_RUN, format!("cannot run {program:?}: {e}"))
    }
}

/// Waiting for `program` failed.
pub(crate) fn wait_failure(program: &OsStr, e: &io::Error) -> Failure {
    Failure::new(
        EXIT_CANNOT_RUN,
        format!("lost track of {program:?} while waiting for it: {e}"),
    )
}

/// The command's exit status as a shell reports it: its exit code, or 128+N after signal N.
pub(crate) fn exit_code(status: ExitStatus) -> i32 {
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
