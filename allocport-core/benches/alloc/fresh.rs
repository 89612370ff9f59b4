//! Debug-built test processes, as cargo-nextest runs them: the first allocation of a fresh
//! debug process, and a whole suite of 200 two-port server tests with allocport against the
//! same tests binding port 0.
//!
//! The benchmark builds its probes itself in the debug profile (`cargo build --example
//! first_alloc`, `cargo test --test suite_probe --no-run`), so `cargo bench` stays the one
//! command; the optimised figures come from the bench binary's own children.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use allocport_testkit::output_within;

/// How long building a probe may take (the debug build of the workspace's dependencies).
const BUILD_DEADLINE: Duration = Duration::from_secs(600);
/// How long one probe process may take.
const RUN_DEADLINE: Duration = Duration::from_secs(60);

/// Builds a debug target of this package with `cargo <args> --message-format=json` and returns
/// the executable cargo reports for the target named `name`.
fn build_debug(args: &[&str], name: &str) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .args(["-p", "allocport-core", "--message-format=json"]);
    eprintln!(
        "building the debug probe {name} (cargo {})...",
        args.join(" ")
    );
    let out = output_within(&mut cmd, BUILD_DEADLINE);
    if !out.status.success() {
        return Err(format!(
            "cargo {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .filter(|l| l.contains(&format!("\"name\":\"{name}\"")))
        .find_map(|l| {
            let rest = l.split("\"executable\":\"").nth(1)?;
            Some(PathBuf::from(rest.split('"').next()?))
        })
        .ok_or_else(|| format!("cargo reported no executable for {name}"))
}

/// The first allocation of a fresh debug-built process, against its two bind checks.
pub(crate) struct DebugFirst {
    pub(crate) first: Duration,
    pub(crate) checks: Duration,
    pub(crate) runs: usize,
}

pub(crate) fn debug_first(runs: usize) -> Result<DebugFirst, String> {
    let exe = build_debug(&["build", "--example", "first_alloc"], "first_alloc")?;
    let (mut first, mut checks) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        // Not `output_within`: its reader and exit-watching threads would run beside the child
        // on this two-CPU machine, inside the very window the child times. The child cannot
        // hang: its one wait, the allocation's, is bounded by the timeout given here.
        let out = Command::new(&exe)
            .env_remove("PYSYS_PORTS")
            .env_remove("PYSYS_PORTS_FILE")
            .env_remove("NEXTEST_TEST_GLOBAL_SLOT")
            .env("ALLOCPORT_TIMEOUT_SECS", "10")
            .output()
            .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
        let line = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            return Err(format!("first_alloc failed: {line}"));
        }
        let field = |key: &str| {
            line.split_whitespace()
                .filter_map(|f| f.split_once('='))
                .find(|(k, _)| *k == key)
                .and_then(|(_, v)| v.parse().ok())
                .map(Duration::from_nanos)
                .ok_or_else(|| format!("first_alloc printed {line:?}"))
        };
        first.push(field("first_ns")?);
        checks.push(field("checks_ns")?);
    }
    let median = |v: &[Duration]| crate::record::median_duration(v).unwrap_or_default();
    Ok(DebugFirst {
        first: median(&first),
        checks: median(&checks),
        runs,
    })
}

/// A suite run both ways, several times: each pass's ratio of total wall times, and the median
/// pass's totals and ratio.
pub(crate) struct Suite {
    pub(crate) tests: usize,
    pub(crate) jobs: usize,
    pub(crate) allocport: Duration,
    pub(crate) port0: Duration,
    pub(crate) ratio: f64,
    pub(crate) pass_ratios: Vec<f64>,
    /// The same tests with the bare allocator (`bare.rs`), in the same passes: the median of
    /// its passes' ratios to port 0, and the ratios.
    pub(crate) bare_ratio: f64,
    pub(crate) bare_pass_ratios: Vec<f64>,
}

/// One pass's total wall time per side.
struct Pass {
    allocport: Duration,
    port0: Duration,
    bare: Duration,
}

