//! Ports held by allocport-fixtures return to the pool when each test ends, and a fixture
//! that cannot allocate fails its test with the fixture's name and the error.
//!
//! The pool is built once per process from `PYSYS_PORTS`, so each check runs this test binary
//! again as a child process (`allocport_testkit::rerun_tests`), with a two-port `PYSYS_PORTS`,
//! a short `ALLOCPORT_TIMEOUT_SECS`, `--ignored --test-threads=1` and a name filter: real
//! rstest tests marked `#[ignore]` then run one after another in that process. Most of them need both ports
//! of the pool, so a port not released by an earlier test makes a later one time out and
//! fail. `leaking_fixture_makes_later_tests_time_out` shows that such a failure is detected.
//!
//! The ignored tests check `ALLOCPORT_FIXTURES_CHILD` and return at once when it is not set,
//! so `cargo test -- --ignored` outside this harness does not fail on them.

use std::collections::BTreeSet;
use std::process::ExitStatus;
use std::time::Duration;

use allocport_core::{AddressFamily, DEFAULT_HOSTS, format_ports_spec, is_tcp_port_held};
use allocport_fixtures::{
    HeldTcpListener, TcpPortOwner, ipv6_tcp_port, localhost_tcp_port, tcp_listener, tcp_port,
    tcp_ports,
};
use allocport_testkit::{output_within, rerun_tests};
use rstest::{fixture, rstest};

/// Set (to the child's role) in the environment of child runs only.
const CHILD_ENV: &str = "ALLOCPORT_FIXTURES_CHILD";
/// How long a child's allocation waits for a port; a leaked port fails the run after this.
const CHILD_TIMEOUT_SECS: &str = "2";
/// Bound on a whole child run, so a hang fails the test instead of stalling the suite.
const CHILD_DEADLINE: Duration = Duration::from_secs(90);

// ---------------------------------------------------------------------------------------
// What runs inside the child processes.

/// Whether this is a child run of `role`.
fn in_child(role: &str) -> bool {
    std::env::var(CHILD_ENV).is_ok_and(|r| r == role)
}

/// In a child run of `role` (elsewhere it does nothing): checks the ports a probe got come
/// from the child's two-port pool, that this process holds them, and reports them on stderr
/// for the parent.
fn report_in(role: &str, test: &str, ports: &[u16]) {
    if !in_child(role) {
        return;
    }
    let pool: BTreeSet<u16> = std::env::var("PYSYS_PORTS")
        .unwrap()
        .split(',')
        .map(|p| p.trim().parse().unwrap())
        .collect();
    for port in ports {
        assert!(
            pool.contains(port),
            "port {port} is not in the pool {pool:?}"
        );
        assert!(is_tcp_port_held(*port), "port {port} is not held");
    }
    eprintln!("PROBE-RAN {test} {ports:?}");
}

fn ports_of(owners: &[TcpPortOwner]) -> Vec<u16> {
    owners.iter().map(TcpPortOwner::port).collect()
}

#[rstest]
#[ignore = "run by fixture_ports_are_released_when_each_test_ends"]
fn probe_a_tcp_port(tcp_port: TcpPortOwner) {
    report_in("probe", "probe_a_tcp_port", &[tcp_port.port()]);
}

#[rstest]
#[ignore = "run by fixture_ports_are_released_when_each_test_ends"]
fn probe_b_tcp_ports_takes_the_whole_pool(tcp_ports: Vec<TcpPortOwner>) {
    report_in(
        "probe",
        "probe_b_tcp_ports_takes_the_whole_pool",
        &ports_of(&tcp_ports),
    );
}

#[rstest]
#[ignore = "run by fixture_ports_are_released_when_each_test_ends"]
fn probe_c_from_tcp_port_twice(
    #[from(tcp_port)] a: TcpPortOwner,
    #[from(tcp_port)] b: TcpPortOwner,
) {
    report_in(
        "probe",
        "probe_c_from_tcp_port_twice",
        &[a.port(), b.port()],
    );
}

#[rstest]
#[case(1)]
#[case(2)]
#[case(3)]
#[ignore = "run by fixture_ports_are_released_when_each_test_ends"]
fn probe_d_each_case_takes_the_whole_pool(#[case] n: u32, #[with(2)] tcp_ports: Vec<TcpPortOwner>) {
    report_in("probe", &format!("probe_d_case_{n}"), &ports_of(&tcp_ports));
}

/// Two cases taking one port each. The pool hands out the least recently released port
/// first, so in a two-port pool consecutive fresh allocations alternate: a value shared
/// between the cases would show the same port twice.
#[rstest]
#[case(1)]
#[case(2)]
#[ignore = "run by fixture_ports_are_released_when_each_test_ends"]
fn probe_e_case_gets_a_fresh_port(#[case] n: u32, tcp_port: TcpPortOwner) {
    report_in("probe", &format!("probe_e_case_{n}"), &[tcp_port.port()]);
}

