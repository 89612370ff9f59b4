//! The crate's own threads (the lock-file watcher, the cross-process wake-up watcher): started
//! with every signal blocked, so that a signal sent to the process goes to one of the
//! application's threads, never to one of these. A program that takes a signal with a handler
//! or `sigwait` in its main thread (as the `allocport` command does, to pass Ctrl-C on to the
//! command it runs exactly once) would otherwise see it handled, at random, on a thread it
//! knows nothing of.

use std::io;
use std::thread::JoinHandle;

/// Spawns `f` on a thread named `name`, every signal blocked in it.
pub(crate) fn spawn<F>(name: &str, f: F) -> io::Result<JoinHandle<()>>
where
    F: FnOnce() + Send + 'static,
{
    let builder = std::thread::Builder::new().name(name.to_owned());
    // A new thread starts with its creator's signal mask: block everything here for the
    // moment of the spawn, so that the thread never has a signal unblocked, even briefly.
    let _blocked = sys::BlockAll::new();
    builder.spawn(f)
}

#[cfg(unix)]
mod sys {
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
        super::spawn("allocport-test", move || tx.send(mask()).unwrap())
            .unwrap()
            .join()
            .unwrap();
        assert!(rx.recv().unwrap(), "SIGINT is not blocked in the thread");
        assert_eq!(mask(), before, "the caller's mask changed");
    }
}
