//! Never twice, whatever happens to the lock files: a helper process holds the one port of a
//! one-port pool (locked, never bound, so only the lock keeps others off it) while its lock
//! files are deleted, replaced or cleaned; another process asking for a port must wait and
//! time out, and the holders' report (what `allocport status` prints) must name the holder.
#![cfg(unix)]

use std::fs;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use allocport_testkit::{Process, Spawn, TempDir};
use allocport_tests::{churn_counts, parse_ports_line, probe_command};

/// A one-port pool with a lock store of its own.
struct Store {
    _tmp: TempDir,
    dir: PathBuf,
    port: u16,
}

impl Store {
    fn new(tag: &str, port: u16) -> Store {
        let tmp = TempDir::new(tag);
        let dir = tmp.path().join("locks");
        Store {
            _tmp: tmp,
            dir,
            port,
        }
    }

    fn command(&self, args: &[&str], timeout_secs: &str) -> Command {
        let mut command = probe_command();
        command
            .args(args)
            .env("PYSYS_PORTS", self.port.to_string())
            .env("ALLOCPORT_LOCK_DIR", &self.dir)
            .env("ALLOCPORT_TIMEOUT_SECS", timeout_secs);
        command
    }

    fn run(&self, args: &[&str], timeout_secs: &str) -> String {
        let mut p = Spawn::new().start(&mut self.command(args, timeout_secs));
        let line = p.line();
        p.wait();
        line
    }

    /// Starts a process holding the pool's port.
    fn hold(&self) -> Process {
        let mut holder = Spawn::new().start(&mut self.command(&["hold", "1"], "30"));
        assert_eq!(parse_ports_line(&holder.line()), vec![self.port]);
        holder
    }

    /// Deletes the lock file of the pool's port and waits for its holder to make it again:
    /// how long that took. `what` names the moment in the failure.
    fn delete_and_wait_for_the_holder(&self, what: &str) -> Duration {
        fs::remove_file(self.lock_file()).unwrap();
        let deleted = Instant::now();
        // Generous for a loaded machine: the target (a 20 ms tick) is far below this bound.
        while !self.lock_file().exists() {
            assert!(
                deleted.elapsed() < Duration::from_secs(5),
                "{what}: the holder did not make its lock file again"
            );
            sleep(Duration::from_millis(2));
        }
        deleted.elapsed()
    }

    /// The lock file of the pool's port.
    fn lock_file(&self) -> PathBuf {
        self.dir.join(format!("ports-{:02}.lock", self.port % 64))
    }

    /// While `holder` holds the port: another process times out, and the holders' report
    /// names `holder`. Then, once it lets go, the port can be had again.
    fn assert_held_only_by(&self, mut holder: Process) {
        let other = self.run(&["try"], "1");
        assert!(
            other.starts_with("err timed out"),
            "port {} was handed to a second process while {} held it: {other}",
            self.port,
            holder.pid()
        );
        assert_eq!(
            self.run(&["holders"], "1"),
            format!("holders {}:{}", self.port, holder.pid()),
            "the holders' report does not tell the truth"
        );
        holder.close_stdin();
        assert!(holder.wait().success());
        assert_eq!(self.run(&["try"], "10"), format!("ok {}", self.port));
    }
}

fn private_empty_file(path: &Path) {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap();
}

/// Deletes `dir` as `rm -rf` run until it succeeds would: holders make files again in it
/// while a single removal runs, which then fails with "directory not empty".
fn delete_dir(dir: &Path) {
    for _ in 0..1000 {
        if fs::remove_dir_all(dir).is_ok() {
            return;
        }
    }
    panic!("{} could not be deleted", dir.display());
}

#[test]
fn deleting_the_lock_dir_while_a_port_is_held_does_not_free_it() {
    let store = Store::new("store-rmrf", 23600);
    let holder = store.hold();
    delete_dir(&store.dir);
    store.assert_held_only_by(holder);
}

#[test]
fn deleting_the_held_ports_lock_file_does_not_free_it() {
    let store = Store::new("store-rmfile", 23601);
    let holder = store.hold();
    fs::remove_file(store.lock_file()).unwrap();
    store.assert_held_only_by(holder);
}

