//! Warnings the user must see without setting up a logger: each distinct warning goes once per
//! process to standard error, prefixed `allocport: warning:`, and through the `log` facade.
//!
//! Standard error is written with `eprintln!` on the application's threads, so libtest
//! captures it per test and shows it when that test fails (or always with `--nocapture`), as
//! it does a test's own output. On the crate's own threads, which no test captures, it is
//! written directly and a failure ignored: `eprintln!` panics when standard error is a closed
//! pipe, and a panic there would end the lock-file watcher (see [`write_line`]).

use std::cell::Cell;
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

/// The warnings this process has given, sorted: a binary search finds one as a set would,
/// without a `HashSet<String>`'s code in every user's build.
static GIVEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Whether this process has not warned `message` before; remembers it.
fn first_time(message: &str) -> bool {
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let Err(at) = search(&given, message) else {
        return false;
    };
    given.insert(at, message.to_owned());
    true
}

/// Whether this process has given `message` as a warning, for unit tests of the callers.
#[cfg(test)]
pub(crate) fn given(message: &str) -> bool {
    let given = GIVEN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    search(&given, message).is_ok()
}

/// Where `message` is in the sorted `given`, or where it would go.
fn search(given: &[String], message: &str) -> Result<usize, usize> {
    given.binary_search_by(|m| m.as_str().cmp(message))
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

    #[test]
    fn messages_met_in_any_order_are_each_given_once() {
        let messages: Vec<String> = [7, 3, 9, 1, 5, 3, 8, 0, 7]
            .iter()
            .map(|n| format!("warn.rs unit test: number {n}"))
            .collect();
        let firsts: Vec<bool> = messages.iter().map(|m| first_time(m)).collect();
        assert_eq!(
            firsts,
            [true, true, true, true, true, false, true, true, false]
        );
        assert!(messages.iter().all(|m| given(m) && !first_time(m)));
    }
}
