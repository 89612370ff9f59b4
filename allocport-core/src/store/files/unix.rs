//! Unix: POSIX `fcntl` record locks and a 0700 directory owned by this user.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use super::Holder;

/// The default lock directory: in `/tmp`, not `TMPDIR`, so that every process of this user
/// on the machine meets there (see `lock_dir`).
pub(super) fn default_dir() -> std::path::PathBuf {
    Path::new("/tmp").join(default_dir_name())
}

pub(super) fn default_dir_name() -> String {
    format!("allocport-{}", euid())
}

fn euid() -> u32 {
    // Asked at each check of the directory and of each lock file: once is enough, as the
    // lock directory is chosen once per process.
    static EUID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    // SAFETY: geteuid has no preconditions and cannot fail.
    *EUID.get_or_init(|| unsafe { libc::geteuid() })
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

/// A one-byte record lock on byte `byte`.
fn flock(kind: impl Into<i64>, byte: u32) -> libc::flock {
    flock_range(kind, i64::from(byte), 1)
}

/// A record lock of `len` bytes from `start` (`len` 0: to the end of any file). The lock
/// kinds are `c_int` on Linux but `c_short` on the BSDs, hence the widening.
pub(super) fn flock_range(kind: impl Into<i64>, start: i64, len: u32) -> libc::flock {
    // SAFETY: flock is plain data; all-zero is a valid value, and the fields are set below.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = kind.into() as _;
    lock.l_whence = libc::SEEK_SET as _;
    lock.l_start = start as libc::off_t;
    lock.l_len = len as _;
    lock
}

pub(super) fn fcntl(file: &File, cmd: libc::c_int, lock: &mut libc::flock) -> io::Result<()> {
    // SAFETY: the descriptor is open for the call and `lock` is a valid flock.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), cmd, lock as *mut libc::flock) };
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

pub(super) fn try_lock(file: &File, byte: u32) -> io::Result<bool> {
    match fcntl(file, libc::F_SETLK, &mut flock(libc::F_WRLCK, byte)) {
        Ok(()) => Ok(true),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES | libc::EAGAIN)) => Ok(false),
        Err(e) => Err(e),
    }
}

pub(super) fn unlock(file: &File, byte: u32) -> io::Result<()> {
    fcntl(file, libc::F_SETLK, &mut flock(libc::F_UNLCK, byte))
}

/// A lock another process holds, as `F_GETLK` reports it.
struct Conflict {
    start: i64,
    /// 0: to the end of any file.
    len: i64,
    holder: Holder,
}

/// One lock of another process that a write lock of `len` bytes from `start` would meet
/// (`F_GETLK`, which tests without taking anything): some such lock, not the first.
fn conflict(file: &File, start: i64, len: u32) -> io::Result<Option<Conflict>> {
    let mut lock = flock_range(libc::F_WRLCK, start, len);
    fcntl(file, libc::F_GETLK, &mut lock)?;
    if i64::from(lock.l_type) == i64::from(libc::F_UNLCK) {
        return Ok(None);
    }
    // `off_t` is 32 bits on some targets.
    #[allow(clippy::useless_conversion)]
    let (start, len) = (i64::from(lock.l_start), i64::from(lock.l_len));
    Ok(Some(Conflict {
        start,
        len,
        holder: Holder {
            pid: u32::try_from(lock.l_pid).ok(),
        },
    }))
}

/// Which process's lock would block a write lock on byte `byte`.
pub(super) fn holder(file: &File, byte: u32) -> io::Result<Option<Holder>> {
    Ok(conflict(file, i64::from(byte), 1)?.map(|c| c.holder))
}

/// Whether another process holds a lock that a write lock on the 65,536 bytes from `base`
/// would meet, and whether it covers byte `byte`: one `F_GETLK` for a kind of mark in a file.
pub(super) fn marks(file: &File, base: u32, byte: u32) -> io::Result<super::Marks> {
    Ok(match conflict(file, i64::from(base), 1 << 16)? {
        None => super::Marks::None,
        Some(c) if covers(c.start, c.len, byte) => super::Marks::Port,
        Some(_) => super::Marks::Elsewhere,
    })
}

/// The ports of lock file `index` whose lock at `base + port` another process holds: the
/// file's locks in that range found by halves, one `F_GETLK` per lock found and one per empty
/// stretch (`F_GETLK` names one conflicting lock of a range, not the first), instead of one
/// per port.
pub(super) fn holders_in(file: &File, base: u32, index: u16) -> io::Result<Vec<(u16, Holder)>> {
    let (base, end) = (i64::from(base), i64::from(base) + (1 << 16));
    let mut found = Vec::new();
    let mut stretches = vec![(base, end)];
    while let Some((lo, hi)) = stretches.pop() {
        if lo >= hi {
            continue;
        }
        let Some(c) = conflict(file, lo, (hi - lo) as u32)? else {
            continue;
        };
        let from = c.start.max(lo);
        let to = if c.len == 0 {
            hi
        } else {
            (c.start + c.len).min(hi)
        };
        for byte in from..to {
            let port = (byte - base) as u16;
            if usize::from(port) % super::LOCK_FILES == usize::from(index) {
                found.push((port, c.holder));
            }
        }
        stretches.push((lo, from));
        stretches.push((to, hi));
    }
    Ok(found)
}

/// Whether a record lock of `len` bytes from `start` covers `byte`; a length of 0 runs to the
/// end of any file.
fn covers(start: i64, len: i64, byte: u32) -> bool {
    let byte = i64::from(byte);
    start <= byte && (len == 0 || byte < start + len)
}

/// A file's identity: its device and inode.
pub(super) fn file_id(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    Some((meta.dev(), meta.ino()))
}

/// Opens the directory `dir` itself (never through a symlink) and takes a shared BSD `flock`
/// on it, which tells systemd-tmpfiles to leave it alone; `None` if either fails (the next
/// round tries again).
pub(super) fn share_lock_dir(dir: &Path) -> Option<(File, Option<(u64, u64)>)> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(dir)
        .ok()?;
    // SAFETY: the descriptor is open for the call.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } == -1 {
        return None;
    }
    let id = file.metadata().ok().and_then(|meta| file_id(&meta));
    Some((file, id))
}

#[cfg(test)]
mod tests {
    use super::covers;

    #[test]
    fn a_lock_covers_its_bytes_and_a_zero_length_runs_to_the_end() {
        assert!(covers(131072 + 80, 1, 131072 + 80));
        assert!(!covers(131072 + 80, 1, 131072 + 81));
        assert!(!covers(131072 + 80, 1, 131072 + 79));
        assert!(covers(196608 + 1000, 500, 196608 + 1499));
        assert!(!covers(196608 + 1000, 500, 196608 + 1500));
        assert!(covers(196608, 0, 262143));
        assert!(!covers(196609, 0, 196608));
    }
}
