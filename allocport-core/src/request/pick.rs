//! `pick_unused_port`: a drop-in for the `portpicker` crate's function of the same name.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::request::owner::TcpPortOwner;

/// Owners of the ports picked, kept until the process exits.
static PICKED: Mutex<Vec<TcpPortOwner>> = Mutex::new(Vec::new());

/// Whether the first failure was reported already.
static WARNED: AtomicBool = AtomicBool::new(false);

/// Picks a port for a server and holds it until the process exits: `portpicker`'s
/// `pick_unused_port`, with allocport's guarantee that no other caller, in this process or
/// another, gets the same port meanwhile. A suite switches with one line:
/// `use allocport_core::pick_unused_port;` in place of `use portpicker::pick_unused_port;`.
///
/// The port is checked as [`TcpPortOwner::new`] checks it and comes from the same pool
/// (`PYSYS_PORTS`). `None` when no port can be had within the
/// [allocation timeout](crate::allocation_timeout) or the configuration is unusable; the
/// reason goes to standard error (once) and to the `log` crate.
///
/// # The trade
///
/// There is no owner to drop, so the port stays held until the process exits. Under
/// cargo-nextest each test is a process, so that is when the test ends. Under `cargo test`
/// every call holds one more port for the rest of the run: fine for a suite that picks a few
/// dozen ports, but a large suite, a small `PYSYS_PORTS` or a loop of calls can run the pool
/// dry. Prefer a [`TcpPortOwner`] (or `#[with_ports]`) where the code has a place to keep it:
/// its port returns to the pool as soon as the test ends.
///
/// ```
/// use allocport_core::pick_unused_port;
///
/// let port: u16 = pick_unused_port().expect("no free port");
/// let server = std::net::TcpListener::bind(("127.0.0.1", port))?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn pick_unused_port() -> Option<u16> {
    match TcpPortOwner::new() {
        Ok(owner) => {
            let port = owner.port();
            PICKED
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(owner);
            Some(port)
        }
        Err(e) => {
            log::warn!("allocport: pick_unused_port found no port: {e}");
            if !WARNED.swap(true, Ordering::Relaxed) {
                crate::warn::write_line(&format!(
                    "{}pick_unused_port found no port: {e}",
                    crate::warn::PREFIX
                ));
            }
            None
        }
    }
}