#[rstest]
#[ignore = "run by fixture_ports_are_released_when_each_test_ends"]
fn probe_f_localhost_ipv6_and_listener(
    localhost_tcp_port: TcpPortOwner,
    tcp_listener: HeldTcpListener,
) {
    report_in(
        "probe",
        "probe_f_localhost_ipv6_and_listener",
        &[localhost_tcp_port.port(), tcp_listener.port()],
    );
}

#[rstest]
#[ignore = "run by fixture_ports_are_released_when_each_test_ends"]
fn probe_g_ipv6_with_another(ipv6_tcp_port: TcpPortOwner, tcp_port: TcpPortOwner) {
    report_in(
        "probe",
        "probe_g_ipv6_with_another",
        &[ipv6_tcp_port.port(), tcp_port.port()],
    );
}

#[rstest]
#[tokio::test]
#[ignore = "run by fixture_ports_are_released_when_each_test_ends"]
async fn probe_h_async(#[with(2)] tcp_ports: Vec<TcpPortOwner>) {
    tokio::task::yield_now().await;
    report_in("probe", "probe_h_async", &ports_of(&tcp_ports));
}

/// A failing test must release its ports too (the owner drops while the panic unwinds).
#[rstest]
#[should_panic(expected = "failing on purpose")]
#[ignore = "run by fixture_ports_are_released_when_each_test_ends"]
fn probe_i_panicking_test(tcp_ports: Vec<TcpPortOwner>) {
    report_in("probe", "probe_i_panicking_test", &ports_of(&tcp_ports));
    panic!(
        "failing on purpose while holding {:?}",
        ports_of(&tcp_ports)
    );
}

#[rstest]
#[ignore = "run by fixture_ports_are_released_when_each_test_ends"]
fn probe_j_last_still_gets_the_whole_pool(tcp_ports: Vec<TcpPortOwner>) {
    report_in(
        "probe",
        "probe_j_last_still_gets_the_whole_pool",
        &ports_of(&tcp_ports),
    );
}

/// The pitfall the crate guide warns about: `#[once]` never drops its value.
#[fixture]
#[once]
fn port_held_forever() -> TcpPortOwner {
    TcpPortOwner::new().unwrap()
}

#[rstest]
#[ignore = "run by leaking_fixture_makes_later_tests_time_out"]
fn leak_a_once_fixture(port_held_forever: &TcpPortOwner) {
    report_in("leak", "leak_a_once_fixture", &[port_held_forever.port()]);
}

#[rstest]
#[ignore = "run by leaking_fixture_makes_later_tests_time_out"]
fn leak_b_needs_the_whole_pool(tcp_ports: Vec<TcpPortOwner>) {
    report_in("leak", "leak_b_needs_the_whole_pool", &ports_of(&tcp_ports));
}

#[rstest]
#[ignore = "run by failing_fixture_names_itself_and_the_error"]
fn fail_tcp_port(tcp_port: TcpPortOwner) {
    drop(tcp_port);
}

#[rstest]
#[ignore = "run by failing_fixture_names_itself_and_the_error"]
fn fail_tcp_ports(tcp_ports: Vec<TcpPortOwner>) {
    drop(tcp_ports);
}

#[rstest]
#[ignore = "run by failing_fixture_names_itself_and_the_error"]
fn fail_localhost_tcp_port(localhost_tcp_port: TcpPortOwner) {
    drop(localhost_tcp_port);
}

#[rstest]
#[ignore = "run by failing_fixture_names_itself_and_the_error"]
fn fail_ipv6_tcp_port(ipv6_tcp_port: TcpPortOwner) {
    drop(ipv6_tcp_port);
}

#[rstest]
#[ignore = "run by failing_fixture_names_itself_and_the_error"]
fn fail_tcp_listener(tcp_listener: HeldTcpListener) {
    drop(tcp_listener);
}

// ---------------------------------------------------------------------------------------
// The parent side.

