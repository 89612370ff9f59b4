//! Issue 20's targets, measured on the kernel store and on the file store in the same run
//! (`stores.rs`), printed side by side with a verdict per store: the targets are the kernel
//! store's; the file store's verdicts show where it stands against the same bar.

use std::time::Duration;

use crate::fresh::{DebugFirst, FreshMachine, Suite};
use crate::procs::FirstAlloc;
use crate::record::fmt_duration;
use crate::stores::{self, HeldByOthers, Status, Steady, Store};

/// Everything measured on one store.
pub(crate) struct StoreFigures {
    pub(crate) store: Store,
    pub(crate) fresh: Option<FreshMachine>,
    pub(crate) debug_first: Option<DebugFirst>,
    pub(crate) first: Option<FirstAlloc>,
    pub(crate) steady: Option<Steady>,
    pub(crate) held: Option<HeldByOthers>,
    pub(crate) status: Option<Status>,
}

/// How many of each measurement: the full run's, or a test pass's.
pub(crate) struct Sizes {
    pub(crate) fresh: usize,
    pub(crate) debug_runs: usize,
    pub(crate) first_runs: usize,
    pub(crate) held_rounds: usize,
    pub(crate) held_pairs: u64,
}

/// Measures every store, each failure named in `failures`. The fresh-process parts take
/// turns between the stores (a change in the machine's load hits both alike); the others run
/// one store after the other, each paired or alternating inside.
pub(crate) fn measure(sizes: &Sizes, failures: &mut Vec<String>) -> Vec<StoreFigures> {
    let mut out: Vec<StoreFigures> = Store::ALL
        .iter()
        .map(|&store| StoreFigures {
            store,
            fresh: None,
            debug_first: None,
            first: None,
            steady: None,
            held: None,
            status: None,
        })
        .collect();
    // Each store's used place, "main", where all but the fresh batch and the holders run.
    let main: Vec<_> = Store::ALL.iter().map(|s| s.envs("main")).collect();
    eprintln!(
        "stores: {} fresh debug-built processes against {} on a used store...",
        sizes.fresh, sizes.fresh
    );
    let fresh_and_debug = crate::fresh::first_alloc_probe().and_then(|exe| {
        let places: Vec<_> = Store::ALL
            .iter()
            .map(|s| s.envs("fresh"))
            .zip(main.clone())
            .collect();
        let fresh = crate::fresh::fresh_machine(&exe, sizes.fresh, &places)?;
        eprintln!(
            "stores: debug-built first allocation ({} runs)...",
            sizes.debug_runs
        );
        let debug = crate::fresh::debug_first(&exe, sizes.debug_runs, &main)?;
        Ok((fresh, debug))
    });
    match fresh_and_debug {
        Ok((fresh, debug)) => {
            for ((o, f), d) in out.iter_mut().zip(fresh).zip(debug) {
                o.fresh = Some(f);
                o.debug_first = Some(d);
            }
        }
        Err(e) => failures.push(format!("fresh debug-built processes: {e}")),
    }
    eprintln!(
        "stores: first allocation, optimised ({} runs)...",
        sizes.first_runs
    );
    match crate::procs::first_allocation(sizes.first_runs, &main) {
        Ok(firsts) => {
            for (o, f) in out.iter_mut().zip(firsts) {
                o.first = Some(f);
            }
        }
        Err(e) => failures.push(format!("first allocation: {e}")),
    }
    for o in &mut out {
        per_store(o, sizes, failures);
    }
    out
}

/// The parts measured one store at a time.
fn per_store(out: &mut StoreFigures, sizes: &Sizes, failures: &mut Vec<String>) {
    let store = out.store;
    let name = store.label();
    let mut keep = |what: &str, r: Result<(), String>| {
        if let Err(e) = r {
            failures.push(format!("{name}: {what}: {e}"));
        }
    };
    eprintln!("{name}: steady state against its floor and portpicker...");
    keep(
        "steady state",
        stores::steady_of(store, "main").map(|s| out.steady = Some(s)),
    );
    eprintln!("{name}: one more allocation with 1 and 4,000 held by others...");
    keep(
        "held by others",
        stores::held_by_others(store, "held", sizes.held_rounds, sizes.held_pairs)
            .map(|h| out.held = Some(h)),
    );
    eprintln!("{name}: naming 1,000 holders...");
    keep(
        "status",
        stores::status_with_held(store, "status").map(|s| out.status = Some(s)),
    );
}

/// The suite's ways: port 0 (the baseline), allocport on each store, the bare floor of each.
pub(crate) fn suite_sides() -> Vec<crate::fresh::Side> {
    let mut sides = vec![crate::fresh::Side {
        label: "port 0".to_owned(),
        module: "port0",
        envs: vec![],
    }];
    for store in Store::ALL {
        sides.push(crate::fresh::Side {
            label: format!("allocport, {}", store.label()),
            module: "allocport",
            // Where the other measurements ran: the file store's lock files are marked by
            // then, as on a machine in use (the fresh machine has a row of its own).
            envs: store.envs("main"),
        });
    }
    for store in Store::ALL {
        sides.push(crate::fresh::Side {
            label: format!("bare floor, {}", store.label()),
            module: "bare",
            envs: store.envs("main"),
        });
    }
    sides
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "MET",
        Some(false) => "MISSED",
        None => "not measured",
    }
}

/// One cell: the verdict (a full run's only) and the figure, or "not measured".
fn cell(measured: Option<(bool, String)>, full: bool) -> String {
    match measured {
        Some((met, figure)) if full => format!("{} ({figure})", verdict(Some(met))),
        Some((_, figure)) => format!("test pass, not judged ({figure})"),
        None => "not measured".to_owned(),
    }
}

