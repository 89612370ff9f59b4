//! Where the lock files live, and the rules that keep that place private to this user.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use super::sys;
use crate::env::{self, ALLOCPORT_LOCK_DIR, Env};
use crate::error::Error;

/// The directory that holds the cross-process lock files: `ALLOCPORT_LOCK_DIR` if set, else
/// `allocport-<uid>` in the system's temporary directory (`allocport` on Windows, where the
/// temporary directory is already per user).
///
/// ```
/// let dir = allocport_core::lock_dir().unwrap();
/// assert!(dir.is_absolute() || std::env::var_os("ALLOCPORT_LOCK_DIR").is_some());
/// ```
pub fn lock_dir() -> Result<PathBuf, Error> {
    Ok(lock_dir_from(&env::process))
}

/// [`lock_dir`] in the environment `env`.
pub(crate) fn lock_dir_from(env: Env<'_>) -> PathBuf {
    match env::non_empty(env, ALLOCPORT_LOCK_DIR) {
        Some(dir) => PathBuf::from(dir),
        None => std::env::temp_dir().join(sys::default_dir_name()),
    }
}

/// Creates `dir` private if missing, then insists that it is a real directory (not a symlink)
/// that only this user can enter. It changes nothing that exists.
pub(super) fn ensure_private_dir(dir: &Path) -> Result<(), String> {
    // Inspected first: it exists in all but a user's first run, so one system call, not two.
    let meta = match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            match sys::create_private_dir(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(format!("cannot create it: {e}")),
            }
            std::fs::symlink_metadata(dir)
        }
        other => other,
    };
    let meta = meta.map_err(|e| format!("cannot inspect it: {e}"))?;
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
pub(super) fn open_private_file(path: &Path) -> Result<File, String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_names_the_directory() {
        let env = env::fake(&[(ALLOCPORT_LOCK_DIR, "/some/where")]);
        assert_eq!(lock_dir_from(&env), PathBuf::from("/some/where"));
    }

    #[test]
    fn unset_or_empty_is_a_per_user_directory_in_temp() {
        let default = std::env::temp_dir().join(sys::default_dir_name());
        assert_eq!(lock_dir_from(&env::fake(&[])), default);
        let empty = env::fake(&[(ALLOCPORT_LOCK_DIR, "")]);
        assert_eq!(lock_dir_from(&empty), default);
    }
}