#[test]
fn replacing_the_lock_file_by_a_new_empty_one_does_not_free_the_port() {
    let store = Store::new("store-replace", 23602);
    let holder = store.hold();
    let before = fs::metadata(store.lock_file()).unwrap().ino();
    fs::remove_file(store.lock_file()).unwrap();
    private_empty_file(&store.lock_file());
    assert_ne!(fs::metadata(store.lock_file()).unwrap().ino(), before);
    store.assert_held_only_by(holder);
}

#[test]
fn a_lock_file_replaced_by_one_others_can_write_is_an_error_not_a_second_hold() {
    let store = Store::new("store-public", 23611);
    let mut holder = Spawn::new()
        .capture_stderr()
        .start(&mut store.command(&["hold", "1"], "30"));
    assert_eq!(parse_ports_line(&holder.line()), vec![store.port]);
    // Made beside it and renamed over it: one atomic replacement, which the holder's watcher
    // cannot get between (a delete then a create could meet the holder making the file again).
    let public = store.dir.join("public.tmp");
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o666)
        .open(&public)
        .unwrap();
    fs::set_permissions(&public, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    fs::rename(&public, store.lock_file()).unwrap();
    let other = store.run(&["try"], "1");
    assert!(
        other.starts_with("err lock directory") && other.contains("mode 0666"),
        "{other}"
    );
    sleep(Duration::from_millis(200));
    holder.close_stdin();
    let stderr = String::from_utf8(holder.finish().stderr).unwrap();
    assert!(
        stderr.contains("allocport: warning: lock directory") && stderr.contains("mode 0666"),
        "the holder did not say its locks could not be taken again: {stderr}"
    );
}

#[test]
fn deleting_every_lock_file_does_not_free_the_port() {
    let store = Store::new("store-rmall", 23603);
    let holder = store.hold();
    for entry in fs::read_dir(&store.dir).unwrap() {
        fs::remove_file(entry.unwrap().path()).unwrap();
    }
    store.assert_held_only_by(holder);
}

#[test]
fn the_holder_makes_a_deleted_lock_file_again_within_100_ms() {
    let store = Store::new("store-prompt", 23604);
    let holder = store.hold();
    let took = store.delete_and_wait_for_the_holder("the holder");
    eprintln!("lock file made again after {took:?}");
    store.assert_held_only_by(holder);
}

#[test]
fn a_holder_whose_stderr_is_a_closed_pipe_keeps_taking_its_locks_again() {
    // The holder's watcher says so on standard error at its first renewal, and writing there
    // fails: it must not end the watcher, or the second deletion would free the port.
    let store = Store::new("store-closed-stderr", 23612);
    let mut holder = Spawn::new()
        .stderr(closed_pipe())
        .start(&mut store.command(&["hold", "1"], "30"));
    assert_eq!(parse_ports_line(&holder.line()), vec![store.port]);
    for deletion in ["first deletion", "second deletion"] {
        store.delete_and_wait_for_the_holder(deletion);
    }
    store.assert_held_only_by(holder);
}

/// The writing end of a pipe whose reading end is closed: every write to it fails (EPIPE,
/// as Rust programs ignore SIGPIPE).
fn closed_pipe() -> std::process::Stdio {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe writes.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe failed");
    // SAFETY: both descriptors are new and owned here alone; the reading end is closed now.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    write.into()
}

/// systemd-tmpfiles, where installed; `None` (and a visible skip) where not.
fn tmpfiles() -> Option<PathBuf> {
    let found = ["/usr/bin/systemd-tmpfiles", "/bin/systemd-tmpfiles"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        eprintln!("SKIPPED: systemd-tmpfiles is not installed (Debian package `systemd`)");
    }
    found
}

