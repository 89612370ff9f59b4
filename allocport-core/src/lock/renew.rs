//! Lock files that are deleted or replaced while in use: a lock on a file that is no longer
//! at the lock path excludes nobody, so this process opens the file now at the path (making
//! it, privately, if missing) and takes its locks again there.
//!
//! What is left is the moment between a file's deletion and its holders' re-taking their
//! locks on the new one. It is closed by a grace: a lock file counts as *trusted* once it is
//! one byte long, and a process that finds it empty (just made, by itself or anyone) waits
//! [`GRACE`] before it claims a port in it, then marks it trusted. Holders notice a change
//! within [`watch`](super::watch)'s tick, well inside the grace, and their own locks are
//! taken again at once, without waiting. A holder that is stopped (or starved of CPU) for
//! longer than the grace can still lose the race: it then says so on standard error, naming
//! the other process, and leaves that process a note in the lock directory, which the other
//! process's watcher reads and reports on its standard error.

use std::fs::{File, FileTimes};
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime};

use super::dir::open_in_private_dir;
use super::{LOCK_FILES, Lock, PortLocks, lock_file_name, sys};
use crate::error::Error;

/// How long a new (empty) lock file waits before its locks are trusted: many times the
/// watcher's tick, so that holders busy on a loaded machine still re-take their locks first.
pub(super) const GRACE: Duration = Duration::from_millis(250);

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
/// ```
/// assert_eq!(allocport_core::lock_files_renewed(), 0);
/// ```
pub fn lock_files_renewed() -> u64 {
    RENEWED.load(Relaxed)
}

/// One lock file of this process.
pub(super) struct Slot {
    /// Open from first use until the file at its path is another.
    pub(super) file: Option<File>,
    /// The file's identity (device, inode) when opened; `None` where the OS gives none.
    id: Option<(u64, u64)>,
    /// The lock bytes of this file that this process has locked (see [`Lock`](super::Lock)).
    pub(super) locked: Vec<u32>,
    /// For a file found empty: claims in it wait until then.
    trusted_from: Option<Instant>,
}

impl Slot {
    pub(super) const EMPTY: Slot = Slot {
        file: None,
        id: None,
        locked: Vec::new(),
        trusted_from: None,
    };

    /// How long claims must still wait; once the grace is over, marks the file trusted.
    pub(super) fn grace_left(&mut self, now: Instant) -> Option<Duration> {
        let from = self.trusted_from?;
        if now < from {
            return Some(from - now);
        }
        if let Some(file) = &self.file {
            if file.metadata().is_ok_and(|m| m.len() == 0) {
                // A failure only makes the next process wait a grace too.
                let _ = file.set_len(1);
            }
        }
        self.trusted_from = None;
        None
    }
}

impl PortLocks {
    /// Whether the file at the lock path of `port` is still the one `slot` has open.
    pub(super) fn is_current(&self, slot: &Slot, port: u16) -> bool {
        let Some(id) = slot.id else { return true };
        std::fs::symlink_metadata(self.dir.join(lock_file_name(port)))
            .is_ok_and(|meta| sys::file_id(&meta) == Some(id))
    }

    /// Opens the file now at the lock path of `port` (making the directory and the file,
    /// privately, if missing), takes this process's locks of that file again there, then
    /// closes the old one, whose locks go with it.
    pub(super) fn renew(&self, slot: &mut Slot, port: u16) -> Result<(), Error> {
        let name = lock_file_name(port);
        let path = self.dir.join(&name);
        let file = open_in_private_dir(&self.dir, &name, DELETION_RETRIES)
            .map_err(|reason| self.error(reason))?;
        let meta = file
            .metadata()
            .map_err(|e| self.error(format!("cannot inspect {}: {e}", path.display())))?;
        for &held in &slot.locked {
            let what = Lock::describe(held);
            match sys::try_lock(&file, held) {
                Ok(true) => {}
                Ok(false) => {
                    let other = match sys::holder(&file, held) {
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
        let renewal = slot.file.is_some();
        slot.trusted_from = (meta.len() == 0).then(|| Instant::now() + GRACE);
        slot.id = sys::file_id(&meta);
        slot.file = Some(file);
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

    /// Tells process `pid`, which locked `port` while this process held it, through a note
    /// in the lock directory that its watcher reads ([`PortLocks::read_notes`]).
    fn leave_note(&self, pid: u32, what: &str) {
        let note = format!("{} {what}\n", std::process::id());
        let _ = sys::no_follow_options()
            .append(true)
            .create(true)
            .open(self.dir.join(note_name(pid)))
            .and_then(|mut file| file.write_all(note.as_bytes()));
    }

    /// Says on standard error which of this process's ports another process also held,
    /// as that process's notes tell, and removes them.
    pub(super) fn read_notes(&self) {
        let path = self.dir.join(note_name(std::process::id()));
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

    /// Opens again every lock file of this process that is no longer at its path; with
    /// `held_only`, only those in which it holds ports (the watcher's round).
    pub(crate) fn refresh(&self, held_only: bool) -> Result<(), Error> {
        for index in 0..LOCK_FILES {
            let mut slot = self.slot_at(index);
            let wanted = if held_only {
                !slot.locked.is_empty()
            } else {
                slot.file.is_some()
            };
            let port = index as u16;
            if wanted && !self.is_current(&slot, port) {
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
            if slot.file.is_none() {
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
            if let (false, Some(file)) = (slot.locked.is_empty(), &slot.file) {
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
    eprintln!("allocport: warning: {message}");
    log::warn!("allocport: {message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_is_trusted_after_the_grace_and_then_marked() {
        let path = std::env::temp_dir().join(format!("allocport-grace-{}", std::process::id()));
        let file = File::create(&path).unwrap();
        let start = Instant::now();
        let mut slot = Slot {
            file: Some(file),
            trusted_from: Some(start + GRACE),
            ..Slot::EMPTY
        };
        assert_eq!(slot.grace_left(start), Some(GRACE));
        assert_eq!(slot.grace_left(start + GRACE / 2), Some(GRACE / 2));
        assert_eq!(slot.grace_left(start + GRACE), None);
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            1,
            "not marked trusted"
        );
        assert_eq!(slot.grace_left(start), None, "a trusted file waits again");
        std::fs::remove_file(&path).unwrap();
    }
}
