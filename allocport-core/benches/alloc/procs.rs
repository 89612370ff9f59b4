//! The parent side of the multi-process measurements: starts this bench binary as children
//! (see `child.rs`) through the workspace's test harness, bounds every wait, and reads their
//! one-line reports.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use allocport_testkit::{Process, Spawn, this_binary};

use crate::record::median_duration;
use crate::shared::{HOSTS, MODE, PAIRS, START_AT, since_epoch};

/// No child may run longer than this; its allocations time out well before (see `spawn`).
const CHILD_DEADLINE: Duration = Duration::from_secs(60);
/// Lead time for concurrent children to start and build their pools before the common start.
const START_LEAD: Duration = Duration::from_millis(400);

/// One child's report and how long it took from spawn to exit, as the parent saw it.
pub(crate) struct ChildRun {
    fields: HashMap<String, String>,
    pub(crate) wall: Duration,
}

impl ChildRun {
    pub(crate) fn get(&self, key: &str) -> Result<u64, String> {
        let text = self
            .fields
            .get(key)
            .ok_or_else(|| format!("child report has no {key}: {:?}", self.fields))?;
        text.parse()
            .map_err(|_| format!("child report {key}={text:?} is not a number"))
    }

    pub(crate) fn nanos(&self, key: &str) -> Result<Duration, String> {
        self.get(key).map(Duration::from_nanos)
    }
}

/// A child in `mode`, with none of the parent's pool settings: each child sees only `envs`.
pub(crate) fn command(mode: &str, envs: &[(&str, String)]) -> Command {
    let mut cmd = this_binary();
    cmd.env(MODE, mode)
        .env_remove("PYSYS_PORTS")
        .env_remove("PYSYS_PORTS_FILE")
        .env_remove("NEXTEST_TEST_GLOBAL_SLOT")
        // A pool that stays full (another process holding everything) fails the run instead of
        // waiting the default five minutes.
        .env("ALLOCPORT_TIMEOUT_SECS", "10");
    for (key, value) in envs {
        cmd.env(key, value);
    }
    cmd
}

/// A started child, and when the parent started it.
struct Started {
    process: Process,
    mode: String,
    at: Instant,
}

/// Starts a child, its stderr passed through; the wall time runs from the spawn to the moment
/// the harness sees it exit.
fn start(mode: &str, envs: &[(&str, String)]) -> Result<Started, String> {
    let mut cmd = command(mode, envs);
    let at = Instant::now();
    let process = Spawn::new()
        .stdin(Stdio::null())
        .deadline(CHILD_DEADLINE)
        .try_start(&mut cmd)
        .map_err(|e| format!("starting a {mode} child: {e}"))?;
    Ok(Started {
        process,
        mode: mode.to_owned(),
        at,
    })
}

/// Waits for a child's report; one that overstays [`CHILD_DEADLINE`] is killed (on drop).
fn finish(started: Started) -> Result<ChildRun, String> {
    let Started {
        mut process,
        mode,
        at,
    } = started;
    let pid = process.pid();
    let status = process.wait_within(CHILD_DEADLINE).ok_or_else(|| {
        format!("{mode} child {pid} ran longer than {CHILD_DEADLINE:?} and was killed")
    })?;
    let wall = at.elapsed();
    if !status.success() {
        return Err(format!("{mode} child {pid} failed: {status}"));
    }
    let out = process.finish();
    Ok(ChildRun {
        fields: parse_report(&String::from_utf8_lossy(&out.stdout)),
        wall,
    })
}

pub(crate) fn run_child(mode: &str, envs: &[(&str, String)]) -> Result<ChildRun, String> {
    finish(start(mode, envs)?)
}