struct ChildRun {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl ChildRun {
    fn output(&self) -> String {
        format!(
            "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }

    /// The ports each probe reported, in the order the probes ran.
    fn probes(&self) -> Vec<(String, Vec<u16>)> {
        self.stderr
            .lines()
            .filter_map(|line| line.strip_prefix("PROBE-RAN "))
            .map(|rest| {
                let (name, ports) = rest.split_once(' ').unwrap();
                let ports = ports
                    .trim_matches(['[', ']'])
                    .split(',')
                    .map(|p| p.trim().parse().unwrap())
                    .collect();
                (name.to_owned(), ports)
            })
            .collect()
    }
}

/// Two ports free now, for a child's pool. They are released before the child starts, so
/// another allocport process could take one in between; it would only make the child wait,
/// and across the whole default pool that is unlikely.
fn two_free_ports() -> Vec<u16> {
    let owners = TcpPortOwner::many(2, &DEFAULT_HOSTS, AddressFamily::Ipv4).unwrap();
    let ports = ports_of(&owners);
    drop(owners);
    ports
}

/// Runs the ignored tests of this binary whose names contain `filter`, one at a time, in a
/// child with `role` and `pysys_ports`; kills it if it outlives [`CHILD_DEADLINE`].
fn run_child(role: &str, filter: &str, pysys_ports: &str) -> ChildRun {
    let out = output_within(
        rerun_tests(filter)
            .arg("--ignored")
            .env(CHILD_ENV, role)
            .env("PYSYS_PORTS", pysys_ports)
            .env("ALLOCPORT_TIMEOUT_SECS", CHILD_TIMEOUT_SECS)
            .env_remove("PYSYS_PORTS_FILE")
            .env_remove("ALLOCPORT_STATS")
            .env("RUST_BACKTRACE", "0"),
        CHILD_DEADLINE,
    );
    ChildRun {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn fixture_ports_are_released_when_each_test_ends() {
    let pool = two_free_ports();
    let run = run_child("probe", "probe_", &format_ports_spec(&pool));
    let out = run.output();
    assert!(run.status.success(), "probe run failed: {out}");
    assert!(
        run.stdout.contains("test result: ok. 13 passed; 0 failed"),
        "not every probe ran: {out}"
    );

    let probes = run.probes();
    let names: Vec<&str> = probes.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "probe_a_tcp_port",
            "probe_b_tcp_ports_takes_the_whole_pool",
            "probe_c_from_tcp_port_twice",
            "probe_d_case_1",
            "probe_d_case_2",
            "probe_d_case_3",
            "probe_e_case_1",
            "probe_e_case_2",
            "probe_f_localhost_ipv6_and_listener",
            "probe_g_ipv6_with_another",
            "probe_h_async",
            "probe_i_panicking_test",
            "probe_j_last_still_gets_the_whole_pool",
        ],
        "{out}"
    );
    // Every probe but probe_a and probe_e held both ports of the pool at once: possible only
    // if every earlier test had given its ports back.
    let whole_pool: BTreeSet<u16> = pool.iter().copied().collect();
    for (name, ports) in &probes {
        if !name.starts_with("probe_a") && !name.starts_with("probe_e") {
            let got: BTreeSet<u16> = ports.iter().copied().collect();
            assert_eq!(got, whole_pool, "{name} did not hold the whole pool: {out}");
        }
    }
    let case_ports: Vec<&Vec<u16>> = probes
        .iter()
        .filter(|(n, _)| n.starts_with("probe_e"))
        .map(|(_, p)| p)
        .collect();
    assert_ne!(
        case_ports[0], case_ports[1],
        "the two cases shared one port: {out}"
    );
}

/// The control for the test above: when a port is not released (here by rstest's `#[once]`,
/// the pitfall the crate guide documents), the next test that needs the whole pool times out
/// and fails, naming the fixture.
#[test]
fn leaking_fixture_makes_later_tests_time_out() {
    let pool = two_free_ports();
    let run = run_child("leak", "leak_", &format_ports_spec(&pool));
    let out = run.output();
    assert!(!run.status.success(), "the leak went unnoticed: {out}");
    assert!(
        run.stdout
            .contains("test result: FAILED. 1 passed; 1 failed"),
        "{out}"
    );
    let names: Vec<String> = run.probes().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["leak_a_once_fixture"], "{out}");
    assert!(
        out.contains(
            "allocport fixture `tcp_ports` could not get its TCP port(s): timed out after"
        ),
        "{out}"
    );
}

#[test]
fn failing_fixture_names_itself_and_the_error() {
    let run = run_child("fail", "fail_", "abc");
    let out = run.output();
    assert!(!run.status.success(), "{out}");
    assert!(
        run.stdout
            .contains("test result: FAILED. 0 passed; 5 failed"),
        "{out}"
    );
    for fixture in [
        "tcp_port",
        "tcp_ports",
        "localhost_tcp_port",
        "ipv6_tcp_port",
        "tcp_listener",
    ] {
        let expected = format!(
            "allocport fixture `{fixture}` could not get its TCP port(s): PYSYS_PORTS: \"abc\""
        );
        assert!(out.contains(&expected), "no {expected:?} in: {out}");
    }
}
