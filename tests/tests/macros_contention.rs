//! Issue 4's contention scenario, and its checks, in one place: 16 tests (`contend_NN`) each
//! hold 2 ports, with a listener bound on each for a few hundred milliseconds, while
//! `PYSYS_PORTS` offers only 10 ports and nextest runs 8 test processes at a time. They must
//! wait for each other's ports instead of clashing: a clash would fail a bind in a test, and
//! [`under_nextest_16_tests_share_10_ports_and_none_is_held_twice`], which runs them with
//! `cargo nextest`, verifies from their log that no port was in two tests at once.
//!
//! Ignored by default so normal runs stay fast (and need no cargo-nextest); CI runs the
//! scenario with
//! `cargo test -p allocport-tests --test macros_contention -- --ignored --exact
//! under_nextest_16_tests_share_10_ports_and_none_is_held_twice`.
//! `MACROS_SCENARIO_FIRST_PORT` moves its 10-port range (default 47310-47319) if it is busy.
//! Each `contend_NN` test writes one line to `$ALLOCPORT_CONTENTION_LOG/<test>` when that
//! variable is set.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::ops::RangeInclusive;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use allocport_core::with_ports;
use allocport_testkit::{TempDir, output_within};

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
        #[ignore = "run by under_nextest_16_tests_share_10_ports_and_none_is_held_twice"]
        fn $name(ports: [u16; 2]) {
            hold_servers(stringify!($name), ports);
        }
    )*};
}

contention_tests! {
    contend_01 contend_02 contend_03 contend_04 contend_05 contend_06 contend_07 contend_08
    contend_09 contend_10 contend_11 contend_12 contend_13 contend_14 contend_15 contend_16
}

/// How many `contend_NN` tests there are, and the ports the scenario offers them.
const TESTS: usize = 16;
const PORTS: u16 = 10;

/// One test's line in the contention log: its ports and when it held them.
struct Record {
    test: String,
    ports: [u16; 2],
    start: u128,
    end: u128,
}

fn parse_record(file: &Path, line: &str) -> Record {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [test, p0, p1, start, end] = fields.as_slice() else {
        panic!("{}: expected 5 fields, got {line:?}", file.display());
    };
    let number = |what: &str, s: &str| -> u128 {
        s.parse()
            .unwrap_or_else(|_| panic!("{}: {what} {s:?} is not a number", file.display()))
    };
    let port = |s: &str| -> u16 {
        s.parse()
            .unwrap_or_else(|_| panic!("{}: port {s:?} is not a port number", file.display()))
    };
    Record {
        test: (*test).to_owned(),
        ports: [port(p0), port(p1)],
        start: number("start", start),
        end: number("end", end),
    }
}

#[test]
#[ignore = "runs cargo nextest (about 10 s); CI runs it, see this file's header"]
fn under_nextest_16_tests_share_10_ports_and_none_is_held_twice() {
    let first: u16 = match std::env::var("MACROS_SCENARIO_FIRST_PORT") {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("MACROS_SCENARIO_FIRST_PORT: {text:?} is not a port")),
        Err(_) => 47310,
    };
    let range = first..=first + (PORTS - 1);
    let log = TempDir::new("contention-log");
    // A private lock directory: the scenario does not wait on ports other runs hold in the
    // same range.
    let lock_dir = TempDir::new("contention-locks");

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "nextest",
            "run",
            "-p",
            "allocport-tests",
            "--test",
            "macros_contention",
        ])
        .args([
            "--run-ignored",
            "only",
            "-j",
            "8",
            "--no-fail-fast",
            "contend_",
        ])
        .env("PYSYS_PORTS", format!("{}-{}", range.start(), range.end()))
        .env_remove("PYSYS_PORTS_FILE")
        .env("ALLOCPORT_LOCK_DIR", lock_dir.path())
        .env("ALLOCPORT_TIMEOUT_SECS", "60")
        .env("ALLOCPORT_CONTENTION_LOG", log.path());
    // Run under nextest itself, this test must not hand its own run's settings down.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("NEXTEST_") {
            command.env_remove(name);
        }
    }
    let out = output_within(&mut command, Duration::from_secs(600));
    let text = format!(
        "{}\n--- stdout ---\n{}--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "the contention tests failed (is cargo-nextest installed?): {text}"
    );

    let records: Vec<Record> = std::fs::read_dir(log.path())
        .unwrap_or_else(|e| panic!("{}: cannot read: {e}", log.path().display()))
        .map(|entry| {
            let path = entry.expect("a log entry").path();
            let line = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: cannot read: {e}", path.display()));
            parse_record(&path, line.trim())
        })
        .collect();
    assert_eq!(records.len(), TESTS, "tests logged: {text}");

    let summary = check_log(&records, &range);
    eprintln!("{summary}");
}

/// Checks the log: every port within `range`, none held by two tests at the same time.
fn check_log(records: &[Record], range: &RangeInclusive<u16>) -> String {
    let mut by_port: BTreeMap<u16, Vec<&Record>> = BTreeMap::new();
    for r in records {
        for port in r.ports {
            assert!(
                range.contains(&port),
                "{}: port {port} is outside PYSYS_PORTS {range:?}",
                r.test
            );
            by_port.entry(port).or_default().push(r);
        }
    }
    for (port, users) in &mut by_port {
        users.sort_by_key(|r| r.start);
        for pair in users.windows(2) {
            assert!(
                pair[1].start >= pair[0].end,
                "port {port} was held by {} and {} at the same time",
                pair[0].test,
                pair[1].test
            );
        }
    }

    // The most tests that held ports at one instant: at most half the ports offered.
    let mut events: Vec<(u128, i32)> = records
        .iter()
        .flat_map(|r| [(r.start, 1), (r.end, -1)])
        .collect();
    events.sort();
    let (mut now, mut peak) = (0, 0);
    for (_, delta) in events {
        now += delta;
        peak = peak.max(now);
    }
    assert!(
        peak <= i32::from(PORTS / 2),
        "{peak} tests held 2 ports each at once"
    );
    format!(
        "{} tests, {} distinct ports of {range:?} used, no port held twice at once; \
         at most {peak} tests held ports simultaneously",
        records.len(),
        by_port.len()
    )
}

#[test]
#[should_panic(expected = "port 47311 was held by contend_01 and contend_02 at the same time")]
fn the_log_check_catches_a_port_held_twice() {
    let record = |test: &str, ports, start, end| Record {
        test: test.to_owned(),
        ports,
        start,
        end,
    };
    check_log(
        &[
            record("contend_01", [47310, 47311], 100, 200),
            record("contend_02", [47311, 47312], 150, 250),
        ],
        &(47310..=47319),
    );
}

#[test]
#[should_panic(expected = "contend_01: port 47320 is outside PYSYS_PORTS")]
fn the_log_check_catches_a_port_outside_the_range() {
    let r = Record {
        test: "contend_01".to_owned(),
        ports: [47310, 47320],
        start: 1,
        end: 2,
    };
    check_log(&[r], &(47310..=47319));
}
