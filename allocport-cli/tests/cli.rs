//! The `allocport` binary end to end: real servers on the held ports, signals, status, errors.
//!
//! Each test gets a sandbox: a private lock directory, and a few ports reserved for it through
//! the library's shared pool (so no other allocport user on the machine binds them meanwhile),
//! given to `allocport` as its whole `PYSYS_PORTS`. The tests' allocport processes therefore
//! know exactly which ports they will get and never see each other's locks. Every wait is
//! bounded, and a test that fails kills what it started.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use allocport_core::{TcpPortOwner, format_ports_spec};
use allocport_testkit::{Process, Spawn, TempDir, cargo_example};
#[cfg(unix)]
use allocport_testkit::{Signal, signal};

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_allocport");
/// Generous: only there to turn a hang into a failure.
const LIMIT: Duration = Duration::from_secs(30);

/// The stand-in server, built by cargo with the package's examples (see examples/test_server.rs).
fn test_server() -> PathBuf {
    cargo_example("test_server")
}

struct Sandbox {
    dir: TempDir,
    lock_dir: PathBuf,
    /// Sorted, as allocport's pool would list them.
    ports: Vec<u16>,
    _reserved: Vec<TcpPortOwner>,
}

impl Sandbox {
    fn new(n: usize) -> Sandbox {
        let (reserved, ports) = common::reserve_ports(n);
        let dir = TempDir::new("cli");
        // allocport creates it with mode 0700, as it insists on.
        let lock_dir = dir.path().join("locks");
        Sandbox {
            dir,
            lock_dir,
            ports,
            _reserved: reserved,
        }
    }

    fn spec(&self) -> String {
        format_ports_spec(&self.ports)
    }

    fn allocport(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env("ALLOCPORT_LOCK_DIR", &self.lock_dir)
            .env("PYSYS_PORTS", self.spec())
            .env_remove("PYSYS_PORTS_FILE")
            .env("ALLOCPORT_TIMEOUT_SECS", "10");
        command
    }

    /// `allocport exec -n N -- test_server SERVER_ARGS...`, with the ports as placeholders.
    fn exec_server(&self, server_args: &[&str]) -> Command {
        let n = self.ports.len().to_string();
        let server = test_server();
        let mut args = vec!["exec", "-n", &n, "--", server.to_str().unwrap()];
        args.extend_from_slice(server_args);
        let placeholders: Vec<String> = (0..self.ports.len())
            .map(|i| format!("{{port{i}}}"))
            .collect();
        args.extend(placeholders.iter().map(String::as_str));
        self.allocport(&args)
    }

    fn output(&self, args: &[&str]) -> Output {
        start(&mut self.allocport(args)).finish()
    }

