//! When `#[with_ports]` cannot allocate, the test fails with a message naming the test, `n`
//! and the allocation error, located at the attribute. The pool is configured once per
//! process, so each case re-runs `needs_two` from this test binary in a child process whose
//! environment makes the allocation fail.

use std::process::Output;
use std::time::Duration;

use allocport_core::{TcpPortOwner, with_ports};
use allocport_testkit::{output_within, rerun_tests};

/// The line of `needs_two`'s `#[with_ports(2)]`, where the failure must be reported.
const ATTR_LINE: u32 = line!() + 3;

/// Passes in a normal environment; the cases below re-run it where allocation must fail.
#[with_ports(2)]
#[test]
fn needs_two(ports: [u16; 2]) {
    assert_ne!(ports[0], ports[1]);
}

/// Runs `needs_two` alone in a child process of this test binary with `env` added, killing
/// it if it has not finished within a minute.
fn run_needs_two(env: &[(&str, &str)]) -> Output {
    let mut cmd = rerun_tests("needs_two");
    cmd.arg("--exact");
    // The child must not inherit a configuration of the parent's environment; its waits are
    // bounded by a short allocation timeout unless a case sets its own.
    for var in ["PYSYS_PORTS", "PYSYS_PORTS_FILE"] {
        cmd.env_remove(var);
    }
    cmd.env("ALLOCPORT_TIMEOUT_SECS", "30");
    cmd.envs(env.iter().copied());
    output_within(&mut cmd, Duration::from_secs(60))
}

fn stderr_and_stdout(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_failed_at_attribute(out: &Output, reason: &str) {
    let text = stderr_and_stdout(out);
    assert!(!out.status.success(), "needs_two passed:\n{text}");
    assert!(
        text.contains(
            "#[with_ports(2)] on test `macros_failure::needs_two`: could not allocate 2 TCP port(s): "
        ),
        "no message naming the test and n:\n{text}"
    );
    assert!(
        text.contains(reason),
        "the cause {reason:?} is missing:\n{text}"
    );
    let location = format!("{}:{ATTR_LINE}:", file!());
    assert!(
        text.contains(&location),
        "the failure is not located at the attribute ({location}):\n{text}"
    );
}

#[test]
fn the_control_run_passes() {
    // Without this, the failure cases could pass because the child never ran the test.
    let out = run_needs_two(&[]);
    let text = stderr_and_stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("test needs_two ... ok"), "{text}");
}

#[test]
fn a_bad_pysys_ports_fails_the_test_with_its_message() {
    let out = run_needs_two(&[("PYSYS_PORTS", "abc")]);
    assert_failed_at_attribute(&out, "PYSYS_PORTS");
}

#[test]
fn a_port_held_elsewhere_fails_the_test_after_the_timeout() {
    // The child's pool is two ports, one of which this process keeps: the child's all-or-none
    // allocation of two waits for it until its timeout passes.
    let mut owners = TcpPortOwner::many(2, &["127.0.0.1"], allocport_core::AddressFamily::Ipv4)
        .expect("allocating two ports");
    let spec = allocport_core::format_ports_spec(&[owners[0].port(), owners[1].port()]);
    drop(owners.pop());
    let out = run_needs_two(&[("PYSYS_PORTS", &spec), ("ALLOCPORT_TIMEOUT_SECS", "0.5")]);
    assert_failed_at_attribute(&out, "timed out after");
    drop(owners);
}
