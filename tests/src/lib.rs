//! Shared helpers for the workspace's integration tests: starting the `allocport-probe`
//! helper process and talking to it line by line, with every wait bounded.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// How long any single wait on a probe may take before the test fails instead of hanging.
pub const PROBE_DEADLINE: Duration = Duration::from_secs(60);

/// A running `allocport-probe` process. Dropping it kills the process, so a failing test
/// leaves nothing running.
pub struct Probe {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl Probe {
    /// Starts `program` with `args` and extra environment variables; its stdout is read line
    /// by line, its stderr passes through to the test's.
    pub fn spawn(program: &Path, args: &[&str], envs: &[(&str, &str)]) -> Probe {
        Self::spawn_command(Command::new(program).args(args).envs(envs.iter().copied()))
    }

    /// Starts a prepared command, as [`Probe::spawn`] does.
    pub fn spawn_command(command: &mut Command) -> Probe {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Probe {
            child,
            stdin,
            lines,
        }
    }

    /// The next line the probe prints; panics if none comes within [`PROBE_DEADLINE`].
    pub fn line(&self) -> String {
        self.line_within(PROBE_DEADLINE)
            .unwrap_or_else(|| panic!("probe printed no line within {PROBE_DEADLINE:?}"))
    }

    /// The next line, or `None` if the probe exits or stays silent for `timeout`.
    pub fn line_within(&self, timeout: Duration) -> Option<String> {
        self.lines.recv_timeout(timeout).ok()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Closes the probe's stdin, which tells a holding probe to release and exit.
    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }

    /// Kills the probe with SIGKILL (on Unix) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the probe to exit, failing the test after [`PROBE_DEADLINE`].
    pub fn wait(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                start.elapsed() < PROBE_DEADLINE,
                "probe {} did not exit within {PROBE_DEADLINE:?}",
                self.pid()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `command` to completion with its stdout and stderr captured (read while it runs, so a
/// chatty child never blocks on a full pipe), killing it and failing the test if it is still
/// running after `limit`.
pub fn output_within(command: &mut Command, limit: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout is piped")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr is piped")));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} was still running after {limit:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// Parses a probe's `ports a,b,c` line.
pub fn parse_ports_line(line: &str) -> Vec<u16> {
    let list = line
        .strip_prefix("ports ")
        .unwrap_or_else(|| panic!("expected `ports ...`, got {line:?}"));
    list.split(',')
        .filter(|s| !s.is_empty())
        .map(|p| p.parse().expect("port number"))
        .collect()
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `<tmp>/allocport-test-<tag>-<pid>-<n>`.
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("allocport-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The root README's Rust examples, compiled and run as doctests so they cannot drift from the
/// API.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
