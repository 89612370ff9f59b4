//! What several of the bench's files share: the child processes' environment variables and
//! the sizes of the in-process measurements. A leaf: it imports nothing of the bench's, so any
//! file may use it without making an import cycle.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Set to the child's mode (see `child.rs` for the list).
pub(crate) const MODE: &str = "ALLOCPORT_BENCH_CHILD";
/// `loop`: allocate/release pairs to time.
pub(crate) const PAIRS: &str = "ALLOCPORT_BENCH_PAIRS";
/// `loop`: wall-clock start (nanoseconds since the Unix epoch), so processes start together.
pub(crate) const START_AT: &str = "ALLOCPORT_BENCH_START_AT";
/// `loop`: `default` (`""` and `localhost`) or `localhost`, in IPv4.
pub(crate) const HOSTS: &str = "ALLOCPORT_BENCH_HOSTS";
/// `hold`: how many ports to hold (default 1).
pub(crate) const HOLD: &str = "ALLOCPORT_BENCH_HOLD";

/// Criterion's samples per benchmark.
pub(crate) const SAMPLES: usize = 30;
/// Threads allocating at once in the `threads` group.
pub(crate) const THREADS: [usize; 4] = [1, 2, 8, 64];
/// Ports this process holds in the `holders` groups.
pub(crate) const HOLDERS: [usize; 6] = [1, 10, 100, 256, 1000, 4000];
/// Ports held for the floor's bind checks: they are checked over and over, and holding them
/// keeps these binds from getting in the way of another process's tests.
pub(crate) const FLOOR_PORTS: usize = 64;

/// Wall-clock time, comparable between processes on one machine.
pub(crate) fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}
