//! The crate's own threads (the lock-file watcher, the cross-process wake-up watcher): started
//! with every signal blocked, so that a signal sent to the process goes to one of the
//! application's threads, never to one of these. A program that takes a signal with a handler
//! or `sigwait` in its main thread (as the `allocport` command does, to pass Ctrl-C on to the
//! command it runs exactly once) would otherwise see it handled, at random, on a thread it
//! knows nothing of.

use std::io;

/// The stack of the crate's threads: they run short loops of system calls and messages.
const STACK_SIZE: usize = 256 * 1024;

/// Spawns `f` on a detached thread named `name`, every signal blocked in it.
pub(crate) fn spawn<F>(name: &'static str, f: F) -> io::Result<()>
where
    F: FnOnce() + Send + 'static,
{
    // A new thread starts with its creator's signal mask: block everything here for the
    // moment of the spawn, so that the thread never has a signal unblocked, even briefly.
    let _blocked = sys::BlockAll::new();
    sys::spawn(name, Box::new(f))
}

#[cfg(unix)]
mod sys {
    use std::io;

    /// Starts `f` on a detached POSIX thread. Not `std::thread`: a test process that holds a
    /// port for a millisecond pays for this thread at its first claim, and std's thread
    /// (a handle, a name allocation, a signal stack set up in the thread) costs that process
    /// measurably more than the bare thread.
    pub(super) fn spawn(name: &'static str, f: Box<dyn FnOnce() + Send>) -> io::Result<()> {
        let arg = Box::into_raw(Box::new(Start { name, f }));
        // SAFETY: `attr` is initialised before use and destroyed after; `arg` is a valid
        // pointer whose ownership passes to the thread, or is taken back if none starts.
        unsafe {
            let mut attr: libc::pthread_attr_t = std::mem::zeroed();
            libc::pthread_attr_init(&mut attr);
            let min = usize::try_from(libc::sysconf(libc::_SC_THREAD_STACK_MIN)).unwrap_or(0);
            libc::pthread_attr_setstacksize(&mut attr, super::STACK_SIZE.max(min));
            libc::pthread_attr_setdetachstate(&mut attr, libc::PTHREAD_CREATE_DETACHED);
            let mut thread: libc::pthread_t = std::mem::zeroed();
            let rc = libc::pthread_create(&mut thread, &attr, start, arg.cast());
            libc::pthread_attr_destroy(&mut attr);
            if rc != 0 {
                drop(Box::from_raw(arg));
                return Err(io::Error::from_raw_os_error(rc));
            }
        }
        Ok(())
    }

    struct Start {
        name: &'static str,
        f: Box<dyn FnOnce() + Send>,
    }

    extern "C" fn start(arg: *mut libc::c_void) -> *mut libc::c_void {
        // SAFETY: `spawn` passed a `Box<Start>` leaked for this thread alone.
        let Start { name, f } = *unsafe { Box::from_raw(arg.cast::<Start>()) };
        set_name(name);
        crate::warn::mark_crate_thread();
        // A panic must not unwind out of an `extern "C"` function; the thread ends, saying so,
        // since what it did (watching the lock files, waking waiters) is then left undone.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err() {
            crate::warn::write_line(&format!(
                "{}allocport's thread {name} ended by a panic: what it did for this process \
                 is left undone",
                crate::warn::PREFIX
            ));
        }
        std::ptr::null_mut()
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn set_name(name: &str) {
        // Linux takes 15 bytes and a NUL; the crate's names fit.
        let mut buf = [0u8; 16];
        let n = name.len().min(15);
        buf[..n].copy_from_slice(&name.as_bytes()[..n]);
        // SAFETY: `buf` is NUL-terminated and outlives the call.
        unsafe { libc::pthread_setname_np(libc::pthread_self(), buf.as_ptr().cast()) };
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn set_name(_name: &str) {}

    /// Blocks every signal in this thread until dropped, when the old mask comes back.
    pub(super) struct BlockAll(Option<libc::sigset_t>);

    impl BlockAll {
        pub(super) fn new() -> BlockAll {
            // SAFETY: sigfillset and pthread_sigmask write only into the sets they are given,
            // which are plain data on this stack.
            unsafe {
                let mut all: libc::sigset_t = std::mem::zeroed();
                let mut old: libc::sigset_t = std::mem::zeroed();
                libc::sigfillset(&mut all);
                let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
                BlockAll((rc == 0).then_some(old))
            }
        }
    }

    impl Drop for BlockAll {
        fn drop(&mut self) {
            if let Some(old) = &self.0 {
                // SAFETY: `old` is the mask pthread_sigmask returned above.
                unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, old, std::ptr::null_mut()) };
            }
        }
    }
}

#[cfg(not(unix))]
mod sys {
    use std::io;

    pub(super) fn spawn(name: &'static str, f: Box<dyn FnOnce() + Send>) -> io::Result<()> {
        std::thread::Builder::new()
            .name(name.to_owned())
            .stack_size(super::STACK_SIZE)
            .spawn(move || {
                crate::warn::mark_crate_thread();
                f()
            })
            .map(drop)
    }

    /// Nothing to block where there are no POSIX signals.
    pub(super) struct BlockAll;

    impl BlockAll {
        pub(super) fn new() -> BlockAll {
            BlockAll
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    #[test]
    fn the_thread_blocks_every_signal_and_the_caller_keeps_its_mask() {
        let mask = || {
            // SAFETY: as in BlockAll::new; a null new set only reads the current mask.
            unsafe {
                let mut current: libc::sigset_t = std::mem::zeroed();
                libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut current);
                libc::sigismember(&current, libc::SIGINT) == 1
            }
        };
        let before = mask();
        let (tx, rx) = std::sync::mpsc::channel();
        super::spawn("allocport-test", move || tx.send(mask()).unwrap()).unwrap();
        assert!(rx.recv().unwrap(), "SIGINT is not blocked in the thread");
        assert_eq!(mask(), before, "the caller's mask changed");
    }
}
