//! Warnings the user must see without setting up a logger: each distinct warning goes once per
//! process to standard error, prefixed `allocport: warning:`, and through the `log` facade.
//!
//! Standard error is written with `eprintln!` on the application's threads, so libtest
//! captures it per test and shows it when that test fails (or always with `--nocapture`), as
//! it does a test's own output. On the crate's own threads, which no test captures, it is
//! written directly and a failure ignored: `eprintln!` panics when standard error is a closed
//! pipe, and a panic there would end the lock-file watcher (see [`write_line`]).

use std::cell::Cell;
use std::collections::HashSet;
use std::io::Write as _;
use std::sync::Mutex;

/// The prefix of every warning line on standard error.
pub(crate) const PREFIX: &str = "allocport: warning: ";

/// Warns with `message`, unless this process has already given the same warning.
pub(crate) fn warn_once(message: &str) {
    if first_time(message) {
        log::warn!("{message}");
        write_line(&format!("{PREFIX}{message}"));
    }
}

thread_local! {
    /// Set on the crate's own threads (see [`crate::background`]).
    static CRATE_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as one of the crate's own.
pub(crate) fn mark_crate_thread() {
    CRATE_THREAD.with(|own| own.set(true));
}

/// Writes `line` and a newline to standard error: through `eprintln!` on the application's
/// threads, where libtest captures it; on the crate's own threads in one write, whose failure
/// (a closed pipe, a full disk) loses the line but never panics.
pub(crate) fn write_line(line: &str) {
    if !CRATE_THREAD.with(Cell::get) {
        eprintln!("{line}");
        return;
    }
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    let _ = std::io::stderr().lock().write_all(&bytes);
}

/// The warnings this process has given.
static GIVEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// Whether this process has not warned `message` before; remembers it.
fn first_time(message: &str) -> bool {
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    given
        .get_or_insert_with(HashSet::new)
        .insert(message.to_owned())
}

/// Whether this process has given `message` as a warning, for unit tests of the callers.
#[cfg(test)]
pub(crate) fn given(message: &str) -> bool {
    let given = GIVEN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    given.as_ref().is_some_and(|set| set.contains(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_message_is_new_only_once() {
        let message = "warn.rs unit test: a message no other test gives";
        assert!(first_time(message));
        assert!(!first_time(message));
        assert!(first_time("warn.rs unit test: another one"));
    }
}
