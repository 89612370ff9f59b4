//! One lock file of this process, by concern: the file open and the files it replaced, the
//! trust in it (its grace, the last look at its path), this process's locks in it, and the
//! looks at other processes' marks in it.

use std::fs::File;
use std::time::{Duration, Instant};

use super::lane::Lane;
use super::timing::{IN_USE, KEEP_REPLACED};

/// One lock file of this process.
pub(super) struct Slot {
    pub(super) open: Opened,
    pub(super) trust: Trust,
    pub(super) held: Held,
    pub(super) looks: Looks,
}

/// The file open at the lock path, and the files that were there before.
pub(super) struct Opened {
    /// Open from first use until the file at its path is another.
    pub(super) file: Option<File>,
    /// The file's identity (device, inode) when opened; `None` where the OS gives none.
    pub(super) id: Option<(u64, u64)>,
    /// Files that were at the path before, still holding this process's locks, and when they
    /// were replaced (see [`KEEP_REPLACED`]).
    pub(super) replaced: Vec<(File, Instant)>,
}

/// Whether claims may trust the file (see [`renew`](super::renew)).
pub(super) struct Trust {
    /// For a file found empty: claims in it wait until then.
    pub(super) from: Option<Instant>,
    /// Until when the file at the path counts as seen to be this one (see
    /// [`SEEN_LASTS`](super::timing::SEEN_LASTS)): a
    /// deadline, so that each claim compares instead of subtracting.
    pub(super) seen_current_until: Option<Instant>,
}

/// This process's locks in the file.
pub(super) struct Held {
    /// The lock bytes it has locked (see [`Lane`]).
    pub(super) bytes: Vec<u32>,
    /// When it last claimed a port in the file.
    pub(super) claimed: Option<Instant>,
}

/// Until when a look at other processes' marks in the file found none, per kind of mark.
pub(super) struct Looks {
    /// Reservations (see [`fair`](super::fair)), of TCP or UDP ports alike.
    no_reservations_until: Option<Instant>,
    /// Waiting processes' marks (see [`wake`](super::wake)).
    no_waiters_until: Option<Instant>,
}

impl Slot {
    pub(super) const EMPTY: Slot = Slot {
        open: Opened {
            file: None,
            id: None,
            replaced: Vec::new(),
        },
        trust: Trust {
            from: None,
            seen_current_until: None,
        },
        held: Held {
            bytes: Vec::new(),
            claimed: None,
        },
        looks: Looks {
            no_reservations_until: None,
            no_waiters_until: None,
        },
    };

    /// [`Slot::grace_left`] now; without a clock read for a trusted file, every claim's case.
    pub(super) fn grace_left_now(&mut self) -> Option<Duration> {
        self.trust.from?;
        self.grace_left(Instant::now())
    }

    /// How long claims must still wait; once the grace is over, marks the file trusted.
    pub(super) fn grace_left(&mut self, now: Instant) -> Option<Duration> {
        let from = self.trust.from?;
        if now < from {
            return Some(from - now);
        }
        if let Some(file) = &self.open.file {
            if file.metadata().is_ok_and(|m| m.len() == 0) {
                // A failure only makes the next process wait a grace too.
                let _ = file.set_len(1);
            }
        }
        self.trust.from = None;
        None
    }
}

impl Opened {
    /// Closes the replaced files kept long enough, dropping the locks this process kept there.
    pub(super) fn close_replaced(&mut self, now: Instant) {
        self.replaced
            .retain(|(_, at)| now.saturating_duration_since(*at) < KEEP_REPLACED);
    }
}

impl Trust {
    /// Whether the file at the path was seen to be this one within
    /// [`SEEN_LASTS`](super::timing::SEEN_LASTS).
    pub(super) fn seen_current_at(&self, now: Instant) -> bool {
        self.seen_current_until.is_some_and(|until| now < until)
    }
}

impl Held {
    /// Whether this process held or claimed a port in the file lately: the keeper looks at it.
    pub(super) fn in_use(&self, now: Instant) -> bool {
        !self.bytes.is_empty()
            || self
                .claimed
                .is_some_and(|at| now.saturating_duration_since(at) < IN_USE)
    }
}

impl Looks {
    /// The record of the last look at the marks of `lane` that found none.
    pub(super) fn none_until(&mut self, lane: Lane) -> &mut Option<Instant> {
        match lane {
            Lane::Waiting => &mut self.no_waiters_until,
            Lane::Tcp | Lane::Udp | Lane::Reservation | Lane::UdpReservation => {
                &mut self.no_reservations_until
            }
        }
    }

    /// Forgets every look: a new file's marks are not known yet.
    pub(super) fn forget(&mut self) {
        self.no_reservations_until = None;
        self.no_waiters_until = None;
    }
}

#[cfg(test)]
mod tests {
    use super::super::timing::GRACE;
    use super::*;

    #[test]
    fn an_empty_file_is_trusted_after_the_grace_and_then_marked() {
        let path = std::env::temp_dir().join(format!("allocport-grace-{}", std::process::id()));
        let file = File::create(&path).unwrap();
        let start = Instant::now();
        let mut slot = Slot::EMPTY;
        slot.open.file = Some(file);
        slot.trust.from = Some(start + GRACE);
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

    #[test]
    fn a_look_at_waiters_is_kept_apart_from_one_at_reservations() {
        let mut looks = Slot::EMPTY.looks;
        let now = Instant::now();
        *looks.none_until(Lane::Waiting) = Some(now);
        assert_eq!(*looks.none_until(Lane::Reservation), None);
        *looks.none_until(Lane::UdpReservation) = Some(now);
        looks.forget();
        assert_eq!(*looks.none_until(Lane::Waiting), None);
        assert_eq!(*looks.none_until(Lane::Reservation), None);
    }
}
