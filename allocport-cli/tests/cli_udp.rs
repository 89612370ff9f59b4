//! `allocport exec --udp` and `--tcp-and-udp`, and `--listen` with `--udp` and the request
//! options: UDP ports skip numbers busy for UDP only, numbers held for both skip numbers busy
//! for either, and the command gets bound sockets of the right protocol on related ports.
//! `--listen` is Unix's, and so are the tests that run `sh` scripts.

#[cfg(unix)]
use std::net::TcpStream;
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
#[cfg(unix)]
use std::process::Stdio;
use std::process::{Command, Output};
use std::time::Duration;

use allocport_core::{PortRequest, TcpPortOwner, format_ports_spec};
#[cfg(unix)]
use allocport_testkit::{Process, Spawn};
use allocport_testkit::{TempDir, cargo_example, output_within};

const BIN: &str = env!("CARGO_BIN_EXE_allocport");
/// Generous: only there to turn a hang into a failure.
const LIMIT: Duration = Duration::from_secs(30);

/// `n` consecutive numbers reserved for TCP and UDP through the shared pool (so no other
/// allocport user takes or binds them meanwhile), given to allocport as its whole pool with a
/// private lock directory; the test binds some of them itself, as another program would.
struct Sandbox {
    dir: TempDir,
    ports: Vec<u16>,
    _reserved: Vec<TcpPortOwner>,
}

impl Sandbox {
    fn new(n: usize) -> Sandbox {
        let reserved = PortRequest::new()
            .consecutive(n)
            .tcp_and_udp()
            .timeout(LIMIT)
            .allocate()
            .expect("reserving ports for the test");
        Sandbox {
            dir: TempDir::new("cli-udp"),
            ports: reserved.iter().map(TcpPortOwner::port).collect(),
            _reserved: reserved,
        }
    }

    fn allocport(&self, pool: &[u16], args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env("ALLOCPORT_LOCK_DIR", self.dir.path().join("locks"))
            .env("PYSYS_PORTS", format_ports_spec(pool))
            .env("ALLOCPORT_TIMEOUT_SECS", "0.5");
        command
    }

    /// `allocport exec OPTIONS -- COMMAND...` with `pool` as the pool.
    fn exec_command(&self, pool: &[u16], options: &[&str], command: &[&str]) -> Command {
        let mut args = vec!["exec"];
        args.extend(options);
        args.push("--");
        args.extend(command);
        self.allocport(pool, &args)
    }

    /// Runs `allocport exec OPTIONS --` the stand-in server (examples/test_server.rs), which
    /// listens on nothing and prints what allocport put in its environment.
    fn exec(&self, pool: &[u16], options: &[&str]) -> Output {
        let server = cargo_example("test_server");
        let server = server.to_str().expect("a UTF-8 path");
        output_within(&mut self.exec_command(pool, options, &[server]), LIMIT)
    }

    /// Starts `allocport exec OPTIONS -- sh -c SCRIPT` on the whole sandbox, its stdin a pipe
    /// the test closes when the command may end (a script's `cat` waits for that).
    #[cfg(unix)]
    fn start(&self, options: &[&str], script: &str) -> Process {
        Spawn::new()
            .stdin(Stdio::piped())
            .deadline(LIMIT)
            .start(&mut self.exec_command(&self.ports, options, &["sh", "-c", script]))
    }
}

/// The ports the command got: the `env=` field (its `ALLOCPORT_PORTS`) of the stand-in
/// server's line; empty where the server did not run.
fn ports_got(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let env = stdout
        .split_whitespace()
        .find_map(|field| field.strip_prefix("env="));
    env.unwrap_or_default().to_owned()
}

#[test]
fn udp_ports_skip_numbers_busy_for_udp_and_tcp_and_udp_skips_numbers_busy_for_either() {
    let sandbox = Sandbox::new(3);
    let [a, b, c] = sandbox.ports[..] else {
        unreachable!()
    };
    let _udp = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, a)).unwrap();
    let _tcp = TcpListener::bind((Ipv4Addr::UNSPECIFIED, b)).unwrap();
    // Busy for UDP: skipped; busy for TCP only: still free for UDP.
    let out = sandbox.exec(&[a, b], &["--udp"]);
    assert_eq!(ports_got(&out), b.to_string(), "{out:?}");
    let out = sandbox.exec(&[a, b], &["--tcp-and-udp"]);
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    let out = sandbox.exec(&[a, b, c], &["--tcp-and-udp"]);
    assert_eq!(ports_got(&out), c.to_string(), "{out:?}");
    // The request options apply to UDP too.
    let out = sandbox.exec(&[a, b, c], &["--udp", "--exact", &b.to_string()]);
    assert_eq!(ports_got(&out), b.to_string(), "{out:?}");
    // Each process shuffles its pool: a few runs try `a` (busy) as a block's first port first.
    for _ in 0..4 {
        let out = sandbox.exec(&[a, b, c], &["--udp", "-n", "2", "--consecutive"]);
        assert_eq!(ports_got(&out), format!("{b},{c}"), "{out:?}");
    }
}

#[cfg(unix)]
#[test]
fn listen_with_udp_and_consecutive_passes_bound_udp_sockets_on_a_block() {
    let sandbox = Sandbox::new(3);
    let script = r#"echo "$ALLOCPORT_PORTS $LISTEN_FDS $LISTEN_FDNAMES"; cat >/dev/null"#;
    let mut run = sandbox.start(&["--listen", "--udp", "-n", "2", "--consecutive"], script);
    let line = run.line();
    let [ports, fds, names] = line.split(' ').collect::<Vec<_>>()[..] else {
        panic!("unexpected line {line:?}")
    };
    assert_eq!((fds, names), ("2", "port0:port1"), "{line}");
    let ports: Vec<u16> = ports.split(',').map(|p| p.parse().unwrap()).collect();
    assert_eq!(ports[1], ports[0] + 1, "{line}");
    for &port in &ports {
        // The command's sockets are UDP ones, bound on 127.0.0.1: UDP is taken, TCP is not.
        assert!(
            UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_err(),
            "{port}"
        );
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
    }
    run.close_stdin();
    assert_eq!(run.wait().code(), Some(0));
}

