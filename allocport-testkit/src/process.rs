//! [`Process`]: a started helper process, read line by line, every wait bounded.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// How long any single wait on a process may take, unless [`Spawn::deadline`] says otherwise,
/// before the test fails instead of hanging.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// How long [`Spawn::terminate_on_drop`] gives a process to end after SIGTERM.
const GRACE: Duration = Duration::from_secs(5);

/// How a [`Process`] is started. The default: stdin piped (see [`Process::close_stdin`]),
/// stdout read line by line, stderr passed through to the test's, waits bounded by
/// [`DEADLINE`], SIGKILL on drop.
#[derive(Debug)]
pub struct Spawn {
    stdin: Option<Stdio>,
    capture_stderr: bool,
    stderr: Option<Stdio>,
    deadline: Duration,
    terminate_first: bool,
}

impl Default for Spawn {
    fn default() -> Spawn {
        Spawn {
            stdin: None,
            capture_stderr: false,
            stderr: None,
            deadline: DEADLINE,
            terminate_first: false,
        }
    }
}

impl Spawn {
    /// The default way, as described on [`Spawn`].
    pub fn new() -> Spawn {
        Spawn::default()
    }

    /// Gives the process this stdin instead of a pipe.
    pub fn stdin(mut self, stdin: Stdio) -> Spawn {
        self.stdin = Some(stdin);
        self
    }

    /// Captures stderr (read while the process runs) for [`Process::finish`].
    pub fn capture_stderr(mut self) -> Spawn {
        self.capture_stderr = true;
        self
    }

    /// Gives the process this stderr instead of the test's (for one that cannot be written).
    pub fn stderr(mut self, stderr: Stdio) -> Spawn {
        self.stderr = Some(stderr);
        self
    }

    /// Bounds each wait by `deadline` instead of [`DEADLINE`].
    pub fn deadline(mut self, deadline: Duration) -> Spawn {
        self.deadline = deadline;
        self
    }

    /// On drop, a process still running gets SIGTERM first, as a user would send it, and a
    /// few seconds to end before SIGKILL.
    pub fn terminate_on_drop(mut self) -> Spawn {
        self.terminate_first = true;
        self
    }

    /// Starts `command`, whose stdin, stdout and stderr this sets; panics, naming it, if it
    /// cannot start.
    pub fn start(self, command: &mut Command) -> Process {
        self.try_start(command)
            .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"))
    }

    /// Starts `command`, as [`Spawn::start`] does, or returns why it could not start.
    pub fn try_start(self, command: &mut Command) -> std::io::Result<Process> {
        let name = format!("{command:?}");
        command
            .stdin(self.stdin.unwrap_or_else(Stdio::piped))
            .stdout(Stdio::piped())
            .stderr(match self.stderr {
                Some(stderr) => stderr,
                None if self.capture_stderr => Stdio::piped(),
                None => Stdio::inherit(),
            });
        let mut child = command.spawn()?;
        let pipe = child.stdout.take().expect("stdout is piped");
        let (tx, stdout) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(pipe);
            loop {
                let mut line = Vec::new();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) if tx.send(line).is_err() => break,
                    Ok(_) => {}
                }
            }
        });
        let stderr = child
            .stderr
            .take()
            .filter(|_| self.capture_stderr)
            .map(|mut pipe| {
                let (tx, rx) = channel();
                std::thread::spawn(move || {
                    let mut bytes = Vec::new();
                    let _ = pipe.read_to_end(&mut bytes);
                    let _ = tx.send(bytes);
                });
                rx
            });
        let exited = exit_notifier(child.id());
        Ok(Process {
            stdin: child.stdin.take(),
            child,
            name,
            stdout,
            stderr,
            exited,
            status: None,
            deadline: self.deadline,
            terminate_first: self.terminate_first,
            descendants: Vec::new(),
        })
    }
}

/// A started helper process. Dropping it ends the process (and any descendant named with
/// [`Process::also_kill_on_drop`]) if it is still running, so a failing test leaves nothing
/// running.
#[derive(Debug)]
pub struct Process {
    child: Child,
    name: String,
    stdin: Option<ChildStdin>,
    stdout: Receiver<Vec<u8>>,
    stderr: Option<Receiver<Vec<u8>>>,
    /// Told when the process has exited (not yet reaped); never told where that cannot be
    /// watched, and the waits then poll.
    exited: Receiver<()>,
    /// Set once the process is reaped: its pid may then belong to another process.
    status: Option<ExitStatus>,
    deadline: Duration,
    terminate_first: bool,
    descendants: Vec<u32>,
}

