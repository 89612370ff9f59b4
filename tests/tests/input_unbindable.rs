//! Ports the OS will not let this process bind, for a reason other than use: they are left
//! out of the pool (up front when the OS says so, else when the bind check meets them) and
//! named in a warning; they never fail an allocation. A host that is not a local address is
//! still an error at once.
//!
//! The unprivileged cases run the probe as `nobody` when the suite runs as root (see
//! `allocport_tests::nobody`), and are skipped with a printed line where that cannot be done.

#![cfg(target_os = "linux")]

use std::process::Output;
use std::time::{Duration, Instant};

use allocport_core::{DEFAULT_HOSTS, TcpPortOwner, format_ports_spec};
use allocport_testkit::output_within;
use allocport_tests::nobody::Unprivileged;
use allocport_tests::parse_ports_line;

/// Generous: only there to turn a hang into a failure.
const LIMIT: Duration = Duration::from_secs(60);

/// Three ports reserved through the shared pool for the test, so no other allocport user
/// binds them meanwhile; the probe, with its own lock directory, gets them as its pool.
fn reserve(n: usize) -> (Vec<TcpPortOwner>, Vec<u16>) {
    let owners = TcpPortOwner::many(n, &DEFAULT_HOSTS, Default::default()).unwrap();
    let mut ports: Vec<u16> = owners.iter().map(TcpPortOwner::port).collect();
    ports.sort_unstable();
    (owners, ports)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn warnings(output: &Output) -> Vec<String> {
    text(&output.stderr)
        .lines()
        .filter(|l| l.starts_with("allocport: warning: "))
        .map(str::to_owned)
        .collect()
}

fn first_line(output: &Output) -> String {
    text(&output.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// A pool of 80 and 443 (privileged) and three usable ports reserved for the test: the
/// owners, the usable ports and the `PYSYS_PORTS` spec.
fn privileged_and_usable() -> (Vec<TcpPortOwner>, Vec<u16>, String) {
    let (owners, usable) = reserve(3);
    let spec = format!("80,443,{}", format_ports_spec(&usable));
    (owners, usable, spec)
}

/// Checks a probe's `repeat 20` succeeded and got 20 ports, all of them `usable` ones.
fn assert_20_usable_ports(output: &Output, usable: &[u16]) {
    let line = first_line(output);
    assert!(output.status.success(), "{line}\n{}", text(&output.stderr));
    let got = parse_ports_line(&line);
    assert_eq!(got.len(), 20, "{line}");
    assert!(
        got.iter().all(|p| usable.contains(p)),
        "{line} not in {usable:?}"
    );
}

#[test]
fn privileged_ports_asked_for_are_left_out_up_front_for_an_unprivileged_user() {
    let Some(user) = Unprivileged::new("privileged_ports_asked_for_are_left_out_up_front") else {
        return;
    };
    let (_owners, usable, spec) = privileged_and_usable();
    let output = output_within(
        user.probe(&["repeat", "20"]).env("PYSYS_PORTS", &spec),
        LIMIT,
    );
    assert_20_usable_ports(&output, &usable);
    let warnings = warnings(&output);
    assert_eq!(warnings.len(), 1, "one warning per process: {warnings:#?}");
    assert!(
        warnings[0].contains("ports 80,443 are below 1024") && warnings[0].contains("left out"),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[0].contains(&format!("PYSYS_PORTS={spec:?}")),
        "{}",
        warnings[0]
    );
}

#[test]
fn only_privileged_ports_for_an_unprivileged_user_is_an_empty_pool_at_once() {
    let Some(user) = Unprivileged::new("only_privileged_ports_is_an_empty_pool") else {
        return;
    };
    let start = Instant::now();
    let output = output_within(
        user.probe(&["try"])
            .env("PYSYS_PORTS", "80,443")
            .env("ALLOCPORT_TIMEOUT_SECS", "120"),
        LIMIT,
    );
    let line = first_line(&output);
    assert!(
        line.starts_with("err the pool of server TCP ports is empty"),
        "{line}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "took {:?}",
        start.elapsed()
    );
}

/// A process that loses its privileges after building its pool meets the refused ports in
/// the bind check itself: they are skipped like busy ones and named once.
#[test]
fn ports_the_os_refuses_at_bind_time_are_skipped_and_named_once() {
    let Some(user) = Unprivileged::new("ports_the_os_refuses_at_bind_time") else {
        return;
    };
    let Some((uid, gid)) = user.nobody_ids() else {
        println!(
            "SKIPPED ports_the_os_refuses_at_bind_time: needs root, to drop to nobody after start"
        );
        return;
    };
    let (_owners, usable, spec) = privileged_and_usable();
    let output = output_within(
        user.probe_as_self(&[
            "setuid-then-repeat",
            &uid.to_string(),
            &gid.to_string(),
            "20",
        ])
        .env("PYSYS_PORTS", &spec),
        LIMIT,
    );
    assert_20_usable_ports(&output, &usable);
    let warnings = warnings(&output);
    assert!(!warnings.is_empty(), "no warning: {}", text(&output.stderr));
    for port in ["80", "443"] {
        let naming: Vec<_> = warnings
            .iter()
            .filter(|w| w.split([' ', ',']).any(|word| word == port))
            .collect();
        assert_eq!(naming.len(), 1, "port {port} named once: {warnings:#?}");
    }
    for warning in &warnings {
        assert!(
            warning.contains("cannot bind port")
                && warning.contains("Permission denied")
                && warning.contains("left out of this process's pool"),
            "{warning}"
        );
    }
}

#[test]
fn a_host_that_is_not_a_local_address_is_still_an_error_at_once() {
    let (_owners, usable) = reserve(1);
    let locks = allocport_testkit::TempDir::new("input-host");
    let start = Instant::now();
    let output = output_within(
        allocport_tests::probe_command()
            .args(["try", "192.0.2.1"])
            .env("ALLOCPORT_LOCK_DIR", locks.path().join("locks"))
            .env("PYSYS_PORTS", format_ports_spec(&usable))
            .env("ALLOCPORT_TIMEOUT_SECS", "120"),
        LIMIT,
    );
    let line = first_line(&output);
    assert!(line.starts_with("err cannot check port"), "{line}");
    assert!(line.contains("192.0.2.1"), "{line}");
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "took {:?}",
        start.elapsed()
    );
}
