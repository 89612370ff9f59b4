//! Windows: `LockFileEx` byte-range locks; the per-user temporary directory keeps others out.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::windows::fs::OpenOptionsExt;
use std::os::windows::io::AsRawHandle;
use std::path::Path;

use windows_sys::Win32::Foundation::{ERROR_LOCK_VIOLATION, HANDLE};
use windows_sys::Win32::Storage::FileSystem::{
    FILE_FLAG_OPEN_REPARSE_POINT, LOCKFILE_EXCLUSIVE_LOCK, LOCKFILE_FAIL_IMMEDIATELY, LockFileEx,
    UnlockFileEx,
};
use windows_sys::Win32::System::IO::OVERLAPPED;

use super::Holder;

/// The default lock directory, in the per-user temporary directory.
pub(super) fn default_dir() -> std::path::PathBuf {
    std::env::temp_dir().join(default_dir_name())
}

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

fn overlapped(byte: u32) -> OVERLAPPED {
    // SAFETY: OVERLAPPED is plain data; all-zero is valid, and the offset is set below.
    let mut o: OVERLAPPED = unsafe { std::mem::zeroed() };
    o.Anonymous.Anonymous.Offset = byte;
    o
}

pub(super) fn try_lock(file: &File, byte: u32) -> io::Result<bool> {
    try_lock_bytes(file, byte, 1)
}

pub(super) fn unlock(file: &File, byte: u32) -> io::Result<()> {
    unlock_bytes(file, byte, 1)
}

/// Locks the `len` bytes from `byte` at once: fails (`Ok(false)`) if any of them is locked,
/// by another process or through this handle.
fn try_lock_bytes(file: &File, byte: u32, len: u32) -> io::Result<bool> {
    let mut o = overlapped(byte);
    let flags = LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY;
    // SAFETY: the handle is open for the call and `o` outlives it (the call is synchronous).
    let ok = unsafe { LockFileEx(file.as_raw_handle() as HANDLE, flags, 0, len, 0, &mut o) };
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

fn unlock_bytes(file: &File, byte: u32, len: u32) -> io::Result<()> {
    let mut o = overlapped(byte);
    // SAFETY: as in try_lock_bytes.
    let ok = unsafe { UnlockFileEx(file.as_raw_handle() as HANDLE, 0, len, 0, &mut o) };
    if ok != 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Windows cannot name a lock's owner: probe the port by locking and unlocking it. A port
/// this process holds shows as held too (its lock is on the same handle).
pub(super) fn holder(file: &File, byte: u32) -> io::Result<Option<Holder>> {
    if try_lock(file, byte)? {
        unlock(file, byte)?;
        return Ok(None);
    }
    Ok(Some(Holder { pid: None }))
}

/// Windows cannot list a file's locks: every port is looked at by itself.
pub(super) fn marks(_file: &File, _base: u32, _byte: u32) -> io::Result<super::Marks> {
    Ok(super::Marks::Elsewhere)
}

/// The ports of lock file `index` whose lock at `base + port` another process holds. Windows
/// cannot list a file's locks, and probing its 1,024 ports one by one took 17 s for the 64
/// files under Wine: the ports are probed by halves, one lock over the bytes of a run of them
/// showing at once that none is held, so only runs with a holder are split.
pub(super) fn holders_in(file: &File, base: u32, index: u16) -> io::Result<Vec<(u16, Holder)>> {
    let ports: Vec<u16> = (index..=u16::MAX).step_by(super::LOCK_FILES).collect();
    let mut found = Vec::new();
    held_among(file, base, &ports, &mut found)?;
    Ok(found)
}

/// Adds the held ports among `ports` (ascending, all of one lock file) to `found`. The bytes
/// between two of them belong to other files' ports, so no lock lies there in this file.
fn held_among(
    file: &File,
    base: u32,
    ports: &[u16],
    found: &mut Vec<(u16, Holder)>,
) -> io::Result<()> {
    let (Some(&first), Some(&last)) = (ports.first(), ports.last()) else {
        return Ok(());
    };
    let (byte, len) = (base + u32::from(first), u32::from(last - first) + 1);
    if try_lock_bytes(file, byte, len)? {
        return unlock_bytes(file, byte, len);
    }
    if let [port] = ports {
        found.push((*port, Holder { pid: None }));
        return Ok(());
    }
    let (low, high) = ports.split_at(ports.len() / 2);
    held_among(file, base, low, found)?;
    held_among(file, base, high, found)
}

/// No identity is read on Windows: a lock file open here cannot be deleted or replaced.
pub(super) fn file_id(_meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

/// Windows has no cleaner that honours directory locks; the open lock files keep it.
pub(super) fn share_lock_dir(_dir: &Path) -> Option<(File, Option<(u64, u64)>)> {
    None
}
