//! Exclusion between processes: one byte-range lock per port, on a few lock files.
//!
//! The files live in a private per-user directory and stay open for the life of the process,
//! so holding a port costs no file descriptor of its own, and the kernel drops every lock of a
//! process that dies, even by `SIGKILL`: nothing is left to clean up. Port `p` is byte `p` of
//! file `ports-<p % 64>.lock`; the files themselves stay empty (locks may lie beyond the end).
//! The kernel walks every lock on a file on each lock and unlock, so one file for all ports
//! made an allocation cost grow with the ports held machine-wide (5x at 4,000 held); 64 files
//! keep each list short while a process still needs at most 64 descriptors.
//!
//! Unix uses POSIX `fcntl` record locks; they belong to the process, so exclusion between
//! threads of one process is the pool's job. Closing *any* descriptor of a lock file drops
//! every lock the process holds on it, so each file is opened once per process, under
//! [`OPENING`], and never closed.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use crate::error::Error;

/// How many lock files the ports are spread over.
const LOCK_FILES: usize = 64;

/// The lock files of this process, each opened on first use and never closed.
pub(crate) struct PortLocks {
    dir: PathBuf,
    files: [OnceLock<File>; LOCK_FILES],
}

static LOCKS: OnceLock<PortLocks> = OnceLock::new();

/// Held while a lock file is opened, so that two threads never both open one and drop a copy
/// (which would silently drop the other's locks).
static OPENING: Mutex<()> = Mutex::new(());

/// The process's lock files, their directory checked on the first call. An unusable directory
/// is an error every time it is asked for, never a silent fallback to no locking.
pub(crate) fn port_locks() -> Result<&'static PortLocks, Error> {
    if let Some(locks) = LOCKS.get() {
        return Ok(locks);
    }
    let dir = lock_dir()?;
    ensure_private_dir(&dir).map_err(|reason| Error::LockDir {
        dir: dir.clone(),
        reason,
    })?;
    Ok(LOCKS.get_or_init(|| PortLocks {
        dir,
        files: [const { OnceLock::new() }; LOCK_FILES],
    }))
}

fn lock_file_name(port: u16) -> String {
    format!("ports-{:02}.lock", usize::from(port) % LOCK_FILES)
}

/// The directory that holds the cross-process lock files: `ALLOCPORT_LOCK_DIR` if set, else
/// `allocport-<uid>` in the system's temporary directory (`allocport` on Windows, where the
/// temporary directory is already per user).
///
/// ```
/// let dir = allocport_core::lock_dir().unwrap();
/// assert!(dir.is_absolute() || std::env::var_os("ALLOCPORT_LOCK_DIR").is_some());
/// ```
pub fn lock_dir() -> Result<PathBuf, Error> {
    if let Some(dir) = std::env::var_os("ALLOCPORT_LOCK_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    Ok(std::env::temp_dir().join(sys::default_dir_name()))
}

/// Creates `dir` private if missing, then insists that it is a real directory (not a symlink)
/// that only this user can enter. It changes nothing that exists.
fn ensure_private_dir(dir: &Path) -> Result<(), String> {
    match sys::create_private_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot create it: {e}")),
    }
    let meta = std::fs::symlink_metadata(dir).map_err(|e| format!("cannot inspect it: {e}"))?;
    if meta.file_type().is_symlink() {
        return Err("it is a symbolic link, which is not followed".into());
    }
    if !meta.is_dir() {
        return Err("it is not a directory".into());
    }
    sys::check_private(&meta, "0700")
}

/// Opens a lock file, creating it private, without following a symlink, and checks it is a
/// regular file only this user can touch.
fn open_private_file(path: &Path) -> Result<File, String> {
    let file = sys::no_follow_options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot inspect {}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    sys::check_private(&meta, "0600").map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(file)
}

impl PortLocks {
    /// The lock file of `port`, opened on first use.
    fn file(&self, port: u16) -> Result<&File, Error> {
        let slot = &self.files[usize::from(port) % LOCK_FILES];
        if let Some(file) = slot.get() {
            return Ok(file);
        }
        let _opening = OPENING
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(file) = slot.get() {
            return Ok(file);
        }
        let file = open_private_file(&self.dir.join(lock_file_name(port)))
            .map_err(|reason| self.error(reason))?;
        Ok(slot.get_or_init(|| file))
    }

