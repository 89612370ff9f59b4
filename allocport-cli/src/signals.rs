//! Forwarding SIGINT, SIGTERM and SIGHUP from allocport to the command it runs, so that
//! stopping allocport stops the command, and allocport lives (holding the ports) until the
//! command is gone.
//!
//! The handler itself forwards with `kill`, which is async-signal-safe, so no thread or pipe is
//! needed. A signal that comes before the command exists is remembered and forwarded as soon
//! as it does; each signal is forwarded once, whoever (handler or main thread) sees it first.
//! A Ctrl-C from the terminal is not passed on where the OS tells it apart (Linux): the
//! terminal sends it to the command as well.

use std::io;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

const FORWARDED: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// The command's pid while it runs and is not yet reaped (so the pid cannot be reused), else 0.
static CHILD: AtomicI32 = AtomicI32::new(0);
/// One bit per entry of `FORWARDED`: received and not yet forwarded.
static PENDING: AtomicU32 = AtomicU32::new(0);

fn bit(signal: libc::c_int) -> u32 {
    FORWARDED
        .iter()
        .position(|&s| s == signal)
        .map_or(0, |i| 1 << i)
}

extern "C" fn on_signal(signal: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    if signal == libc::SIGINT && from_terminal(info) && CHILD.load(Ordering::SeqCst) > 0 {
        // Ctrl-C: the terminal signals its whole foreground process group, and the command is
        // in ours, so it has this signal already; a second copy would make it see two
        // (Python, for one, would break out of its clean-up).
        return;
    }
    let bit = bit(signal);
    PENDING.fetch_or(bit, Ordering::SeqCst);
    let child = CHILD.load(Ordering::SeqCst);
    if child > 0 && PENDING.fetch_and(!bit, Ordering::SeqCst) & bit != 0 {
        // SAFETY: kill is async-signal-safe. The child is unreaped, so the pid is still ours
        // and kill succeeds without touching errno, which the interrupted code may be reading.
        unsafe { libc::kill(child, signal) };
    }
}

/// Whether the kernel sent the signal (on Linux, that is how the terminal's Ctrl-C arrives),
/// rather than a process with `kill`.
fn from_terminal(info: *const libc::siginfo_t) -> bool {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // SAFETY: with SA_SIGINFO the kernel passes a valid siginfo_t.
        !info.is_null() && unsafe { (*info).si_code } == libc::SI_KERNEL
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        // Elsewhere the sender is not told apart: pass everything on.
        let _ = info;
        false
    }
}

/// Catches the forwarded signals from now on, instead of dying from them.
pub(crate) fn install() -> io::Result<()> {
    for signal in FORWARDED {
        // SAFETY: a zeroed sigaction is a valid empty one; the handler only touches atomics and
        // calls kill, both async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal
                as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void)
                as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART | libc::SA_SIGINFO;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

/// The forwarded signals held back (left pending) while the command starts, so none is handled
/// between the fork and [`forward_to`]: a Ctrl-C then would be judged as coming before the
/// command existed, and passed on although the command had it from the terminal already.
pub(crate) struct Held {
    previous: libc::sigset_t,
}

/// Holds the forwarded signals back until the returned value is dropped.
pub(crate) fn hold() -> io::Result<Held> {
    // SAFETY: sigset_t values are filled by sigemptyset/pthread_sigmask before being read.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in FORWARDED {
            libc::sigaddset(&mut set, signal);
        }
        let mut previous: libc::sigset_t = std::mem::zeroed();
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut previous);
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(Held { previous })
    }
}

impl Held {
    /// Makes the command start with the signal mask allocport started with, not the held one.
    pub(crate) fn unhold_in(&self, command: &mut std::process::Command) {
        use std::os::unix::process::CommandExt;
        let previous = self.previous;
        // SAFETY: pthread_sigmask is async-signal-safe and the closure allocates nothing.
        unsafe {
            command.pre_exec(move || {
                let rc = libc::pthread_sigmask(libc::SIG_SETMASK, &previous, std::ptr::null_mut());
                if rc != 0 {
                    return Err(io::Error::from_raw_os_error(rc));
                }
                Ok(())
            });
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved by `hold`; signals held meanwhile are handled now.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.previous, std::ptr::null_mut()) };
    }
}

/// A signal received before the command started, if any (the lowest-numbered entry wins).
pub(crate) fn received() -> Option<libc::c_int> {
    let pending = PENDING.load(Ordering::SeqCst);
    FORWARDED
        .iter()
        .enumerate()
        .find(|&(i, _)| pending & (1 << i) != 0)
        .map(|(_, &signal)| signal)
}

/// From now on signals go to `child`; those received before are sent now.
pub(crate) fn forward_to(child: u32) {
    let Ok(pid) = libc::pid_t::try_from(child) else {
        return;
    };
    CHILD.store(pid, Ordering::SeqCst);
    let pending = PENDING.swap(0, Ordering::SeqCst);
    for (i, &signal) in FORWARDED.iter().enumerate() {
        if pending & (1 << i) != 0 {
            // SAFETY: plain kill of our unreaped child.
            unsafe { libc::kill(pid, signal) };
        }
    }
}

/// Waits until `child` has exited without reaping it, then stops forwarding to it, so the
/// handler never signals a pid the system has given to another process.
pub(crate) fn wait_then_stop_forwarding(child: u32) {
    // id_t holds any pid: u32 on most systems, i64 on FreeBSD.
    let pid = libc::id_t::from(child);
    loop {
        // SAFETY: a zeroed siginfo_t is a valid buffer for waitid to fill.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointer; WNOWAIT leaves the child for Child::wait to reap.
        let rc =
            unsafe { libc::waitid(libc::P_PID, pid, &mut info, libc::WEXITED | libc::WNOWAIT) };
        if rc == 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            // On an error other than EINTR, Child::wait reports it.
            break;
        }
    }
    CHILD.store(0, Ordering::SeqCst);
}