    fn status_report(&self) -> String {
        let out = self.output(&["status"]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    /// The ports are free again: another `exec` gets every one of them and a server binds them.
    fn assert_ports_free(&self) {
        assert!(
            self.status_report().ends_with("no ports are held\n"),
            "{}",
            self.status_report()
        );
        let out = start(&mut self.exec_server(&[])).finish();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let line = Line::parse(&String::from_utf8(out.stdout).unwrap());
        assert_eq!(sorted(&line.ports), self.ports);
    }
}

/// How these tests start `allocport`: no stdin, stderr captured, every wait bounded by
/// [`LIMIT`], and, if the test fails before it ends, ended the way a user would: SIGTERM,
/// which allocport passes on to its command.
fn spawn() -> Spawn {
    Spawn::new()
        .stdin(Stdio::null())
        .capture_stderr()
        .deadline(LIMIT)
        .terminate_on_drop()
}

fn start(command: &mut Command) -> Process {
    spawn().start(command)
}

/// Waits for the server's first line, and has the server killed with allocport if the test
/// fails before allocport ends.
fn server_line(running: &mut Process) -> Line {
    let line = Line::parse(&running.line());
    running.also_kill_on_drop(line.pid);
    line
}

/// What the stand-in server printed about itself.
#[derive(Debug)]
struct Line {
    pid: u32,
    ports: Vec<u16>,
    env: String,
    vars: String,
    echo: String,
}

impl Line {
    fn parse(text: &str) -> Line {
        let field = |name: &str| -> String {
            let start = text
                .find(&format!("{name}="))
                .unwrap_or_else(|| panic!("no {name}= in {text:?}"))
                + name.len()
                + 1;
            let rest = &text[start..];
            let end = if name == "echo" {
                rest.find('\n').unwrap_or(rest.len())
            } else {
                rest.find(' ').unwrap_or(rest.len())
            };
            rest[..end].to_owned()
        };
        Line {
            pid: field("pid").parse().unwrap(),
            ports: field("ports")
                .split(',')
                .map(|p| p.parse().unwrap())
                .collect(),
            env: field("env"),
            vars: field("vars"),
            echo: field("echo"),
        }
    }
}

fn sorted(ports: &[u16]) -> Vec<u16> {
    let mut ports = ports.to_vec();
    ports.sort_unstable();
    ports
}

fn stderr_line(out: &Output) -> String {
    let stderr = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr:?}");
    stderr.trim_end().to_owned()
}

#[test]
fn exec_runs_a_server_on_the_held_ports_and_passes_its_exit_status() {
    let sandbox = Sandbox::new(2);
    let mut running = start(&mut sandbox.exec_server(&["--exit", "7", "--echo", "{ports}"]));
    let line = server_line(&mut running);
    let status = running.wait();
    assert_eq!(status.code(), Some(7), "{line:?}");

    // Both ports, distinct, and the server could bind them: allocport holds only the locks.
    assert_eq!(sorted(&line.ports), sandbox.ports);
    let list = format!("{},{}", line.ports[0], line.ports[1]);
    assert_eq!(line.env, list, "ALLOCPORT_PORTS");
    assert_eq!(line.vars, list, "PORT_0,PORT_1");
    assert_eq!(line.echo, list, "{{ports}}");
    drop(running);
    sandbox.assert_ports_free();
}

#[test]
fn exit_status_zero_passes_through() {
    let sandbox = Sandbox::new(1);
    let out = sandbox.output(&["exec", "--", BIN, "--version"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("allocport "));
}

#[cfg(unix)]
#[test]
fn a_command_killed_by_sigkill_gives_137_and_frees_the_ports() {
    let sandbox = Sandbox::new(2);
    let mut running = start(&mut sandbox.exec_server(&["--wait"]));
    let line = server_line(&mut running);
    assert!(
        sandbox
            .status_report()
            .contains("2 ports held by 1 process")
    );
    signal(line.pid, Signal::Kill);
    assert_eq!(running.wait().code(), Some(128 + libc::SIGKILL));
    drop(running);
    sandbox.assert_ports_free();
}

/// Sends SIGTERM to allocport running a `--catch` server, checks the server caught it once and
/// allocport exited with the server's status, then that the ports are free.
#[cfg(unix)]
fn terminate_catching_server(sandbox: &Sandbox, mut running: Process) {
    running.signal(Signal::Term);
    assert_eq!(
        running.line(),
        format!("caught signal {} x1", libc::SIGTERM)
    );
    // The server's own exit status once it handled the signal, not allocport's.
    assert_eq!(running.wait().code(), Some(42));
    drop(running);
    sandbox.assert_ports_free();
}

#[cfg(unix)]
#[test]
fn sigterm_to_allocport_reaches_the_command_and_frees_the_ports() {
    let sandbox = Sandbox::new(2);
    let mut running = start(&mut sandbox.exec_server(&["--wait", "--catch"]));
    server_line(&mut running);
    terminate_catching_server(&sandbox, running);
}

#[cfg(unix)]
#[test]
fn sigint_to_allocport_ends_a_command_that_does_not_catch_it() {
    let sandbox = Sandbox::new(2);
    let mut running = start(&mut sandbox.exec_server(&["--wait"]));
    server_line(&mut running);
    running.signal(Signal::Int);
    assert_eq!(running.wait().code(), Some(128 + libc::SIGINT));
    drop(running);
    sandbox.assert_ports_free();
}

/// Every signal that would end allocport reaches the command instead (SIGQUIT, SIGUSR1 and
/// the like used to end allocport and free the ports while the command ran on), and the ports
/// stay held by allocport until the command exits.
#[cfg(target_os = "linux")]
#[test]
fn signals_beyond_int_term_and_hup_reach_the_command_and_the_ports_stay_held() {
    let sandbox = Sandbox::new(2);
    let signals = [
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGALRM,
        libc::SIGVTALRM,
        libc::SIGPROF,
        libc::SIGIO,
        libc::SIGPWR,
        libc::SIGXCPU,
        libc::SIGRTMIN(),
        libc::SIGRTMAX(),
    ];
    let list = signals.map(|s| s.to_string()).join(",");
    let rounds = (signals.len() + 1).to_string();
    let server_args = [
        "--wait",
        "--catch",
        "--catch-also",
        &list,
        "--rounds",
        &rounds,
    ];
    let mut running = start(&mut sandbox.exec_server(&server_args));
    server_line(&mut running);
    let allocport = format!("{} ", running.pid());
    let held_by_allocport = |report: &str| {
        report.contains("2 ports held by 1 process")
            && report
                .lines()
                .any(|l| l.starts_with(&allocport) && l.contains(&sandbox.spec()))
    };
    for signal in signals {
        let pid = libc::pid_t::try_from(running.pid()).unwrap();
        // SAFETY: kill has no memory preconditions; allocport is not reaped before `wait`.
        unsafe { libc::kill(pid, signal) };
        assert_eq!(running.line(), format!("caught signal {signal} x1"));
        let report = sandbox.status_report();
        assert!(
            held_by_allocport(&report),
            "after signal {signal}: {report}"
        );
    }
    terminate_catching_server(&sandbox, running);
}

/// Ctrl-C in a terminal signals the whole foreground process group, the command included:
/// passing it on as well would make the command see it twice (Python, for one, would then
/// break out of its own clean-up).
#[cfg(target_os = "linux")]
#[test]
fn ctrl_c_in_a_terminal_reaches_the_command_once() {
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::process::CommandExt;

    let sandbox = Sandbox::new(1);
    let (mut leader, follower) = {
        let (mut leader, mut follower) = (-1, -1);
        // SAFETY: out-pointers to two ints; no name, termios or window size asked for.
        let rc = unsafe {
            libc::openpty(
                &mut leader,
                &mut follower,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: openpty just returned these descriptors, owned by nobody else.
        unsafe {
            (
                std::fs::File::from(OwnedFd::from_raw_fd(leader)),
                OwnedFd::from_raw_fd(follower),
            )
        }
    };
    // Whether a copy from allocport merges with the terminal's signal is a race, so try often.
    const ROUNDS: usize = 12;
    // The last round is Ctrl-\, which a JVM answers with a thread dump: once, too.
    let rounds = ROUNDS.to_string();
    let quit = libc::SIGQUIT.to_string();
    let mut command = sandbox.exec_server(&[
        "--wait",
        "--catch",
        "--catch-also",
        &quit,
        "--rounds",
        &rounds,
    ]);
    // SAFETY: setsid and ioctl are async-signal-safe; they make the pseudo-terminal (stdin)
    // allocport's controlling terminal, with allocport's process group in the foreground, as
    // an interactive shell would.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut running = spawn().stdin(Stdio::from(follower)).start(&mut command);
    server_line(&mut running);
    for round in 1..=ROUNDS {
        let (key, signal) = if round < ROUNDS {
            (b"\x03", libc::SIGINT)
        } else {
            (b"\x1c", libc::SIGQUIT)
        };
        std::io::Write::write_all(&mut leader, key).unwrap();
        assert_eq!(
            running.line(),
            format!("caught signal {signal} x1"),
            "key number {round}"
        );
    }
    assert_eq!(running.wait().code(), Some(42));
}

/// Seen from another pid namespace (another container sharing the lock directory), the
/// kernel gives the holder's pid as 0: `status` and a timeout say what that means.
#[cfg(target_os = "linux")]
#[test]
fn a_holder_in_another_pid_namespace_is_named_so_not_pid_0() {
    let sandbox = Sandbox::new(1);
    let in_new_namespace = |args: &[&str]| {
        let inner = sandbox.allocport(args);
        let mut command = Command::new("unshare");
        command
            .args(["--pid", "--fork", "--"])
            .arg(inner.get_program());
        command.args(inner.get_args());
        for (key, value) in inner.get_envs() {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        start(&mut command).finish()
    };
    let probe = in_new_namespace(&["ports"]);
    if probe.status.code() != Some(0) {
        println!(
            "skipped: cannot make a pid namespace here: {}",
            stderr_line(&probe)
        );
        return;
    }
    let mut running = start(&mut sandbox.exec_server(&["--wait"]));
    let line = server_line(&mut running);
    let status = in_new_namespace(&["status"]);
    let report = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(
        report.contains("(a process in another pid namespace)"),
        "{report}"
    );
    assert!(!report.lines().any(|l| l.starts_with("0 ")), "{report}");
    let timed_out = in_new_namespace(&["exec", "--timeout", "0.3", "--", "true"]);
    let message = stderr_line(&timed_out);
    assert_eq!(timed_out.status.code(), Some(125), "{message}");
    assert!(
        message.contains("a process in another pid namespace holds 1"),
        "{message}"
    );
    signal(line.pid, Signal::Kill);
    running.wait();
}

#[test]
fn status_shows_who_holds_the_ports() {
    let sandbox = Sandbox::new(3);
    assert_eq!(
        sandbox.status_report(),
        format!(
            "store: file store in {}\nno ports are held\n",
            sandbox.lock_dir.display()
        )
    );
    let mut running = start(&mut sandbox.exec_server(&["--wait"]));
    server_line(&mut running);
    let report = sandbox.status_report();
    assert!(report.contains("3 ports held by 1 process:\n"), "{report}");
    // Windows cannot name a lock's owner: its row says `?`.
    let pid = match cfg!(windows) {
        true => "?".to_owned(),
        false => running.pid().to_string(),
    };
    let row = report
        .lines()
        .find(|l| l.starts_with(&format!("{pid} ")))
        .unwrap_or_else(|| panic!("no row for allocport's pid {pid}: {report}"));
    assert!(row.contains(&sandbox.spec()), "{row}");
    if cfg!(target_os = "linux") {
        assert!(row.contains("exec -n 3 --"), "{row}");
        assert!(row.contains("{port2}"), "{row}");
    }
}

#[test]
fn exec_gives_up_with_125_when_every_port_stays_held() {
    let sandbox = Sandbox::new(1);
    let mut holder = start(&mut sandbox.exec_server(&["--wait"]));
    server_line(&mut holder);
    let out = sandbox.output(&["exec", "--timeout", "0.2", "--", "allocport-never-run"]);
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    let line = stderr_line(&out);
    assert!(line.starts_with("allocport: timed out after"), "{line}");
    assert!(line.contains("the pool has 1 ports"), "{line}");
}

#[test]
fn exec_checks_the_hosts_and_family_asked_for() {
    // Skipped where the machine has no IPv6 loopback: nothing to check there.
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here; skipping");
        return;
    }
    let sandbox = Sandbox::new(1);
    let server = test_server();
    let server = server.to_str().unwrap();
    let out = sandbox.output(&[
        "exec", "--family", "ipv6", "--hosts", "::1", "--", server, "--ipv6", "{port0}",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let line = Line::parse(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(line.ports, sandbox.ports);

    // An IPv6 address is no IPv4 host: the error names it, and nothing runs.
    let out = sandbox.output(&["exec", "--hosts", "localhost,::1", "--", server, "{port0}"]);
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    assert!(stderr_line(&out).contains("\"::1\""), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
}

#[test]
fn bad_pysys_ports_is_one_line_naming_the_variable_and_the_token() {
    let sandbox = Sandbox::new(1);
    for (args, code) in [(&["exec", "--", "true"][..], 125), (&["ports"][..], 1)] {
        let mut command = sandbox.allocport(args);
        command.env("PYSYS_PORTS", "2000-2010, 30x0");
        let out = start(&mut command).finish();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {out:?}");
        let line = stderr_line(&out);
        assert!(line.starts_with("allocport: PYSYS_PORTS"), "{line}");
        assert!(line.contains("\"30x0\""), "{line}");
        assert!(out.stdout.is_empty(), "{out:?}");
    }
}

#[test]
fn a_missing_command_exits_127_and_names_it() {
    let sandbox = Sandbox::new(1);
    let out = sandbox.output(&["exec", "--", "allocport-no-such-command", "{port0}"]);
    assert_eq!(out.status.code(), Some(127));
    let line = stderr_line(&out);
    assert!(
        line.starts_with("allocport: cannot run \"allocport-no-such-command\""),
        "{line}"
    );
}

#[test]
fn a_placeholder_beyond_the_count_is_a_usage_error_and_runs_nothing() {
    let sandbox = Sandbox::new(2);
    let server = test_server();
    let args = ["exec", "-n", "2", "--", server.to_str().unwrap(), "{port2}"];
    let out = sandbox.output(&args);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_line(&out).contains("{port2}, but -n 2 holds only {port0} to {port1}"));
    assert!(out.stdout.is_empty(), "{out:?}");
}

#[test]
fn usage_errors_are_one_line_with_status_2() {
    let sandbox = Sandbox::new(1);
    for args in [
        &["exec"][..],
        &["exec", "-n", "0", "--", "true"],
        &["exec", "--family", "ipv5", "--", "true"],
        &["frobnicate"],
    ] {
        let out = sandbox.output(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(stderr_line(&out).starts_with("allocport: "), "{out:?}");
    }
}

#[test]
fn ports_reports_the_source_the_ports_and_the_excluded_set() {
    let sandbox = Sandbox::new(1);
    let mut command = sandbox.allocport(&["ports"]);
    command.env("PYSYS_PORTS", "2000-2002, 3000, 6000");
    let out = start(&mut command).finish();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with(
            "source:    PYSYS_PORTS=\"2000-2002, 3000, 6000\"\n\
             ports:     4 (2000-2002,3000)\n"
        ),
        "{text}"
    );
    // 6000 (X11) is one of the excluded ports.
    let excluded = text.lines().find(|l| l.starts_with("excluded:")).unwrap();
    assert!(excluded.contains("6000"), "{excluded}");
}

#[test]
fn ports_from_a_file_and_from_the_os() {
    let sandbox = Sandbox::new(1);
    let file = sandbox.dir.path().join("ports.txt");
    std::fs::write(&file, "2000-2009\n\n4000\n").unwrap();
    let mut command = sandbox.allocport(&["ports"]);
    command
        .env_remove("PYSYS_PORTS")
        .env("PYSYS_PORTS_FILE", &file);
    let out = start(&mut command).finish();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("source:    PYSYS_PORTS_FILE="), "{text}");
    assert!(text.contains("ports:     11 (2000-2009,4000)\n"), "{text}");

    let mut command = sandbox.allocport(&["ports"]);
    command.env_remove("PYSYS_PORTS");
    let out = start(&mut command).finish();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let (min, max) = allocport_core::ephemeral_tcp_port_range().unwrap();
    assert!(text.contains(&format!("ephemeral: {min}-{max} ")), "{text}");
}

#[test]
fn help_shows_examples() {
    let sandbox = Sandbox::new(1);
    for args in [&["--help"][..], &["exec", "--help"]] {
        let out = sandbox.output(args);
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8(out.stdout).unwrap();
        let examples = &text[text.find("Examples:\n").expect("an Examples section")..];
        assert!(examples.contains("allocport exec -n 2 -- ./"), "{text}");
        assert!(examples.contains("{port0}"), "{text}");
    }
}

#[test]
fn help_lists_every_environment_variable_once_with_its_meaning() {
    let sandbox = Sandbox::new(1);
    let out = sandbox.output(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let section = text
        .split_once("Environment (shared with the allocport library):\n")
        .expect("an Environment section")
        .1;
    let names: Vec<&str> = section
        .lines()
        .map_while(|line| line.strip_prefix("  "))
        .map(|line| line.split_whitespace().next().unwrap_or(""))
        .collect();
    let expected = [
        "PYSYS_PORTS",
        "PYSYS_PORTS_FILE",
        "ALLOCPORT_TIMEOUT_SECS",
        "ALLOCPORT_STORE",
        "ALLOCPORT_NAMESPACE",
        "ALLOCPORT_LOCK_DIR",
        "ALLOCPORT_STATS",
    ];
    assert_eq!(names, expected, "{text}");
    for line in section.lines().take(expected.len()) {
        assert!(line.split_whitespace().count() > 2, "no meaning: {line:?}");
    }
}
