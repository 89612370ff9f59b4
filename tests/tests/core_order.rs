//! The pool's order within one process: never-used ports first (in a shuffled order computed
//! lazily), then released ports, least recently released first. The scenario runs in a fresh
//! process of this test binary, whose pool is a small `PYSYS_PORTS` range of its own.

use allocport_core::{AddressFamily, TcpPortOwner};
use allocport_testkit::{DEADLINE, output_within, rerun_tests};

/// Set in the child process that runs the scenario.
const CHILD: &str = "ALLOCPORT_TEST_ORDER_CHILD";
const POOL: &str = "24800-24803";

fn take() -> TcpPortOwner {
    TcpPortOwner::with_hosts(&["localhost"], AddressFamily::Ipv4).unwrap()
}

#[test]
fn unused_ports_come_first_then_released_ones_least_recently_released_first() {
    if std::env::var_os(CHILD).is_some() {
        return scenario();
    }
    let output = output_within(
        rerun_tests("unused_ports_come_first_then_released_ones")
            .env(CHILD, "1")
            .env("PYSYS_PORTS", POOL)
            .env("ALLOCPORT_TIMEOUT_SECS", "20")
            .env_remove("PYSYS_PORTS_FILE")
            .env_remove("NEXTEST_TEST_GLOBAL_SLOT"),
        DEADLINE,
    );
    assert!(
        output.status.success(),
        "the scenario failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn scenario() {
    let first = take();
    let a = first.port();
    drop(first);
    // The three never-used ports come before the released one.
    let (b, c, d) = (take(), take(), take());
    let mut all = vec![a, b.port(), c.port(), d.port()];
    all.sort_unstable();
    assert_eq!(all, [24800, 24801, 24802, 24803], "a port came twice");
    // Released c, then b, then d: they come back after a, in that order.
    let expected = [a, c.port(), b.port(), d.port()];
    drop(c);
    drop(b);
    drop(d);
    let again: Vec<TcpPortOwner> = (0..4).map(|_| take()).collect();
    let again: Vec<u16> = again.iter().map(TcpPortOwner::port).collect();
    assert_eq!(again, expected, "not least recently released first");
}
