//! The bench binary started again as a child process, for what one process cannot measure:
//! the first allocation (the pool is built once per process), pools of other sizes (set by
//! `PYSYS_PORTS`, read once per process) and several processes at once.
//!
//! Re-running this binary rather than a separate example keeps `cargo bench ... --bench alloc`
//! the one command: it always exists, built with the same profile. This file only dispatches
//! a mode to its worker; the parent side is `procs.rs`.

use crate::shared::MODE;
use crate::{alloc_child, wakeup};

/// Runs child mode `mode`: its one-line report, or why it failed.
pub(crate) fn run(mode: &str) -> Result<String, String> {
    match mode {
        // The process-start floor: everything the other modes pay before main.
        "noop" => Ok(String::new()),
        "first" => alloc_child::first(),
        "bare-first" => alloc_child::bare_first(),
        "loop" => alloc_child::alloc_loop(),
        "hold" => wakeup::hold(),
        "wait" => wakeup::wait(),
        "wait-threads" => wakeup::wait_threads(),
        #[cfg(target_os = "linux")]
        "steady" => crate::stores::steady(),
        #[cfg(target_os = "linux")]
        "status" => crate::stores::status(),
        other => Err(format!("{MODE}: unknown mode {other:?}")),
    }
}
