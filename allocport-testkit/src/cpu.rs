//! The CPU time a process spent, for tests and benchmarks that check waiting costs nothing.

use std::time::Duration;

/// User plus system CPU time of this process so far; zero where the platform gives none here
/// (only Unix's `getrusage` is read).
pub fn cpu_time() -> Duration {
    #[cfg(unix)]
    {
        // SAFETY: getrusage writes into the zeroed struct it is given; RUSAGE_SELF is valid.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
        let tv = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
        };
        tv(usage.ru_utime) + tv(usage.ru_stime)
    }
    #[cfg(not(unix))]
    Duration::ZERO
}
