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
    let mut p = probe(args, envs);
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

/// The root README's Rust examples, compiled and run as doctests so they cannot drift from the
/// API.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