#[cfg(unix)]
#[test]
fn listen_with_offsets_passes_listeners_on_related_ports() {
    let sandbox = Sandbox::new(3);
    let [a, _, c] = sandbox.ports[..] else {
        unreachable!()
    };
    let script = r#"echo "$ALLOCPORT_PORTS"; cat >/dev/null"#;
    let mut run = sandbox.start(&["--listen", "-n", "2", "--offsets", "0,2"], script);
    assert_eq!(run.line(), format!("{a},{c}"));
    for port in [a, c] {
        // A listening socket accepts connections into its backlog, accepted or not.
        TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    }
    run.close_stdin();
    assert_eq!(run.wait().code(), Some(0));
}

#[cfg(unix)]
#[test]
fn listen_with_tcp_and_udp_passes_listeners_then_udp_sockets_on_the_same_ports() {
    let sandbox = Sandbox::new(3);
    let script = r#"echo "$ALLOCPORT_PORTS $LISTEN_FDS $LISTEN_FDNAMES"; cat >/dev/null"#;
    let mut run = sandbox.start(&["--listen", "--tcp-and-udp", "-n", "2"], script);
    let line = run.line();
    let [ports, fds, names] = line.split(' ').collect::<Vec<_>>()[..] else {
        panic!("unexpected line {line:?}")
    };
    assert_eq!(
        (fds, names),
        ("4", "port0:port1:port0-udp:port1-udp"),
        "{line}"
    );
    for port in ports.split(',').map(|p| p.parse::<u16>().unwrap()) {
        TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
        assert!(
            UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_err(),
            "{port}"
        );
    }
    run.close_stdin();
    assert_eq!(run.wait().code(), Some(0));
}

#[test]
fn what_does_not_combine_is_a_usage_error() {
    let sandbox = Sandbox::new(1);
    for (options, named) in [
        (&["--udp", "--tcp-and-udp"][..], "--tcp-and-udp"),
        (&["--listen", "--strict"][..], "--strict"),
        (&["--udp", "--strict"][..], "strict"),
        (&["--listen", "--tcp-and-udp", "--strict"][..], "--strict"),
    ] {
        let out = sandbox.exec(&sandbox.ports, options);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{options:?}: {out:?}");
        assert!(stderr.contains(named), "{options:?}: {stderr}");
    }
}

#[cfg(unix)]
#[test]
fn status_shows_udp_holders_and_the_reservations_of_a_fair_wait() {
    let sandbox = Sandbox::new(2);
    let [a, b] = sandbox.ports[..] else {
        unreachable!()
    };
    let hold = |options: &[&str]| {
        let mut process = sandbox.start(options, "echo \"$ALLOCPORT_PORTS\"; cat >/dev/null");
        let line = process.line();
        (process, line)
    };
    let (mut both, line) = hold(&["--tcp-and-udp", "--exact", &a.to_string()]);
    assert_eq!(line, a.to_string());
    let (mut udp, line) = hold(&["--udp", "--exact", &b.to_string()]);
    assert_eq!(line, b.to_string());
    // Two TCP ports: `b` is free for TCP, `a` is held, so this waits fairly, reserving `a`.
    let mut waiter =
        Spawn::new()
            .stdin(Stdio::null())
            .deadline(LIMIT)
            .start(&mut sandbox.allocport(
                &sandbox.ports,
                &["exec", "-n", "2", "--timeout", "20", "--", "true"],
            ));
    let status = || {
        let out = output_within(&mut sandbox.allocport(&[], &["status"]), LIMIT);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let has_row = |section: &str, pid: u32, ports: u16| {
        section.lines().any(|line| {
            let mut words = line.split_whitespace();
            words.next() == Some(&pid.to_string()) && words.next() == Some(&ports.to_string())
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let report = loop {
        let report = status();
        // The waiter reserves `a` and claims `b` in one pass, in either order.
        let settled = report.contains("reserved") && report.contains("2 ports held");
        if settled || std::time::Instant::now() > deadline {
            break report;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // The waiter keeps `b` while it waits for `a`: only the wait token's holder may.
    assert!(
        report.contains("2 ports held by 2 processes:\n"),
        "{report}"
    );
    assert!(
        report.contains("2 UDP ports held by 2 processes:\n"),
        "{report}"
    );
    assert!(
        report.contains("1 port reserved for a multi-port wait by 1 process:\n"),
        "{report}"
    );
    let (tcp, rest) = report.split_once("UDP ports").unwrap();
    let (udp_rows, reserved) = rest.split_once("reserved").unwrap();
    assert!(has_row(tcp, both.pid(), a), "{report}");
    assert!(has_row(tcp, waiter.pid(), b), "{report}");
    assert!(has_row(udp_rows, both.pid(), a), "{report}");
    assert!(has_row(udp_rows, udp.pid(), b), "{report}");
    assert!(has_row(reserved, waiter.pid(), a), "{report}");
    // Released, `a` goes to the waiter, which then has both ports and ends.
    both.close_stdin();
    assert_eq!(both.wait().code(), Some(0));
    assert_eq!(waiter.wait().code(), Some(0));
    udp.close_stdin();
    assert_eq!(udp.wait().code(), Some(0));
}
