//! An allocation that waits says so: once, after 5 s, on standard error, with the pool and
//! who holds its ports; the timeout error names the main holders too.

use std::time::Duration;

use allocport_core::{DEFAULT_HOSTS, TcpPortOwner, format_ports_spec};
use allocport_testkit::{Spawn, TempDir, output_within};
use allocport_tests::parse_ports_line;

const LIMIT: Duration = Duration::from_secs(60);

/// A holder process holding the whole two-port pool; returns it with the pool's spec.
struct Held {
    _owners: Vec<TcpPortOwner>,
    locks: TempDir,
    spec: String,
    holder: allocport_testkit::Process,
}

fn whole_pool_held() -> Held {
    let owners = TcpPortOwner::many(2, &DEFAULT_HOSTS, Default::default()).unwrap();
    let mut ports: Vec<u16> = owners.iter().map(TcpPortOwner::port).collect();
    ports.sort_unstable();
    let spec = format_ports_spec(&ports);
    let locks = TempDir::new("input-waiting");
    let mut holder = Spawn::new().start(
        allocport_tests::probe_command()
            .args(["hold", "2"])
            .env("ALLOCPORT_LOCK_DIR", locks.path().join("locks"))
            .env("PYSYS_PORTS", &spec),
    );
    let mut held = parse_ports_line(&holder.line());
    held.sort_unstable();
    assert_eq!(held, ports);
    Held {
        _owners: owners,
        locks,
        spec,
        holder,
    }
}

fn waiter(held: &Held, timeout_secs: &str) -> (String, String) {
    let output = output_within(
        allocport_tests::probe_command()
            .arg("try")
            .env("ALLOCPORT_LOCK_DIR", held.locks.path().join("locks"))
            .env("PYSYS_PORTS", &held.spec)
            .env("ALLOCPORT_TIMEOUT_SECS", timeout_secs),
        LIMIT,
    );
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_wait_of_5_s_is_reported_once_naming_the_holder() {
    let held = whole_pool_held();
    let pid = held.holder.pid();
    let (stdout, stderr) = waiter(&held, "7");
    let reports: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("allocport: warning: waited"))
        .collect();
    assert_eq!(reports.len(), 1, "{stderr}");
    let report = reports[0];
    for part in [
        "for 1 free TCP port from a pool of 2".to_owned(),
        format!("(PYSYS_PORTS={:?})", held.spec),
        "0 held by this process".to_owned(),
        format!("other processes hold 2 ports: {}", named(pid)),
    ] {
        assert!(report.contains(&part), "{part:?} missing from {report}");
    }
    if cfg!(unix) {
        assert!(
            report.contains("allocport-probe hold 2) holds 2"),
            "{report}"
        );
    }
    assert!(stdout.starts_with("err timed out after 7s"), "{stdout}");
    assert!(stdout.contains(&named(pid)), "{stdout}");
}

#[test]
fn a_shorter_wait_is_quiet_but_its_timeout_names_the_holder() {
    let held = whole_pool_held();
    let pid = held.holder.pid();
    let (stdout, stderr) = waiter(&held, "1");
    assert!(!stderr.contains("allocport: warning: waited"), "{stderr}");
    assert!(stdout.starts_with("err timed out after 1s"), "{stdout}");
    assert!(
        stdout.contains(&format!("other processes hold 2 ports: {}", named(pid))),
        "{stdout}"
    );
}

/// How a wait's message names the holder `pid`: Windows cannot name a lock's owner.
fn named(pid: u32) -> String {
    match cfg!(unix) {
        true => format!("pid {pid} ("),
        false => "a process the OS does not name holds 2".to_owned(),
    }
}
