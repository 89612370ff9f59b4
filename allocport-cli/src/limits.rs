//! The OS limits a large request runs into: the size of a command line and its environment,
//! and the number of open descriptors, named in the error with what to change, rather than
//! left to a bare "Argument list too long" or blamed on someone else.

use std::ffi::{OsStr, OsString};
use std::io;
use std::process::Command;

use crate::exit::{EXIT_CANNOT_RUN, EXIT_NO_PORTS, Failure};

/// The most bytes Linux takes for one argument or `NAME=value` environment string, its
/// terminating NUL included (`MAX_ARG_STRLEN`, 32 pages of 4 KiB); other systems only limit
/// the total.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) const MAX_ARG_STRLEN: Option<usize> = Some(32 * 4096);
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) const MAX_ARG_STRLEN: Option<usize> = None;

/// Refuses, before anything is started, a command whose arguments or environment the OS
/// would refuse with `E2BIG`, naming the string (or the total) and the limit.
pub(crate) fn check_command_size(command: &Command) -> Result<(), Failure> {
    let args: Vec<&OsStr> = std::iter::once(command.get_program())
        .chain(command.get_args())
        .collect();
    let env = environment(command);
    check_strings(&args, &env, MAX_ARG_STRLEN, arg_max())
}

/// The environment `command` runs with: this process's, with the command's changes.
fn environment(command: &Command) -> Vec<(OsString, OsString)> {
    let mut env: std::collections::BTreeMap<OsString, OsString> = std::env::vars_os().collect();
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => env.insert(key.to_owned(), value.to_owned()),
            None => env.remove(key),
        };
    }
    env.into_iter().collect()
}

fn check_strings(
    args: &[&OsStr],
    env: &[(OsString, OsString)],
    per_string: Option<usize>,
    total_limit: Option<usize>,
) -> Result<(), Failure> {
    let too_long = |what: String, bytes: usize, limit: usize| {
        Failure::new(
            EXIT_CANNOT_RUN,
            format!(
                "cannot run the command: {what} is {bytes} bytes, more than the {limit} bytes \
                 the kernel takes for one argument or environment variable (MAX_ARG_STRLEN); \
                 ask for fewer ports"
            ),
        )
    };
    let mut total = 0;
    for (i, arg) in args.iter().enumerate() {
        let bytes = arg.len() + 1;
        if let Some(limit) = per_string.filter(|&limit| bytes > limit) {
            return Err(too_long(format!("argument {i}"), bytes, limit));
        }
        total += bytes + std::mem::size_of::<usize>();
    }
    for (key, value) in env {
        let bytes = key.len() + 1 + value.len() + 1;
        if let Some(limit) = per_string.filter(|&limit| bytes > limit) {
            return Err(too_long(format!("{}", key.to_string_lossy()), bytes, limit));
        }
        total += bytes + std::mem::size_of::<usize>();
    }
    match total_limit {
        Some(limit) if total > limit => Err(Failure::new(
            EXIT_CANNOT_RUN,
            format!(
                "cannot run the command: its arguments and environment are {total} bytes, more \
                 than the {limit} the system takes (ARG_MAX, `getconf ARG_MAX`); ask for fewer \
                 ports"
            ),
        )),
        _ => Ok(()),
    }
}

/// The most bytes of arguments and environment together (`ARG_MAX`), where the OS says.
#[cfg(unix)]
fn arg_max() -> Option<usize> {
    // SAFETY: sysconf has no memory preconditions.
    let max = unsafe { libc::sysconf(libc::_SC_ARG_MAX) };
    usize::try_from(max).ok().filter(|&max| max > 0)
}

#[cfg(not(unix))]
fn arg_max() -> Option<usize> {
    None
}

/// Whether `e` is this process running out of descriptors (`EMFILE`).
pub(crate) fn out_of_descriptors(e: &io::Error) -> bool {
    #[cfg(unix)]
    {
        e.raw_os_error() == Some(libc::EMFILE)
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

/// The failure of `--listen` with `sockets` sockets when allocport ran out of descriptors:
/// the limit, and what to raise it to.
pub(crate) fn descriptor_failure(sockets: usize, e: &io::Error) -> Failure {
    // Each socket, allocport's copy of it while the command starts, and a few of its own.
    let needed = sockets * 2 + 32;
    let limit = soft_descriptor_limit().map_or_else(String::new, |n| format!(" of {n}"));
    Failure::new(
        EXIT_NO_PORTS,
        format!(
            "--listen: allocport ran out of file descriptors ({e}) opening {sockets} sockets: \
             the limit{limit} open files per process (`ulimit -n`) is too low; raise it to at \
             least {needed} (`ulimit -n {needed}`), or ask for fewer ports"
        ),
    )
}

#[cfg(unix)]
fn soft_descriptor_limit() -> Option<u64> {
    // SAFETY: a zeroed rlimit is a valid buffer for getrlimit to fill.
    let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to an rlimit.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    // `rlim_t` is u64 on Linux and macOS, i64 on FreeBSD (where infinity is -1).
    #[allow(clippy::useless_conversion)]
    let soft = u64::try_from(limit.rlim_cur).unwrap_or(u64::MAX);
    (rc == 0).then_some(soft)
}

#[cfg(not(unix))]
fn soft_descriptor_limit() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, String)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    #[test]
    fn a_variable_over_the_per_string_limit_is_named_with_the_limit() {
        let ports = vec!["12345"; 30_000].join(",");
        let args = [OsStr::new("true")];
        let failure = check_strings(
            &args,
            &env(&[("ALLOCPORT_PORTS", ports)]),
            Some(131_072),
            None,
        )
        .unwrap_err();
        assert_eq!(failure.status, EXIT_CANNOT_RUN);
        assert!(
            failure.message.contains("ALLOCPORT_PORTS is 180016 bytes")
                && failure.message.contains("131072")
                && failure.message.contains("MAX_ARG_STRLEN"),
            "{}",
            failure.message
        );
    }

    #[test]
    fn an_argument_over_the_limit_and_a_total_over_arg_max_are_named() {
        let long = "1".repeat(200);
        let args = [OsStr::new("echo"), OsStr::new(&long)];
        let failure = check_strings(&args, &[], Some(100), None).unwrap_err();
        assert!(
            failure.message.contains("argument 1 is 201 bytes"),
            "{}",
            failure.message
        );
        let failure = check_strings(&args, &[], None, Some(100)).unwrap_err();
        assert!(failure.message.contains("ARG_MAX"), "{}", failure.message);
        assert!(check_strings(&args, &[], Some(1000), Some(1000)).is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn running_out_of_descriptors_names_the_limit_and_what_to_raise() {
        let e = io::Error::from_raw_os_error(libc::EMFILE);
        assert!(out_of_descriptors(&e));
        let failure = descriptor_failure(300, &e);
        assert!(
            failure.message.contains("ulimit -n 632"),
            "{}",
            failure.message
        );
        assert!(
            !failure.message.contains("outside allocport"),
            "{}",
            failure.message
        );
    }
}
