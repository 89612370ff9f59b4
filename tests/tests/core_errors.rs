//! Bad input: every configuration error comes back at once (never after the timeout), from
//! `TcpPortOwner::new()` itself, naming the variable or path and the offending value.

use std::time::{Duration, Instant};

use allocport_testkit::TempDir;
use allocport_tests::probe;

/// Runs `allocport-probe try HOSTS...` with `envs` and a long timeout, and returns its error
/// message, checking it came back well before the timeout could have passed.
fn try_error(hosts: &[&str], envs: &[(&str, &str)]) -> String {
    let mut args = vec!["try"];
    args.extend_from_slice(hosts);
    let mut envs = envs.to_vec();
    envs.push(("ALLOCPORT_TIMEOUT_SECS", "120"));
    let start = Instant::now();
    let mut p = probe(&args, &envs);
    let line = p.line();
    p.wait();
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "error took {:?}: it waited",
        start.elapsed()
    );
    line.strip_prefix("err ")
        .unwrap_or_else(|| panic!("expected an error, got {line:?}"))
        .to_owned()
}

#[test]
fn malformed_pysys_ports_tokens_name_variable_and_token() {
    for (spec, token) in [
        ("2000,abc", "abc"),
        ("0", "0"),
        ("65536", "65536"),
        ("100-70000", "100-70000"),
        ("1-2-3", "1-2-3"),
        ("-5", "-5"),
        ("2000-", "2000-"),
    ] {
        let msg = try_error(&[], &[("PYSYS_PORTS", spec)]);
        assert!(msg.starts_with("PYSYS_PORTS: "), "{spec}: {msg}");
        assert!(msg.contains(&format!("{token:?}")), "{spec}: {msg}");
    }
}

#[test]
fn empty_pool_is_an_error_at_once() {
    let msg = try_error(&[], &[("PYSYS_PORTS", "6000, 6665-6669")]);
    assert!(
        msg.contains("empty") && msg.contains(r#"PYSYS_PORTS="6000, 6665-6669""#),
        "{msg}"
    );
    let msg = try_error(&[], &[("PYSYS_PORTS", ",")]);
    assert!(
        msg.contains("empty") && msg.contains("PYSYS_PORTS"),
        "{msg}"
    );
}

#[test]
fn pysys_ports_file_errors_name_the_path() {
    let dir = TempDir::new("portsfile");
    let missing = dir.path().join("missing.txt");
    let msg = try_error(&[], &[("PYSYS_PORTS_FILE", missing.to_str().unwrap())]);
    assert!(
        msg.starts_with("PYSYS_PORTS_FILE") && msg.contains(&format!("{missing:?}")),
        "{msg}"
    );

    let garbage = dir.path().join("garbage.txt");
    std::fs::write(&garbage, "2000\n2001-2002\nnot-a-port\n").unwrap();
    let msg = try_error(&[], &[("PYSYS_PORTS_FILE", garbage.to_str().unwrap())]);
    assert!(
        msg.contains(&format!("{}, line 3", garbage.display())) && msg.contains("\"not-a-port\""),
        "{msg}"
    );

    let latin1 = dir.path().join("latin1.txt");
    std::fs::write(&latin1, b"2000\n\xe9t\xe9\n").unwrap();
    let msg = try_error(&[], &[("PYSYS_PORTS_FILE", latin1.to_str().unwrap())]);
    assert!(
        msg.contains("not UTF-8") && msg.contains(&format!("{latin1:?}")),
        "{msg}"
    );
}

#[cfg(unix)]
#[test]
fn unreadable_ports_file_names_the_path() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("unreadable");
    let file = dir.path().join("ports.txt");
    std::fs::write(&file, "2000\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::read(&file).is_ok() {
        // Root reads anything: a directory in the file's place is unreadable for everyone.
        std::fs::remove_file(&file).unwrap();
        std::fs::create_dir(&file).unwrap();
    }
    let msg = try_error(&[], &[("PYSYS_PORTS_FILE", file.to_str().unwrap())]);
    assert!(
        msg.starts_with("PYSYS_PORTS_FILE: cannot read") && msg.contains(file.to_str().unwrap()),
        "{msg}"
    );
}

#[test]
fn malformed_timeout_names_the_variable() {
    let mut p = probe(&["try"], &[("ALLOCPORT_TIMEOUT_SECS", "soon")]);
    let line = p.line();
    p.wait();
    assert_eq!(
        line,
        r#"err ALLOCPORT_TIMEOUT_SECS: "soon" is not a number of seconds"#
    );
}

#[test]
fn unresolvable_host_is_named() {
    let msg = try_error(&["localhost", "no-such-host.invalid"], &[]);
    assert!(msg.contains(r#""no-such-host.invalid""#), "{msg}");
}

/// Splits a probe's `KEY N message TEXT` report into `N` and `TEXT`.
fn figure_and_message<'a>(line: &'a str, key: &str) -> (u64, &'a str) {
    let rest = line
        .strip_prefix(key)
        .and_then(|rest| rest.strip_prefix(' '))
        .unwrap_or_else(|| panic!("expected `{key} N message ...`, got {line:?}"));
    let (figure, message) = rest
        .split_once(" message ")
        .unwrap_or_else(|| panic!("{line:?}"));
    (
        figure.parse().unwrap_or_else(|_| panic!("{line:?}")),
        message,
    )
}

#[test]
fn exhausted_pool_times_out_in_the_configured_time_and_a_release_wakes_a_waiter() {
    let mut p = probe(&["exhaust"], &[("PYSYS_PORTS", "23300-23304")]);
    let timeout_line = p.line();
    let woke_line = p.line();
    assert!(p.wait().success(), "{timeout_line} / {woke_line}");

    let (ms, message) = figure_and_message(&timeout_line, "timeout_ms");
    assert!(
        (300..10_000).contains(&ms),
        "timed out after {ms} ms with a 300 ms timeout"
    );
    assert!(
        message.starts_with("timed out after 300ms waiting for a free TCP server port"),
        "{message}"
    );
    assert!(
        message.contains("the pool has 5 ports, 5 held by this process"),
        "{message}"
    );

    let woke_us: u64 = woke_line
        .strip_prefix("woke_us ")
        .unwrap_or_else(|| panic!("{woke_line}"))
        .parse()
        .unwrap();
    eprintln!("in-process release to wake-up: {woke_us} us");
    assert!(
        woke_us < 100_000,
        "a release woke the waiter only after {woke_us} us"
    );
}

#[cfg(unix)]
#[test]
fn waiting_for_several_ports_sleeps_instead_of_spinning() {
    // Two ports wanted, one free: each pass claims the free one and gives it back. The wait
    // that follows must not be cut short by that give-back, or the process spins for the whole
    // timeout.
    let mut p = probe(&["wait-cpu"], &[("PYSYS_PORTS", "23500-23502")]);
    let line = p.line();
    assert!(p.wait().success(), "{line}");
    let (cpu_ms, message) = figure_and_message(&line, "cpu_ms");
    assert!(message.starts_with("timed out after 1s"), "{message}");
    eprintln!("CPU time while waiting 1 s for two ports: {cpu_ms} ms");
    assert!(
        cpu_ms < 250,
        "the wait used {cpu_ms} ms of CPU in 1 s: it spins"
    );
}
