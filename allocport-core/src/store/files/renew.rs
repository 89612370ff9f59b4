//! Lock files that are deleted or replaced while in use: a lock on a file that is no longer
//! at the lock path excludes nobody, so this process opens the file now at the path (making
//! it, privately, if missing) and takes its locks again there.
//!
//! A claim looks at the path after taking its lock, unless this process saw the file there
//! within [`SEEN_LASTS`] (at its opening, or in the keeper's round, which looks at every file
//! in use): a file that replaced it since is younger than that. The claim can then land on the
//! replaced file, so a process that moves its locks to the new file keeps the old one open,
//! and its locks with it, for [`KEEP_REPLACED`](super::timing::KEEP_REPLACED): such a claim still finds those ports taken.
//!
//! What is left is the moment between a file's deletion and its holders' re-taking their
//! locks on the new one. It is closed by a grace: a lock file counts as *trusted* once it is
//! one byte long, and a process that finds it empty (just made, by itself or anyone) waits
//! [`GRACE`] before it claims a port in it, then marks it trusted. Holders notice a change
//! within [`keeper`](super::keeper)'s tick, well inside the grace, and their own locks are
//! taken again at once, without waiting. A holder that is stopped (or starved of CPU) for
//! longer than the grace less [`SEEN_LASTS`] can still lose the race: it then says so on
//! standard error, naming the other process, and leaves that process a note in the lock
//! directory, which the other process's keeper reads and reports on its standard error.

use std::fs::{File, FileTimes};
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Instant, SystemTime};

use super::dir::open_in_private_dir_with_meta;
use super::lane::Lane;
use super::slot::Slot;
use super::timing::{GRACE, SEEN_LASTS};
use super::{Files, LOCK_FILES, PortLocks, lock_file_name, sys};
use crate::error::Error;

/// How many times a lock file is opened again when its directory vanished in between.
const DELETION_RETRIES: u32 = 1000;

/// Lock files this process found deleted or replaced and opened again.
static RENEWED: AtomicU64 = AtomicU64::new(0);
/// Whether this process has already said so on standard error.
static SAID: AtomicBool = AtomicBool::new(false);

/// How many times this process found one of its lock files deleted or replaced (by a
/// clean-up script, an age-based cleaner, `rm -rf` of the lock directory) and opened the
/// file now at its path, taking its locks again there. Zero in a quiet life.
///
/// Only with the `file-store` feature on Linux.
///
/// ```
/// assert_eq!(allocport_core::lock_files_renewed(), 0);
/// ```
pub fn lock_files_renewed() -> u64 {
    RENEWED.load(Relaxed)
}

impl PortLocks {
    /// Whether the file at the lock path of `port` is still the one `slot` has open.
    pub(super) fn is_current(&self, slot: &mut Slot, port: u16) -> bool {
        let Some(id) = slot.open.id else { return true };
        let current = std::fs::symlink_metadata(self.dir().join(lock_file_name(port)))
            .is_ok_and(|meta| sys::file_id(&meta) == Some(id));
        if current {
            slot.trust.seen_current_until = Some(Instant::now() + SEEN_LASTS);
        }
        current
    }

    /// Opens the file now at the lock path of `port` (making the directory and the file,
    /// privately, if missing) and takes this process's locks of that file again there; the
    /// old one is closed, and its locks go with it, [`KEEP_REPLACED`](super::timing::KEEP_REPLACED) later.
    pub(super) fn renew(&self, slot: &mut Slot, port: u16) -> Result<(), Error> {
        let name = lock_file_name(port);
        let path = self.dir().join(&name);
        let (file, meta) = open_in_private_dir_with_meta(self.dir(), &name, DELETION_RETRIES)
            .map_err(|reason| self.error(reason))?;
        self.retake(&file, &slot.held.bytes, &path);
        let renewal = slot.open.file.is_some();
        let now = Instant::now();
        slot.trust.from = (meta.len() == 0).then(|| now + GRACE);
        slot.open.id = sys::file_id(&meta);
        slot.open.close_replaced(now);
        if let Some(old) = slot.open.file.replace(file) {
            slot.open.replaced.push((old, now));
        }
        // Opened by its path just now; nothing is known yet of the new file's marks.
        slot.trust.seen_current_until = Some(now + SEEN_LASTS);
        slot.looks.forget();
        if renewal {
            RENEWED.fetch_add(1, Relaxed);
            if !SAID.swap(true, Relaxed) {
                warn(&format!(
                    "lock file {} was deleted or replaced while in use; it was made again and \
                     this process's locks taken again (claims wait {} ms for other holders to \
                     do the same)",
                    path.display(),
                    GRACE.as_millis()
                ));
            }
        }
        Ok(())
    }

