//! `allocport exec --listen`: the command gets its ports as listening sockets, passed as
//! systemd socket activation passes them, and a server that takes them serves clients through
//! them without binding anything itself.
#![cfg(unix)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use allocport_core::{TcpPortOwner, format_ports_spec};
use allocport_testkit::{Spawn, TempDir, cargo_example, output_within};

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_allocport");
/// Generous: only there to turn a hang into a failure.
const LIMIT: Duration = Duration::from_secs(30);

/// `allocport ARGS...` on `n` ports reserved for this test through the shared pool (so no other
/// allocport user binds them meanwhile) and given to it as its whole pool, with a private lock
/// directory.
struct Sandbox {
    _dir: TempDir,
    lock_dir: std::path::PathBuf,
    ports: Vec<u16>,
    _reserved: Vec<TcpPortOwner>,
}

impl Sandbox {
    fn new(n: usize) -> Sandbox {
        let (reserved, ports) = common::reserve_ports(n);
        let dir = TempDir::new("listen");
        let lock_dir = dir.path().join("locks");
        Sandbox {
            _dir: dir,
            lock_dir,
            ports,
            _reserved: reserved,
        }
    }

    fn allocport(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env("ALLOCPORT_LOCK_DIR", &self.lock_dir)
            .env("PYSYS_PORTS", format_ports_spec(&self.ports))
            .env("LISTEN_PID", "1") // a stale value allocport must not pass on
            .env("ALLOCPORT_TIMEOUT_SECS", "10");
        command
    }
}

#[test]
fn a_socket_activated_server_serves_clients_through_the_passed_socket() {
    let sandbox = Sandbox::new(1);
    let server = cargo_example("listen_server");
    let mut run = Spawn::new()
        .stdin(Stdio::null())
        .capture_stderr()
        .deadline(LIMIT)
        .start(&mut sandbox.allocport(&[
            "exec",
            "--listen",
            "--",
            server.to_str().unwrap(),
            "--count",
            "2",
        ]));
    let line = run.line();
    let addr = line
        .strip_prefix("listening on ")
        .and_then(|rest| rest.strip_suffix(" (LISTEN_FDNAMES=port0)"))
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    assert_eq!(addr.ip(), std::net::Ipv4Addr::LOCALHOST);
    assert_eq!(vec![addr.port()], sandbox.ports);
    for name in ["world", "again"] {
        let mut client = TcpStream::connect(addr).unwrap();
        writeln!(client, "{name}").unwrap();
        let mut reply = String::new();
        BufReader::new(&client).read_line(&mut reply).unwrap();
        assert_eq!(reply, format!("hello {name}\n"));
    }
    let out = run.finish();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn the_command_gets_listen_pid_fds_and_names_and_descriptors_from_3() {
    let sandbox = Sandbox::new(2);
    // `$$` is the shell's pid: the command's own, as LISTEN_PID must be. Writing nothing to a
    // descriptor fails if it is not open.
    let script = r#"echo "$LISTEN_PID $$ $LISTEN_FDS $LISTEN_FDNAMES"
{ true >&3; } 2>/dev/null && echo fd3
{ true >&4; } 2>/dev/null && echo fd4
{ true >&5; } 2>/dev/null || echo no-fd5"#;
    let out = output_within(
        &mut sandbox.allocport(&["exec", "--listen", "-n", "2", "--", "sh", "-c", script]),
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut lines = stdout.lines();
    let first: Vec<&str> = lines.next().unwrap().split(' ').collect();
    assert_eq!(
        first[0], first[1],
        "LISTEN_PID is not the command's pid: {stdout}"
    );
    assert_eq!(&first[2..], ["2", "port0:port1"], "{stdout}");
    assert_eq!(
        lines.collect::<Vec<_>>(),
        ["fd3", "fd4", "no-fd5"],
        "{stdout}"
    );
}

#[test]
fn a_command_that_cannot_be_found_exits_127_with_its_name() {
    let sandbox = Sandbox::new(1);
    let out = output_within(
        &mut sandbox.allocport(&["exec", "--listen", "--", "no-such-command-allocport"]),
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(127), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("no-such-command-allocport"), "{stderr}");
}

#[test]
fn without_listen_no_socket_activation_variables_are_set() {
    let sandbox = Sandbox::new(1);
    let out = output_within(
        sandbox
            .allocport(&["exec", "--", "sh", "-c", r#"echo "[${LISTEN_FDS-unset}]""#])
            .env_remove("LISTEN_PID"),
        LIMIT,
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "[unset]\n");
}

#[test]
fn listen_with_two_hosts_is_a_usage_error_naming_them() {
    let sandbox = Sandbox::new(1);
    let out = output_within(
        &mut sandbox.allocport(&["exec", "--listen", "--hosts", "localhost,::1", "--", "true"]),
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("--listen") && stderr.contains("::1"),
        "{stderr}"
    );
}

/// A rebuild while `exec --listen` waits replaces allocport's own executable, which it starts
/// again to pass the sockets: it still runs the command (it used to say the command was not
/// found, and exit 127).
#[cfg(target_os = "linux")]
#[test]
fn a_rebuild_of_allocport_while_it_waits_does_not_stop_the_command() {
    let sandbox = Sandbox::new(1);
    let dir = TempDir::new("listen-rebuilt");
    let copy = dir.path().join("allocport");
    std::fs::copy(BIN, &copy).unwrap();
    let spawn = || {
        Spawn::new()
            .stdin(Stdio::null())
            .capture_stderr()
            .deadline(LIMIT)
            .terminate_on_drop()
    };
    // The port is held, so the copy waits in its allocation until the holder ends.
    let hold = ["exec", "--", "sh", "-c", "echo held; exec sleep 20"];
    let mut holder = spawn().start(&mut sandbox.allocport(&hold));
    assert_eq!(holder.line(), "held");
    let command = sandbox.allocport(&["exec", "--listen", "--", "sh", "-c", "echo ran"]);
    let mut waiting = spawn().start(&mut rerooted(&command, &copy));
    let exe = format!("/proc/{}/exe", waiting.pid());
    let deadline = std::time::Instant::now() + LIMIT;
    while std::fs::read_link(&exe).ok().as_deref() != Some(copy.as_path()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the copy never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // A new build takes the old one's place, as a linker writing its output does.
    let rebuilt = dir.path().join("allocport.new");
    std::fs::copy(BIN, &rebuilt).unwrap();
    std::fs::rename(&rebuilt, &copy).unwrap();
    holder.signal(allocport_testkit::Signal::Term);
    holder.wait();
    assert_eq!(waiting.line(), "ran");
    let out = waiting.finish();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

/// `command` with the same arguments and environment, run from `program` instead.
#[cfg(target_os = "linux")]
fn rerooted(command: &Command, program: &std::path::Path) -> Command {
    let mut moved = Command::new(program);
    moved.args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => moved.env(key, value),
            None => moved.env_remove(key),
        };
    }
    moved
}
