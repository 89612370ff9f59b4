//! The keeper: a thread that, while this process holds any port, checks every [`TICK`] that
//! its lock files are still the files at their paths (see [`renew`](super::renew)) and keeps
//! the store fresh for cleaners: a shared BSD `flock` on the directory, which
//! systemd-tmpfiles takes as "skip this subtree", and file and directory times set to now
//! every [`TOUCH`], for cleaners that only look at age. With no port held for [`IDLE`] it
//! sleeps until one is, so it costs nothing then. (The other thread of the file store, which
//! wakes waiting threads on other processes' releases, is the wake listener of
//! [`wake`](super::wake).)

use std::fs::{File, FileTimes};
use std::sync::OnceLock;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::SeqCst;
use std::thread::Thread;
use std::time::{Duration, Instant, SystemTime};

use super::renew::warn;
use super::{Files, PortLocks, existing_locks, sys};

/// How often a holder looks at its lock files: well inside [`GRACE`](super::timing::GRACE).
pub(super) const TICK: Duration = Duration::from_millis(20);
/// How often a holder sets its lock files' times to now.
pub(super) const TOUCH: Duration = Duration::from_millis(250);

/// How long the keeper goes on with its round (and the directory lock) after the last port is
/// released, so that a process allocating and releasing in turn does not wake it each time.
const IDLE: Duration = Duration::from_secs(1);

/// Whether the keeper was started (once per process).
static STARTED: OnceLock<()> = OnceLock::new();
/// The keeper's handle, set by the keeper itself before it first sleeps.
static KEEPER: OnceLock<Thread> = OnceLock::new();

/// Whether a failed renewal has been reported (once per process).
static FAILED: AtomicBool = AtomicBool::new(false);

/// Set while the keeper sleeps until a port is held: only then must a claim wake it.
static SLEEPING: AtomicBool = AtomicBool::new(false);

/// Tells the keeper that this process holds a port now, starting it on first use.
pub(super) fn nudge() {
    let Some(locks) = existing_locks() else {
        return;
    };
    STARTED.get_or_init(|| {
        if let Err(e) = crate::background::spawn("allocport-keep", move || run(locks)) {
            crate::warn::write_line(&format!(
                "{}cannot start the thread that keeps the lock files ({e}); a deleted lock \
                 file is noticed only at this process's next claim",
                crate::warn::PREFIX
            ));
            log::warn!("allocport: cannot start the lock file keeper: {e}");
        }
    });
    // The keeper sets its handle before it first sleeps, so a sleeping one has one.
    if SLEEPING.swap(false, SeqCst) {
        if let Some(thread) = KEEPER.get() {
            thread.unpark();
        }
    }
}

/// The directory, open and share-locked, while this process holds ports.
struct DirGuard {
    file: File,
    id: Option<(u64, u64)>,
}

fn run(locks: &'static PortLocks) {
    // The claim that started this thread found its file current: the first round can wait a
    // tick, and a test process that lives a few milliseconds exits before it comes, having
    // paid for no more than the thread's start (its handle, for one, is allocated after).
    std::thread::sleep(TICK);
    KEEPER.get_or_init(std::thread::current);
    let mut guard: Option<DirGuard> = None;
    let mut touched = Instant::now();
    let mut idle_since: Option<Instant> = None;
    loop {
        if locks.locked.load(SeqCst) == 0 {
            // Idle for a while yet, the round goes on: it also keeps the look at lately used
            // files fresh, so that claims in them need not look (see `SEEN_LASTS`).
            if idle_since.get_or_insert_with(Instant::now).elapsed() >= IDLE {
                guard = None;
                // Paired with `nudge`: either this sees the new count, or `nudge` sees the flag.
                SLEEPING.store(true, SeqCst);
                if locks.locked.load(SeqCst) == 0 {
                    std::thread::park();
                }
                SLEEPING.store(false, SeqCst);
                continue;
            }
        } else {
            idle_since = None;
        }
        if let Err(e) = locks.refresh(Files::InUse) {
            if !FAILED.swap(true, SeqCst) {
                warn(&format!(
                    "{e}; the locks of this process's ports in that file could not be taken \
                     again, so other processes may be handed them"
                ));
            }
        }
        keep_guard(locks, &mut guard);
        locks.read_notes();
        if touched.elapsed() >= TOUCH {
            touched = Instant::now();
            locks.touch_held();
            if let Some(guard) = &guard {
                let now = SystemTime::now();
                let _ = guard
                    .file
                    .set_times(FileTimes::new().set_accessed(now).set_modified(now));
            }
        }
        std::thread::park_timeout(TICK);
    }
}

/// Holds a shared `flock` on the directory now at the lock directory's path.
fn keep_guard(locks: &PortLocks, guard: &mut Option<DirGuard>) {
    let now = std::fs::symlink_metadata(locks.dir())
        .ok()
        .and_then(|meta| sys::file_id(&meta));
    if guard
        .as_ref()
        .is_some_and(|g| g.id.is_some() && g.id == now)
    {
        return;
    }
    *guard = sys::share_lock_dir(locks.dir()).map(|(file, id)| DirGuard { file, id });
}
