//! The claim layer: a port is claimed when this process takes its cross-process lock and the
//! bind check then finds it free on every address; released, its lock is given back.
//!
//! The lock comes first: with it held no other allocport process can claim the port, so a
//! bind check that passes stays meaningful until this process lets go.

use crate::error::Error;
use crate::host::CheckAddr;
use crate::lock::{PortLocks, port_locks, wake};
use crate::probe::{Check, check_port};

/// Claims and releases ports through this process's lock files.
pub(crate) struct Claims {
    locks: &'static PortLocks,
}

impl Claims {
    /// Opens the lock directory: an unusable one is a configuration error, returned here.
    pub(crate) fn open() -> Result<Claims, Error> {
        Ok(Claims {
            locks: port_locks()?,
        })
    }

    /// Takes the lock of `port`, then checks it can be bound on every address: `true` when the
    /// port is now this process's, `false` (nothing kept) when another holds or uses it.
    pub(crate) fn claim(&self, addrs: &[CheckAddr], port: u16) -> Result<bool, Error> {
        if !self.locks.try_lock(port)? {
            return Ok(false);
        }
        let free = free_everywhere(addrs, port);
        if !matches!(free, Ok(true)) {
            self.locks.unlock(port);
        }
        free
    }

    /// Gives back the lock of a claimed port.
    pub(crate) fn release(&self, port: u16) {
        self.locks.unlock(port);
    }

    /// Wakes other processes waiting for a port, after a held one was released. Not after a
    /// claim given back unused: that frees nothing new, and two processes each waiting for
    /// several ports would wake each other with their give-backs for ever.
    pub(crate) fn announce_release(&self, port: u16) {
        wake::announce_release(self.locks, port);
    }

    /// Starts the thread that wakes this process's waiters when another process releases a
    /// port of `pool` (see [`wake::start_watcher`]); `false` where none can: waiters must poll.
    pub(crate) fn watch_releases(
        &self,
        pool: Vec<(u16, u16)>,
        wanted: impl Fn(bool) -> bool + Send + 'static,
        wake: impl Fn() + Send + 'static,
    ) -> bool {
        wake::start_watcher(self.locks, pool, wanted, wake)
    }
}

/// Whether the bind check finds `port` free on every address.
fn free_everywhere(addrs: &[CheckAddr], port: u16) -> Result<bool, Error> {
    for addr in addrs {
        if let Check::InUse = check_port(addr, port)? {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, TcpListener};

    #[test]
    fn a_port_in_use_is_not_claimed_and_a_free_one_is() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let addrs = [CheckAddr {
            host: "localhost".into(),
            ip: IpAddr::from([127, 0, 0, 1]),
        }];
        let claims = Claims::open().unwrap();
        assert!(!claims.claim(&addrs, port).unwrap());
        drop(listener);
        assert!(claims.claim(&addrs, port).unwrap());
        claims.release(port);
    }
}
