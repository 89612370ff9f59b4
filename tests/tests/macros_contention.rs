//! Issue 4's contention scenario, run by `.ci/macros-nextest-scenario`: 16 tests each hold 2
//! ports, with a listener bound on each for a few hundred milliseconds, while `PYSYS_PORTS`
//! offers only 10 ports and nextest runs 8 test processes at a time. They must wait for each
//! other's ports instead of clashing: a clash would fail a bind here, and the script's checker
//! (`macros_contention_check`) verifies from the log that no port was in two tests at once.
//!
//! Ignored by default so normal runs stay fast; the script runs them with
//! `--run-ignored only`. Each test appends one line to `$ALLOCPORT_CONTENTION_LOG/<test>`
//! when that variable is set.

use std::net::TcpListener;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use allocport_core::with_ports;

/// How long each test keeps its servers up: long enough that 16 tests cannot all fit in
/// 10 ports at once, short enough to keep the scenario to a few seconds.
const HOLD: Duration = Duration::from_millis(300);

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock before 1970")
        .as_nanos()
}

fn hold_servers(test: &str, ports: [u16; 2]) {
    assert_ne!(ports[0], ports[1], "{test}: got the same port twice");
    // Interval recorded strictly inside the time the ports are held: after the allocation
    // (which happened before the body) and before the release (after the body).
    let start = now_ns();
    let servers: Vec<TcpListener> = ports
        .iter()
        .map(|&port| {
            TcpListener::bind(("127.0.0.1", port))
                .unwrap_or_else(|e| panic!("{test}: port {port} was allocated but is in use: {e}"))
        })
        .collect();
    std::thread::sleep(HOLD);
    drop(servers);
    let end = now_ns();
    if let Some(dir) = std::env::var_os("ALLOCPORT_CONTENTION_LOG") {
        let line = format!("{test} {} {} {start} {end}\n", ports[0], ports[1]);
        std::fs::write(std::path::Path::new(&dir).join(test), line)
            .unwrap_or_else(|e| panic!("{test}: cannot write the contention log: {e}"));
    }
}

macro_rules! contention_tests {
    ($($name:ident)*) => {$(
        #[with_ports(2)]
        #[test]
        #[ignore = "contention scenario, run by .ci/macros-nextest-scenario"]
        fn $name(ports: [u16; 2]) {
            hold_servers(stringify!($name), ports);
        }
    )*};
}

contention_tests! {
    contend_01 contend_02 contend_03 contend_04 contend_05 contend_06 contend_07 contend_08
    contend_09 contend_10 contend_11 contend_12 contend_13 contend_14 contend_15 contend_16
}
