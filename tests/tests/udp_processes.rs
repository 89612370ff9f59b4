//! UDP ports between processes and threads: the same helper-process tests as for TCP, through
//! the `allocport-probe udp` helper. UDP claims are kept apart from TCP claims, and a port
//! held for both blocks both.

use std::time::Duration;

use allocport_testkit::Process;
use allocport_tests::{
    assert_held_apart, churn_on, churn_report, parse_ports_line, run_udp_probe as run, udp_probe,
};

#[test]
fn six_processes_holding_50_udp_ports_each_from_a_300_port_pool_never_share_one() {
    let env = [
        ("PYSYS_PORTS", "27100-27399"),
        ("ALLOCPORT_TIMEOUT_SECS", "30"),
    ];
    let mut holders: Vec<Process> = (0..6)
        .map(|_| udp_probe(&["hold", "udp", "50"], &env))
        .collect();
    let held = assert_held_apart(&mut holders, 50, 27100..=27399, "UDP port");
    assert_eq!(held, 300);
}

#[test]
fn four_processes_of_eight_threads_churning_udp_ports_never_double_hold_one() {
    // 40 ports for 32 holders: nearly every allocation contends for the same few free ports.
    let pool = [
        ("PYSYS_PORTS", "27400-27439"),
        ("ALLOCPORT_TIMEOUT_SECS", "30"),
    ];
    let mut churners: Vec<Process> = (0..4)
        .map(|_| udp_probe(&["churn", "8", "2000"], &pool))
        .collect();
    let total: u64 = churners
        .iter_mut()
        .map(|c| churn_report(c, "UDP port"))
        .sum();
    assert!(total > 0);
    eprintln!("4 processes x 8 threads, 40 UDP ports: {total} allocations in 2 s");
}

#[test]
fn thirty_two_threads_churning_udp_ports_in_one_process_never_double_hold_one() {
    churn_on(&["udp", "churn", "32", "2000"], "27450-27489", "UDP port");
}

#[test]
fn a_held_udp_port_blocks_udp_not_tcp_and_sigkill_frees_it() {
    let one = [("PYSYS_PORTS", "27500"), ("ALLOCPORT_TIMEOUT_SECS", "20")];
    let short = [("PYSYS_PORTS", "27500"), ("ALLOCPORT_TIMEOUT_SECS", "0.3")];
    let mut holder = udp_probe(&["hold", "udp", "1"], &one);
    assert_eq!(parse_ports_line(&holder.line()), vec![27500]);

    let udp = run(&["try", "udp"], &short);
    assert!(udp.starts_with("err timed out"), "{udp}");
    let dual = run(&["try", "dual"], &short);
    assert!(dual.starts_with("err timed out"), "{dual}");
    // The TCP claim of the same number is another lock: another process may have it. (A
    // generous timeout: a test elsewhere may hold the number for TCP for a moment.)
    assert_eq!(
        run(
            &["try", "tcp"],
            &[("PYSYS_PORTS", "27500"), ("ALLOCPORT_TIMEOUT_SECS", "20")]
        ),
        "ok 27500"
    );

    // Windows cannot name a lock's owner (LockFileEx has no query): only that it is held.
    let pid = cfg!(unix).then(|| holder.pid());
    let udp_holder = allocport_core::udp_port_holders()
        .unwrap()
        .into_iter()
        .find(|h| h.port == 27500);
    assert_eq!(
        udp_holder.map(|h| h.pid),
        Some(pid),
        "the UDP hold is not listed"
    );
    assert!(
        !allocport_core::tcp_port_holders()
            .unwrap()
            .iter()
            .any(|h| h.port == 27500 && h.pid == pid),
        "a UDP hold shows as a TCP one"
    );

    holder.kill(); // SIGKILL (TerminateProcess): only the kernel frees the lock.
    holder.wait();
    assert!(
        !allocport_core::udp_port_holders()
            .unwrap()
            .iter()
            .any(|h| match pid {
                Some(pid) => h.pid == Some(pid),
                None => h.port == 27500,
            }),
        "the killed holder's UDP lock is still there"
    );
    assert_eq!(
        run(
            &["try", "udp"],
            &[("PYSYS_PORTS", "27500"), ("ALLOCPORT_TIMEOUT_SECS", "10")]
        ),
        "ok 27500"
    );
}

#[test]
fn a_port_held_for_tcp_and_udp_blocks_both_until_released() {
    let one = [("PYSYS_PORTS", "27510"), ("ALLOCPORT_TIMEOUT_SECS", "20")];
    let short = [("PYSYS_PORTS", "27510"), ("ALLOCPORT_TIMEOUT_SECS", "0.3")];
    let mut holder = udp_probe(&["hold", "dual", "1"], &one);
    assert_eq!(parse_ports_line(&holder.line()), vec![27510]);
    for kind in ["tcp", "udp", "dual"] {
        let line = run(&["try", kind], &short);
        assert!(line.starts_with("err timed out"), "{kind}: {line}");
    }
    let mut waiter = udp_probe(&["try", "udp"], &one);
    assert_eq!(waiter.line_within(Duration::from_millis(300)), None);
    holder.close_stdin();
    assert!(holder.wait().success());
    assert_eq!(waiter.line(), "ok 27510");
    waiter.wait();
}
