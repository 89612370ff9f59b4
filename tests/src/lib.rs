//! Shared helpers for the workspace's integration tests: the `allocport-probe` helper process
//! and its reports. Processes in general, temporary directories and the re-runs of a test
//! binary come from the workspace's one harness, `allocport-testkit`.

use std::collections::HashSet;
use std::ops::RangeInclusive;
use std::process::Command;

use allocport_testkit::{Process, Spawn};

#[cfg(target_os = "linux")]
pub mod nobody;

/// A command for the `allocport-probe` binary, which cargo builds for this package's tests.
pub fn probe_command() -> Command {
    Command::new(allocport_testkit::cargo_bin("allocport-probe"))
}

/// Starts `allocport-probe ARGS...` with extra environment variables.
pub fn probe(args: &[&str], envs: &[(&str, &str)]) -> Process {
    Spawn::new().start(probe_command().args(args).envs(envs.iter().copied()))
}

/// Starts `allocport-probe udp ARGS...` (UDP and TCP+UDP ports) with extra environment
/// variables.
pub fn udp_probe(args: &[&str], envs: &[(&str, &str)]) -> Process {
    Spawn::new().start(
        probe_command()
            .arg("udp")
            .args(args)
            .envs(envs.iter().copied()),
    )
}

/// Runs a probe to completion and returns its one line of output.
pub fn run_probe(args: &[&str], envs: &[(&str, &str)]) -> String {
    first_line_then_wait(probe(args, envs))
}

/// [`run_probe`] for `allocport-probe udp ARGS...`.
pub fn run_udp_probe(args: &[&str], envs: &[(&str, &str)]) -> String {
    first_line_then_wait(udp_probe(args, envs))
}

fn first_line_then_wait(mut p: Process) -> String {
    let line = p.line();
    p.wait();
    line
}

/// A command for the `allocport-request-probe` binary with `args`, on the pool `pool`, waiting
/// at most `timeout_secs` for ports.
pub fn request_probe_command(args: &[&str], pool: &str, timeout_secs: &str) -> Command {
    let mut command = Command::new(allocport_testkit::cargo_bin("allocport-request-probe"));
    command
        .args(args)
        .env("PYSYS_PORTS", pool)
        .env("ALLOCPORT_TIMEOUT_SECS", timeout_secs);
    command
}

/// Starts [`request_probe_command`].
pub fn request_probe(args: &[&str], pool: &str, timeout_secs: &str) -> Process {
    Spawn::new().start(&mut request_probe_command(args, pool, timeout_secs))
}

/// Runs [`request_probe`] to completion and returns its one line of output.
pub fn run_request_probe(args: &[&str], pool: &str, timeout_secs: &str) -> String {
    first_line_then_wait(request_probe(args, pool, timeout_secs))
}

/// Reads each holder's `ports ...` line while all of them still hold, checks each holds
/// `per_holder` ports of `pool` and no port is held by two of them, then lets them exit, which
/// must succeed. Returns how many ports were held in all. `what` names the ports in the
/// failure messages (`port`, `UDP port`).
pub fn assert_held_apart(
    holders: &mut [Process],
    per_holder: usize,
    pool: RangeInclusive<u16>,
    what: &str,
) -> usize {
    let mut seen = HashSet::new();
    for holder in holders.iter_mut() {
        let ports = parse_ports_line(&holder.line());
        assert_eq!(ports.len(), per_holder);
        for port in ports {
            assert!(pool.contains(&port), "{what} {port} is outside PYSYS_PORTS");
            assert!(
                seen.insert(port),
                "{what} {port} is held by two processes at once"
            );
        }
    }
    for holder in holders {
        holder.close_stdin();
        assert!(holder.wait().success());
    }
    seen.len()
}

/// Parses a probe's `ports a,b,c` line.
pub fn parse_ports_line(line: &str) -> Vec<u16> {
    let list = line
        .strip_prefix("ports ")
        .unwrap_or_else(|| panic!("expected `ports ...`, got {line:?}"));
    list.split(',')
        .filter(|s| !s.is_empty())
        .map(|p| p.parse().expect("port number"))
        .collect()
}

/// Reads the first line of a churn probe's report (`allocations A bind_failures F double_holds
/// D`), checks no port was handed to two threads at once or failed to bind while held, and
/// returns the allocation count. `what` names the ports in the failure messages (`port`,
/// `UDP port`).
pub fn churn_counts(churner: &mut Process, what: &str) -> u64 {
    let line = churner.line();
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [
        "allocations",
        allocations,
        "bind_failures",
        failures,
        "double_holds",
        doubles,
    ] = fields[..]
    else {
        panic!("unexpected report {line:?}");
    };
    assert_eq!(
        doubles, "0",
        "a {what} was handed to two threads at once ({line})"
    );
    assert_eq!(
        failures, "0",
        "a held {what} could not be bound: it was held twice ({line})"
    );
    allocations.parse().unwrap()
}

/// [`churn_counts`], then waits for the probe, which must succeed.
pub fn churn_report(churner: &mut Process, what: &str) -> u64 {
    let allocations = churn_counts(churner, what);
    assert!(churner.wait().success());
    allocations
}

/// Runs the probe's churn `args` in one process on the pool `ports` (a timeout long enough for
/// a loaded machine) and returns [`churn_report`]'s count, which must not be zero.
pub fn churn_on(args: &[&str], ports: &str, what: &str) -> u64 {
    let envs = [("PYSYS_PORTS", ports), ("ALLOCPORT_TIMEOUT_SECS", "30")];
    let allocations = churn_report(&mut probe(args, &envs), what);
    assert!(allocations > 0, "no allocation in the churn {args:?}");
    allocations
}

/// The root README's Rust examples, compiled and run as doctests so they cannot drift from the
/// API.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The swap guide's examples (`docs/swapping.md`), compiled and run as doctests.
#[doc = include_str!("../../docs/swapping.md")]
#[cfg(doctest)]
pub struct SwappingDoctests;

/// The examples of `docs/fixtures.md`, compiled and run as doctests.
#[doc = include_str!("../../docs/fixtures.md")]
#[cfg(doctest)]
pub struct FixturesDoctests;

/// The examples of `docs/udp.md`, compiled and run as doctests.
#[doc = include_str!("../../docs/udp.md")]
#[cfg(doctest)]
pub struct UdpDoctests;

/// The examples of `docs/request-limits.md`, compiled and run as doctests.
#[doc = include_str!("../../docs/request-limits.md")]
#[cfg(doctest)]
pub struct RequestLimitsDoctests;

/// The examples of `docs/command.md`, compiled and run as doctests.
#[doc = include_str!("../../docs/command.md")]
#[cfg(doctest)]
pub struct CommandDoctests;

/// The examples of `docs/configuration.md`, compiled and run as doctests.
#[doc = include_str!("../../docs/configuration.md")]
#[cfg(doctest)]
pub struct ConfigurationDoctests;
