//! The environment variables this crate reads, and the one way it reads them.
//!
//! Every reader takes an [`Env`] instead of calling `std::env` itself, so unit tests hand it
//! a fake environment: setting real variables would race with every other test thread.

use std::ffi::OsString;

/// Comma-separated ports and ranges for the pool.
pub(crate) const PYSYS_PORTS: &str = "PYSYS_PORTS";
/// A file of `PYSYS_PORTS` specifications, one a line.
pub(crate) const PYSYS_PORTS_FILE: &str = "PYSYS_PORTS_FILE";
/// Seconds an allocation waits when every port is held.
pub(crate) const ALLOCPORT_TIMEOUT_SECS: &str = "ALLOCPORT_TIMEOUT_SECS";
/// The directory of the cross-process lock files.
pub(crate) const ALLOCPORT_LOCK_DIR: &str = "ALLOCPORT_LOCK_DIR";
/// The store of the claims between processes: `kernel` (Linux) or `files`.
pub(crate) const ALLOCPORT_STORE: &str = "ALLOCPORT_STORE";
/// A tag that gives the kernel store names of its own, apart from everyone else's.
pub(crate) const ALLOCPORT_NAMESPACE: &str = "ALLOCPORT_NAMESPACE";
/// Set (and not `0`) to print the allocation statistics at exit.
pub(crate) const ALLOCPORT_STATS: &str = "ALLOCPORT_STATS";
/// The variables a user sets, each with a one-line meaning: the one list from which the
/// command's `--help` is built, and which the longer tables of the crate docs and the
/// configuration page must match (the workspace's `tests/tests/env_table.rs` checks them).
/// cargo-nextest's variables are read too, but are not the user's to set.
///
/// ```
/// let names: Vec<&str> = allocport_core::ENVIRONMENT.iter().map(|(name, _)| *name).collect();
/// assert!(names.contains(&"PYSYS_PORTS"));
/// ```
#[doc(hidden)]
pub const ENVIRONMENT: &[(&str, &str)] = &[
    (
        PYSYS_PORTS,
        "server ports and ranges, e.g. \"2000-2100, 3000\"",
    ),
    (
        PYSYS_PORTS_FILE,
        "a file of such specifications, one a line",
    ),
    (
        ALLOCPORT_TIMEOUT_SECS,
        "how long to wait when every port is held (default 300)",
    ),
    (
        ALLOCPORT_STORE,
        "where claims are kept: kernel (Linux's default) or files",
    ),
    (
        ALLOCPORT_NAMESPACE,
        "a tag that gives the kernel store names of its own",
    ),
    (
        ALLOCPORT_LOCK_DIR,
        "the file store's private directory (setting it chooses files)",
    ),
    (
        ALLOCPORT_STATS,
        "set (and not 0) to print the allocation statistics at exit",
    ),
];

/// cargo-nextest's number for the running test, unique among those running now.
pub(crate) const NEXTEST_TEST_GLOBAL_SLOT: &str = "NEXTEST_TEST_GLOBAL_SLOT";
/// cargo-nextest's id of the whole run (a UUID), the same in every test process of one run.
pub(crate) const NEXTEST_RUN_ID: &str = "NEXTEST_RUN_ID";

/// Reads one variable by name: [`process`] in the crate, a map in unit tests.
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<OsString>;

/// The process's real environment.
pub(crate) fn process(name: &str) -> Option<OsString> {
    std::env::var_os(name)
}

/// The variable's value, treating empty as unset (as PySys does).
pub(crate) fn non_empty(env: Env<'_>, name: &str) -> Option<OsString> {
    env(name).filter(|value| !value.is_empty())
}

/// Whether a yes/no variable is on: set, not empty and not `0`.
pub(crate) fn flag(env: Env<'_>, name: &str) -> bool {
    non_empty(env, name).is_some_and(|value| value != "0")
}

/// A fake environment holding `vars`, for unit tests.
#[cfg(test)]
pub(crate) fn fake(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> + use<> {
    let vars: Vec<(String, OsString)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), OsString::from(v)))
        .collect();
    move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_counts_as_unset() {
        let env = fake(&[(PYSYS_PORTS, ""), (PYSYS_PORTS_FILE, "f")]);
        assert_eq!(non_empty(&env, PYSYS_PORTS), None);
        assert_eq!(non_empty(&env, PYSYS_PORTS_FILE), Some("f".into()));
        assert_eq!(non_empty(&env, ALLOCPORT_STATS), None);
    }

    #[test]
    fn a_flag_is_on_unless_unset_empty_or_zero() {
        for (value, on) in [("1", true), ("yes", true), ("0", false), ("", false)] {
            let env = fake(&[(ALLOCPORT_STATS, value)]);
            assert_eq!(flag(&env, ALLOCPORT_STATS), on, "{value:?}");
        }
        assert!(!flag(&fake(&[]), ALLOCPORT_STATS));
    }
}