impl Process {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next line the process prints; panics if none comes within the deadline.
    pub fn line(&mut self) -> String {
        self.line_within(self.deadline).unwrap_or_else(|| {
            let state = match self.try_status() {
                Some(status) => format!("exited ({status})"),
                None => format!("still running after {:?}", self.deadline),
            };
            panic!("{}: no line from it, {state}", self.name)
        })
    }

    /// The next line, or `None` if the process closes its stdout or stays silent for
    /// `timeout`.
    pub fn line_within(&self, timeout: Duration) -> Option<String> {
        let bytes = self.stdout.recv_timeout(timeout).ok()?;
        let text = String::from_utf8_lossy(&bytes);
        let text = text.strip_suffix('\n').unwrap_or(&text);
        Some(text.strip_suffix('\r').unwrap_or(text).to_owned())
    }

    /// Writes `line` and a newline to the process's stdin.
    pub fn write_line(&mut self, line: &str) {
        let stdin = self
            .stdin
            .as_mut()
            .unwrap_or_else(|| panic!("{}: its stdin is not a pipe, or closed", self.name));
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .unwrap_or_else(|e| panic!("{}: cannot write {line:?}: {e}", self.name));
    }

    /// Closes the process's stdin (a holding `allocport-probe` then releases and exits).
    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }

    /// Sends `signal`, unless the process has already been reaped (its pid may then be
    /// another's).
    pub fn signal(&self, signal: Signal) {
        if self.status.is_none() {
            self::signal(self.pid(), signal);
        }
    }

    /// Also SIGKILLs `pid`, a descendant this process keeps unreaped while it runs, if this
    /// process is still running when dropped.
    pub fn also_kill_on_drop(&mut self, pid: u32) {
        self.descendants.push(pid);
    }

    /// Kills the process with SIGKILL (on Unix) and reaps it.
    pub fn kill(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }

    /// Waits for the process to exit; panics (and the drop kills it) after the deadline.
    pub fn wait(&mut self) -> ExitStatus {
        self.wait_within(self.deadline).unwrap_or_else(|| {
            panic!(
                "{} was still running after {:?}: killed",
                self.name, self.deadline
            )
        })
    }

    /// Waits up to `limit` for the process to exit: its status, or `None` if it still runs.
    pub fn wait_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        self.wait_for(limit)
            .unwrap_or_else(|e| panic!("{}: cannot check its state: {e}", self.name))
    }

    /// The exit status if the process has exited (reaping it), else `None`.
    fn try_status(&mut self) -> Option<ExitStatus> {
        self.wait_within(Duration::ZERO)
    }

    /// [`Process::wait_within`], with an error where the state cannot be checked (the drop
    /// must not panic).
    fn wait_for(&mut self, limit: Duration) -> std::io::Result<Option<ExitStatus>> {
        let start = Instant::now();
        loop {
            if self.status.is_none() {
                self.status = self.child.try_wait()?;
            }
            if self.status.is_some() {
                return Ok(self.status);
            }
            let Some(left) = limit.checked_sub(start.elapsed()) else {
                return Ok(None);
            };
            if left.is_zero() {
                return Ok(None);
            }
            match self.exited.recv_timeout(left) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(left.min(Duration::from_millis(5)));
                }
            }
        }
    }

    /// Waits for the process to exit (as [`Process::wait`]) and returns its status with what
    /// it printed on stdout since the last line read, and on stderr if captured.
    pub fn finish(mut self) -> Output {
        let status = self.wait();
        let mut stdout = Vec::new();
        // The reader ends with the pipe, which the exited process has closed (or a descendant
        // keeps open: then the deadline ends the reading).
        while let Ok(chunk) = self.stdout.recv_timeout(self.deadline) {
            stdout.extend_from_slice(&chunk);
        }
        let stderr = match &self.stderr {
            Some(rx) => rx.recv_timeout(self.deadline).unwrap_or_default(),
            None => Vec::new(),
        };
        Output {
            status,
            stdout,
            stderr,
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.status.is_some() || matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        if self.terminate_first {
            self::signal(self.pid(), Signal::Term);
            if matches!(self.wait_for(GRACE), Ok(Some(_))) {
                return;
            }
        }
        // Still running, so it keeps these unreaped: their pids are still theirs.
        for &pid in &self.descendants {
            signal(pid, Signal::Kill);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A receiver told when process `pid`, a child of this process, has exited, leaving it for
/// [`Child::try_wait`] to reap: `waitid` with `WNOWAIT` on a thread, so a wait ends as soon
/// as the process does and never reaps behind the [`Child`]'s back.
#[cfg(unix)]
fn exit_notifier(pid: u32) -> Receiver<()> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        loop {
            // SAFETY: a zeroed siginfo_t is a valid buffer for waitid to fill.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            // SAFETY: `info` is valid for writes for the call; WNOWAIT leaves the child
            // unreaped, so its pid stays its own until `Child::try_wait` reaps it.
            let rc = unsafe {
                libc::waitid(
                    libc::P_PID,
                    pid as libc::id_t,
                    &mut info,
                    libc::WEXITED | libc::WNOWAIT,
                )
            };
            if rc == 0 {
                let _ = tx.send(());
                return;
            }
            if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                return; // Already reaped: the waits poll.
            }
        }
    });
    rx
}

