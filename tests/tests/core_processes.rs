//! Exclusion between processes: helper processes hold, try and churn ports at the same time,
//! and the tests check no port is ever held twice and a killed holder frees its ports at once.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use allocport_testkit::Process;
use allocport_tests::{
    assert_held_apart, churn_on, churn_report, parse_ports_line, probe, run_probe as run,
};

#[test]
fn eight_processes_holding_100_ports_each_from_a_1000_port_pool_never_share_one() {
    let env = [
        ("PYSYS_PORTS", "21000-21999"),
        ("ALLOCPORT_TIMEOUT_SECS", "30"),
    ];
    let mut holders: Vec<Process> = (0..8).map(|_| probe(&["hold", "100"], &env)).collect();
    // Every holder reports while all still hold: the ports are held at the same time.
    let held = assert_held_apart(&mut holders, 100, 21000..=21999, "port");
    assert_eq!(held, 800);
}

#[test]
fn the_holders_list_names_each_holder_of_ports_that_share_a_lock_file() {
    // Six ports of one lock file (each is 0 modulo 64), two held by each of three processes:
    // the list reads each file's locks by halves, not port by port, and must miss none.
    let ports = [26048u16, 26112, 26176, 26240, 26304, 26368];
    let spec = ports.map(|p| p.to_string()).join(",");
    let env = [
        ("PYSYS_PORTS", spec.as_str()),
        ("ALLOCPORT_TIMEOUT_SECS", "30"),
    ];
    let mut holders: Vec<Process> = (0..3).map(|_| probe(&["hold", "2"], &env)).collect();
    let mut expected = Vec::new();
    for holder in &mut holders {
        // Windows cannot name a lock's owner (LockFileEx has no query): only that it is held.
        let pid = cfg!(unix).then(|| holder.pid());
        for port in parse_ports_line(&holder.line()) {
            expected.push((port, pid));
        }
    }
    expected.sort_unstable();
    let listed: Vec<(u16, Option<u32>)> = allocport_core::tcp_port_holders()
        .unwrap()
        .into_iter()
        .filter(|h| ports.contains(&h.port))
        .map(|h| (h.port, h.pid))
        .collect();
    assert_eq!(listed, expected);
    for holder in &mut holders {
        holder.close_stdin();
        assert!(holder.wait().success());
    }
}

/// Right after a holder was killed, no lock of its is left on any of `ports`. Windows cannot
/// name a lock's owner, nor tell this process's locks from others': there the allocation that
/// follows, with a bounded wait, is the check.
fn assert_no_lock_of(pid: u32, ports: &[u16]) {
    let holders = allocport_core::tcp_port_holders().unwrap();
    for holder in holders.iter().filter(|h| ports.contains(&h.port)) {
        assert_ne!(
            holder.pid,
            Some(pid),
            "port {} is still locked by the killed process",
            holder.port
        );
    }
}

#[test]
fn a_held_port_makes_another_process_wait_then_time_out_and_sigkill_frees_it_at_once() {
    let pool = [("PYSYS_PORTS", "22000"), ("ALLOCPORT_TIMEOUT_SECS", "20")];
    let mut holder = probe(&["hold", "1"], &pool);
    assert_eq!(parse_ports_line(&holder.line()), vec![22000]);

    let start = Instant::now();
    let waiting = run(
        &["try"],
        &[("PYSYS_PORTS", "22000"), ("ALLOCPORT_TIMEOUT_SECS", "0.5")],
    );
    let waited = start.elapsed();
    assert!(waiting.starts_with("err timed out after"), "{waiting}");
    assert!(waiting.contains("the pool has 1 ports"), "{waiting}");
    assert!(
        waited >= Duration::from_millis(500),
        "gave up after {waited:?}, before the timeout"
    );

    let pid = holder.pid();
    holder.kill(); // SIGKILL: no destructor runs, only the kernel frees the lock.
    assert_no_lock_of(pid, &[22000]);
    let after = run(
        &["try"],
        &[("PYSYS_PORTS", "22000"), ("ALLOCPORT_TIMEOUT_SECS", "10")],
    );
    assert_eq!(after, "ok 22000");
}

#[test]
fn sigkilled_holder_of_100_ports_frees_all_of_them_at_once() {
    let range = "22100-22199";
    let mut holder = probe(
        &["hold", "100"],
        &[("PYSYS_PORTS", range), ("ALLOCPORT_TIMEOUT_SECS", "20")],
    );
    let held: HashSet<u16> = parse_ports_line(&holder.line()).into_iter().collect();
    assert_eq!(held.len(), 100);

    let blocked = run(
        &["try"],
        &[("PYSYS_PORTS", range), ("ALLOCPORT_TIMEOUT_SECS", "0")],
    );
    assert!(blocked.starts_with("err timed out"), "{blocked}");

    let pid = holder.pid();
    holder.kill();
    assert_no_lock_of(pid, &held.iter().copied().collect::<Vec<u16>>());
    // Other tests' processes may hold one of these ports for a moment (they are in the OS
    // pool), so the new owner may wait briefly; the check above is the "at once".
    let line = run(
        &["try-many", "100"],
        &[("PYSYS_PORTS", range), ("ALLOCPORT_TIMEOUT_SECS", "10")],
    );
    let again: HashSet<u16> = parse_ports_line(&line).into_iter().collect();
    assert_eq!(again, held);
}