/// [`run_child`] for a child that times itself from inside, and reports at once: run by
/// `Command::output`, which reads its pipe in this thread, not by the harness, whose reader
/// and exit-watching threads would start beside the child on this two-CPU machine, inside the
/// window it times. It cannot hang: its one wait, an allocation's, times out (see `command`).
fn run_timed_child(mode: &str, envs: &[(&str, String)]) -> Result<ChildRun, String> {
    let mut cmd = command(mode, envs);
    cmd.stdin(Stdio::null()).stderr(Stdio::inherit());
    let at = Instant::now();
    let out = cmd
        .output()
        .map_err(|e| format!("starting a {mode} child: {e}"))?;
    let wall = at.elapsed();
    if !out.status.success() {
        return Err(format!("{mode} child failed: {}", out.status));
    }
    Ok(ChildRun {
        fields: parse_report(&String::from_utf8_lossy(&out.stdout)),
        wall,
    })
}

fn parse_report(text: &str) -> HashMap<String, String> {
    text.split_whitespace()
        .filter_map(|field| field.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// A fresh process's first allocation.
#[derive(Clone)]
pub(crate) struct FirstAlloc {
    /// Spawn-to-exit of a child that does nothing, the process-start floor: median, minimum.
    pub(crate) noop_wall: (Duration, Duration),
    /// Spawn-to-exit of a child that allocates twice: median, minimum.
    pub(crate) first_wall: (Duration, Duration),
    /// The first allocation, timed inside the child.
    pub(crate) first_inside: Duration,
    /// The second allocation, timed inside the child.
    pub(crate) second_inside: Duration,
    /// The first allocation's two bind checks, repeated bare in the child.
    pub(crate) checks_inside: Duration,
    /// The process's first release, timed inside the child.
    pub(crate) release_inside: Duration,
    /// The bare allocator's first port (`bare.rs`) in a child of its own, and its two bind
    /// checks repeated bare.
    pub(crate) bare_inside: Duration,
    pub(crate) bare_checks_inside: Duration,
    pub(crate) pool: u64,
    pub(crate) runs: usize,
    /// The most threads an allocating child had while it held its first port.
    pub(crate) threads: u64,
}

/// Alternates no-op and allocating children, `runs` of each, and takes medians, so a change in
/// machine load hits both alike. The allocating children (allocport's and the bare one's) run
/// once per round for each of `places` (a store's environment each).
pub(crate) fn first_allocation(
    runs: usize,
    places: &[Vec<(&'static str, String)>],
) -> Result<Vec<FirstAlloc>, String> {
    #[derive(Default, Clone)]
    struct Samples {
        first: Vec<Duration>,
        inside: Vec<Duration>,
        second: Vec<Duration>,
        checks: Vec<Duration>,
        release: Vec<Duration>,
        bare: Vec<Duration>,
        bare_checks: Vec<Duration>,
        pool: u64,
        threads: u64,
    }
    let mut noop = vec![];
    let mut all = vec![Samples::default(); places.len()];
    for _ in 0..runs {
        noop.push(run_timed_child("noop", &[])?.wall);
        for (envs, s) in places.iter().zip(&mut all) {
            let run = run_timed_child("first", envs)?;
            s.threads = s.threads.max(run.get("threads")?);
            s.first.push(run.wall);
            s.inside.push(run.nanos("first_ns")?);
            s.second.push(run.nanos("second_ns")?);
            s.checks.push(run.nanos("checks_ns")?);
            s.release.push(run.nanos("release_ns")?);
            s.pool = run.get("pool")?;
            let run = run_timed_child("bare-first", envs)?;
            s.bare.push(run.nanos("first_ns")?);
            s.bare_checks.push(run.nanos("checks_ns")?);
        }
    }
    let median = |v: &[Duration]| median_duration(v).unwrap_or_default();
    // The minimum too: process start varies with the machine's load far more than the
    // allocation does, and the minimum is the least disturbed run.
    let min = |v: &[Duration]| v.iter().copied().min().unwrap_or_default();
    Ok(all
        .iter()
        .map(|s| FirstAlloc {
            noop_wall: (median(&noop), min(&noop)),
            first_wall: (median(&s.first), min(&s.first)),
            first_inside: median(&s.inside),
            second_inside: median(&s.second),
            checks_inside: median(&s.checks),
            release_inside: median(&s.release),
            bare_inside: median(&s.bare),
            bare_checks_inside: median(&s.bare_checks),
            pool: s.pool,
            runs,
            threads: s.threads,
        })
        .collect())
}

/// Allocation cost in a process whose pool is `spec` (`None`: the OS-derived default).
pub(crate) struct PoolSizeRun {
    pub(crate) spec: Option<&'static str>,
    pub(crate) pool: u64,
    pub(crate) first: Duration,
    pub(crate) per_op: Duration,
}

pub(crate) fn pool_size(spec: Option<&'static str>, pairs: u64) -> Result<PoolSizeRun, String> {
    let mut envs = vec![(PAIRS, pairs.to_string()), (HOSTS, "localhost".to_owned())];
    if let Some(spec) = spec {
        envs.push(("PYSYS_PORTS", spec.to_owned()));
    }
    let run = run_child("loop", &envs)?;
    Ok(PoolSizeRun {
        spec,
        pool: run.get("pool")?,
        first: run.nanos("first_ns")?,
        per_op: run.nanos("median_ns")?,
    })
}

/// `procs` processes allocating and releasing at once with the default hosts.
pub(crate) struct ProcsRun {
    pub(crate) procs: usize,
    /// All processes' allocations over the span from the first start to the last finish.
    pub(crate) total_per_sec: f64,
    /// The median of the processes' own median cost per allocation.
    pub(crate) per_op: Duration,
}

pub(crate) fn processes(procs: usize, pairs: u64) -> Result<ProcsRun, String> {
    let start_at = since_epoch() + START_LEAD;
    let envs = [
        (PAIRS, pairs.to_string()),
        (HOSTS, "default".to_owned()),
        (START_AT, start_at.as_nanos().to_string()),
    ];
    let pending: Vec<_> = (0..procs)
        .map(|_| start("loop", &envs))
        .collect::<Result<_, _>>()?;
    let runs: Vec<ChildRun> = pending.into_iter().map(finish).collect::<Result<_, _>>()?;
    let mut first_start = u64::MAX;
    let mut last_end = 0;
    let mut ops = 0;
    let mut per_op = Vec::new();
    for run in &runs {
        first_start = first_start.min(run.get("start_ns")?);
        last_end = last_end.max(run.get("end_ns")?);
        ops += run.get("ops")?;
        per_op.push(run.nanos("median_ns")?);
    }
    let span = Duration::from_nanos(last_end.saturating_sub(first_start));
    Ok(ProcsRun {
        procs,
        total_per_sec: ops as f64 / span.as_secs_f64(),
        per_op: median_duration(&per_op).unwrap_or_default(),
    })
}

/// The first allocation in fresh processes with a small and a large pool, alternating, so
/// start-up cost against pool size is judged on medians, not on one process each.
pub(crate) struct StartupBySize {
    pub(crate) small: (&'static str, Duration),
    pub(crate) large: (&'static str, Duration),
    pub(crate) runs: usize,
}

pub(crate) fn startup_by_size(runs: usize) -> Result<StartupBySize, String> {
    const SMALL: &str = "20000-20099";
    const LARGE: &str = "1100-61099";
    let (mut small, mut large) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        for (spec, into) in [(SMALL, &mut small), (LARGE, &mut large)] {
            let run = run_timed_child("first", &[("PYSYS_PORTS", spec.to_owned())])?;
            into.push(run.nanos("first_ns")?);
        }
    }
    let median = |v: &[Duration]| median_duration(v).unwrap_or_default();
    Ok(StartupBySize {
        small: (SMALL, median(&small)),
        large: (LARGE, median(&large)),
        runs,
    })
}