#[cfg(not(unix))]
fn exit_notifier(_pid: u32) -> Receiver<()> {
    channel().1
}

/// Runs `command` to completion with its stdout and stderr captured (read while it runs, so a
/// chatty process never blocks on a full pipe) and no stdin, killing it and failing the test
/// if it is still running after `limit`.
pub fn output_within(command: &mut Command, limit: Duration) -> Output {
    Spawn::new()
        .stdin(Stdio::null())
        .capture_stderr()
        .deadline(limit)
        .start(command)
        .finish()
}

/// A signal a test sends to a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGKILL: no handler or destructor runs.
    Kill,
    /// SIGTERM.
    Term,
    /// SIGINT, as Ctrl-C sends.
    Int,
    /// SIGSTOP: the process is frozen until [`Signal::Cont`] (Unix only).
    Stop,
    /// SIGCONT.
    Cont,
}

/// Sends `signal` to `pid` (on Windows, every signal is `taskkill /F`). A process that is
/// already gone is fine; the caller makes sure `pid` is not reaped yet.
#[cfg(unix)]
pub fn signal(pid: u32, signal: Signal) {
    let signal = match signal {
        Signal::Kill => libc::SIGKILL,
        Signal::Term => libc::SIGTERM,
        Signal::Int => libc::SIGINT,
        Signal::Stop => libc::SIGSTOP,
        Signal::Cont => libc::SIGCONT,
    };
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill has no memory preconditions.
        unsafe { libc::kill(pid, signal) };
    }
}

/// Sends `signal` to `pid` (on Windows, every signal is `taskkill /F`). A process that is
/// already gone is fine; the caller makes sure `pid` is not reaped yet.
#[cfg(not(unix))]
pub fn signal(pid: u32, _signal: Signal) {
    let _ = Command::new("taskkill")
        .args(["/F", "/PID", &pid.to_string()])
        .output();
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    #[test]
    fn lines_in_and_out_and_the_exit_status() {
        let mut p = Spawn::new().start(&mut sh("read x; echo got $x; echo two; exit 3"));
        assert_eq!(p.line_within(Duration::from_millis(100)), None);
        p.write_line("hello");
        assert_eq!(p.line(), "got hello");
        let out = p.finish();
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(out.stdout, b"two\n");
    }

    #[test]
    fn output_within_captures_both_streams() {
        let out = output_within(&mut sh("echo out; echo err >&2"), DEADLINE);
        assert!(out.status.success());
        assert_eq!(
            (&out.stdout[..], &out.stderr[..]),
            (&b"out\n"[..], &b"err\n"[..])
        );
    }

    #[test]
    #[should_panic(expected = "was still running after 200ms: killed")]
    fn output_within_kills_what_overstays() {
        output_within(&mut sh("sleep 30"), Duration::from_millis(200));
    }

    #[test]
    fn a_wait_ends_when_the_process_does_and_drop_kills() {
        let mut p = Spawn::new().start(&mut sh("exec sleep 30"));
        assert_eq!(p.wait_within(Duration::from_millis(100)), None);
        p.signal(Signal::Term);
        let start = Instant::now();
        assert!(p.wait_within(DEADLINE).is_some());
        assert!(start.elapsed() < Duration::from_secs(10));

        let p = Spawn::new().start(&mut sh("exec sleep 30"));
        let pid = p.pid() as libc::pid_t;
        drop(p);
        // SAFETY: signal 0 only checks whether the process exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0;
        assert!(!alive, "pid {pid} still exists after the drop");
    }

    #[test]
    fn terminate_on_drop_gives_sigterm_first() {
        let dir = crate::TempDir::new("term");
        let mark = dir.path().join("mark");
        let script = format!(
            "trap 'touch {}; exit 0' TERM; echo up; while :; do sleep 0.05; done",
            mark.display()
        );
        let mut p = Spawn::new().terminate_on_drop().start(&mut sh(&script));
        assert_eq!(p.line(), "up");
        drop(p);
        assert!(mark.exists(), "the process did not see SIGTERM");
    }
}
