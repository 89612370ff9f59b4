//! Every form of `#[with_ports(n)]` from issue 4, run as real tests: each checks that its
//! ports are distinct, held by this process for the whole body and bindable, and the
//! `*_releases_*` tests call the annotated functions directly to check that the ports go
//! back to the pool when the body ends: normally, by `Err` and by panic.

use std::cell::Cell;
use std::net::TcpListener;

use allocport_core::{is_tcp_port_held, with_ports};
use rstest::rstest;

thread_local! {
    // The ports the last annotated function saw on this thread, so that a caller can check
    // afterwards that they were released. Thread-local: the test harness runs other tests
    // (including the same functions as tests) on other threads at the same time.
    static SEEN: Cell<Vec<u16>> = const { Cell::new(Vec::new()) };
}

/// Checks what every body must see: distinct ports, all held here, all bindable; records them.
fn check_and_record(ports: &[u16]) -> Vec<TcpListener> {
    let mut sorted = ports.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        ports.len(),
        "ports handed out twice: {ports:?}"
    );
    for &port in ports {
        assert!(
            is_tcp_port_held(port),
            "port {port} is not held while the test runs"
        );
    }
    SEEN.set(ports.to_vec());
    ports
        .iter()
        .map(|&port| {
            TcpListener::bind(("127.0.0.1", port))
                .unwrap_or_else(|e| panic!("cannot bind allocated port {port}: {e}"))
        })
        .collect()
}

fn take_seen() -> Vec<u16> {
    SEEN.take()
}

fn assert_released(ports: &[u16]) {
    assert!(
        !ports.is_empty(),
        "the annotated function recorded no ports"
    );
    for &port in ports {
        assert!(
            !is_tcp_port_held(port),
            "port {port} still held after the body ended"
        );
    }
}

#[with_ports(2)]
#[test]
fn two(ports: [u16; 2]) {
    let _servers = check_and_record(&ports);
}

#[test]
fn two_releases_its_ports() {
    two();
    assert_released(&take_seen());
}

// No test attribute: the macro adds #[test].
#[with_ports(1)]
fn one(port: u16) {
    let _server = check_and_record(&[port]);
}

#[test]
fn one_releases_its_port() {
    one();
    assert_released(&take_seen());
}

#[with_ports(3)]
#[tokio::test]
async fn in_async(ports: [u16; 3]) {
    let _servers = check_and_record(&ports);
    for _ in 0..3 {
        tokio::task::yield_now().await;
        for port in ports {
            assert!(
                is_tcp_port_held(port),
                "port {port} released across an await"
            );
        }
    }
    // A task of the runtime sees the same ports held.
    let held = tokio::spawn(async move { ports.iter().all(|&p| is_tcp_port_held(p)) })
        .await
        .unwrap();
    assert!(held);
}

#[with_ports(2)]
#[test]
#[should_panic(expected = "boom")]
fn panics(ports: [u16; 2]) {
    let _servers = check_and_record(&ports);
    panic!("boom")
}

#[test]
fn panics_releases_its_ports() {
    let outcome = std::panic::catch_unwind(panics);
    assert!(outcome.is_err(), "`panics` did not panic");
    assert_released(&take_seen());
}

#[with_ports(2)]
#[test]
fn fallible(ports: [u16; 2]) -> Result<(), std::io::Error> {
    let _servers = check_and_record(&ports);
    // `?` works in the body and returns from the test, as without the macro.
    let listener = TcpListener::bind("127.0.0.1:0")?;
    drop(listener);
    Ok(())
}

// A fallible function that can be made to fail: rstest keeps the annotated function callable
// with its case arguments, so the `Err` path can be observed without a failing test.
#[with_ports(2)]
#[rstest]
#[case(false)]
fn maybe_err(#[case] fail: bool, ports: [u16; 2]) -> Result<(), std::io::Error> {
    let _servers = check_and_record(&ports);
    if fail {
        return Err(std::io::Error::other("failing on purpose"));
    }
    Ok(())
}

#[test]
fn err_releases_its_ports() {
    fallible().unwrap();
    assert_released(&take_seen());
    let err = maybe_err(true).unwrap_err();
    assert_eq!(err.to_string(), "failing on purpose");
    assert_released(&take_seen());
}

#[with_ports(2)]
#[rstest]
#[case(1)]
#[case(2)]
fn per_case(#[case] n: u32, ports: [u16; 2]) {
    assert!(n == 1 || n == 2);
    let _servers = check_and_record(&ports);
}

#[test]
fn every_case_allocates_its_own_ports() {
    // Each call is what one generated case does: the allocation happens inside the function,
    // so each case holds ports only while it runs, from an allocation of its own.
    per_case(1);
    assert_released(&take_seen());
    per_case(2);
    assert_released(&take_seen());
}

#[with_ports(2, param = servers)]
#[test]
fn named_param(servers: [u16; 2]) {
    let _servers = check_and_record(&servers);
}

// Two candidates of type [u16; 2]: the one named `ports` wins.
#[with_ports(2)]
#[rstest]
#[case([0, 0])]
fn ports_name_breaks_ties(#[case] other: [u16; 2], ports: [u16; 2]) {
    assert_eq!(other, [0, 0]);
    let _servers = check_and_record(&ports);
}

#[with_ports(2, hosts = ["127.0.0.1"])]
#[test]
fn hosts_option(ports: [u16; 2]) {
    let _servers = check_and_record(&ports);
}

#[with_ports(1, hosts = ["::1"], family = ipv6)]
#[test]
fn ipv6_family(port: u16) {
    assert!(is_tcp_port_held(port));
    let _server = TcpListener::bind(("::1", port))
        .unwrap_or_else(|e| panic!("cannot bind allocated port [::1]:{port}: {e}"));
}

// Patterns work as in a parameter list.
#[with_ports(2)]
#[test]
fn destructured([a, b]: [u16; 2]) {
    let _servers = check_and_record(&[a, b]);
}
