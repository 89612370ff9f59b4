//! Runs under Wine: where Wine differs from Windows in a way a test cannot bridge, the test
//! (or one assertion) is skipped there, saying why in the log.

use std::io::Write;

/// Whether the tests run under Wine (its runner, `.ci/wine/runner`, sets
/// `ALLOCPORT_UNDER_WINE`).
pub fn under_wine() -> bool {
    std::env::var_os("ALLOCPORT_UNDER_WINE").is_some()
}

/// Under Wine, prints `skipped under Wine: WHAT: WHY` and returns true: the caller skips
/// `what`. Elsewhere returns false and prints nothing. The line goes straight to standard
/// error, past the test harness's capture, so the log of a passing run shows it too.
pub fn skip_under_wine(what: &str, why: &str) -> bool {
    let skip = under_wine();
    if skip {
        let _ = writeln!(std::io::stderr(), "skipped under Wine: {what}: {why}");
    }
    skip
}
