//! An unusable lock directory is an error naming it and `ALLOCPORT_LOCK_DIR`, returned at
//! once, with nothing in its place changed: never a silent loss of exclusion.
#![cfg(unix)]

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::Path;
use std::process::Command;

use allocport_testkit::{Spawn, TempDir};
use allocport_tests::probe_command;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs `allocport-probe try` with the lock directory `dir` and returns its output line.
fn try_with_lock_dir(command: &mut Command, dir: &Path) -> String {
    command
        .arg("try")
        .env("ALLOCPORT_LOCK_DIR", dir)
        .env("ALLOCPORT_TIMEOUT_SECS", "120");
    let mut p = Spawn::new().start(command);
    let line = p.line();
    p.wait();
    line
}

/// The error for lock directory `dir`, checking it names the directory and the variable.
fn lock_dir_error(dir: &Path) -> String {
    let line = try_with_lock_dir(&mut probe_command(), dir);
    assert_named(&line, dir);
    line
}

fn assert_named(line: &str, dir: &Path) {
    assert!(line.starts_with("err lock directory"), "{line}");
    assert!(line.contains(&format!("{:?}", dir)), "{line}");
    assert!(line.contains("ALLOCPORT_LOCK_DIR"), "{line}");
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

fn assert_empty(dir: &Path, what: &str) {
    assert_eq!(fs::read_dir(dir).unwrap().count(), 0, "{what}");
}

fn private_dir(path: &Path) {
    fs::create_dir(path).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o700)).unwrap();
}

#[test]
fn a_missing_lock_dir_is_created_private() {
    let tmp = TempDir::new("lockdir-new");
    let dir = tmp.path().join("locks");
    let line = try_with_lock_dir(&mut probe_command(), &dir);
    assert!(line.starts_with("ok "), "{line}");
    assert_eq!(mode(&dir), 0o700);
    let files: Vec<_> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!files.is_empty());
    for file in files {
        let name = file.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(
            name.starts_with("ports-") && name.ends_with(".lock"),
            "{name}"
        );
        assert_eq!(mode(&file), 0o600, "{name}");
    }
}

#[test]
fn a_file_in_place_of_the_lock_dir_is_an_error_and_stays_as_it_was() {
    let tmp = TempDir::new("lockdir-file");
    let dir = tmp.path().join("locks");
    fs::write(&dir, "precious").unwrap();
    let line = lock_dir_error(&dir);
    assert!(line.contains("not a directory"), "{line}");
    assert_eq!(fs::read_to_string(&dir).unwrap(), "precious");
}

#[test]
fn a_symlink_in_place_of_the_lock_dir_is_not_followed() {
    let tmp = TempDir::new("lockdir-link");
    let target = tmp.path().join("elsewhere");
    private_dir(&target);
    let dir = tmp.path().join("locks");
    symlink(&target, &dir).unwrap();
    let line = lock_dir_error(&dir);
    assert!(line.contains("symbolic link"), "{line}");
    assert_empty(&target, "a file was created behind the symlink");
}

#[test]
fn a_symlink_in_place_of_the_lock_file_is_not_followed() {
    let tmp = TempDir::new("lockfile-link");
    let dir = tmp.path().join("locks");
    private_dir(&dir);
    let victim = tmp.path().join("victim");
    fs::write(&victim, "precious").unwrap();
    // Every lock file a link, so whichever port the probe tries meets one.
    for shard in 0..64 {
        symlink(&victim, dir.join(format!("ports-{shard:02}.lock"))).unwrap();
    }
    let line = lock_dir_error(&dir);
    assert!(line.contains("ports-") && line.contains(".lock"), "{line}");
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
}

#[test]
fn a_lock_dir_others_can_enter_is_refused_and_left_alone() {
    let tmp = TempDir::new("lockdir-mode");
    let dir = tmp.path().join("locks");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
    let line = lock_dir_error(&dir);
    assert!(line.contains("mode 0777"), "{line}");
    assert_eq!(mode(&dir), 0o777, "the mode was changed");
    assert_empty(&dir, "a file was created in it");
}

#[test]
fn a_lock_dir_owned_by_another_user_is_refused() {
    if !is_root() {
        eprintln!("skipped: only root can give a directory to another user");
        return;
    }
    let tmp = TempDir::new("lockdir-owner");
    let dir = tmp.path().join("locks");
    private_dir(&dir);
    std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
    let line = lock_dir_error(&dir);
    assert!(line.contains("owned by uid 65534"), "{line}");
    assert_empty(&dir, "a file was created in it");
}

#[test]
fn an_unwritable_lock_dir_is_an_error() {
    use std::os::unix::process::CommandExt;
    let tmp = TempDir::new("lockdir-ro");
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let dir = tmp.path().join("locks");
    private_dir(&dir);
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o500)).unwrap();
    let mut command = if is_root() {
        // Root writes anywhere: run the probe as an ordinary user who owns the read-only dir,
        // from a copy it can reach wherever this checkout lives.
        std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
        let copy = tmp.path().join("allocport-probe");
        fs::copy(probe_command().get_program(), &copy).unwrap();
        let mut command = Command::new(copy);
        command.uid(65534).gid(65534).env("TMPDIR", tmp.path());
        command
    } else {
        probe_command()
    };
    let line = try_with_lock_dir(&mut command, &dir);
    assert_named(&line, &dir);
    assert!(
        line.contains(".lock") && line.contains("ermission denied"),
        "{line}"
    );
    assert_empty(&dir, "a file was created in it");
}

#[test]
fn a_lock_dir_that_cannot_be_created_is_an_error() {
    let tmp = TempDir::new("lockdir-nested");
    let dir = tmp.path().join("no").join("such").join("parent");
    let line = lock_dir_error(&dir);
    assert!(line.contains("cannot create it"), "{line}");
    assert!(!tmp.path().join("no").exists());
}