impl Pass {
    fn ratio(&self) -> f64 {
        self.allocport.as_secs_f64() / self.port0.as_secs_f64()
    }

    fn bare_ratio(&self) -> f64 {
        self.bare.as_secs_f64() / self.port0.as_secs_f64()
    }
}

/// Runs the suite's `tests` allocport tests and `tests` port-0 tests, each in its own process
/// and `jobs` at a time (each job with its own `NEXTEST_TEST_GLOBAL_SLOT`, as cargo-nextest
/// sets it), in alternating blocks of `block` tests per side, so a change in the machine's load
/// hits both sides alike; `passes` times, the median pass reported (one burst of load on a
/// shared machine moves one pass by several per cent).
pub(crate) fn suite(tests: usize, block: usize, passes: usize) -> Result<Suite, String> {
    let exe = build_debug(
        &["test", "--test", "suite_probe", "--no-run"],
        "suite_probe",
    )?;
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut runs = (0..passes)
        .map(|_| suite_pass(&exe, tests, block, jobs))
        .collect::<Result<Vec<_>, _>>()?;
    let pass_ratios: Vec<f64> = runs.iter().map(Pass::ratio).collect();
    let bare_pass_ratios: Vec<f64> = runs.iter().map(Pass::bare_ratio).collect();
    runs.sort_by(|a, b| a.ratio().total_cmp(&b.ratio()));
    let median = &runs[runs.len() / 2];
    Ok(Suite {
        tests,
        jobs,
        allocport: median.allocport,
        port0: median.port0,
        ratio: median.ratio(),
        pass_ratios,
        bare_ratio: crate::record::median_f64(bare_pass_ratios.clone()).unwrap_or(f64::NAN),
        bare_pass_ratios,
    })
}

/// One pass: each side's total wall time, the sides taking turns at going first.
fn suite_pass(exe: &PathBuf, tests: usize, block: usize, jobs: usize) -> Result<Pass, String> {
    const SIDES: [&str; 3] = ["allocport", "port0", "bare"];
    let mut totals = [Duration::ZERO; 3];
    for (round, start) in (0..tests).step_by(block).enumerate() {
        let names: Vec<usize> = (start..(start + block).min(tests)).collect();
        for turn in 0..SIDES.len() {
            let side = (round + turn) % SIDES.len();
            totals[side] += run_block(exe, SIDES[side], &names, jobs)?;
        }
    }
    let [allocport, port0, bare] = totals;
    Ok(Pass {
        allocport,
        port0,
        bare,
    })
}

/// Runs the tests `side::tNNN` for each of `names`, one process each, `jobs` at a time; the
/// wall time of the block.
fn run_block(exe: &PathBuf, side: &str, names: &[usize], jobs: usize) -> Result<Duration, String> {
    let queue = Mutex::new(names.iter());
    let failure = Mutex::new(None);
    let start = Instant::now();
    std::thread::scope(|scope| {
        for slot in 0..jobs {
            let (queue, failure) = (&queue, &failure);
            scope.spawn(move || {
                loop {
                    let Some(n) = queue.lock().unwrap().next().copied() else {
                        return;
                    };
                    let name = format!("{side}::t{n:03}");
                    let out = output_within(
                        Command::new(exe)
                            .args([name.as_str(), "--exact", "--ignored", "--nocapture"])
                            .env("NEXTEST_TEST_GLOBAL_SLOT", slot.to_string())
                            .env_remove("PYSYS_PORTS")
                            .env_remove("PYSYS_PORTS_FILE")
                            .stdin(Stdio::null()),
                        RUN_DEADLINE,
                    );
                    if !out.status.success() {
                        *failure.lock().unwrap() = Some(format!(
                            "{name} failed: {}{}",
                            String::from_utf8_lossy(&out.stdout),
                            String::from_utf8_lossy(&out.stderr)
                        ));
                    }
                }
            });
        }
    });
    match failure.into_inner().unwrap() {
        Some(e) => Err(e),
        None => Ok(start.elapsed()),
    }
}
