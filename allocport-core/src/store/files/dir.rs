//! Where the lock files live, and the rules that keep that place private to this user.

use std::fs::File;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::sys;
use crate::env::{self, ALLOCPORT_LOCK_DIR, Env};
use crate::error::Error;

/// The directory that holds the cross-process lock files: `ALLOCPORT_LOCK_DIR` if set (an
/// absolute path), else `/tmp/allocport-<uid>` on Unix and `allocport` in the per-user
/// temporary directory on Windows.
///
/// The default deliberately ignores `TMPDIR`, `HOME` and the working directory: every process
/// of a user on one machine must meet in one lock store, and build tools and CI runners give
/// each test its own `TMPDIR`. `/tmp` is the one directory every Unix process can rely on.
/// A relative `ALLOCPORT_LOCK_DIR` is an error (each working directory would get a store of
/// its own), and so is one with a `..` in it; a trailing `/` or `.` is dropped, so the
/// symlink check applies to the directory itself however the path is spelled.
///
/// Only with the `file-store` feature on Linux.
///
/// ```
/// let dir = allocport_core::lock_dir().unwrap();
/// assert!(dir.is_absolute());
/// ```
pub fn lock_dir() -> Result<PathBuf, Error> {
    lock_dir_from(&env::process)
}

/// [`lock_dir`] in the environment `env`.
pub(crate) fn lock_dir_from(env: Env<'_>) -> Result<PathBuf, Error> {
    let Some(value) = env::non_empty(env, ALLOCPORT_LOCK_DIR) else {
        return Ok(sys::default_dir());
    };
    let invalid = |reason: &str| Error::InvalidEnv {
        var: ALLOCPORT_LOCK_DIR,
        value: value.to_string_lossy().into_owned(),
        reason: reason.to_owned(),
    };
    let given = Path::new(&value);
    if !given.is_absolute() {
        return Err(invalid(
            "is a relative path: it must be absolute, or each working directory (cargo runs \
             each package's tests in its own) would get a lock store of its own",
        ));
    }
    if given.components().any(|c| c == Component::ParentDir) {
        return Err(invalid(
            "contains `..`: name the directory itself, so a symbolic link on the way cannot \
             pass for it",
        ));
    }
    // `components` drops a trailing `/` and every `.`, which would make the final component
    // resolve through a symbolic link.
    Ok(given.components().collect())
}

/// Creates `dir` private if missing, then insists that it is a real directory (not a symlink)
/// that only this user can enter. It changes nothing that exists.
/// Made again if deleted in between, up to `retries` times.
pub(super) fn ensure_private_dir(dir: &Path, retries: u32) -> Result<(), String> {
    let mut tries = 0;
    loop {
        match checked_dir(dir) {
            Err((_, true)) if tries < retries => tries += 1,
            done => return done.map_err(|(reason, _)| reason),
        }
    }
}

/// [`ensure_private_dir`], then the lock file `name` in it, created private if missing,
/// opened without following a symlink and checked to be a regular file only this user can
/// touch; both again while the directory vanishes in between (a clean-up
/// running at that moment), up to `retries` times.
pub(super) fn open_in_private_dir(dir: &Path, name: &str, retries: u32) -> Result<File, String> {
    open_in_private_dir_with_meta(dir, name, retries).map(|(file, _)| file)
}

