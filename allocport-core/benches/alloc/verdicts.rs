//! The run's targets, as a const table ([`TARGETS`]), and their verdicts: judged only on a
//! full run (`cargo bench`), never on a test pass.

use crate::measured::Measured;
use crate::record::{fmt_duration, fmt_or_not_run as show, fmt_ratio as ratio};
use crate::shared::HOLDERS;
use crate::table::Table;
use crate::target::{Compare, MS, Reading, Target, US, verdict};

/// The holders target's name says 4000: the last of the holders measured.
const _: () = assert!(HOLDERS[HOLDERS.len() - 1] == 4000);

/// The run's targets, in the order printed.
const TARGETS: [Target<Measured>; 9] = [
    // The ratio targets are judged on the paired measurement, which a burst of load elsewhere
    // cannot skew; criterion's ratio of separate runs is shown beside it.
    Target {
        name: "localhost-only allocation within 1.5x of one bind check",
        reads: localhost_vs_bind,
        bound: 1.5,
        compare: Compare::AtMost,
    },
    Target {
        name: "default allocation faster than portpicker",
        reads: default_vs_portpicker,
        bound: 1.0,
        compare: Compare::AtMost,
    },
    Target {
        name: "pool initialisation under 1 ms",
        reads: one_time_cost,
        bound: MS,
        compare: Compare::Below,
    },
    Target {
        name: "flat cost as the pool grows 100 to 60,000 (within 1.25x)",
        reads: largest_pool_vs_smallest,
        bound: 1.25,
        compare: Compare::AtMost,
    },
    Target {
        name: "release at most 20 µs (a fresh process's first)",
        reads: first_release,
        bound: 20.0 * US,
        compare: Compare::AtMost,
    },
    Target {
        name: "pool start-up O(1): first allocation flat from 100 to 59,983 ports (within 1.25x)",
        reads: startup_large_vs_small,
        bound: 1.25,
        compare: Compare::AtMost,
    },
    Target {
        name: "cross-process wake-up within 5 ms (median)",
        reads: wakeup_median,
        bound: 5.0 * MS,
        compare: Compare::AtMost,
    },
    Target {
        name: "64 waiting threads use under 1% of a core",
        reads: waiting_cpu,
        bound: 0.01,
        compare: Compare::Below,
    },
    Target {
        name: "flat cost as holders grow 1 to 4000 (within 1.25x)",
        reads: most_holders_vs_one,
        bound: 1.25,
        compare: Compare::AtMost,
    },
];

fn localhost_vs_bind(m: &Measured) -> Option<Reading> {
    let r = m.pairs.localhost_v4.ratio;
    let apart = ratio(
        m.median("alloc/localhost_v4"),
        m.median("floor/bind_localhost_v4"),
    );
    Some(Reading::value(
        r,
        format!("paired {r:.2}x; separate runs {apart}"),
    ))
}

fn default_vs_portpicker(m: &Measured) -> Option<Reading> {
    let r = m.pairs.portpicker.ratio;
    let apart = ratio(m.median("alloc/default_v4"), m.median("peer/portpicker"));
    Some(Reading::value(
        r,
        format!("paired {r:.2}x; separate runs {apart}"),
    ))
}

fn one_time_cost(m: &Measured) -> Option<Reading> {
    let f = m.procs.first.as_ref()?;
    let one_time = f.first_inside.saturating_sub(f.second_inside);
    let figure = format!(
        "one-time cost in a fresh process {}; `server_tcp_ports()` {}",
        fmt_duration(one_time),
        show(m.median("init/server_tcp_ports"))
    );
    Some(Reading::duration(one_time, figure))
}

/// The dearest pool against the smallest: every pool within the bound of the smallest.
fn largest_pool_vs_smallest(m: &Measured) -> Option<Reading> {
    let smallest = m.procs.sizes.first()?.per_op;
    let dearest = m.procs.sizes.iter().map(|s| s.per_op).max()?;
    let r = Reading::ratio(dearest.as_secs_f64(), smallest.as_secs_f64(), String::new());
    Some(r)
}

fn first_release(m: &Measured) -> Option<Reading> {
    let d = m.procs.first.as_ref()?.release_inside;
    Some(Reading::duration(d, fmt_duration(d)))
}

fn startup_large_vs_small(m: &Measured) -> Option<Reading> {
    let s = m.procs.startup.as_ref()?;
    let (l, s) = (s.large.1.as_secs_f64(), s.small.1.as_secs_f64());
    Some(Reading::ratio(l, s, format!("{:.2}x", l / s)))
}

fn wakeup_median(m: &Measured) -> Option<Reading> {
    let d = m.procs.wakeups.as_ref()?.median;
    Some(Reading::duration(d, fmt_duration(d)))
}

fn waiting_cpu(m: &Measured) -> Option<Reading> {
    let c = m.procs.waiting_cpu?;
    Some(Reading::value(c, format!("{:.2}%", c * 100.0)))
}

fn most_holders_vs_one(m: &Measured) -> Option<Reading> {
    let last = HOLDERS[HOLDERS.len() - 1];
    let (most, one) = (
        m.median(&format!("holders/{last}"))?,
        m.median("holders/1")?,
    );
    let figure = ratio(Some(most), Some(one));
    Some(Reading::ratio(
        most.as_secs_f64(),
        one.as_secs_f64(),
        figure,
    ))
}

/// The verdicts' table; on a test pass, a line that says they were not judged.
pub(crate) fn print(m: &Measured) {
    if !m.full {
        println!("Targets are judged only under `cargo bench` (this was a test-mode pass).");
        return;
    }
    let mut t = Table::new(&["target", "result"]);
    for target in &TARGETS {
        let result = match target.judge(m) {
            Some((met, figure)) if figure.is_empty() => verdict(Some(met)).to_owned(),
            Some((met, figure)) => format!("{} ({figure})", verdict(Some(met))),
            None => verdict(None).to_owned(),
        };
        t.row([target.name.to_owned(), result]);
    }
    t.print();
}
