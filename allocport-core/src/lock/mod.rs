//! Exclusion between processes: one byte-range lock per port, on a few lock files.
//! [`dir`] says where the files live; `unix.rs` and `windows.rs` hold the system calls.
//!
//! The files live in a private per-user directory and stay open for the life of the process,
//! so holding a port costs no file descriptor of its own, and the kernel drops every lock of a
//! process that dies, even by `SIGKILL`: nothing is left to clean up. Port `p` is byte `p` of
//! file `ports-<p % 64>.lock`; the files themselves stay empty (locks may lie beyond the end).
//! Bytes from 65536 up hold the shared marks of processes waiting for ports ([`wake`]).
//! The kernel walks every lock on a file on each lock and unlock, so one file for all ports
//! made an allocation cost grow with the ports held machine-wide (5x at 4,000 held); 64 files
//! keep each list short while a process still needs at most 64 descriptors.
//!
//! Unix uses POSIX `fcntl` record locks; they belong to the process, so exclusion between
//! threads of one process is the pool's job. Closing *any* descriptor of a lock file drops
//! every lock the process holds on it, so each file is opened once per process, under
//! [`OPENING`], and never closed.

use std::fs::File;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use crate::error::Error;

mod dir;
#[cfg(unix)]
#[path = "unix.rs"]
mod sys;
#[cfg(windows)]
#[path = "windows.rs"]
mod sys;
pub(crate) mod wake;

pub use dir::lock_dir;
use dir::{ensure_private_dir, open_private_file};

/// Another process's lock on a port: Unix names that process, Windows cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Holder {
    pub(crate) pid: Option<u32>,
}

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
    pub(crate) fn holder(&self, port: u16) -> Result<Option<Holder>, Error> {
        sys::holder(self.file(port)?, port)
            .map_err(|e| self.error(format!("reading the lock of port {port}: {e}")))
    }
}