    /// Takes this process's `held` locks again in `file`, new at `path`; a lock another
    /// process took first is said on standard error and in a note to that process.
    fn retake(&self, file: &File, held: &[u32], path: &Path) {
        for &held in held {
            let what = Lane::describe(held);
            match sys::try_lock(file, held) {
                Ok(true) => {}
                Ok(false) => {
                    let other = match sys::holder(file, held) {
                        Ok(Some(super::Holder { pid: Some(pid) })) => {
                            self.leave_note(pid, &what);
                            format!("process {pid}")
                        }
                        _ => "another process".to_owned(),
                    };
                    warn(&format!(
                        "{what} is held by this process, but its lock file {} was replaced \
                         and {other} locked the port first: both may use it",
                        path.display()
                    ));
                }
                Err(e) => warn(&format!(
                    "{what}: cannot lock it again in {}: {e}",
                    path.display()
                )),
            }
        }
    }

    /// Tells process `pid`, which locked `port` while this process held it, through a note
    /// in the lock directory that its keeper reads ([`PortLocks::read_notes`]).
    fn leave_note(&self, pid: u32, what: &str) {
        let note = format!("{} {what}\n", std::process::id());
        let _ = sys::no_follow_options()
            .append(true)
            .create(true)
            .open(self.dir().join(note_name(pid)))
            .and_then(|mut file| file.write_all(note.as_bytes()));
    }

    /// Says on standard error which of this process's ports another process also held,
    /// as that process's notes tell, and removes them.
    pub(super) fn read_notes(&self) {
        let path = self.dir().join(note_name(std::process::id()));
        let Ok(text) = std::fs::read_to_string(&path) else {
            return;
        };
        let _ = std::fs::remove_file(&path);
        for line in text.lines() {
            if let Some((pid, what)) = line.split_once(' ') {
                warn(&format!(
                    "{what}, held by this process, was also held by process {pid}, which \
                     held it before its lock file was replaced and could not take its lock \
                     again in time: both may use it"
                ));
            }
        }
    }

    /// Opens again every lock file of this process among `files` that is no longer at its
    /// path.
    pub(super) fn refresh(&self, files: Files) -> Result<(), Error> {
        let now = Instant::now();
        for index in 0..LOCK_FILES {
            let mut slot = self.slot_at(index);
            let wanted = match files {
                Files::InUse => slot.held.in_use(now),
                Files::Open => slot.open.file.is_some(),
            };
            slot.open.close_replaced(now);
            let port = index as u16;
            if wanted && !self.is_current(&mut slot, port) {
                self.renew(&mut slot, port)?;
            }
        }
        Ok(())
    }

    /// Opens every lock file (its grace, if new, starting now); a file that cannot be opened
    /// is left for its first use to report.
    pub(super) fn open_all(&self) {
        for index in 0..LOCK_FILES {
            let mut slot = self.slot_at(index);
            if slot.open.file.is_none() {
                let _ = self.renew(&mut slot, index as u16);
            }
        }
    }

    /// Sets the times of the lock files in which this process holds ports to now, so that
    /// cleaners going by age leave them alone.
    pub(super) fn touch_held(&self) {
        let now = SystemTime::now();
        let times = FileTimes::new().set_accessed(now).set_modified(now);
        for index in 0..LOCK_FILES {
            let slot = self.slot_at(index);
            if let (false, Some(file)) = (slot.held.bytes.is_empty(), &slot.open.file) {
                let _ = file.set_times(times);
            }
        }
    }
}

/// The name of the note to process `pid` (see [`PortLocks::leave_note`]).
fn note_name(pid: u32) -> String {
    format!("conflict-{pid}.note")
}

/// A warning, on standard error and through `log`.
pub(super) fn warn(message: &str) {
    crate::warn::write_line(&format!("{}{message}", crate::warn::PREFIX));
    log::warn!("allocport: {message}");
}