    fn error(&self, reason: String) -> Error {
        Error::LockDir {
            dir: self.dir.clone(),
            reason,
        }
    }

    /// Takes the lock of `port` if no other process holds it; `false` if one does.
    pub(crate) fn try_lock(&self, port: u16) -> Result<bool, Error> {
        sys::try_lock(self.file(port)?, port)
            .map_err(|e| self.error(format!("locking port {port}: {e}")))
    }

    /// Gives the lock of `port` back; its file is open, since the port was locked.
    pub(crate) fn unlock(&self, port: u16) {
        let unlocked = self.file(port).and_then(|file| {
            sys::unlock(file, port).map_err(|e| self.error(format!("unlocking port {port}: {e}")))
        });
        if let Err(e) = unlocked {
            // Not reachable in practice; the lock dies with the process anyway.
            log::warn!("allocport: {e}");
        }
    }

    /// Which process's lock would block taking `port` (never this process's own).
    fn holder(&self, port: u16) -> Result<Option<PortHolder>, Error> {
        sys::holder(self.file(port)?, port)
            .map_err(|e| self.error(format!("reading the lock of port {port}: {e}")))
    }
}

/// A port held by another process, as [`tcp_port_holders`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortHolder {
    /// The port.
    pub port: u16,
    /// The holding process, where the OS tells it (Unix does, Windows does not).
    pub pid: Option<u32>,
}

/// The ports that other processes hold right now, in port order, read from the lock files
/// (ports this process holds are in [`held_tcp_ports`](crate::held_tcp_ports)). It answers
/// "why does my allocation wait?", as the `allocport status` command does. It checks the lock
/// directory and creates it if missing, as an allocation would.
///
/// ```
/// for holder in allocport_core::tcp_port_holders().unwrap() {
///     println!("port {} held by {:?}", holder.port, holder.pid);
/// }
/// ```
pub fn tcp_port_holders() -> Result<Vec<PortHolder>, Error> {
    // Through this process's own descriptors: a temporary one, once closed, would drop the
    // locks of ports this process holds.
    let locks = port_locks()?;
    let mut holders = Vec::new();
    for port in 1..=u16::MAX {
        holders.extend(locks.holder(port)?);
    }
    Ok(holders)
}

#[cfg(unix)]
mod sys {
    use std::fs::{DirBuilder, File, OpenOptions};
    use std::io;
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
    use std::path::Path;

    use super::PortHolder;

    pub(super) fn default_dir_name() -> String {
        // SAFETY: geteuid has no preconditions and cannot fail.
        format!("allocport-{}", unsafe { libc::geteuid() })
    }

    fn euid() -> u32 {
        // SAFETY: as above.
        unsafe { libc::geteuid() }
    }

    /// Creates a directory only this user can enter.
    pub(super) fn create_private_dir(dir: &Path) -> io::Result<()> {
        DirBuilder::new().mode(0o700).create(dir)
    }

    /// Options that create a file only this user can touch and never follow a symlink.
    pub(super) fn no_follow_options() -> OpenOptions {
        let mut options = OpenOptions::new();
        options
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
        options
    }

    /// Insists that `meta` is this user's and that nobody else can enter or touch it.
    pub(super) fn check_private(meta: &std::fs::Metadata, wanted: &str) -> Result<(), String> {
        if meta.uid() != euid() {
            return Err(format!(
                "it is owned by uid {}, not by this user (uid {})",
                meta.uid(),
                euid()
            ));
        }
        if meta.mode() & 0o077 != 0 {
            return Err(format!(
                "its mode {:04o} lets other users in; it must be {wanted}",
                meta.mode() & 0o7777
            ));
        }
        Ok(())
    }

    /// A one-byte record lock for `port`. The lock kinds are `c_int` on Linux but `c_short`
    /// on the BSDs, hence the widening.
    fn flock(kind: impl Into<i64>, port: u16) -> libc::flock {
        // SAFETY: flock is plain data; all-zero is a valid value, and the fields are set below.
        let mut lock: libc::flock = unsafe { std::mem::zeroed() };
        lock.l_type = kind.into() as _;
        lock.l_whence = libc::SEEK_SET as _;
        lock.l_start = libc::off_t::from(port);
        lock.l_len = 1;
        lock
    }

