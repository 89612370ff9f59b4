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

    /// Takes the lock of `port`, then checks it can be bound on every address:
    /// [`Claim::Claimed`] when the port is now this process's; otherwise nothing is kept.
    pub(crate) fn claim(&self, addrs: &[CheckAddr], port: u16) -> Result<Claim, Error> {
        if !self.locks.try_lock(port)? {
            return Ok(Claim::Busy);
        }
        let free = free_everywhere(addrs, port);
        if !matches!(free, Ok(Claim::Claimed)) {
            self.locks.unlock(port);
        }
        free
    }

    /// Gives back the lock of a claimed port.
    pub(crate) fn release(&self, port: u16) {
        self.locks.unlock(port);
    }
}

/// What claiming a port came to.
#[derive(Debug)]
pub(crate) enum Claim {
    /// The port is this process's now.
    Claimed,
    /// Another process holds or uses it.
    Busy,
    /// It cannot be bound on `host` for a reason other than use: of no use to this process.
    Unbindable {
        /// The host as given, and the address it resolved to.
        host: String,
        addr: std::net::IpAddr,
        error: std::io::Error,
    },
}

/// Whether the bind check finds `port` free on every address.
fn free_everywhere(addrs: &[CheckAddr], port: u16) -> Result<Claim, Error> {
    for addr in addrs {
        match check_port(addr, port)? {
            Check::Free => {}
            Check::InUse => return Ok(Claim::Busy),
            Check::Unbindable(error) => {
                return Ok(Claim::Unbindable {
                    host: addr.host.clone(),
                    addr: addr.ip,
                    error,
                });
            }
        }
    }
    Ok(Claim::Claimed)
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
        assert!(matches!(claims.claim(&addrs, port).unwrap(), Claim::Busy));
        drop(listener);
        assert!(matches!(
            claims.claim(&addrs, port).unwrap(),
            Claim::Claimed
        ));
        claims.release(port);
    }
}
