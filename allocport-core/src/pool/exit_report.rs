//! `ALLOCPORT_STATS=1`: the pool's statistics printed to standard error as the process exits.

use std::fmt::{self, Write as _};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::pool::stats::PortAllocationStats;

/// Where the figures come from: the pool's reading of its counters.
static STATS: OnceLock<fn() -> PortAllocationStats> = OnceLock::new();

/// Whether the line was printed: on Windows two hooks may run at one exit (see `register`).
static PRINTED: AtomicBool = AtomicBool::new(false);

/// Prints `stats()` to standard error when the process exits; what the pool calls, once, when
/// `ALLOCPORT_STATS` asks for it. Later calls change nothing.
pub(crate) fn print_stats_at_exit(stats: fn() -> PortAllocationStats) {
    if STATS.set(stats).is_ok() {
        register(print);
    }
}

// Runs in `exit()`, after main returns, when std's streams may be closed and its locks are
// best left alone (on Windows also in `ExitProcess`, where the other threads are gone, maybe
// holding locks, and the loader's lock is held): it only reads counters (takes no lock),
// formats on the stack and hands the line to the OS in one write whose failure is ignored.
// A C `atexit` handler, not a crate's link-time destructor: the same moment, without a
// proc-macro in every user's build.
extern "C" fn print() {
    let Some(stats) = STATS.get() else { return };
    if PRINTED.swap(true, Ordering::Relaxed) {
        return;
    }
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
    #[cfg(windows)]
    at_process_detach::keep();
}

/// On Windows the C library runs an executable's `atexit` handlers only in its `exit()`, where
/// `main` returning leads, while `std::process::exit` (which libtest calls when a test fails)
/// calls `ExitProcess` straight away. `ExitProcess` calls every module's TLS callbacks with
/// `DLL_PROCESS_DETACH`, the executable's included: one of those prints the line then (once:
/// after `main` returns, both hooks run). Wine 8 calls an executable's TLS callbacks when the
/// process starts but not when it exits, so there only the `atexit` handler works.
#[cfg(windows)]
mod at_process_detach {
    use std::ffi::c_void;

    const DLL_PROCESS_DETACH: u32 = 0;

    // The loader calls the functions whose pointers are in the `.CRT$XL*` sections, which the
    // linker gathers into the array the TLS directory names (as the standard library does for
    // its thread-local destructors).
    #[used]
    #[unsafe(link_section = ".CRT$XLB")]
    static CALLBACK: unsafe extern "system" fn(*mut c_void, u32, *mut c_void) = on_tls_event;

    unsafe extern "system" fn on_tls_event(_module: *mut c_void, reason: u32, _: *mut c_void) {
        if reason == DLL_PROCESS_DETACH {
            super::print();
        }
    }

    unsafe extern "C" {
        /// The C library's TLS directory, which the linker keeps only where it is referred to.
        #[link_name = "_tls_used"]
        static TLS_USED: u8;
    }

    /// Refers to the callback and the TLS directory, so no linker drops them.
    pub(super) fn keep() {
        // SAFETY: volatile reads of two statics that exist for the life of the program.
        unsafe {
            std::ptr::from_ref(&TLS_USED).read_volatile();
            std::ptr::from_ref(&CALLBACK).read_volatile();
        }
    }
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
