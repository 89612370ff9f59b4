//! Keeps the samples criterion measures, so the run can end with one table of medians and
//! ratios (criterion prints each benchmark on its own, with no cross-benchmark ratios).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::Bencher;

/// Per benchmark, every `(iterations, elapsed)` call criterion made, warm-up included.
pub(crate) struct Recorder {
    calls: Mutex<BTreeMap<String, Vec<(u64, Duration)>>>,
    /// Criterion's measurement phase is exactly this many calls after the warm-up calls.
    sample_size: usize,
}

impl Recorder {
    pub(crate) fn new(sample_size: usize) -> Self {
        Recorder {
            calls: Mutex::new(BTreeMap::new()),
            sample_size,
        }
    }

    pub(crate) fn push(&self, name: &str, iters: u64, elapsed: Duration) {
        self.calls
            .lock()
            .unwrap()
            .entry(name.to_owned())
            .or_default()
            .push((iters, elapsed));
    }

    /// Times `op` the way criterion's `iter` would, and records the sample under `name`.
    pub(crate) fn iter(&self, b: &mut Bencher<'_>, name: &str, mut op: impl FnMut()) {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                op();
            }
            let elapsed = start.elapsed();
            self.push(name, iters, elapsed);
            elapsed
        });
    }

    /// The median time per iteration over the measured samples (the same statistic as
    /// criterion's "median"), or `None` if the benchmark did not run (filtered out).
    pub(crate) fn median(&self, name: &str) -> Option<Duration> {
        let calls = self.calls.lock().unwrap();
        let all = calls.get(name)?;
        let measured = &all[all.len().saturating_sub(self.sample_size)..];
        let per_iter: Vec<f64> = measured
            .iter()
            .filter(|(iters, _)| *iters > 0)
            .map(|(iters, elapsed)| elapsed.as_secs_f64() / *iters as f64)
            .collect();
        median_f64(per_iter).map(Duration::from_secs_f64)
    }
}

pub(crate) fn median_f64(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

pub(crate) fn median_duration(values: &[Duration]) -> Option<Duration> {
    median_f64(values.iter().map(Duration::as_secs_f64).collect()).map(Duration::from_secs_f64)
}

/// A duration in the unit that keeps three significant figures readable.
pub(crate) fn fmt_duration(d: Duration) -> String {
    let ns = d.as_secs_f64() * 1e9;
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{:.2} ms", ns / 1e6)
    }
}

/// A median, or "not run" for a benchmark that did not run (filtered out).
pub(crate) fn fmt_or_not_run(d: Option<Duration>) -> String {
    d.map_or_else(|| "not run".to_owned(), fmt_duration)
}

/// `a / b` as `1.23x`, or `-` where either is missing.
pub(crate) fn fmt_ratio(a: Option<Duration>, b: Option<Duration>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if !b.is_zero() => format!("{:.2}x", a.as_secs_f64() / b.as_secs_f64()),
        _ => "-".to_owned(),
    }
}
