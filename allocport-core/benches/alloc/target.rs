//! A target as data: its name, the figure it reads, the bound and how the figure must compare
//! with it. The run's targets (`verdicts.rs`) and issue 20's per store (`store_targets.rs`)
//! are const tables of these.

use std::time::Duration;

/// Nanoseconds per microsecond and per millisecond, for bounds on durations (read in ns).
pub(crate) const US: f64 = 1e3;
pub(crate) const MS: f64 = 1e6;

/// How a figure must compare with its bound.
#[derive(Clone, Copy)]
pub(crate) enum Compare {
    AtMost,
    Below,
    // Issue 20's thread target, measured on Linux only.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    Exactly,
}

/// What a target read from the measurements: a value (or a ratio `value / per`, compared as
/// `value` against `bound * per`), any further condition the target sets, and the figure shown.
pub(crate) struct Reading {
    value: f64,
    per: f64,
    also: bool,
    figure: String,
}

impl Reading {
    pub(crate) fn value(value: f64, figure: String) -> Self {
        Reading {
            value,
            per: 1.0,
            also: true,
            figure,
        }
    }

    /// A duration, compared in nanoseconds.
    pub(crate) fn duration(d: Duration, figure: String) -> Self {
        Reading::value(d.as_nanos() as f64, figure)
    }

    /// `a / b`, compared as `a` against `bound * b`.
    pub(crate) fn ratio(a: f64, b: f64, figure: String) -> Self {
        Reading {
            value: a,
            per: b,
            also: true,
            figure,
        }
    }

    /// A condition the target sets besides its bound (e.g. "none waited").
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) fn and(mut self, condition: bool) -> Self {
        self.also &= condition;
        self
    }
}

/// A named target on the measurements `T`.
pub(crate) struct Target<T> {
    pub(crate) name: &'static str,
    pub(crate) reads: fn(&T) -> Option<Reading>,
    pub(crate) bound: f64,
    pub(crate) compare: Compare,
}

impl<T> Target<T> {
    /// Whether `of` meets the target, and the figure; `None` if it was not measured.
    pub(crate) fn judge(&self, of: &T) -> Option<(bool, String)> {
        let r = (self.reads)(of)?;
        let limit = self.bound * r.per;
        let within = match self.compare {
            Compare::AtMost => r.value <= limit,
            Compare::Below => r.value < limit,
            Compare::Exactly => r.value == limit,
        };
        Some((within && r.also, r.figure))
    }
}

pub(crate) fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "MET",
        Some(false) => "MISSED",
        None => "not measured",
    }
}
