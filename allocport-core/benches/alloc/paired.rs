//! Ratios measured side by side. Criterion times one benchmark after another, so a burst of
//! load from elsewhere on a shared machine can slow one side of a ratio and not the other;
//! here blocks of the two operations alternate, and the ratio is the median of the rounds'.

use std::time::{Duration, Instant};

use crate::record::median_f64;

/// Two operations timed in alternating blocks.
pub(crate) struct Paired {
    pub(crate) label: &'static str,
    /// Median time per operation of each side.
    pub(crate) a: Duration,
    pub(crate) b: Duration,
    /// Median over the rounds of a's time over b's in that round.
    pub(crate) ratio: f64,
}

pub(crate) fn measure(
    label: &'static str,
    rounds: usize,
    block: u32,
    mut a: impl FnMut(),
    mut b: impl FnMut(),
) -> Paired {
    let time = |op: &mut dyn FnMut()| {
        let start = Instant::now();
        for _ in 0..block {
            op();
        }
        start.elapsed().as_secs_f64() / f64::from(block)
    };
    let (mut ta, mut tb, mut ratios) = (vec![], vec![], vec![]);
    for round in 0..rounds {
        // Alternate which side goes first, so neither always follows the other.
        let (x, y) = if round % 2 == 0 {
            let x = time(&mut a);
            (x, time(&mut b))
        } else {
            let y = time(&mut b);
            (time(&mut a), y)
        };
        ta.push(x);
        tb.push(y);
        ratios.push(x / y);
    }
    let secs = |v: Vec<f64>| Duration::from_secs_f64(median_f64(v).unwrap_or(0.0));
    Paired {
        label,
        a: secs(ta),
        b: secs(tb),
        ratio: median_f64(ratios).unwrap_or(f64::NAN),
    }
}
