//! The CPU time a process spent, for tests and benchmarks that check waiting costs nothing.

use std::time::Duration;

/// User plus system CPU time of this process so far (Unix's `getrusage`, Windows'
/// `GetProcessTimes`); zero elsewhere.
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
    #[cfg(windows)]
    {
        /// Windows' FILETIME: 100 ns units, in two halves.
        #[repr(C)]
        #[derive(Default)]
        struct FileTime {
            low: u32,
            high: u32,
        }
        #[link(name = "kernel32")]
        unsafe extern "system" {
            fn GetCurrentProcess() -> *mut std::ffi::c_void;
            fn GetProcessTimes(
                process: *mut std::ffi::c_void,
                creation: *mut FileTime,
                exit: *mut FileTime,
                kernel: *mut FileTime,
                user: *mut FileTime,
            ) -> i32;
        }
        let mut times: [FileTime; 4] = Default::default();
        let [creation, exit, kernel, user] = &mut times;
        // SAFETY: GetCurrentProcess returns a pseudo-handle that needs no closing; the four
        // pointers are to live FILETIMEs GetProcessTimes writes. A failure leaves them zero.
        unsafe { GetProcessTimes(GetCurrentProcess(), creation, exit, kernel, user) };
        let ticks = |t: &FileTime| (u64::from(t.high) << 32) | u64::from(t.low);
        Duration::from_nanos((ticks(kernel) + ticks(user)) * 100)
    }
    #[cfg(not(any(unix, windows)))]
    Duration::ZERO
}