#[test]
fn releasing_wakes_a_process_waiting_for_the_last_port() {
    let pool = [
        ("PYSYS_PORTS", "22300-22304"),
        ("ALLOCPORT_TIMEOUT_SECS", "30"),
    ];
    let mut holder = probe(&["hold", "5"], &pool);
    assert_eq!(parse_ports_line(&holder.line()).len(), 5);
    let mut waiter = probe(&["try"], &pool);
    assert_eq!(
        waiter.line_within(Duration::from_millis(300)),
        None,
        "got a port while all were held"
    );

    let released = Instant::now();
    holder.close_stdin();
    let line = waiter.line();
    let latency = released.elapsed();
    assert!(line.starts_with("ok 2230"), "{line}");
    // The holder must exit first (the kernel drops its locks), then the waiter's next poll finds
    // the port; this bound only catches a waiter that slept until its timeout.
    assert!(latency < Duration::from_secs(5), "woke after {latency:?}");
    eprintln!("cross-process release to wake-up: {latency:?}");
}

#[test]
fn four_thousand_ports_held_by_one_process_are_distinct_and_bindable() {
    // Ranges of their own, here and below: 4,000 ports held and bound for seconds would
    // otherwise stand in the way of the tests that use the file store (another store, which
    // does not exclude this one) on the ranges they chose.
    let env = [("PYSYS_PORTS", "14000-17999")];
    assert_eq!(run(&["hold-and-bind", "4000", "0"], &env), "ok 4000");
}

/// The kernel store takes a descriptor per held port: a soft limit of 1024 under a higher
/// hard one is raised once, as Go's runtime does.
#[cfg(unix)]
#[test]
fn four_thousand_ports_fit_under_a_soft_open_file_limit_of_1024() {
    let env = [("PYSYS_PORTS", "61000-64999")];
    assert_eq!(run(&["hold-and-bind", "4000", "1024"], &env), "ok 4000");
}

/// The file store needs no descriptor per port: 4,000 fit under a hard limit of 1024.
#[cfg(unix)]
#[test]
fn four_thousand_ports_of_the_file_store_fit_under_a_hard_limit_of_1024() {
    // A range of its own: the two stores do not exclude each other, and the other tests here
    // use the kernel store on the default pool.
    let env = [("ALLOCPORT_STORE", "files"), ("PYSYS_PORTS", "10100-14099")];
    assert_eq!(
        run(&["hold-and-bind", "4000", "1024", "1024"], &env),
        "ok 4000"
    );
}

/// Where the hard limit is too low, the kernel store says how many ports are held and what
/// to raise, rather than blaming the ports.
#[cfg(target_os = "linux")]
#[test]
fn a_hard_open_file_limit_too_low_for_the_ports_is_a_named_error() {
    let env = [
        ("ALLOCPORT_STORE", "kernel"),
        ("PYSYS_PORTS", "18000-19999"),
    ];
    let line = run(&["hold-and-bind", "2000", "256", "256"], &env);
    assert!(line.starts_with("err cannot hold another port"), "{line}");
    assert!(line.contains("may open 256 files"), "{line}");
    assert!(line.contains("ulimit -n"), "{line}");
}

/// A pool of 100 ports for 64 holders at once: nearly every allocation contends with another
/// process for the same few free ports, which is where a missing lock would show.
const CONTENDED_POOL: [(&str, &str); 2] = [
    ("PYSYS_PORTS", "23000-23099"),
    ("ALLOCPORT_TIMEOUT_SECS", "30"),
];

#[test]
fn eight_processes_of_eight_threads_churning_never_double_hold_a_port() {
    let mut churners: Vec<Process> = (0..8)
        .map(|_| probe(&["churn", "8", "3000"], &CONTENDED_POOL))
        .collect();
    let total: u64 = churners.iter_mut().map(|c| churn_report(c, "port")).sum();
    assert!(total > 0);
    eprintln!(
        "8 processes x 8 threads, 100-port pool: {total} allocations in 3 s ({} per second)",
        total / 3
    );
}

#[test]
fn sixteen_threads_taking_groups_and_single_ports_never_double_hold_a_port() {
    let total = churn_on(&["churn-groups", "16", "2000"], "23200-23259", "port");
    eprintln!("16 threads, groups and single ports, 60-port pool: {total} requests in 2 s");
}

#[test]
fn sixty_four_threads_churning_in_one_process_never_double_hold_a_port() {
    let total = churn_on(&["churn", "64", "3000"], "23100-23179", "port");
    eprintln!("64 threads, 80-port pool: {total} allocations in 3 s");
}
