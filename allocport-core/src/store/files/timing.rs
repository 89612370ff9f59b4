//! The file store's timing rules, in one place: how long a new file's grace lasts, how long a
//! look at a lock path is relied on, how long a replaced file is kept; `mod.rs` asserts how
//! they relate.

use std::time::Duration;

/// How long a new (empty) lock file waits before its locks are trusted: many times the
/// keeper's tick, so that holders busy on a loaded machine still re-take their locks first.
pub(super) const GRACE: Duration = Duration::from_millis(250);

/// How long a claim relies on having seen that the file at the lock path is the one open,
/// instead of looking again after each lock. A file that replaced it since is younger than
/// that, so claims in it still wait most of their grace, and this process's keeper takes the
/// new lock there within a tick: the grace must exceed this plus the keeper's tick with room
/// to spare for a loaded machine.
pub(super) const SEEN_LASTS: Duration = Duration::from_millis(50);

/// How long a file replaced at its path stays open, its locks held, after this process took
/// them again on the new one. A process that saw the old file at its path less than
/// [`SEEN_LASTS`] ago may still claim in it without looking: the locks kept there refuse it
/// the ports held here, as they did before the file was replaced.
pub(super) const KEEP_REPLACED: Duration = Duration::from_millis(2 * SEEN_LASTS.as_millis() as u64);

/// How long after its last claim in a file the keeper keeps looking at that file, so that
/// busy claimers rarely look themselves (see [`SEEN_LASTS`]).
pub(super) const IN_USE: Duration = Duration::from_secs(1);
