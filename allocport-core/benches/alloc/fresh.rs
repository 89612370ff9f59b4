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

/// Builds a debug target of this package with `cargo <args>` (and the file store) and returns
/// the executable cargo reports for the target named `name`.
pub(crate) fn build_debug(args: &[&str], name: &str) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    // The probes run on the file store too, which Linux builds only with the feature.
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .args(["-p", "allocport-core", "--features", "file-store"])
        .arg("--message-format=json");
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
    /// The most threads a process had while it held the port.
    pub(crate) threads: u64,
}

/// The debug-built probe that times its first allocation (`examples/first_alloc.rs`).
pub(crate) fn first_alloc_probe() -> Result<PathBuf, String> {
    build_debug(&["build", "--example", "first_alloc"], "first_alloc")
}

/// One run of the probe with `envs` (its store): its report's fields, and its wall time from
/// spawn to exit.
fn run_probe(
    exe: &PathBuf,
    envs: &[(&str, String)],
) -> Result<(Vec<(String, u64)>, Duration), String> {
    // Not `output_within`: its reader and exit-watching threads would run beside the child
    // on this two-CPU machine, inside the very window the child times. The child cannot
    // hang: its one wait, the allocation's, is bounded by the timeout given here.
    let mut cmd = Command::new(exe);
    cmd.env_remove("PYSYS_PORTS")
        .env_remove("PYSYS_PORTS_FILE")
        .env_remove("NEXTEST_TEST_GLOBAL_SLOT")
        .env("ALLOCPORT_TIMEOUT_SECS", "10");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let at = Instant::now();
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    let wall = at.elapsed();
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "first_alloc failed: {line}{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let fields = line
        .split_whitespace()
        .filter_map(|f| f.split_once('='))
        .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
        .collect();
    Ok((fields, wall))
}

fn field(fields: &[(String, u64)], key: &str) -> Result<u64, String> {
    fields
        .iter()
        .find(|(k, _)| k == key)
        .map(|&(_, v)| v)
        .ok_or_else(|| format!("first_alloc printed no {key}: {fields:?}"))
}

/// The probe's first allocation, `runs` times for each of `places` (a store's environment
/// each), the places taking turns so a change in the machine's load hits them alike.
pub(crate) fn debug_first(
    exe: &PathBuf,
    runs: usize,
    places: &[Envs],
) -> Result<Vec<DebugFirst>, String> {
    let mut first = vec![Vec::new(); places.len()];
    let mut checks = vec![Vec::new(); places.len()];
    let mut threads = vec![0; places.len()];
    for _ in 0..runs {
        for (i, envs) in places.iter().enumerate() {
            let (fields, _) = run_probe(exe, envs)?;
            first[i].push(Duration::from_nanos(field(&fields, "first_ns")?));
            checks[i].push(Duration::from_nanos(field(&fields, "checks_ns")?));
            threads[i] = threads[i].max(field(&fields, "threads")?);
        }
    }
    let median = |v: &[Duration]| crate::record::median_duration(v).unwrap_or_default();
    Ok((0..places.len())
        .map(|i| DebugFirst {
            first: median(&first[i]),
            checks: median(&checks[i]),
            runs,
            threads: threads[i],
        })
        .collect())
}

/// A first allocation at least this long waited for something (the file store's grace for
/// a fresh lock file is 250 ms; an allocation that waits for nothing takes well under 10 ms
/// even in a debug build on a loaded machine).
const WAITED: Duration = Duration::from_millis(100);

/// `n` fresh debug-built processes on a store nothing has used yet, against `n` on the same
/// store once it has been used (by `n` processes before, untimed): each side's total wall time
/// (spawn to exit) and how many of its processes waited ([`WAITED`]). The fresh store's
/// processes run in order, as on a new machine, each beside one on the used store (taking
/// turns at going first), so a change in the machine's load hits both sides alike.
pub(crate) struct FreshMachine {
    pub(crate) n: usize,
    pub(crate) fresh: Duration,
    pub(crate) after: Duration,
    pub(crate) fresh_waited: usize,
    pub(crate) after_waited: usize,
}

