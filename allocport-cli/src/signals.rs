//! Forwarding signals from allocport to the command it runs, so that signalling allocport
//! signals the command, and allocport lives (holding the ports) until the command is gone.
//!
//! Every signal that would otherwise end allocport while the command runs on is passed on, as
//! tini and dumb-init do: SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM,
//! SIGVTALRM, SIGPROF, SIGIO, SIGXCPU, SIGXFSZ, on Linux also SIGSTKFLT, SIGPWR and the
//! real-time signals SIGRTMIN..=SIGRTMAX. See [`NOT_FORWARDED`] for the others and why.
//!
//! The handler itself forwards with `kill`, which is async-signal-safe, so no thread or pipe is
//! needed. A signal that comes before the command exists is remembered and forwarded as soon
//! as it does; each signal is forwarded once, whoever (handler or main thread) sees it first
//! (so several of one real-time signal that arrive before the command exists become one).
//! A Ctrl-C or Ctrl-\ from the terminal is not passed on where the OS tells it apart (Linux):
//! the terminal sends it to the command as well.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// Signals never caught, so never forwarded, each for a reason:
/// - SIGKILL and SIGSTOP cannot be caught.
/// - SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS and SIGABRT report a fault of allocport
///   itself (a bad access, a seccomp refusal, a debugger trap, `abort`); a handler that returns
///   would run into the same fault again, and the command has nothing to do with it (tini
///   leaves them alone too).
/// - SIGPIPE: Rust programs ignore it, so it does not end allocport; one raised by allocport's
///   own write to a closed pipe is about allocport, not the command.
/// - SIGCHLD, SIGCONT, SIGURG and SIGWINCH are ignored by default (SIGCONT resumes), so they do
///   not end allocport; the terminal sends SIGWINCH and SIGCONT to the command's process group
///   itself.
/// - SIGTSTP, SIGTTIN and SIGTTOU stop allocport rather than end it, and keep the ports held;
///   the terminal's job control stops the whole foreground process group.
const NOT_FORWARDED: [libc::c_int; 17] = [
    libc::SIGKILL,
    libc::SIGSTOP,
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGILL,
    libc::SIGFPE,
    libc::SIGTRAP,
    libc::SIGSYS,
    libc::SIGABRT,
    libc::SIGPIPE,
    libc::SIGCHLD,
    libc::SIGCONT,
    libc::SIGURG,
    libc::SIGWINCH,
    libc::SIGTSTP,
    libc::SIGTTIN,
    libc::SIGTTOU,
];

/// Room for every signal number of every system (MIPS Linux goes up to 127).
const SLOTS: usize = 129;

/// The command's pid while it runs and is not yet reaped (so the pid cannot be reused), else 0.
static CHILD: AtomicI32 = AtomicI32::new(0);
/// Indexed by signal number: received and not yet forwarded.
static PENDING: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];

/// The signals allocport catches and passes on.
pub(crate) fn forwarded() -> impl Iterator<Item = libc::c_int> {
    // The classic signals are 1 to 31 everywhere; numbers between them and the real-time
    // range belong to the C library (glibc's thread cancellation, for one).
    let classic = 1..=31;
    classic
        .chain(real_time())
        .filter(|signal| !NOT_FORWARDED.contains(signal) && !ignored_by_default(*signal))
        .filter(|&signal| usize::try_from(signal).is_ok_and(|s| s < SLOTS))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn real_time() -> std::ops::RangeInclusive<libc::c_int> {
    libc::SIGRTMIN()..=libc::SIGRTMAX()
}

/// Elsewhere the real-time signals (where there are any) are left at their defaults.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn real_time() -> std::ops::RangeInclusive<libc::c_int> {
    #[allow(clippy::reversed_empty_ranges)]
    let none = 1..=0;
    none
}

/// SIGINFO (Ctrl-T on BSD terminals, on the systems that have it) is ignored by default,
/// like SIGWINCH.
fn ignored_by_default(signal: libc::c_int) -> bool {
    #[cfg(any(
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly"
    ))]
    if signal == libc::SIGINFO {
        return true;
    }
    let _ = signal;
    false
}

fn pending(signal: libc::c_int) -> Option<&'static AtomicBool> {
    PENDING.get(usize::try_from(signal).ok()?)
}

extern "C" fn on_signal(signal: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    let from_keyboard = signal == libc::SIGINT || signal == libc::SIGQUIT;
    if from_keyboard && from_terminal(info) && CHILD.load(Ordering::SeqCst) > 0 {
        // Ctrl-C, Ctrl-\: the terminal signals its whole foreground process group, and the
        // command is in ours, so it has this signal already; a second copy would make it see
        // two (Python, for one, would break out of its clean-up; a JVM would dump its threads
        // twice).
        return;
    }
    let Some(slot) = pending(signal) else {
        return;
    };
    slot.store(true, Ordering::SeqCst);
    let child = CHILD.load(Ordering::SeqCst);
    if child > 0 && slot.swap(false, Ordering::SeqCst) {
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
    for signal in forwarded() {
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
        for signal in forwarded() {
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

/// A signal received before the command started, if any (the lowest-numbered one wins).
pub(crate) fn received() -> Option<libc::c_int> {
    forwarded().find(|&signal| pending(signal).is_some_and(|s| s.load(Ordering::SeqCst)))
}

/// From now on signals go to `child`; those received before are sent now.
pub(crate) fn forward_to(child: u32) {
    let Ok(pid) = libc::pid_t::try_from(child) else {
        return;
    };
    CHILD.store(pid, Ordering::SeqCst);
    for signal in forwarded() {
        if pending(signal).is_some_and(|s| s.swap(false, Ordering::SeqCst)) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_signal_that_would_end_allocport_is_forwarded() {
        let all: Vec<libc::c_int> = forwarded().collect();
        for signal in [
            libc::SIGHUP,
            libc::SIGINT,
            libc::SIGQUIT,
            libc::SIGTERM,
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGALRM,
            libc::SIGVTALRM,
            libc::SIGPROF,
            libc::SIGIO,
            libc::SIGXCPU,
            libc::SIGXFSZ,
        ] {
            assert!(all.contains(&signal), "signal {signal} not in {all:?}");
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        for signal in [
            libc::SIGPWR,
            libc::SIGRTMIN(),
            libc::SIGRTMIN() + 1,
            libc::SIGRTMAX(),
        ] {
            assert!(all.contains(&signal), "signal {signal} not in {all:?}");
        }
    }

    #[test]
    fn faults_stops_and_signals_ignored_by_default_are_not() {
        let all: Vec<libc::c_int> = forwarded().collect();
        for signal in NOT_FORWARDED {
            assert!(!all.contains(&signal), "signal {signal} in {all:?}");
        }
        // The C library's own signals between the classic and the real-time ones.
        #[cfg(target_os = "linux")]
        assert!(all.iter().all(|&s| s <= 31 || s >= libc::SIGRTMIN()));
    }
}
