//! Shared helpers for the workspace's integration tests: the `allocport-probe` helper process
//! and its reports. Processes in general, temporary directories and the re-runs of a test
//! binary come from the workspace's one harness, `allocport-testkit`.

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
