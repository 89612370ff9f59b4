//! Fair waits between processes: one machine-wide wait token, and reservations.
//!
//! A request for several ports takes them all or none, so under churn of one-port requests it
//! could wait for ever: whenever one of its ports comes free, a one-port request takes it
//! first. The waiter that holds the token (a lock on byte 0 of `wait-token.lock`, and a mutex
//! between the threads of its process) may instead keep the ports it gets until it has all, and
//! reserve ports other processes hold: a reservation is the lock of the port's byte in the TCP
//! or UDP reservation lane of its lock file ([`Lane`](super::lane::Lane)), and every other
//! claimer steps aside from a reserved port once it is released. Only one waiter keeps partial claims at a time, so two multi-port waiters never
//! hold part each and wait for each other.

use std::sync::{Mutex, MutexGuard, TryLockError};

use super::{Lock, PortLocks, sys};
use crate::error::Error;

const TOKEN_FILE: &str = "wait-token.lock";

/// The token between the threads of this process; the file lock is between processes.
static TOKEN: Mutex<()> = Mutex::new(());

/// The machine-wide wait token, held until dropped.
pub(crate) struct WaitToken {
    locks: &'static PortLocks,
    file: std::fs::File,
    _thread: MutexGuard<'static, ()>,
}

impl WaitToken {
    /// Takes the token if no other waiter, in this process or another, has it.
    pub(crate) fn try_take(locks: &'static PortLocks) -> Result<Option<WaitToken>, Error> {
        let thread = match TOKEN.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return Ok(None),
        };
        // A file of its own, opened for as long as the token is held: closing it drops no port
        // lock, as those are on the other files.
        let file = super::dir::open_in_private_dir(locks.dir(), TOKEN_FILE, 1)
            .map_err(|reason| locks.error(reason))?;
        let taken = sys::try_lock(&file, 0)
            .map_err(|e| locks.error(format!("locking {TOKEN_FILE}: {e}")))?;
        Ok(taken.then_some(WaitToken {
            locks,
            file,
            _thread: thread,
        }))
    }

    /// Reserves `port` for the token's holder: other processes will not claim it once it is
    /// released. `false` if another process reserved it (a former holder of the token that
    /// has not let go yet).
    pub(crate) fn reserve(&self, kind: Lock, port: u16) -> Result<bool, Error> {
        self.locks.try_lock_at(kind.reservation(), port)
    }

    /// Ends the reservation of `port` for `kind`.
    pub(crate) fn unreserve(&self, kind: Lock, port: u16) {
        self.locks.unlock_at(kind.reservation(), port);
    }
}

impl Drop for WaitToken {
    fn drop(&mut self) {
        // Closing the file drops the lock too; unlocking first says so explicitly.
        let _ = sys::unlock(&self.file, 0);
    }
}
