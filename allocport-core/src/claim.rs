//! The claim layer: a port is claimed when this process takes its cross-process lock and the
//! bind check then finds it free on every address; released, its lock is given back.
//!
//! The lock comes first: with it held no other allocport process can claim the port, so a
//! bind check that passes stays meaningful until this process lets go.

use crate::error::Error;
use crate::host::CheckAddr;
use crate::lock::{PortLocks, port_locks};
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
        let free = self.free_everywhere(addrs, port);
        if !matches!(free, Ok(true)) {
            self.locks.unlock(port);
        }
        free
    }

    fn free_everywhere(&self, addrs: &[CheckAddr], port: u16) -> Result<bool, Error> {
        for addr in addrs {
            if let Check::InUse = check_port(addr, port)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Gives back the lock of a claimed port.
    pub(crate) fn release(&self, port: u16) {
        self.locks.unlock(port);
    }
}
