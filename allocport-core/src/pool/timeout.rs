//! How long an allocation waits when every port is held.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::env::{self, ALLOCPORT_TIMEOUT_SECS, Env};
use crate::error::Error;

/// PySys's `WaitForAvailableTCPPort` default.
pub const DEFAULT_ALLOCATION_TIMEOUT: Duration = Duration::from_secs(300);

const UNSET: u64 = u64::MAX;
static TIMEOUT_MS: AtomicU64 = AtomicU64::new(if cfg!(test) { TESTS_WAIT_MS } else { UNSET });

/// How long this crate's own unit tests wait for a port: a change that breaks the pool must
/// fail them by this deadline, not hold them for the default's five minutes.
const TESTS_WAIT_MS: u64 = 5_000;

/// Sets how long an allocation waits for a port when every port of the pool is held, for the
/// whole process. Without a call it is `ALLOCPORT_TIMEOUT_SECS` (seconds, fractions allowed)
/// or else [`DEFAULT_ALLOCATION_TIMEOUT`], 300 s as in PySys.
///
/// It is kept in whole milliseconds, up to `u64::MAX - 1` of them (about 585 million years):
/// a longer one, such as `Duration::MAX`, is that. A timeout too long for the clock to add to
/// now (as `ALLOCPORT_TIMEOUT_SECS=1e19` can be) waits without end, never panics.
///
/// ```
/// use std::time::Duration;
/// allocport_core::set_allocation_timeout(Duration::from_secs(30));
/// assert_eq!(allocport_core::allocation_timeout().unwrap(), Duration::from_secs(30));
/// ```
pub fn set_allocation_timeout(timeout: Duration) {
    let ms = u64::try_from(timeout.as_millis())
        .unwrap_or(UNSET - 1)
        .min(UNSET - 1);
    TIMEOUT_MS.store(ms, Ordering::Relaxed);
}

/// The allocation timeout in force: see [`set_allocation_timeout`]. A malformed
/// `ALLOCPORT_TIMEOUT_SECS` is an error naming the variable and its value.
pub fn allocation_timeout() -> Result<Duration, Error> {
    match TIMEOUT_MS.load(Ordering::Relaxed) {
        UNSET => env_timeout(),
        ms => Ok(Duration::from_millis(ms)),
    }
}

/// The environment's default, read once: it is consulted on every allocation.
fn env_timeout() -> Result<Duration, Error> {
    static FROM_ENV: OnceLock<Result<Duration, (String, String)>> = OnceLock::new();
    FROM_ENV
        .get_or_init(|| timeout_from(&env::process))
        .clone()
        .map_err(|(value, reason)| Error::InvalidEnv {
            var: ALLOCPORT_TIMEOUT_SECS,
            value,
            reason,
        })
}

/// The timeout `env` sets, or the offending value and what is wrong with it. Empty counts as
/// unset, as it does for `PYSYS_PORTS`.
fn timeout_from(env: Env<'_>) -> Result<Duration, (String, String)> {
    match env::non_empty(env, ALLOCPORT_TIMEOUT_SECS) {
        None => Ok(DEFAULT_ALLOCATION_TIMEOUT),
        Some(raw) => {
            let text = raw.to_string_lossy().into_owned();
            parse_secs(&text).map_err(|reason| (text, reason))
        }
    }
}

fn parse_secs(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| "is not a number of seconds".to_owned())?;
    if secs.is_nan() {
        return Err("is not a number of seconds".to_owned());
    }
    if secs < 0.0 {
        return Err("is negative: give the seconds to wait, 0 or more".to_owned());
    }
    Duration::try_from_secs_f64(secs)
        .map_err(|_| format!("is too large: the longest timeout is {} seconds", u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_parse_with_fractions() {
        assert_eq!(parse_secs(" 2.5 ").unwrap(), Duration::from_millis(2500));
        assert_eq!(parse_secs("0").unwrap(), Duration::ZERO);
    }

    #[test]
    fn the_variable_sets_the_timeout_and_a_bad_value_is_named() {
        let env = env::fake(&[(ALLOCPORT_TIMEOUT_SECS, "1.5")]);
        assert_eq!(timeout_from(&env), Ok(Duration::from_millis(1500)));
        assert_eq!(
            timeout_from(&env::fake(&[])),
            Ok(DEFAULT_ALLOCATION_TIMEOUT)
        );
        let bad = env::fake(&[(ALLOCPORT_TIMEOUT_SECS, "soon")]);
        assert_eq!(timeout_from(&bad).unwrap_err().0, "soon");
    }

    #[test]
    fn empty_means_the_default() {
        let env = env::fake(&[(ALLOCPORT_TIMEOUT_SECS, "")]);
        assert_eq!(timeout_from(&env), Ok(DEFAULT_ALLOCATION_TIMEOUT));
    }

    #[test]
    fn each_bad_value_gets_its_own_reason() {
        for (bad, reason) in [
            (
                "1e30",
                "is too large: the longest timeout is 18446744073709551615 seconds",
            ),
            (
                "inf",
                "is too large: the longest timeout is 18446744073709551615 seconds",
            ),
            ("-1", "is negative: give the seconds to wait, 0 or more"),
            ("NaN", "is not a number of seconds"),
            ("soon", "is not a number of seconds"),
        ] {
            assert_eq!(parse_secs(bad).unwrap_err(), reason, "{bad:?}");
        }
        assert_eq!(
            parse_secs("1e9").unwrap(),
            Duration::from_secs(1_000_000_000)
        );
    }

    #[test]
    fn bad_seconds_are_errors() {
        for bad in ["", "abc", "-1", "inf", "NaN", "1e400"] {
            assert!(parse_secs(bad).is_err(), "{bad:?}");
        }
    }
}
