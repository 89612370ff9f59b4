//! Statistics and exclusions. This file is its own test binary in which only one test
//! allocates in-process (the others use probe processes), so the process-wide counters see
//! only that test's allocations.

use std::sync::Mutex;

use allocport_core::{AddressFamily, DEFAULT_HOSTS, TcpPortOwner, port_allocation_stats};
use allocport_testkit::{DEADLINE, output_within, skip_under_wine};
use allocport_tests::probe_command;

/// A logger that keeps what it is given, to check what the crate logs.
struct Captured(Mutex<Vec<String>>);

impl log::Log for Captured {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        self.0.lock().unwrap().push(format!(
            "{} {} {}",
            record.level(),
            record.target(),
            record.args()
        ));
    }
    fn flush(&self) {}
}

static LOGGER: Captured = Captured(Mutex::new(Vec::new()));

#[test]
fn stats_count_pool_size_peak_and_lifetime_total_and_are_logged() {
    log::set_logger(&LOGGER).unwrap();
    log::set_max_level(log::LevelFilter::Debug);
    assert_eq!(
        port_allocation_stats(),
        Default::default(),
        "stats before any allocation"
    );

    let three = TcpPortOwner::many(3, &DEFAULT_HOSTS, AddressFamily::Ipv4).unwrap();
    drop(three);
    for _ in 0..2 {
        TcpPortOwner::new().unwrap().cleanup();
    }
    let stats = allocport_core::log_port_allocation_stats();
    assert_eq!(
        stats.pool_size,
        allocport_core::server_tcp_ports().unwrap().len()
    );
    assert_eq!(stats.peak_allocated, 3);
    assert_eq!(stats.lifetime_total_allocated, 5);

    let logged = LOGGER.0.lock().unwrap().join("\n");
    let expected = format!("DEBUG allocport::port_allocation_stats {stats}");
    assert!(logged.contains(&expected), "logged: {logged}");
    assert!(
        expected.contains("peak allocated at once 3, lifetime total allocated 5"),
        "{expected}"
    );
}

#[test]
fn stats_are_printed_at_exit_when_asked() {
    // The probe exits through `std::process::exit`, or by returning from `main`: on Windows
    // only the second runs the C library's `atexit` handlers.
    let run = |exit: &[&str], stats: Option<&str>| {
        let mut command = probe_command();
        command.args(exit).arg("try-many").arg("2");
        if let Some(value) = stats {
            command.env("ALLOCPORT_STATS", value);
        }
        let output = output_within(&mut command, DEADLINE);
        assert!(output.status.success());
        String::from_utf8(output.stderr).unwrap()
    };
    // The line alone: under Wine the probe also warns that the ephemeral range is unknown.
    const REPORT: &str = "allocport: TCP server port allocation: pool size";
    for exit in [&["return"][..], &[]] {
        if exit.is_empty()
            && skip_under_wine(
                "the statistics printed at std::process::exit",
                "Wine does not call an executable's TLS callbacks at exit, as Windows does",
            )
        {
            continue;
        }
        let stderr = run(exit, Some("1"));
        assert_eq!(
            stderr.matches(REPORT).count(),
            1,
            "exit {exit:?}, stderr: {stderr:?}"
        );
        assert!(
            stderr.contains("peak allocated at once 2, lifetime total allocated 2"),
            "exit {exit:?}, stderr: {stderr:?}"
        );
        assert!(!run(exit, None).contains(REPORT));
        assert!(!run(exit, Some("0")).contains(REPORT));
    }
}

#[test]
fn excluding_a_port_after_the_pool_exists_keeps_it_from_being_allocated() {
    let output = output_within(
        probe_command()
            .arg("exclude-after")
            .env("PYSYS_PORTS", "23400-23402")
            .env("ALLOCPORT_TIMEOUT_SECS", "20"),
        DEADLINE,
    );
    let line = String::from_utf8(output.stdout).unwrap();
    let (excluded, rest) = line
        .trim()
        .strip_prefix("excluded ")
        .unwrap()
        .split_once(" then ports ")
        .unwrap();
    let (ports, error) = rest.split_once(" then ").unwrap();
    let ports: Vec<&str> = ports.split(',').collect();
    assert_eq!(ports.len(), 2, "{line}");
    assert!(
        !ports.contains(&excluded),
        "excluded port {excluded} was allocated: {line}"
    );
    assert_eq!(
        error, "3 ports were asked for at once but the pool has only 2",
        "{line}"
    );
}
