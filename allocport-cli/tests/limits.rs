//! Requests too large for the OS: a command line or environment over the kernel's limits, and
//! more sockets than the descriptor limit allows. Each is one line naming the limit and what
//! to change, never a bare "Argument list too long" or a program outside allocport blamed.
#![cfg(unix)]

use std::process::{Command, Output};
use std::time::Duration;

use allocport_core::format_ports_spec;
use allocport_testkit::{TempDir, output_within};

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_allocport");
/// Generous: only there to turn a hang into a failure.
const LIMIT: Duration = Duration::from_secs(120);

/// `allocport ARGS...` with its own lock directory in `dir` and `pool` as its ports.
fn allocport(dir: &TempDir, pool: &str, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env("ALLOCPORT_LOCK_DIR", dir.path().join("locks"))
        .env("PYSYS_PORTS", pool)
        .env_remove("PYSYS_PORTS_FILE")
        .env("ALLOCPORT_TIMEOUT_SECS", "10");
    command
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// 22,000 five-digit ports make ALLOCPORT_PORTS longer than Linux takes for one variable.
#[cfg(target_os = "linux")]
#[test]
fn ports_too_many_for_one_variable_name_the_kernel_limit_before_anything_runs() {
    let dir = TempDir::new("limits-e2big");
    let marker = dir.path().join("ran");
    let script = format!("touch {}", marker.display());
    // A private lock directory: the ports are only checked, never bound, so nobody else's
    // tests are kept from them.
    let mut command = allocport(
        &dir,
        "10000-59999",
        &["exec", "-n", "22000", "--", "sh", "-c", &script],
    );
    let out = output_within(&mut command, LIMIT);
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(126), "{text}");
    assert!(
        text.contains("ALLOCPORT_PORTS is")
            && text.contains("131072")
            && text.contains("MAX_ARG_STRLEN"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(!marker.exists(), "the command ran");
}

/// Under `ulimit -n 64`, 40 listeners and allocport's copies of them do not fit.
#[test]
fn listen_beyond_the_descriptor_limit_names_the_limit_not_an_outside_program() {
    use std::os::unix::process::CommandExt;
    let (reserved, ports) = common::reserve_ports(40);
    let dir = TempDir::new("limits-emfile");
    let mut command = allocport(
        &dir,
        &format_ports_spec(&ports),
        &["exec", "--listen", "-n", "40", "--", "true"],
    );
    // SAFETY: setrlimit is async-signal-safe and the closure allocates nothing.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 64,
                rlim_max: 64,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = output_within(&mut command, LIMIT);
    let text = stderr(&out);
    assert_eq!(out.status.code(), Some(125), "{text}");
    assert!(
        text.contains("ulimit -n") && text.contains("limit of 64 open files"),
        "{text}"
    );
    assert!(!text.contains("outside allocport"), "{text}");
    drop(reserved);
}
