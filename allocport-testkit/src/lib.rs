//! The one harness the allocport workspace's tests and benchmarks use to start helper
//! processes, so a scenario and its assertions read in one place:
//!
//! - [`Process`]: a started helper (the `allocport-probe` binary, the `allocport` command, a
//!   re-run of the test binary, a benchmark's child) whose stdout is read line by line, which
//!   can be written to, signalled and waited for, every wait bounded, and which is ended when
//!   dropped so a failing test leaves nothing running.
//! - [`output_within`]: run a command to completion with its output captured, killing it and
//!   failing the test if it overstays.
//! - [`cargo_bin`], [`cargo_example`], [`rerun_tests`], [`this_binary`]: the binaries cargo
//!   built for this run, including the running test or bench binary itself.
//! - [`TempDir`]: the workspace's one temporary-directory helper.
//! - [`cpu_time`]: the CPU time this process spent so far.
//! - [`under_wine`], [`skip_under_wine`]: what a test leaves out where Wine differs from
//!   Windows.
//!
//! Helpers panic with a message naming the process or path: they are for tests, where a panic
//! is the failure report.

mod cargo;
mod cpu;
mod process;
mod tempdir;
mod wine;

pub use cargo::{cargo_bin, cargo_example, rerun_tests, this_binary};
pub use cpu::cpu_time;
pub use process::{DEADLINE, Process, Signal, Spawn, output_within, signal};
pub use tempdir::TempDir;
pub use wine::{skip_under_wine, under_wine};
