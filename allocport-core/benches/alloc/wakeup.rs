//! Waking across processes: how long a port released in one process takes to reach a process
//! waiting for it, and how much CPU a process spends while 64 of its threads wait.
//!
//! Both sides are children of the bench binary (see `child.rs`), on a pool of their own
//! (`PYSYS_PORTS`): one port for the wake-ups, 200 all held for the waiting threads (each
//! look through the pool then costs 200 lock attempts, as a busy suite's pool would). The holder reports the wall-clock instant it released the port, the
//! waiter the instant its allocation returned: the same clock (`SystemTime`) on one machine.

use std::time::{Duration, Instant};

use allocport_core::{AddressFamily, DEFAULT_HOSTS, TcpPortOwner};
use allocport_testkit::{Process, Spawn, cpu_time, this_binary};

use crate::record::median_duration;
use crate::shared::{HOLD, MODE, since_epoch};

/// The one-port pool of the wake-up measurements, inside the default pool's range but used by
/// nothing else of the benchmark.
const POOL: &str = "23700";
/// The pool the waiting threads wait on, all of it held.
const WAIT_POOL: &str = "24600-24799";
const WAIT_POOL_SIZE: usize = 200;
/// How long the waiter waits before the release: long enough to back off to its longest poll,
/// so a release that did not wake it would show.
const WAIT_FIRST: Duration = Duration::from_millis(300);
/// `wait-threads`: how many threads wait, and the window the CPU time is taken over (after
/// the threads have started and begun to wait).
const THREADS: usize = 64;
const SETTLE: Duration = Duration::from_millis(250);
const WINDOW: Duration = Duration::from_secs(1);

/// Child `hold`: takes the pool's port, says so, and when stdin closes releases it and reports
/// the instant.
pub(crate) fn hold() -> Result<String, String> {
    let n = std::env::var(HOLD)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let owner =
        TcpPortOwner::many(n, &DEFAULT_HOSTS, AddressFamily::Ipv4).map_err(|e| e.to_string())?;
    match &owner[..] {
        [one] => println!("held {}", one.port()),
        many => println!("held {} ports", many.len()),
    }
    let mut rest = String::new();
    // Blocks until the parent closes stdin.
    let _ = std::io::stdin().read_line(&mut rest);
    drop(owner);
    Ok(format!("released_ns={}", since_epoch().as_nanos()))
}

/// Child `wait`: builds its pool, says so, then allocates (waiting for the holder) and reports
/// the instant it got the port.
pub(crate) fn wait() -> Result<String, String> {
    let owner = TcpPortOwner::new().map_err(|e| e.to_string())?;
    let got = since_epoch();
    drop(owner);
    Ok(format!("got_ns={}", got.as_nanos()))
}

/// Child `wait-threads`: 64 threads wait for a port of the held pool; the CPU time the whole process
/// uses over one second of their waiting.
pub(crate) fn wait_threads() -> Result<String, String> {
    allocport_core::set_allocation_timeout(SETTLE + WINDOW + Duration::from_millis(500));
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| drop(TcpPortOwner::new()));
        }
        std::thread::sleep(SETTLE);
        let before = cpu_time();
        let start = Instant::now();
        std::thread::sleep(WINDOW);
        let spent = cpu_time().saturating_sub(before);
        Ok(format!(
            "cpu_ns={} window_ns={}",
            spent.as_nanos(),
            start.elapsed().as_nanos()
        ))
    })
}

fn child(mode: &str, pool: &str, hold: usize) -> Result<Process, String> {
    let mut cmd = this_binary();
    cmd.env(MODE, mode)
        .env("PYSYS_PORTS", pool)
        .env(HOLD, hold.to_string())
        .env_remove("PYSYS_PORTS_FILE")
        .env_remove("NEXTEST_TEST_GLOBAL_SLOT")
        .env("ALLOCPORT_TIMEOUT_SECS", "20");
    Spawn::new()
        .deadline(Duration::from_secs(30))
        .try_start(&mut cmd)
        .map_err(|e| format!("starting a {mode} child: {e}"))
}

fn field(line: &str, key: &str) -> Result<u64, String> {
    line.split_whitespace()
        .filter_map(|f| f.split_once('='))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.parse().ok())
        .ok_or_else(|| format!("no {key} in {line:?}"))
}

/// Release-to-wake-up latency over `rounds` rounds: median and maximum.
pub(crate) struct Wakeups {
    pub(crate) median: Duration,
    pub(crate) max: Duration,
    pub(crate) rounds: usize,
}

pub(crate) fn wakeups(rounds: usize) -> Result<Wakeups, String> {
    let mut latencies = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let mut holder = child("hold", POOL, 1)?;
        let held = holder.line();
        if held != format!("held {POOL}") {
            return Err(format!("holder said {held:?}"));
        }
        let mut waiter = child("wait", POOL, 0)?;
        if let Some(line) = waiter.line_within(WAIT_FIRST) {
            return Err(format!("the waiter got the held port: {line:?}"));
        }
        holder.close_stdin();
        let released = field(&holder.line(), "released_ns")?;
        let got = field(&waiter.line(), "got_ns")?;
        latencies.push(Duration::from_nanos(got.saturating_sub(released)));
        holder.wait();
        waiter.wait();
    }
    latencies.sort();
    Ok(Wakeups {
        median: median_duration(&latencies).unwrap_or_default(),
        max: latencies.last().copied().unwrap_or_default(),
        rounds,
    })
}

/// CPU time of a process whose 64 threads wait one second for ports another process holds,
/// as a fraction of one core.
pub(crate) fn waiting_cpu() -> Result<f64, String> {
    let mut holder = child("hold", WAIT_POOL, WAIT_POOL_SIZE)?;
    let held = holder.line();
    if held != format!("held {WAIT_POOL_SIZE} ports") {
        return Err(format!("holder said {held:?}"));
    }
    let mut waiter = child("wait-threads", WAIT_POOL, 0)?;
    let line = waiter.line();
    let share = field(&line, "cpu_ns")? as f64 / field(&line, "window_ns")? as f64;
    waiter.wait();
    holder.close_stdin();
    holder.wait();
    Ok(share)
}