/// [`open_in_private_dir`], with the file's metadata as checked.
pub(super) fn open_in_private_dir_with_meta(
    dir: &Path,
    name: &str,
    retries: u32,
) -> Result<(File, std::fs::Metadata), String> {
    let path = dir.join(name);
    if checked_recently(dir) {
        if let Ok(opened) = open_file(&path) {
            return Ok(opened);
        }
    }
    let mut tries = 0;
    loop {
        match checked_dir(dir).and_then(|()| open_file(&path)) {
            Ok(file) => return Ok(file),
            Err((_, true)) if tries < retries => {
                tries += 1;
                if tries > 10 {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
            Err((reason, _)) => return Err(reason),
        }
    }
}

/// How long a look at the directory is relied on for opening files in it. A process's first
/// claims open a file or two in quick succession; each looked at the directory again, a
/// system call each in every test process. Only its owner (or root) can replace a directory
/// of theirs in a sticky `/tmp`, and a file is opened without following a symbolic link.
const DIR_CHECK_LASTS: Duration = Duration::from_millis(50);

/// The directory last found private, and when.
static DIR_CHECKED: Mutex<Option<(PathBuf, Instant)>> = Mutex::new(None);

fn checked_recently(dir: &Path) -> bool {
    let checked = DIR_CHECKED.lock().unwrap_or_else(|p| p.into_inner());
    checked
        .as_ref()
        .is_some_and(|(seen, at)| seen == dir && at.elapsed() < DIR_CHECK_LASTS)
}

/// [`ensure_dir`], remembering a success for [`checked_recently`].
fn checked_dir(dir: &Path) -> Result<(), Unusable> {
    ensure_dir(dir)?;
    *DIR_CHECKED.lock().unwrap_or_else(|p| p.into_inner()) = Some((dir.to_owned(), Instant::now()));
    Ok(())
}

/// Why a path cannot be used, and whether that is because something on it was missing.
type Unusable = (String, bool);

fn missing(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
}

fn ensure_dir(dir: &Path) -> Result<(), Unusable> {
    // Inspected first: it exists in all but a user's first run, so one system call, not two.
    let meta = match std::fs::symlink_metadata(dir) {
        Err(e) if missing(&e) => {
            match sys::create_private_dir(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err((format!("cannot create it: {e}"), false)),
            }
            std::fs::symlink_metadata(dir)
        }
        other => other,
    };
    let meta = meta.map_err(|e| (format!("cannot inspect it: {e}"), missing(&e)))?;
    if meta.file_type().is_symlink() {
        return Err(("it is a symbolic link, which is not followed".into(), false));
    }
    if !meta.is_dir() {
        return Err(("it is not a directory".into(), false));
    }
    sys::check_private(&meta, "0700").map_err(|reason| (reason, false))
}

fn open_file(path: &Path) -> Result<(File, std::fs::Metadata), Unusable> {
    let file = sys::no_follow_options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| (format!("cannot open {}: {e}", path.display()), missing(&e)))?;
    let meta = file
        .metadata()
        .map_err(|e| (format!("cannot inspect {}: {e}", path.display()), false))?;
    if !meta.is_file() {
        return Err((format!("{} is not a regular file", path.display()), false));
    }
    sys::check_private(&meta, "0600").map_err(|e| (format!("{}: {e}", path.display()), false))?;
    Ok((file, meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_names_the_directory() {
        let abs = if cfg!(windows) {
            r"C:\some\where"
        } else {
            "/some/where"
        };
        let env = env::fake(&[(ALLOCPORT_LOCK_DIR, abs)]);
        assert_eq!(lock_dir_from(&env).unwrap(), PathBuf::from(abs));
    }

    #[test]
    fn unset_or_empty_is_a_per_user_directory_whatever_tmpdir_says() {
        let default = sys::default_dir();
        assert_eq!(lock_dir_from(&env::fake(&[])).unwrap(), default);
        let empty = env::fake(&[(ALLOCPORT_LOCK_DIR, "")]);
        assert_eq!(lock_dir_from(&empty).unwrap(), default);
        #[cfg(unix)]
        assert_eq!(
            default,
            PathBuf::from(format!("/tmp/{}", sys::default_dir_name()))
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_relative_dir_is_an_error_naming_the_variable_and_value() {
        for value in [".locks", "locks/here", "./x"] {
            let env = env::fake(&[(ALLOCPORT_LOCK_DIR, value)]);
            let message = lock_dir_from(&env).unwrap_err().to_string();
            assert!(
                message.starts_with(&format!("ALLOCPORT_LOCK_DIR: {value:?} is a relative path")),
                "{message}"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn trailing_slashes_and_dots_are_dropped_and_dot_dot_refused() {
        for value in ["/a/link/", "/a/link//", "/a/link/.", "/a/./link/./"] {
            let env = env::fake(&[(ALLOCPORT_LOCK_DIR, value)]);
            assert_eq!(
                lock_dir_from(&env).unwrap(),
                PathBuf::from("/a/link"),
                "{value}"
            );
        }
        let env = env::fake(&[(ALLOCPORT_LOCK_DIR, "/a/link/..")]);
        let message = lock_dir_from(&env).unwrap_err().to_string();
        assert!(
            message.contains("\"/a/link/..\" contains `..`"),
            "{message}"
        );
    }

    #[cfg(unix)]
    fn scratch(tag: &str) -> PathBuf {
        let base = std::env::temp_dir().join(format!("allocport-dir-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir(&base).unwrap();
        base
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_deleted_just_after_its_check_is_made_again() {
        let base = scratch("deleted");
        let dir = base.join("locks");
        open_in_private_dir(&dir, "a.lock", 5).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        // Within DIR_CHECK_LASTS of the look: the open misses, and the directory is made again.
        open_in_private_dir(&dir, "b.lock", 5).unwrap();
        assert!(dir.join("b.lock").is_file());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_replaced_by_a_symlink_is_refused_once_its_last_look_is_old() {
        let base = scratch("symlink");
        let (dir, elsewhere) = (base.join("locks"), base.join("elsewhere"));
        open_in_private_dir(&dir, "a.lock", 5).unwrap();
        ensure_private_dir(&elsewhere, 0).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &dir).unwrap();
        std::thread::sleep(DIR_CHECK_LASTS + Duration::from_millis(20));
        let refused = open_in_private_dir(&dir, "b.lock", 5).unwrap_err();
        assert!(refused.contains("symbolic link"), "{refused}");
        assert!(!elsewhere.join("b.lock").exists());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
