//! The claim layer: a port is claimed when this process takes its cross-process lock and the
//! bind check then finds it free on every address; released, its lock is given back.
//!
//! The lock comes first: with it held no other allocport process can claim the port, so a
//! bind check that passes stays meaningful until this process lets go.

use crate::error::Error;
use crate::host::CheckAddr;
use crate::lock::{PortLocks, WaitToken, port_locks};
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

    /// Takes the lock of `port`, then checks it can be bound on every address. The port is this
    /// process's when the answer is [`Claimed::Taken`]; otherwise nothing is kept.
    /// `lingering_ok` takes a port whose only obstacle is lingering connections;
    /// `respect_reservations` steps aside from a port another process reserved.
    pub(crate) fn claim(
        &self,
        addrs: &[CheckAddr],
        port: u16,
        lingering_ok: bool,
        respect_reservations: bool,
    ) -> Result<Claimed, Error> {
        if !self.locks.try_lock(port)? {
            return Ok(Claimed::Locked);
        }
        let found = match respect_reservations {
            true => match self.locks.reserved_elsewhere(port) {
                Ok(true) => Ok(Claimed::Locked),
                Ok(false) => check_everywhere(addrs, port, lingering_ok),
                Err(e) => Err(e),
            },
            false => check_everywhere(addrs, port, lingering_ok),
        };
        if !matches!(found, Ok(Claimed::Taken)) {
            self.locks.unlock(port);
        }
        found
    }

    /// Gives back the lock of a claimed port.
    pub(crate) fn release(&self, port: u16) {
        self.locks.unlock(port);
    }

    /// Takes the machine-wide wait token if it is free (see [`WaitToken`]).
    pub(crate) fn try_wait_token(&self) -> Result<Option<WaitToken>, Error> {
        WaitToken::try_take(self.locks)
    }
}

/// What claiming a port found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claimed {
    /// The port is this process's now.
    Taken,
    /// Free but for lingering connections (TIME_WAIT), and those were not accepted.
    Lingering,
    /// Another process holds or reserved it.
    Locked,
    /// Something outside allocport uses it.
    InUse,
}

/// What the bind check finds for `port` on every address: free on all, free but for lingering
/// connections on some (taken only when `lingering_ok`), or in use on one.
fn check_everywhere(addrs: &[CheckAddr], port: u16, lingering_ok: bool) -> Result<Claimed, Error> {
    let mut lingering = false;
    for addr in addrs {
        match check_port(addr, port)? {
            Check::Free => {}
            Check::Lingering => lingering = true,
            Check::InUse => return Ok(Claimed::InUse),
        }
    }
    Ok(match lingering && !lingering_ok {
        true => Claimed::Lingering,
        false => Claimed::Taken,
    })
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
        let claim = |lingering_ok| claims.claim(&addrs, port, lingering_ok, true).unwrap();
        assert_eq!(claim(true), Claimed::InUse);
        drop(listener);
        assert_eq!(claim(false), Claimed::Taken);
        claims.release(port);
    }
}
