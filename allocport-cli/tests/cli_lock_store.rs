//! `allocport exec` on a one-port pool while its lock directory is deleted: a second `exec`
//! must not get the port, and `allocport status` must keep naming the holder.
#![cfg(unix)]

use std::process::{Command, Stdio};
use std::time::Duration;

use allocport_core::TcpPortOwner;
use allocport_testkit::{Spawn, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_allocport");

#[test]
fn deleting_the_lock_dir_under_exec_neither_frees_the_port_nor_hides_the_holder() {
    // A port reserved through the shared pool, so no other user of it binds this one.
    let reserved = TcpPortOwner::new().expect("reserving a port for the test");
    let port = reserved.port().to_string();
    let tmp = TempDir::new("cli-store");
    let lock_dir = tmp.path().join("locks");
    let allocport = |args: &[&str], timeout: &str| {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env("ALLOCPORT_LOCK_DIR", &lock_dir)
            .env("PYSYS_PORTS", &port)
            .env_remove("PYSYS_PORTS_FILE")
            .env("ALLOCPORT_TIMEOUT_SECS", timeout)
            .stdin(Stdio::null());
        command
    };
    let spawn = || {
        Spawn::new()
            .capture_stderr()
            .deadline(Duration::from_secs(30))
            .terminate_on_drop()
    };
    let mut holder = spawn().start(&mut allocport(
        &[
            "exec",
            "-n",
            "1",
            "--",
            "sh",
            "-c",
            "echo {port0}; exec sleep 60",
        ],
        "10",
    ));
    assert_eq!(holder.line(), port);

    // Again until it is gone, as a clean-up would: the holder makes its lock file again as
    // soon as it sees it gone, which can fail one removal with "directory not empty".
    assert!(
        (0..1000).any(|_| std::fs::remove_dir_all(&lock_dir).is_ok()),
        "{} could not be deleted",
        lock_dir.display()
    );

    let second = spawn()
        .start(&mut allocport(&["exec", "--", "true"], "1"))
        .finish();
    assert_eq!(
        second.status.code(),
        Some(125),
        "a second exec ran while the port was held: {second:?}"
    );
    let status = spawn().start(&mut allocport(&["status"], "1")).finish();
    let report = String::from_utf8_lossy(&status.stdout);
    assert!(
        report
            .lines()
            .any(|l| l.starts_with(&format!("{} ", holder.pid())) && l.contains(&port)),
        "status does not name the holder {}: {report}",
        holder.pid()
    );
    drop(holder);
}
