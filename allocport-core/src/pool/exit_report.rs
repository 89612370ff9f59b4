//! `ALLOCPORT_STATS=1`: the pool's statistics printed to standard error as the process exits.

use std::fmt::{self, Write as _};
use std::sync::OnceLock;

use crate::pool::stats::PortAllocationStats;

/// Where the figures come from: the pool's reading of its counters.
static STATS: OnceLock<fn() -> PortAllocationStats> = OnceLock::new();

/// Prints `stats()` to standard error when the process exits; what the pool calls, once, when
/// `ALLOCPORT_STATS` asks for it. Later calls change nothing.
pub(crate) fn print_stats_at_exit(stats: fn() -> PortAllocationStats) {
    if STATS.set(stats).is_ok() {
        register(print);
    }
}

// Runs in `exit()`, after main returns, when std's streams may be closed and its locks are
// best left alone: it only reads counters (takes no lock), formats on the stack and hands the
// line to the OS in one write whose failure is ignored. A C `atexit` handler, not a crate's
// link-time destructor: the same moment, without a proc-macro in every user's build.
extern "C" fn print() {
    let Some(stats) = STATS.get() else { return };
    let mut line = StackLine::new();
    // Cannot fail: a line too long for the buffer is cut, not refused.
    let _ = writeln!(line, "allocport: {}", stats());
    write_stderr(line.as_bytes());
}

#[cfg(any(unix, windows))]
fn register(handler: extern "C" fn()) {
    // The C library's (the CRT's on Windows), which Rust programs link on these platforms.
    unsafe extern "C" {
        fn atexit(handler: extern "C" fn()) -> std::ffi::c_int;
    }
    // SAFETY: `handler` is a plain function that lives as long as the program; a failure
    // (the table full) only loses the report.
    let _ = unsafe { atexit(handler) };
}

#[cfg(not(any(unix, windows)))]
fn register(_handler: extern "C" fn()) {}

/// A line formatted without allocating: text beyond its capacity is dropped.
struct StackLine {
    buf: [u8; 256],
    len: usize,
}

impl StackLine {
    fn new() -> Self {
        StackLine {
            buf: [0; 256],
            len: 0,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl fmt::Write for StackLine {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

#[cfg(unix)]
fn write_stderr(bytes: &[u8]) {
    // SAFETY: the pointer and length describe `bytes`, alive for the call; fd 2 closed or
    // not, `write` only reports an error then.
    let _ = unsafe { libc::write(libc::STDERR_FILENO, bytes.as_ptr().cast(), bytes.len()) };
}

#[cfg(windows)]
fn write_stderr(bytes: &[u8]) {
    use windows_sys::Win32::Storage::FileSystem::WriteFile;
    use windows_sys::Win32::System::Console::{GetStdHandle, STD_ERROR_HANDLE};
    let mut written = 0u32;
    // SAFETY: GetStdHandle has no preconditions; WriteFile gets a valid buffer of the length
    // given and a live `written`, and with a null or invalid handle it only fails.
    let _ = unsafe {
        WriteFile(
            GetStdHandle(STD_ERROR_HANDLE),
            bytes.as_ptr(),
            bytes.len() as u32,
            &mut written,
            std::ptr::null_mut(),
        )
    };
}

#[cfg(not(any(unix, windows)))]
fn write_stderr(bytes: &[u8]) {
    let _ = std::io::Write::write_all(&mut std::io::stderr(), bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exit_line_is_formatted_on_the_stack() {
        let stats = PortAllocationStats {
            pool_size: 64511,
            peak_allocated: 3,
            lifetime_total_allocated: u64::MAX,
        };
        let mut line = StackLine::new();
        writeln!(line, "allocport: {stats}").unwrap();
        assert_eq!(line.as_bytes(), format!("allocport: {stats}\n").as_bytes());
    }

    #[test]
    fn a_line_too_long_is_cut_at_the_capacity() {
        let mut line = StackLine::new();
        write!(line, "{}", "x".repeat(300)).unwrap();
        assert_eq!(line.as_bytes(), "x".repeat(256).as_bytes());
    }
}
