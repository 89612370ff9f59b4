//! Exact ports: in the pool they are kept from pool allocations while held, in this process
//! and in others; outside it they are taken in turns across processes.

use std::time::Duration;

use allocport_testkit::Process;
use allocport_tests::{request_probe, run_request_probe};

fn start(args: &[&str], pool: &str) -> Process {
    request_probe(args, pool, "30")
}

fn run(args: &[&str], pool: &str) -> String {
    run_request_probe(args, pool, "30")
}

#[test]
fn an_exact_port_of_the_pool_is_not_handed_out_by_the_pool_while_held_here() {
    let report = run(&["exact-in-pool"], "24310-24312");
    let (rest, after) = report
        .strip_prefix("rest ")
        .and_then(|r| r.split_once(" then "))
        .unwrap_or_else(|| panic!("{report}"));
    let mut rest: Vec<&str> = rest.split(',').collect();
    rest.sort_unstable();
    assert_eq!(rest, ["24311", "24312"], "{report}");
    assert!(after.starts_with("timed out"), "{report}");
    assert!(after.ends_with("then got 24310"), "{report}");
}

#[test]
fn an_exact_port_is_taken_in_turns_across_processes() {
    let mut holder = start(
        &["request", "exact=24320", "hosts=localhost", "hold"],
        "24321",
    );
    assert!(holder.line().starts_with("ports 24320 "));
    // Another process's pool allocation never gets it (it is in that pool here)...
    let pool_request = run(&["request", "timeout=0.3", "count=2"], "24320-24321");
    assert!(pool_request.starts_with("err timed out"), "{pool_request}");
    // ... and an exact request waits for it.
    let quick = run(&["request", "exact=24320", "timeout=0.3"], "24321");
    assert!(quick.contains("waiting for port 24320"), "{quick}");
    let mut waiter = start(&["request", "exact=24320", "timeout=20"], "24321");
    std::thread::sleep(Duration::from_millis(300));
    holder.close_stdin();
    holder.wait();
    let got = waiter.line();
    assert!(got.starts_with("ports 24320 "), "{got}");
    waiter.wait();
}
