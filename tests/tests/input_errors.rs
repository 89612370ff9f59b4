//! Errors read well wherever they surface: `Debug` is the message (what `.unwrap()` and a
//! test returning `Result<(), Box<dyn Error>>` print), and smaller inputs get proper answers:
//! `ALLOCPORT_TIMEOUT_SECS` too large or empty, and `localhost.` as a host.

use std::process::Output;
use std::time::Duration;

use allocport_core::{DEFAULT_HOSTS, TcpPortOwner, format_ports_spec};
use allocport_testkit::{TempDir, output_within, this_binary};

const LIMIT: Duration = Duration::from_secs(60);

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn too_many() -> allocport_core::Error {
    TcpPortOwner::many(70_000, &DEFAULT_HOSTS, Default::default()).unwrap_err()
}

#[test]
fn debug_is_the_readable_message() {
    let err = too_many();
    let message = err.to_string();
    assert!(
        message.starts_with("70000 ports were asked for at once"),
        "{message}"
    );
    assert_eq!(format!("{err:?}"), message);
    let boxed: Box<dyn std::error::Error> = Box::new(too_many());
    assert_eq!(format!("{boxed:?}"), message);
}

/// Run by the test below in a child process: fails the way a user's test would.
#[test]
#[ignore = "run by a_failing_result_test_prints_the_message"]
fn child_returns_an_allocport_error() -> Result<(), Box<dyn std::error::Error>> {
    TcpPortOwner::many(70_000, &DEFAULT_HOSTS, Default::default())?;
    Ok(())
}

#[test]
fn a_failing_result_test_prints_the_message() {
    let (stdout, stderr) = text(&output_within(
        this_binary().args([
            "child_returns_an_allocport_error",
            "--exact",
            "--ignored",
            "--test-threads=1",
        ]),
        LIMIT,
    ));
    let all = format!("{stdout}{stderr}");
    assert!(all.contains("1 failed"), "{all}");
    assert!(
        all.contains("Error: 70000 ports were asked for at once but the pool has only"),
        "{all}"
    );
    assert!(!all.contains("TooManyPorts"), "{all}");
}

/// Runs `allocport-probe try [HOSTS]` on a reserved port with `envs`; returns its line.
fn try_probe(hosts: &[&str], envs: &[(&str, &str)]) -> String {
    let owner = TcpPortOwner::new().unwrap();
    let locks = TempDir::new("input-errors");
    let output = output_within(
        allocport_tests::probe_command()
            .arg("try")
            .args(hosts)
            .env("ALLOCPORT_LOCK_DIR", locks.path().join("locks"))
            .env("PYSYS_PORTS", format_ports_spec(&[owner.port()]))
            .envs(envs.iter().copied()),
        LIMIT,
    );
    let (stdout, stderr) = text(&output);
    let line = stdout.lines().next().unwrap_or_default().to_owned();
    assert!(!line.is_empty(), "no output: {stderr}");
    line
}

#[test]
fn a_huge_timeout_is_too_large_not_infinite() {
    let line = try_probe(&[], &[("ALLOCPORT_TIMEOUT_SECS", "1e30")]);
    assert_eq!(
        line,
        r#"err ALLOCPORT_TIMEOUT_SECS: "1e30" is too large: the longest timeout is 18446744073709551615 seconds"#
    );
}

#[test]
fn an_empty_timeout_means_the_default() {
    let line = try_probe(&[], &[("ALLOCPORT_TIMEOUT_SECS", "")]);
    assert!(line.starts_with("ok "), "{line}");
}

#[test]
fn localhost_with_the_trailing_dot_is_localhost() {
    let line = try_probe(&["localhost."], &[]);
    assert!(line.starts_with("ok "), "{line}");
}