/// A child's environment: the variables that put it on a store.
pub(crate) type Envs = Vec<(&'static str, String)>;

/// [`FreshMachine`] for each of `stores`: `(fresh, used)` environments, the stores taking
/// turns too.
pub(crate) fn fresh_machine(
    exe: &PathBuf,
    n: usize,
    stores: &[(Envs, Envs)],
) -> Result<Vec<FreshMachine>, String> {
    for (_, used) in stores {
        for _ in 0..n {
            run_probe(exe, used)?;
        }
    }
    let mut out: Vec<FreshMachine> = stores
        .iter()
        .map(|_| FreshMachine {
            n,
            fresh: Duration::ZERO,
            after: Duration::ZERO,
            fresh_waited: 0,
            after_waited: 0,
        })
        .collect();
    let waited = |fields: &[(String, u64)]| -> Result<usize, String> {
        Ok(usize::from(
            Duration::from_nanos(field(fields, "first_ns")?) >= WAITED,
        ))
    };
    for round in 0..n {
        // Which store goes first, and which of its two sides, changes every round: a process
        // that follows another pays for what that one left behind (its exit, its threads).
        let mut order: Vec<usize> = (0..stores.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let ((fresh, used), m) = (&stores[i], &mut out[i]);
            let sides = [(fresh, true), (used, false)];
            let turn = if (round / 2) % 2 == 0 { [0, 1] } else { [1, 0] };
            for side in turn {
                let (envs, is_fresh) = sides[side];
                let (fields, wall) = run_probe(exe, envs)?;
                let w = waited(&fields)?;
                if is_fresh {
                    m.fresh += wall;
                    m.fresh_waited += w;
                } else {
                    m.after += wall;
                    m.after_waited += w;
                }
            }
        }
    }
    Ok(out)
}

/// One way of running the suite's tests: the probe's module (`allocport`, `port0` or `bare`)
/// and the environment (the store).
pub(crate) struct Side {
    pub(crate) label: String,
    pub(crate) module: &'static str,
    pub(crate) envs: Vec<(&'static str, String)>,
}

/// The suite run every way, several times. Each pass runs every side's tests in blocks taking
/// turns; a side's figure is the median over the passes of its total over port 0's.
pub(crate) struct Suite {
    pub(crate) tests: usize,
    pub(crate) jobs: usize,
    /// Per side (port 0 first): label, median ratio to port 0, each pass's ratio, and the
    /// median pass's total wall time.
    pub(crate) sides: Vec<SuiteSide>,
}

pub(crate) struct SuiteSide {
    pub(crate) label: String,
    pub(crate) ratio: f64,
    pub(crate) pass_ratios: Vec<f64>,
    pub(crate) total: Duration,
}

/// Runs the suite's `tests` tests of each side (port 0 first, the baseline), each in its own
/// process and `jobs` at a time (each job with its own `NEXTEST_TEST_GLOBAL_SLOT`, as
/// cargo-nextest sets it), in alternating blocks of `block` tests per side, so a change in the
/// machine's load hits every side alike; `passes` times, the median reported (one burst of load
/// on a shared machine moves one pass by several per cent).
pub(crate) fn suite(
    tests: usize,
    block: usize,
    passes: usize,
    sides: &[Side],
) -> Result<Suite, String> {
    let exe = build_debug(
        &["test", "--test", "suite_probe", "--no-run"],
        "suite_probe",
    )?;
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runs = (0..passes)
        .map(|_| suite_pass(&exe, tests, block, jobs, sides))
        .collect::<Result<Vec<_>, _>>()?;
    let out = sides
        .iter()
        .enumerate()
        .map(|(i, side)| {
            let pass_ratios: Vec<f64> = runs
                .iter()
                .map(|r| r[i].as_secs_f64() / r[0].as_secs_f64())
                .collect();
            let totals: Vec<Duration> = runs.iter().map(|r| r[i]).collect();
            SuiteSide {
                label: side.label.clone(),
                ratio: crate::record::median_f64(pass_ratios.clone()).unwrap_or(f64::NAN),
                pass_ratios,
                total: crate::record::median_duration(&totals).unwrap_or_default(),
            }
        })
        .collect();
    Ok(Suite {
        tests,
        jobs,
        sides: out,
    })
}

/// One pass: each side's total wall time, the sides taking turns at going first.
fn suite_pass(
    exe: &PathBuf,
    tests: usize,
    block: usize,
    jobs: usize,
    sides: &[Side],
) -> Result<Vec<Duration>, String> {
    let mut totals = vec![Duration::ZERO; sides.len()];
    for (round, start) in (0..tests).step_by(block).enumerate() {
        let names: Vec<usize> = (start..(start + block).min(tests)).collect();
        for turn in 0..sides.len() {
            let i = (round + turn) % sides.len();
            totals[i] += run_block(exe, &sides[i], &names, jobs)?;
        }
    }
    Ok(totals)
}

/// Runs the tests `side::tNNN` for each of `names`, one process each, `jobs` at a time; the
/// wall time of the block.
fn run_block(exe: &PathBuf, side: &Side, names: &[usize], jobs: usize) -> Result<Duration, String> {
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
                    let name = format!("{}::t{n:03}", side.module);
                    let mut cmd = Command::new(exe);
                    cmd.args([name.as_str(), "--exact", "--ignored", "--nocapture"])
                        .env("NEXTEST_TEST_GLOBAL_SLOT", slot.to_string())
                        .env_remove("PYSYS_PORTS")
                        .env_remove("PYSYS_PORTS_FILE")
                        .stdin(Stdio::null());
                    for (k, v) in &side.envs {
                        cmd.env(k, v);
                    }
                    let out = output_within(&mut cmd, RUN_DEADLINE);
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