/// Runs `systemd-tmpfiles --clean` with one configuration line.
fn clean(tmpfiles: &Path, store: &Store, line: &str) {
    let conf = store.dir.parent().unwrap().join("allocport-test.conf");
    fs::write(&conf, line).unwrap();
    let out = allocport_testkit::output_within(
        Command::new(tmpfiles).arg("--clean").arg(&conf),
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "systemd-tmpfiles --clean failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Holds the port of a one-port store, lets its lock file pass 1 s of age, has
/// systemd-tmpfiles clean `aged(store)` with that age, then checks the lock file is the same
/// file and the port is still held by the holder alone.
fn aging_leaves_a_held_port_held(tag: &str, port: u16, aged: impl Fn(&Store) -> &Path) {
    let Some(tmpfiles) = tmpfiles() else { return };
    let store = Store::new(tag, port);
    let holder = store.hold();
    let before = fs::metadata(store.lock_file()).unwrap().ino();
    // Past the age, so files nobody touched would be removed.
    sleep(Duration::from_millis(2500));
    clean(
        &tmpfiles,
        &store,
        &format!("d {} 0700 - - 1s\n", aged(&store).display()),
    );
    assert_eq!(
        fs::metadata(store.lock_file()).ok().map(|m| m.ino()),
        Some(before),
        "the cleaner removed a lock file in use"
    );
    store.assert_held_only_by(holder);
}

#[test]
fn systemd_tmpfiles_aging_the_lock_dir_leaves_a_held_port_held() {
    // Age 1 s on the lock directory itself: its entries are candidates, the directory lock
    // does not apply, only the times do.
    aging_leaves_a_held_port_held("store-tmpfiles", 23605, |store| &store.dir);
}

#[test]
fn systemd_tmpfiles_aging_the_parent_skips_the_locked_lock_dir() {
    aging_leaves_a_held_port_held("store-tmpfiles-parent", 23606, |store| {
        store.dir.parent().unwrap()
    });
}

#[test]
fn a_relative_lock_dir_is_an_error_naming_the_variable_and_value() {
    let store = Store::new("store-relative", 23607);
    let mut command = store.command(&["try"], "1");
    command
        .env("ALLOCPORT_LOCK_DIR", ".locks")
        .current_dir(store.dir.parent().unwrap());
    let mut p = Spawn::new().start(&mut command);
    let line = p.line();
    p.wait();
    assert!(
        line.starts_with("err ALLOCPORT_LOCK_DIR: \".locks\" is a relative path"),
        "{line}"
    );
    assert!(
        !store.dir.parent().unwrap().join(".locks").exists(),
        "a relative lock directory was created"
    );
}

/// A holder and a second process with different `TMPDIR`s (and `HOME`s, and working
/// directories), both on the default lock directory.
#[test]
fn processes_with_different_tmpdirs_share_the_default_lock_dir() {
    let port = 23608;
    let a = TempDir::new("store-tmpdir-a");
    let b = TempDir::new("store-tmpdir-b");
    let command = |tmp: &TempDir, args: &[&str], timeout: &str| {
        let mut command = probe_command();
        command
            .args(args)
            .env_remove("ALLOCPORT_LOCK_DIR")
            .env("TMPDIR", tmp.path())
            .env("HOME", tmp.path())
            .current_dir(tmp.path())
            .env("PYSYS_PORTS", port.to_string())
            .env("ALLOCPORT_TIMEOUT_SECS", timeout);
        command
    };
    let mut holder = Spawn::new().start(&mut command(&a, &["hold", "1"], "30"));
    assert_eq!(parse_ports_line(&holder.line()), vec![port]);
    let mut other = Spawn::new().start(&mut command(&b, &["try"], "1"));
    let line = other.line();
    other.wait();
    assert!(
        line.starts_with("err timed out"),
        "port {port} was handed to a process with another TMPDIR while {} held it: {line}",
        holder.pid()
    );
    holder.close_stdin();
    assert!(holder.wait().success());
}

#[test]
fn a_symlinked_lock_dir_is_refused_however_the_path_is_spelled() {
    let store = Store::new("store-symlink", 23609);
    let target = store.dir.parent().unwrap().join("elsewhere");
    fs::create_dir(&target).unwrap();
    fs::set_permissions(&target, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    symlink(&target, &store.dir).unwrap();
    let link = store.dir.display().to_string();
    for spelling in [
        format!("{link}/"),
        format!("{link}//"),
        format!("{link}/."),
        link.clone(),
    ] {
        let mut command = store.command(&["try"], "1");
        command.env("ALLOCPORT_LOCK_DIR", &spelling);
        let mut p = Spawn::new().start(&mut command);
        let line = p.line();
        p.wait();
        assert!(line.contains("symbolic link"), "{spelling}: {line}");
    }
    let mut command = store.command(&["try"], "1");
    command.env("ALLOCPORT_LOCK_DIR", format!("{link}/.."));
    let mut p = Spawn::new().start(&mut command);
    let line = p.line();
    p.wait();
    assert!(line.contains("contains `..`"), "{line}");
    assert_eq!(
        fs::read_dir(&target).unwrap().count(),
        0,
        "a file was created behind the symlink"
    );
}

/// One process deletes the lock directory every 500 ms while 8 processes x 4 threads allocate,
/// bind without `SO_REUSEADDR`, hold briefly and release on a 20-port pool for 10 s: no bind
/// fails, no port goes to two threads, and allocations keep coming to the end.
#[test]
fn deleting_the_lock_dir_every_500_ms_under_load_never_hands_a_port_twice() {
    let tmp = TempDir::new("store-stress");
    let dir = tmp.path().join("locks");
    let churners: Vec<Process> = (0..8)
        .map(|_| {
            Spawn::new().start(
                probe_command()
                    .args(["churn", "4", "10000"])
                    .env("PYSYS_PORTS", "23700-23719")
                    .env("ALLOCPORT_LOCK_DIR", &dir)
                    .env("ALLOCPORT_TIMEOUT_SECS", "60"),
            )
        })
        .collect();
    let start = Instant::now();
    let mut deletions = 0;
    while start.elapsed() < Duration::from_millis(10_000) {
        sleep(Duration::from_millis(500));
        delete_dir(&dir);
        deletions += 1;
    }
    let (mut allocations, mut renewals) = (0u64, 0u64);
    for mut churner in churners {
        let count = churn_counts(&mut churner, "port");
        let more = churner.line();
        let fields: Vec<&str> = more.split_whitespace().collect();
        let ["renewals", renewed, "late", late] = fields[..] else {
            panic!("unexpected report {more:?}");
        };
        assert_ne!(late, "0", "allocations stopped before the end ({more})");
        assert!(churner.wait().success());
        allocations += count;
        renewals += renewed.parse::<u64>().unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "stress: {deletions} deletions of the lock dir, {renewals} lock files made again, \
         {allocations} allocations in {secs:.1} s ({:.0}/s)",
        allocations as f64 / secs
    );
    assert!(deletions >= 10, "only {deletions} deletions");
    assert!(renewals > 0, "no process noticed a deletion");
}

#[cfg(target_os = "linux")]
/// Waits until every thread of `pid` is stopped, so none is half-way through re-taking a lock.
fn wait_until_stopped(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let stopped = || {
        fs::read_dir(format!("/proc/{pid}/task"))
            .unwrap()
            .all(|task| {
                let stat = fs::read_to_string(task.unwrap().path().join("stat")).unwrap();
                // The state follows the command name, which is in parentheses.
                stat.rsplit_once(") ")
                    .is_some_and(|(_, rest)| rest.starts_with('T'))
            })
    };
    while !stopped() {
        assert!(Instant::now() < deadline, "process {pid} did not stop");
        sleep(Duration::from_millis(5));
    }
}

/// The window that remains: a holder stopped for longer than the grace while its lock file is
/// deleted loses the race. Both processes then say so on standard error, naming each other.
#[cfg(target_os = "linux")]
#[test]
fn a_holder_stopped_past_the_grace_loses_the_race_and_both_processes_say_so() {
    let store = Store::new("store-stopped", 23610);
    let start = |store: &Store| {
        let mut p = Spawn::new()
            .capture_stderr()
            .start(&mut store.command(&["hold", "1"], "30"));
        assert_eq!(parse_ports_line(&p.line()), vec![store.port]);
        p
    };
    let mut first = start(&store);
    // SAFETY: kill has no memory preconditions; the pid is a live child not yet reaped.
    unsafe { libc::kill(first.pid() as libc::pid_t, libc::SIGSTOP) };
    wait_until_stopped(first.pid());
    fs::remove_file(store.lock_file()).unwrap();
    let mut second = start(&store);
    // SAFETY: as above.
    unsafe { libc::kill(first.pid() as libc::pid_t, libc::SIGCONT) };
    // The first notices at its next tick, the second reads the note at its next.
    sleep(Duration::from_secs(1));
    let (first_pid, second_pid) = (first.pid(), second.pid());
    first.close_stdin();
    second.close_stdin();
    let first = String::from_utf8(first.finish().stderr).unwrap();
    let second = String::from_utf8(second.finish().stderr).unwrap();
    assert!(
        first.contains(&format!(
            "allocport: warning: port {} is held by this process, but its lock file",
            store.port
        )) && first.contains(&format!("process {second_pid} locked the port first")),
        "the stopped holder did not say so: {first}"
    );
    assert!(
        second.contains(&format!(
            "allocport: warning: port {}, held by this process, was also held by process {first_pid}",
            store.port
        )),
        "the other process did not say so: {second}"
    );
}
