//! Issue 20's targets, measured on the kernel store and on the file store in the same run
//! (`stores.rs`), printed side by side with a verdict per store: the targets are the kernel
//! store's; the file store's verdicts show where it stands against the same bar. The targets
//! are the const table [`TARGETS`].

use crate::fresh::{self, DebugFirst, FreshMachine, Suite};
use crate::procs::FirstAlloc;
use crate::record::fmt_duration;
use crate::stores::{self, HeldByOthers, Status, Steady, Store};
use crate::table::Table;
use crate::target::{Compare, MS, Reading, Target, US, verdict};

/// Everything measured on one store.
pub(crate) struct StoreFigures {
    pub(crate) store: Store,
    pub(crate) fresh: Option<FreshMachine>,
    pub(crate) debug_first: Option<DebugFirst>,
    pub(crate) first: Option<FirstAlloc>,
    pub(crate) steady: Option<Steady>,
    pub(crate) held: Option<HeldByOthers>,
    pub(crate) status: Option<Status>,
    /// This store's ways in the whole suite (`fresh.rs`), once it has run.
    pub(crate) suite: Option<StoreSuite>,
}

/// The suite's figures for one store: allocport's way and the bare floor's, against port 0.
pub(crate) struct StoreSuite {
    pub(crate) ratio: f64,
    pub(crate) pass_ratios: Vec<f64>,
    pub(crate) bare_ratio: f64,
}

impl StoreSuite {
    /// `store`'s ways in `suite` (allocport's must be there; the bare floor's may not be).
    fn of(suite: &Suite, store: Store) -> Option<Self> {
        let side = |what: &str| {
            suite
                .sides
                .iter()
                .find(|x| x.label == format!("{what}, {}", store.label()))
        };
        let mine = side("allocport")?;
        Some(StoreSuite {
            ratio: mine.ratio,
            pass_ratios: mine.pass_ratios.clone(),
            bare_ratio: side("bare floor").map_or(f64::NAN, |b| b.ratio),
        })
    }
}

/// Gives each store its ways of the suite.
pub(crate) fn attach_suite(figures: &mut [StoreFigures], suite: Option<&Suite>) {
    for f in figures {
        f.suite = suite.and_then(|s| StoreSuite::of(s, f.store));
    }
}

/// How many of each measurement: the full run's, or a test pass's.
pub(crate) struct Sizes {
    pub(crate) fresh: usize,
    pub(crate) debug_runs: usize,
    pub(crate) first_runs: usize,
    pub(crate) held_rounds: usize,
    pub(crate) held_pairs: u64,
}

