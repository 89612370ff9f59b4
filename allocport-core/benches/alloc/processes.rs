//! What one process cannot measure, from child processes: the first allocation, pools of
//! other sizes, processes at once, start-up by pool size, the whole debug suite, waking across
//! processes and, on Linux, issue 20's targets per store (`store_targets.rs`).

use crate::fresh::{self, Suite};
use crate::procs::{self, FirstAlloc, PoolSizeRun, ProcsRun, StartupBySize};
#[cfg(target_os = "linux")]
use crate::store_targets::{self, StoreFigures};
use crate::wakeup::{self, Wakeups};

/// Pools for the size sweep, each in its own process (`None`: the OS-derived default).
const POOL_SPECS: [Option<&str>; 5] = [
    Some("20000-20099"),
    Some("20000-20999"),
    Some("20000-29999"),
    None,
    Some("1100-61099"),
];

/// Everything measured in child processes, and what failed.
#[derive(Default)]
pub(crate) struct Processes {
    pub(crate) first: Option<FirstAlloc>,
    pub(crate) sizes: Vec<PoolSizeRun>,
    pub(crate) procs: Vec<ProcsRun>,
    pub(crate) startup: Option<StartupBySize>,
    /// Issue 20's targets, per store (Linux: the kernel store and the file store).
    #[cfg(target_os = "linux")]
    pub(crate) stores: Vec<StoreFigures>,
    pub(crate) suite: Option<Suite>,
    pub(crate) wakeups: Option<Wakeups>,
    pub(crate) waiting_cpu: Option<f64>,
    pub(crate) failures: Vec<String>,
}

/// How many of each: the full run's, or a test pass's (each part once, small).
struct Counts {
    runs: usize,
    pairs: u64,
    proc_pairs: u64,
    startup_runs: usize,
    suite_tests: usize,
    suite_block: usize,
    suite_passes: usize,
    wake_rounds: usize,
}

const FULL: Counts = Counts {
    runs: 40,
    pairs: 20_000,
    proc_pairs: 4_000,
    startup_runs: 41,
    suite_tests: 200,
    suite_block: 10,
    suite_passes: 5,
    wake_rounds: 21,
};
const TEST: Counts = Counts {
    runs: 2,
    pairs: 40,
    proc_pairs: 40,
    startup_runs: 2,
    suite_tests: 4,
    suite_block: 2,
    suite_passes: 1,
    wake_rounds: 2,
};

impl Processes {
    /// Keeps `r`'s value, or its error as a failure named `what`.
    fn keep<T>(&mut self, what: &str, r: Result<T, String>) -> Option<T> {
        r.map_err(|e| self.failures.push(format!("{what}: {e}")))
            .ok()
    }
}

/// Every child-process part, in order.
pub(crate) fn processes(full: bool) -> Processes {
    let n = if full { &FULL } else { &TEST };
    let mut out = Processes::default();
    first_allocation(full, n.runs, &mut out);
    for spec in POOL_SPECS {
        eprintln!("processes: pool {spec:?}...");
        let run = out.keep(&format!("pool {spec:?}"), procs::pool_size(spec, n.pairs));
        out.sizes.extend(run);
    }
    for procs in [1, 8] {
        eprintln!("processes: {procs} at once...");
        let run = procs::processes(procs, n.proc_pairs);
        let run = out.keep(&format!("{procs} processes"), run);
        out.procs.extend(run);
    }
    eprintln!(
        "processes: start-up by pool size ({} runs each)...",
        n.startup_runs
    );
    let startup = procs::startup_by_size(n.startup_runs);
    out.startup = out.keep("start-up by pool size", startup);
    suite(n, &mut out);
    eprintln!(
        "processes: cross-process wake-ups ({} rounds)...",
        n.wake_rounds
    );
    out.wakeups = out.keep("wake-ups", wakeup::wakeups(n.wake_rounds));
    eprintln!("processes: CPU of 64 waiting threads...");
    out.waiting_cpu = out.keep("waiting CPU", wakeup::waiting_cpu());
    #[cfg(target_os = "linux")]
    crate::stores::clean_up();
    out
}

/// On Linux the first allocation is measured per store, the default (kernel) store's figures
/// standing for it in the summary.
#[cfg(target_os = "linux")]
fn first_allocation(full: bool, runs: usize, out: &mut Processes) {
    if let Err(e) = crate::stores::prepare() {
        out.failures.push(e);
        return;
    }
    out.stores = store_targets::measure(&store_targets::Sizes::of(full, runs), &mut out.failures);
    out.first = out
        .stores
        .iter()
        .find(|f| f.store == crate::stores::Store::Kernel)
        .and_then(|f| f.first.clone());
}

#[cfg(not(target_os = "linux"))]
fn first_allocation(_full: bool, runs: usize, out: &mut Processes) {
    eprintln!("processes: first allocation ({runs} runs)...");
    let first = procs::first_allocation(runs, &[vec![]]);
    out.first = out
        .keep("first allocation", first)
        .and_then(|f| f.into_iter().next());
}

/// The whole debug suite, every way.
fn suite(n: &Counts, out: &mut Processes) {
    #[cfg(target_os = "linux")]
    let sides = store_targets::suite_sides();
    #[cfg(not(target_os = "linux"))]
    let sides: Vec<fresh::Side> = [
        ("port 0", "port0"),
        ("allocport", "allocport"),
        ("bare floor", "bare"),
    ]
    .into_iter()
    .map(|(label, module)| fresh::Side {
        label: label.to_owned(),
        module,
        envs: vec![],
    })
    .collect();
    eprintln!(
        "processes: suite of {} debug-built tests, {} ways...",
        n.suite_tests,
        sides.len()
    );
    let run = fresh::suite(n.suite_tests, n.suite_block, n.suite_passes, &sides);
    out.suite = out.keep("suite", run);
    #[cfg(target_os = "linux")]
    store_targets::attach_suite(&mut out.stores, out.suite.as_ref());
}
