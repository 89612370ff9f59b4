//! Allocation cost against its physical floor and against `portpicker`, pool initialisation,
//! contention between threads and processes, and cost as the pool and the held ports grow.
//!
//! Run: `cargo bench -p allocport-core --bench alloc --features file-store` (about four
//! minutes; the feature brings the file store on Linux, measured beside the kernel store). It
//! ends with tables of medians and ratios; `allocport-core/BENCHMARKS.md` has the figures and
//! the machine.
//! Every figure comes from one run on the default pool (the OS-derived ports, as users get),
//! except the pool-size sweep, whose child processes each set `PYSYS_PORTS`. On Linux, issue
//! 20's targets are measured on the kernel store and on the file store in the same run, in
//! child processes on stores of the run's own (`stores.rs`, `store_targets.rs`).
//!
//! The files, by part:
//! - what runs: this file; shared constants: `shared.rs` (imports nothing of the bench's);
//! - in this process: `in_process.rs` (criterion's groups), `paired.rs`, `floor.rs`, `record.rs`;
//! - child processes: `processes.rs` (what runs), `procs.rs` (the parent side), `child.rs`
//!   (the modes' dispatcher), `alloc_child.rs`, `wakeup.rs`, `stores.rs`, `fresh.rs`, `bare.rs`;
//! - the report: `measured.rs`, `summary.rs`, `table.rs`, and the targets as data (`target.rs`,
//!   `verdicts.rs`, `store_targets.rs`).

// The fresh-process parts compare the two stores, so they run on Linux only; elsewhere what
// serves only them is unused, and the Linux build still finds what is dead everywhere.
#![cfg_attr(not(target_os = "linux"), allow(dead_code))]

mod alloc_child;
mod bare;
mod child;
mod floor;
mod fresh;
mod in_process;
mod measured;
mod paired;
mod processes;
mod procs;
mod record;
mod shared;
#[cfg(target_os = "linux")]
mod store_targets;
#[cfg(target_os = "linux")]
mod stores;
mod summary;
mod table;
mod target;
mod verdicts;
mod wakeup;

use std::process::ExitCode;
use std::time::Duration;

use allocport_core::{AddressFamily, DEFAULT_HOSTS, set_allocation_timeout};
use criterion::Criterion;

use crate::measured::Measured;
use crate::processes::Processes;
use crate::record::Recorder;
use crate::shared::{MODE, SAMPLES};

fn main() -> ExitCode {
    if let Ok(mode) = std::env::var(MODE) {
        return child_main(&mode);
    }
    // `cargo test --benches` runs this binary without `--bench`: run each benchmark once and
    // the process measurements small, to show they work, not to measure.
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test");
    // An allocation that cannot be served must fail the run, not wait five minutes.
    set_allocation_timeout(Duration::from_secs(10));
    let mut c = Criterion::default()
        .sample_size(SAMPLES)
        .warm_up_time(Duration::from_millis(400))
        .measurement_time(Duration::from_millis(1500))
        .nresamples(10_000)
        .configure_from_args();
    let rec = Recorder::new(SAMPLES);
    let ipv6 = floor::has_ipv6();
    // Build the pool and open the lock file before anything is timed.
    drop(in_process::alloc(&DEFAULT_HOSTS, AddressFamily::Ipv4));

    in_process::single_operations(&mut c, &rec, ipv6);
    in_process::pool_initialisation(&mut c, &rec);
    in_process::threads(&mut c, &rec);
    in_process::holders(&mut c, &rec);
    c.final_summary();
    let pairs = in_process::paired_ratios(full, ipv6);
    // ALLOCPORT_BENCH_PROCESSES=0 skips the child-process part, e.g. while profiling one
    // benchmark with a filter.
    let procs = if std::env::var("ALLOCPORT_BENCH_PROCESSES").as_deref() == Ok("0") {
        Processes::default()
    } else {
        processes::processes(full)
    };

    let run = Measured {
        rec,
        pairs,
        procs,
        ipv6,
        full,
    };
    summary::print(&run);
    verdicts::print(&run);
    if run.procs.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// This binary started as a child process (see `child.rs`): one mode, one line of report.
fn child_main(mode: &str) -> ExitCode {
    match child::run(mode) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench child: {e}");
            ExitCode::FAILURE
        }
    }
}