impl Sizes {
    /// The full run's (`full`), or a test pass's; `first_runs` fresh processes in either.
    pub(crate) fn of(full: bool, first_runs: usize) -> Self {
        if full {
            Sizes {
                fresh: 100,
                debug_runs: 41,
                first_runs,
                held_rounds: 3,
                held_pairs: 4_000,
            }
        } else {
            Sizes {
                fresh: 2,
                debug_runs: 2,
                first_runs,
                held_rounds: 1,
                held_pairs: 40,
            }
        }
    }
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
            suite: None,
        })
        .collect();
    // Each store's used place, "main", where all but the fresh batch and the holders run.
    let main: Vec<_> = Store::ALL.iter().map(|s| s.envs("main")).collect();
    eprintln!(
        "stores: {} fresh debug-built processes against {} on a used store...",
        sizes.fresh, sizes.fresh
    );
    let fresh_and_debug = fresh::first_alloc_probe().and_then(|exe| {
        let places: Vec<_> = Store::ALL
            .iter()
            .map(|s| s.envs("fresh"))
            .zip(main.clone())
            .collect();
        let fresh = fresh::fresh_machine(&exe, sizes.fresh, &places)?;
        eprintln!(
            "stores: debug-built first allocation ({} runs)...",
            sizes.debug_runs
        );
        let debug = fresh::debug_first(&exe, sizes.debug_runs, &main)?;
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
pub(crate) fn suite_sides() -> Vec<fresh::Side> {
    let mut sides = vec![fresh::Side {
        label: "port 0".to_owned(),
        module: "port0",
        envs: vec![],
    }];
    for store in Store::ALL {
        sides.push(fresh::Side {
            label: format!("allocport, {}", store.label()),
            module: "allocport",
            // Where the other measurements ran: the file store's lock files are marked by
            // then, as on a machine in use (the fresh machine has a row of its own).
            envs: store.envs("main"),
        });
    }
    for store in Store::ALL {
        sides.push(fresh::Side {
            label: format!("bare floor, {}", store.label()),
            module: "bare",
            envs: store.envs("main"),
        });
    }
    sides
}

/// Issue 20's targets, a row each in the table, judged on each store.
const TARGETS: [Target<StoreFigures>; 9] = [
    Target {
        name: "fresh machine: 100 fresh debug processes within 1.05x of 100 on a used store; none waits",
        reads: fresh_machine,
        bound: 1.05,
        compare: Compare::AtMost,
    },
    Target {
        name: "first allocation of a fresh debug process at most 150 µs",
        reads: debug_first,
        bound: 150.0 * US,
        compare: Compare::AtMost,
    },
    Target {
        name: "optimised: first allocation within 30 µs of its bind checks",
        reads: optimised_first,
        bound: 30.0 * US,
        compare: Compare::AtMost,
    },
    Target {
        name: "one thread in a single-threaded process holding a port it did not wait for",
        reads: threads,
        bound: 1.0,
        compare: Compare::Exactly,
    },
    Target {
        name: "200-test debug suite (2 ports each, bound) within 1.03x of port 0",
        reads: suite,
        bound: 1.03,
        compare: Compare::AtMost,
    },
    Target {
        name: "steady state within 1.15x of its floor (2 bind checks + the store's claim and release; paired)",
        reads: steady_floor,
        bound: 1.15,
        compare: Compare::AtMost,
    },
    Target {
        name: "default allocation faster than portpicker (paired)",
        reads: steady_portpicker,
        bound: 1.0,
        compare: Compare::Below,
    },
    Target {
        name: "4,000 ports held by other processes: one more allocation within 1.1x of one held",
        reads: held_by_others,
        bound: 1.1,
        compare: Compare::AtMost,
    },
    Target {
        name: "status names every holder with pid and command in under 50 ms (1,000 held)",
        reads: status,
        bound: 50.0 * MS,
        compare: Compare::Below,
    },
];

fn fresh_machine(f: &StoreFigures) -> Option<Reading> {
    let m = f.fresh.as_ref()?;
    let r = m.fresh.as_secs_f64() / m.after.as_secs_f64();
    let figure = format!(
        "{r:.3}x: {} / {} on a used store; waited: {} of {} fresh, {} of the used",
        fmt_duration(m.fresh),
        fmt_duration(m.after),
        m.fresh_waited,
        m.n,
        m.after_waited
    );
    Some(Reading::value(r, figure).and(m.fresh_waited == 0))
}

fn debug_first(f: &StoreFigures) -> Option<Reading> {
    let d = f.debug_first.as_ref()?;
    let figure = format!(
        "{}, median of {}; its 2 bind checks {}",
        fmt_duration(d.first),
        d.runs,
        fmt_duration(d.checks)
    );
    Some(Reading::duration(d.first, figure))
}

fn optimised_first(f: &StoreFigures) -> Option<Reading> {
    let d = f.first.as_ref()?;
    let over = d.first_inside.saturating_sub(d.checks_inside);
    let figure = format!(
        "+{} ({} - {}); bare floor +{}",
        fmt_duration(over),
        fmt_duration(d.first_inside),
        fmt_duration(d.checks_inside),
        fmt_duration(d.bare_inside.saturating_sub(d.bare_checks_inside))
    );
    Some(Reading::duration(over, figure))
}

fn threads(f: &StoreFigures) -> Option<Reading> {
    let d = f.debug_first.as_ref()?;
    let o = f.first.as_ref()?;
    let most = d.threads.max(o.threads);
    let figure = format!(
        "at most {most} (debug {}, optimised {})",
        d.threads, o.threads
    );
    Some(Reading::value(most as f64, figure))
}

fn suite(f: &StoreFigures) -> Option<Reading> {
    let s = f.suite.as_ref()?;
    let passes: Vec<String> = s.pass_ratios.iter().map(|r| format!("{r:.3}")).collect();
    let figure = format!(
        "{:.3}x, median of passes {}; bare floor {:.3}x",
        s.ratio,
        passes.join(", "),
        s.bare_ratio
    );
    Some(Reading::value(s.ratio, figure))
}

fn steady_floor(f: &StoreFigures) -> Option<Reading> {
    let s = f.steady.as_ref()?;
    let figure = format!(
        "{:.2}x: {} / {}",
        s.floor_ratio,
        fmt_duration(s.new),
        fmt_duration(s.floor)
    );
    Some(Reading::value(s.floor_ratio, figure))
}

fn steady_portpicker(f: &StoreFigures) -> Option<Reading> {
    let s = f.steady.as_ref()?;
    let figure = format!(
        "{:.2}x of {}",
        s.portpicker_ratio,
        fmt_duration(s.portpicker)
    );
    Some(Reading::value(s.portpicker_ratio, figure))
}

fn held_by_others(f: &StoreFigures) -> Option<Reading> {
    let h = f.held.as_ref()?;
    let r = h.many.as_secs_f64() / h.one.as_secs_f64();
    let figure = format!(
        "{r:.2}x: {} with {} held / {}, medians of {} rounds",
        fmt_duration(h.many),
        h.many_count,
        fmt_duration(h.one),
        h.rounds
    );
    Some(Reading::value(r, figure))
}

fn status(f: &StoreFigures) -> Option<Reading> {
    let s = f.status.as_ref()?;
    let figure = format!(
        "{}; {} of {} holders named",
        fmt_duration(s.median),
        s.named,
        s.holders
    );
    Some(Reading::duration(s.median, figure).and(s.named == s.holders && s.holders >= 1000))
}

/// One cell: the verdict (a full run's only) and the figure, or "not measured".
fn cell(measured: Option<(bool, String)>, full: bool) -> String {
    match measured {
        Some((met, figure)) if full => format!("{} ({figure})", verdict(Some(met))),
        Some((_, figure)) => format!("test pass, not judged ({figure})"),
        None => "not measured".to_owned(),
    }
}

/// The table: a row per target, a column per store; then the suite's totals.
pub(crate) fn print(figures: &[StoreFigures], suite: Option<&Suite>, full: bool) {
    let mut header = vec!["issue 20 target"];
    header.extend(figures.iter().map(|f| f.store.label()));
    let mut table = Table::new(&header);
    for target in &TARGETS {
        let cells = figures.iter().map(|f| cell(target.judge(f), full));
        table.row(std::iter::once(target.name.to_owned()).chain(cells));
    }
    table.print();
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