    fn fcntl(file: &File, cmd: libc::c_int, lock: &mut libc::flock) -> io::Result<()> {
        // SAFETY: the descriptor is open for the call and `lock` is a valid flock.
        let rc = unsafe { libc::fcntl(file.as_raw_fd(), cmd, lock as *mut libc::flock) };
        if rc == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    pub(super) fn try_lock(file: &File, port: u16) -> io::Result<bool> {
        match fcntl(file, libc::F_SETLK, &mut flock(libc::F_WRLCK, port)) {
            Ok(()) => Ok(true),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES | libc::EAGAIN)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    pub(super) fn unlock(file: &File, port: u16) -> io::Result<()> {
        fcntl(file, libc::F_SETLK, &mut flock(libc::F_UNLCK, port))
    }

    /// Which process's lock would block a write lock on `port` (`F_GETLK`), which tests
    /// without taking anything.
    pub(super) fn holder(file: &File, port: u16) -> io::Result<Option<PortHolder>> {
        let mut lock = flock(libc::F_WRLCK, port);
        fcntl(file, libc::F_GETLK, &mut lock)?;
        if i64::from(lock.l_type) == i64::from(libc::F_UNLCK) {
            return Ok(None);
        }
        Ok(Some(PortHolder {
            port,
            pid: u32::try_from(lock.l_pid).ok(),
        }))
    }
}

#[cfg(windows)]
mod sys {
    use std::fs::{File, OpenOptions};
    use std::io;
    use std::os::windows::fs::OpenOptionsExt;
    use std::os::windows::io::AsRawHandle;
    use std::path::Path;

    use windows_sys::Win32::Foundation::{ERROR_LOCK_VIOLATION, HANDLE};
    use windows_sys::Win32::Storage::FileSystem::{
        FILE_FLAG_OPEN_REPARSE_POINT, LOCKFILE_EXCLUSIVE_LOCK, LOCKFILE_FAIL_IMMEDIATELY,
        LockFileEx, UnlockFileEx,
    };
    use windows_sys::Win32::System::IO::OVERLAPPED;

    use super::PortHolder;

    pub(super) fn default_dir_name() -> String {
        "allocport".into()
    }

    pub(super) fn create_private_dir(dir: &Path) -> io::Result<()> {
        std::fs::create_dir(dir)
    }

    /// Options that open a reparse point (symlink, junction) itself rather than its target,
    /// which the regular-file check then refuses.
    pub(super) fn no_follow_options() -> OpenOptions {
        let mut options = OpenOptions::new();
        options.custom_flags(FILE_FLAG_OPEN_REPARSE_POINT);
        options
    }

    /// The temporary directory is per user on Windows and its ACL keeps others out.
    pub(super) fn check_private(_meta: &std::fs::Metadata, _wanted: &str) -> Result<(), String> {
        Ok(())
    }

    fn overlapped(port: u16) -> OVERLAPPED {
        // SAFETY: OVERLAPPED is plain data; all-zero is valid, and the offset is set below.
        let mut o: OVERLAPPED = unsafe { std::mem::zeroed() };
        o.Anonymous.Anonymous.Offset = u32::from(port);
        o
    }

    pub(super) fn try_lock(file: &File, port: u16) -> io::Result<bool> {
        let mut o = overlapped(port);
        let flags = LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY;
        // SAFETY: the handle is open for the call and `o` outlives it (the call is synchronous).
        let ok = unsafe { LockFileEx(file.as_raw_handle() as HANDLE, flags, 0, 1, 0, &mut o) };
        if ok != 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(ERROR_LOCK_VIOLATION as i32) {
            Ok(false)
        } else {
            Err(e)
        }
    }

    pub(super) fn unlock(file: &File, port: u16) -> io::Result<()> {
        let mut o = overlapped(port);
        // SAFETY: as in try_lock.
        let ok = unsafe { UnlockFileEx(file.as_raw_handle() as HANDLE, 0, 1, 0, &mut o) };
        if ok != 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Windows cannot name a lock's owner: probe the port by locking and unlocking it. A port
    /// this process holds shows as held too (its lock is on the same handle).
    pub(super) fn holder(file: &File, port: u16) -> io::Result<Option<PortHolder>> {
        if try_lock(file, port)? {
            unlock(file, port)?;
            return Ok(None);
        }
        Ok(Some(PortHolder { port, pid: None }))
    }
}
