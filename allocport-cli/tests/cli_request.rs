//! `allocport exec` with the request options: --offsets, --consecutive, --exact, --strict, and
//! their help. Each test uses a private lock directory and its own ports as the whole pool.

use std::process::{Command, Output};
use std::time::Duration;

use allocport_testkit::{TempDir, cargo_example, output_within};

const BIN: &str = env!("CARGO_BIN_EXE_allocport");
const LIMIT: Duration = Duration::from_secs(30);

fn allocport(dir: &TempDir, pool: &str, args: &[&str]) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env("ALLOCPORT_LOCK_DIR", dir.path().join("locks"))
        .env("PYSYS_PORTS", pool)
        .env("ALLOCPORT_TIMEOUT_SECS", "5");
    output_within(&mut command, LIMIT)
}

/// The ports the command saw: the `env=` field of the stand-in server's line, which is its
/// `ALLOCPORT_PORTS`.
fn ports_seen(out: &Output) -> Vec<u16> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{:?}: {stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .split_whitespace()
        .find_map(|field| field.strip_prefix("env="))
        .unwrap_or_else(|| panic!("no env= in {stdout:?}"))
        .split(',')
        .map(|p| p.parse().unwrap())
        .collect()
}

/// `allocport exec OPTIONS -- test_server`: the stand-in server (examples/test_server.rs)
/// listens on nothing and prints what allocport put in its environment.
fn exec(dir: &TempDir, pool: &str, options: &[&str]) -> Output {
    let server = cargo_example("test_server");
    let server = server.to_str().expect("a UTF-8 path");
    let args: Vec<&str> = ["exec"]
        .iter()
        .chain(options)
        .chain(&["--", server])
        .copied()
        .collect();
    allocport(dir, pool, &args)
}

#[test]
fn offsets_and_consecutive_give_related_ports() {
    let dir = TempDir::new("cli-request");
    let pool = "24500-24504, 34500-34504";
    let ports = ports_seen(&exec(&dir, pool, &["-n", "4", "--offsets", "0,10000"]));
    assert_eq!(ports.len(), 4, "{ports:?}");
    assert_eq!(ports[1], ports[0] + 10000, "{ports:?}");
    assert_eq!(ports[3], ports[2] + 10000, "{ports:?}");
    let ports = ports_seen(&exec(&dir, pool, &["-n", "3", "--consecutive"]));
    assert_eq!(ports[1], ports[0] + 1, "{ports:?}");
    assert_eq!(ports[2], ports[0] + 2, "{ports:?}");
}

#[test]
fn exact_takes_that_port_even_outside_the_pool_and_strict_is_accepted() {
    let dir = TempDir::new("cli-request");
    // Two fully free ports (no TIME_WAIT left by another test's server), reserved in the
    // shared store so that no other test takes them meanwhile; allocport runs on its own
    // lock directory, so the reservation is no obstacle to it.
    let reserved = allocport_core::PortRequest::new()
        .count(2)
        .strict(true)
        .allocate()
        .expect("reserving two ports for the test");
    let (pool, exact) = (reserved[0].port().to_string(), reserved[1].port());
    let exact_arg = exact.to_string();
    let ports = ports_seen(&exec(&dir, &pool, &["--exact", &exact_arg, "--strict"]));
    assert_eq!(ports, vec![exact]);
}

#[test]
fn contradictory_options_are_usage_errors_at_once() {
    let dir = TempDir::new("cli-request");
    for (options, expected) in [
        (&["-n", "3", "--offsets", "0,10000"][..], "multiple of 2"),
        (
            &["--offsets", "0,1", "--consecutive"][..],
            "cannot be used with",
        ),
        (
            &["-n", "2", "--exact", "24511"][..],
            "exact(24511) with count(2)",
        ),
        (&["--exact", "0"][..], "--exact"),
        (&["-n", "2", "--offsets", "0,0"][..], "0 is given twice"),
    ] {
        let out = exec(&dir, "24510", options);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{options:?}: {stderr}");
        assert!(stderr.contains(expected), "{options:?}: {stderr}");
    }
}

#[test]
fn help_names_the_request_options_and_time_wait() {
    let dir = TempDir::new("cli-request");
    let out = allocport(&dir, "24510", &["exec", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for word in [
        "--offsets",
        "--consecutive",
        "--exact",
        "--strict",
        "TIME_WAIT",
    ] {
        assert!(help.contains(word), "exec --help lacks {word}:\n{help}");
    }
    let out = allocport(&dir, "24510", &["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--offsets 0,10000"), "{help}");
}
