//! Warnings the user must see without setting up a logger: each distinct warning goes once per
//! process to standard error, prefixed `allocport: warning:`, and through the `log` facade.
//!
//! Standard error is written with `eprintln!`, so libtest captures it per test and shows it
//! when that test fails (or always with `--nocapture`), as it does a test's own output.

use std::collections::HashSet;
use std::sync::Mutex;

/// The prefix of every warning line on standard error.
pub(crate) const PREFIX: &str = "allocport: warning: ";

/// Warns with `message`, unless this process has already given the same warning.
pub(crate) fn warn_once(message: &str) {
    if first_time(message) {
        log::warn!("{message}");
        eprintln!("{PREFIX}{message}");
    }
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