/// The table: a row per target, a column per store.
pub(crate) fn print(figures: &[StoreFigures], suite: Option<&Suite>, full: bool) {
    println!("| issue 20 target | {} |", labels(figures));
    println!("|---|{}", "---|".repeat(figures.len()));
    type Judge = fn(&StoreFigures, Option<&Suite>) -> Option<(bool, String)>;
    let rows: [(&str, Judge); 9] = [
        (
            "fresh machine: 100 fresh debug processes within 1.05x of 100 on a used store; none waits",
            |f, _| {
                let m = f.fresh.as_ref()?;
                let r = m.fresh.as_secs_f64() / m.after.as_secs_f64();
                Some((
                    r <= 1.05 && m.fresh_waited == 0,
                    format!(
                        "{r:.3}x: {} / {} on a used store; waited: {} of {} fresh, {} of the used",
                        fmt_duration(m.fresh),
                        fmt_duration(m.after),
                        m.fresh_waited,
                        m.n,
                        m.after_waited
                    ),
                ))
            },
        ),
        (
            "first allocation of a fresh debug process at most 150 µs",
            |f, _| {
                let d = f.debug_first.as_ref()?;
                Some((
                    d.first <= Duration::from_micros(150),
                    format!(
                        "{}, median of {}; its 2 bind checks {}",
                        fmt_duration(d.first),
                        d.runs,
                        fmt_duration(d.checks)
                    ),
                ))
            },
        ),
        (
            "optimised: first allocation within 30 µs of its bind checks",
            |f, _| {
                let d = f.first.as_ref()?;
                let over = d.first_inside.saturating_sub(d.checks_inside);
                Some((
                    over <= Duration::from_micros(30),
                    format!(
                        "+{} ({} - {}); bare floor +{}",
                        fmt_duration(over),
                        fmt_duration(d.first_inside),
                        fmt_duration(d.checks_inside),
                        fmt_duration(d.bare_inside.saturating_sub(d.bare_checks_inside))
                    ),
                ))
            },
        ),
        (
            "one thread in a single-threaded process holding a port it did not wait for",
            |f, _| {
                let d = f.debug_first.as_ref()?;
                let o = f.first.as_ref()?;
                let most = d.threads.max(o.threads);
                Some((
                    most == 1,
                    format!(
                        "at most {most} (debug {}, optimised {})",
                        d.threads, o.threads
                    ),
                ))
            },
        ),
        (
            "200-test debug suite (2 ports each, bound) within 1.03x of port 0",
            |f, s| {
                let s = s?;
                let side = |what: &str| {
                    s.sides
                        .iter()
                        .find(|x| x.label == format!("{what}, {}", f.store.label()))
                };
                let mine = side("allocport")?;
                let bare = side("bare floor").map_or(f64::NAN, |b| b.ratio);
                let passes: Vec<String> =
                    mine.pass_ratios.iter().map(|r| format!("{r:.3}")).collect();
                Some((
                    mine.ratio <= 1.03,
                    format!(
                        "{:.3}x, median of passes {}; bare floor {bare:.3}x",
                        mine.ratio,
                        passes.join(", ")
                    ),
                ))
            },
        ),
        (
            "steady state within 1.15x of its floor (2 bind checks + the store's claim and release; paired)",
            |f, _| {
                let s = f.steady.as_ref()?;
                Some((
                    s.floor_ratio <= 1.15,
                    format!(
                        "{:.2}x: {} / {}",
                        s.floor_ratio,
                        fmt_duration(s.new),
                        fmt_duration(s.floor)
                    ),
                ))
            },
        ),
        (
            "default allocation faster than portpicker (paired)",
            |f, _| {
                let s = f.steady.as_ref()?;
                Some((
                    s.portpicker_ratio < 1.0,
                    format!(
                        "{:.2}x of {}",
                        s.portpicker_ratio,
                        fmt_duration(s.portpicker)
                    ),
                ))
            },
        ),
        (
            "4,000 ports held by other processes: one more allocation within 1.1x of one held",
            |f, _| {
                let h = f.held.as_ref()?;
                let r = h.many.as_secs_f64() / h.one.as_secs_f64();
                Some((
                    r <= 1.1,
                    format!(
                        "{r:.2}x: {} with {} held / {}, medians of {} rounds",
                        fmt_duration(h.many),
                        h.many_count,
                        fmt_duration(h.one),
                        h.rounds
                    ),
                ))
            },
        ),
        (
            "status names every holder with pid and command in under 50 ms (1,000 held)",
            |f, _| {
                let s = f.status.as_ref()?;
                Some((
                    s.median < Duration::from_millis(50)
                        && s.named == s.holders
                        && s.holders >= 1000,
                    format!(
                        "{}; {} of {} holders named",
                        fmt_duration(s.median),
                        s.named,
                        s.holders
                    ),
                ))
            },
        ),
    ];
    for (target, judge) in rows {
        let cells: Vec<String> = figures
            .iter()
            .map(|f| cell(judge(f, suite), full))
            .collect();
        println!("| {target} | {} |", cells.join(" | "));
    }
    println!();
    if let Some(s) = suite {
        println!(
            "Suite: {} debug-built tests per way, one process each, {} at a time; total wall time of the median pass per way: {}.",
            s.tests,
            s.jobs,
            s.sides
                .iter()
                .map(|x| format!("{} {}", x.label, fmt_duration(x.total)))
                .collect::<Vec<_>>()
                .join("; ")
        );
        println!();
    }
}

fn labels(figures: &[StoreFigures]) -> String {
    figures
        .iter()
        .map(|f| f.store.label())
        .collect::<Vec<_>>()
        .join(" | ")
}
