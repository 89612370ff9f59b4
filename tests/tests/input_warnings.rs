//! Warnings reach the user without a logger: once per process on standard error, prefixed
//! `allocport: warning:`, through `eprintln!` so that libtest captures them per test.

use std::process::Output;
use std::time::Duration;

use allocport_core::{DEFAULT_HOSTS, TcpPortOwner, format_ports_spec};
use allocport_testkit::{TempDir, output_within, this_binary};

const LIMIT: Duration = Duration::from_secs(60);
const REVERSED: &str =
    r#"allocport: warning: range "5000-4000" (PYSYS_PORTS) is reversed and names no port"#;

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_reversed_range_is_warned_once_per_process_on_stderr() {
    let owners = TcpPortOwner::many(2, &DEFAULT_HOSTS, Default::default()).unwrap();
    let ports: Vec<u16> = owners.iter().map(TcpPortOwner::port).collect();
    let locks = TempDir::new("input-warn");
    let mut sorted = ports.clone();
    sorted.sort_unstable();
    let output = output_within(
        allocport_tests::probe_command()
            .args(["repeat", "5"])
            .env("ALLOCPORT_LOCK_DIR", locks.path().join("locks"))
            .env(
                "PYSYS_PORTS",
                format!("5000-4000,{}", format_ports_spec(&sorted)),
            ),
        LIMIT,
    );
    let (stdout, stderr) = text(&output);
    assert!(stdout.starts_with("ports "), "{stdout}{stderr}");
    // The pool was read six times (five by the probe, once to build the pool): one warning.
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("allocport:"))
        .collect();
    assert_eq!(lines, [REVERSED], "{stderr}");
}

/// Run by the test below in a child process: reads a pool with a reversed range, then fails
/// if asked to, so its captured output is shown.
#[test]
#[ignore = "run by libtest_captures_the_warning_with_the_test_that_caused_it"]
fn child_reads_a_reversed_spec() {
    allocport_core::server_tcp_ports().unwrap();
    assert!(
        std::env::var_os("CHILD_SHOULD_FAIL").is_none(),
        "failing as asked, to show the captured output"
    );
}

#[test]
fn libtest_captures_the_warning_with_the_test_that_caused_it() {
    let run = |fail: bool| {
        let mut command = this_binary();
        command
            .args([
                "child_reads_a_reversed_spec",
                "--exact",
                "--ignored",
                "--test-threads=1",
            ])
            .env("PYSYS_PORTS", "5000-4000,23456");
        if fail {
            command.env("CHILD_SHOULD_FAIL", "1");
        }
        text(&output_within(&mut command, LIMIT))
    };
    let (stdout, stderr) = run(false);
    assert!(stdout.contains("1 passed"), "{stdout}{stderr}");
    assert!(
        !stdout.contains(REVERSED) && !stderr.contains(REVERSED),
        "a passing test's warning is captured: {stdout}{stderr}"
    );
    let (stdout, stderr) = run(true);
    assert!(stdout.contains("1 failed"), "{stdout}{stderr}");
    let shown = stdout
        .split("---- child_reads_a_reversed_spec stdout ----")
        .nth(1)
        .unwrap_or_else(|| panic!("no captured output section: {stdout}"));
    assert!(shown.contains(REVERSED), "{stdout}");
}
