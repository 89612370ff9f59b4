//! Everything one run measured, in one value the summary's tables and the targets read.

use std::time::Duration;

use crate::in_process::Pairs;
use crate::processes::Processes;
use crate::record::Recorder;

/// The run's figures: criterion's (by benchmark name), the paired ratios, the child processes'.
pub(crate) struct Measured {
    pub(crate) rec: Recorder,
    pub(crate) pairs: Pairs,
    pub(crate) procs: Processes,
    /// Whether this machine has IPv6 loopback (the IPv6 rows ran).
    pub(crate) ipv6: bool,
    /// A `cargo bench` run, whose targets are judged (not a `cargo test` pass).
    pub(crate) full: bool,
}

impl Measured {
    /// Criterion's median for benchmark `name`, `None` if it did not run.
    pub(crate) fn median(&self, name: &str) -> Option<Duration> {
        self.rec.median(name)
    }
}
