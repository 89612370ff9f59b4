//! The child modes that allocate: `first` (a fresh process's first allocation and release),
//! `bare-first` (the same for the bare allocator, `bare.rs`) and `loop` (allocate/release pairs
//! to time). The parent side is `procs.rs`; `child.rs` dispatches to these.

use std::time::{Duration, Instant};

use allocport_core::{AddressFamily, TcpPortOwner, port_allocation_stats};

use crate::floor::{V4_LOOPBACK, V4_WILDCARD, bind_check};
use crate::record::median_f64;
use crate::shared::{HOSTS, PAIRS, START_AT, since_epoch};

/// Timing batches per `loop` run: the reported cost is the median batch's.
const BATCHES: u64 = 20;
/// A start time further ahead than this is a parent's mistake; do not sleep for it.
const MAX_START_DELAY: Duration = Duration::from_secs(5);

/// The threads of this process, from `/proc/self/task` (0 where it cannot be read).
fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, Iterator::count)
}

/// Times the process's first allocation (pool built, lock file opened, bind checks) and its
/// second (bind checks only), so their difference is the one-time cost.
pub(crate) fn first() -> Result<String, String> {
    let start = Instant::now();
    let owner = TcpPortOwner::new().map_err(|e| e.to_string())?;
    let first = start.elapsed();
    // A single-threaded process holding a port it did not wait for: allocport's threads, if
    // any, show here.
    let threads = thread_count();
    let start = Instant::now();
    drop(owner);
    let release = start.elapsed();
    let start = Instant::now();
    let owner = TcpPortOwner::new().map_err(|e| e.to_string())?;
    let second = start.elapsed();
    let port = owner.port();
    drop(owner);
    // The floor of the first allocation: the same two bind checks, in the same process.
    let checks = time_checks(port)?;
    Ok(format!(
        "first_ns={} second_ns={} checks_ns={} release_ns={} pool={} threads={threads}",
        first.as_nanos(),
        second.as_nanos(),
        checks.as_nanos(),
        release.as_nanos(),
        port_allocation_stats().pool_size
    ))
}

/// Times the bare allocator's first port (`bare.rs`: the least the guarantees cost), then the
/// same two bind checks alone, as `first` does for allocport.
pub(crate) fn bare_first() -> Result<String, String> {
    let start = Instant::now();
    let held = crate::bare::take(1).map_err(|e| e.to_string())?;
    let first = start.elapsed();
    let port = held.ports()[0];
    crate::bare::release(held);
    let checks = time_checks(port)?;
    Ok(format!(
        "first_ns={} checks_ns={}",
        first.as_nanos(),
        checks.as_nanos()
    ))
}

/// The two bind checks of a default allocation (`0.0.0.0` and `127.0.0.1`) on `port`, timed.
fn time_checks(port: u16) -> Result<Duration, String> {
    let start = Instant::now();
    for ip in [V4_WILDCARD, V4_LOOPBACK] {
        bind_check(ip, port).map_err(|e| e.to_string())?;
    }
    Ok(start.elapsed())
}

pub(crate) fn alloc_loop() -> Result<String, String> {
    let pairs: u64 = env_number(PAIRS)?.unwrap_or(1000).max(BATCHES);
    let localhost_only = match std::env::var(HOSTS).as_deref() {
        Ok("localhost") => true,
        Ok("default") | Err(_) => false,
        Ok(other) => return Err(format!("{HOSTS}: unknown hosts {other:?}")),
    };
    let allocate = || {
        if localhost_only {
            TcpPortOwner::with_hosts(&["localhost"], AddressFamily::Ipv4)
        } else {
            TcpPortOwner::new()
        }
        .map_err(|e| e.to_string())
    };

    let start = Instant::now();
    drop(allocate()?);
    let first = start.elapsed();
    let pool = port_allocation_stats().pool_size;

    if let Some(at) = env_number(START_AT)? {
        let delay = Duration::from_nanos(at).saturating_sub(since_epoch());
        std::thread::sleep(delay.min(MAX_START_DELAY));
    }
    let start_epoch = since_epoch();
    let batch = pairs / BATCHES;
    let mut per_op = Vec::with_capacity(BATCHES as usize);
    for _ in 0..BATCHES {
        let start = Instant::now();
        for _ in 0..batch {
            drop(allocate()?);
        }
        per_op.push(start.elapsed().as_secs_f64() / batch as f64);
    }
    let end_epoch = since_epoch();
    let median = median_f64(per_op).unwrap_or(f64::NAN);
    Ok(format!(
        "first_ns={} pool={pool} median_ns={:.0} start_ns={} end_ns={} ops={}",
        first.as_nanos(),
        median * 1e9,
        start_epoch.as_nanos(),
        end_epoch.as_nanos(),
        batch * BATCHES
    ))
}

fn env_number(var: &str) -> Result<Option<u64>, String> {
    match std::env::var(var) {
        Ok(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("{var}: {text:?} is not a whole number")),
        Err(_) => Ok(None),
    }
}
