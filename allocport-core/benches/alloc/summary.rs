//! The tables the run ends with: medians, ratios against the floor and the peer, and the
//! figures of the child processes. The targets' verdicts are `verdicts.rs`'s.

use std::time::Duration;

use allocport_core::server_tcp_ports_with_source;

use crate::measured::Measured;
use crate::record::{fmt_duration, fmt_or_not_run as show, fmt_ratio as ratio};
use crate::shared::{HOLDERS, THREADS};
use crate::table::Table;

/// A row of the operations table: the benchmark it shows, and the benchmark it is divided by
/// with what that one is.
struct Operation {
    label: &'static str,
    bench: &'static str,
    against: Option<(&'static str, &'static str)>,
}

const fn op(
    label: &'static str,
    bench: &'static str,
    against: Option<(&'static str, &'static str)>,
) -> Operation {
    Operation {
        label,
        bench,
        against,
    }
}

const OPERATIONS: [Operation; 11] = [
    op(
        "`TcpPortOwner::new()` (\"\", localhost; IPv4)",
        "alloc/default_v4",
        Some(("floor/bind_default_v4", "2 bind checks")),
    ),
    op(
        "`with_hosts([\"localhost\"], Ipv4)`",
        "alloc/localhost_v4",
        Some(("floor/bind_localhost_v4", "1 bind check")),
    ),
    op(
        "`with_hosts([\"localhost\"], Ipv6)`",
        "alloc/localhost_v6",
        Some(("floor/bind_localhost_v6", "1 bind check")),
    ),
    op(
        "`with_hosts([\"\", \"localhost\"], Ipv6)`",
        "alloc/default_v6",
        Some(("floor/bind_default_v6", "2 bind checks")),
    ),
    op(
        "`portpicker::pick_unused_port()`",
        "peer/portpicker",
        Some(("alloc/default_v4", "`new()`")),
    ),
    op(
        "floor: bind check 127.0.0.1",
        "floor/bind_localhost_v4",
        None,
    ),
    op(
        "floor: bind checks 0.0.0.0 + 127.0.0.1",
        "floor/bind_default_v4",
        None,
    ),
    op("floor: bind check ::1", "floor/bind_localhost_v6", None),
    op("floor: bind checks :: + ::1", "floor/bind_default_v6", None),
    op(
        "part: fcntl lock + unlock of one byte (scratch file)",
        "floor/fcntl_lock_unlock",
        None,
    ),
    op(
        "part: `Condvar::notify_all` with no waiter",
        "floor/condvar_notify_all",
        None,
    ),
];

/// Every table, in order, then what failed.
pub(crate) fn print(m: &Measured) {
    heading(m);
    operations(m);
    paired(m);
    initialisation(m);
    threads(m);
    processes_at_once(m);
    pool_sizes(m);
    holders(m);
    fresh_and_waking(m);
    #[cfg(target_os = "linux")]
    {
        println!("### issue 20: the kernel store beside the file store");
        println!();
        crate::store_targets::print(&m.procs.stores, m.procs.suite.as_ref(), m.full);
    }
    for failure in &m.procs.failures {
        println!("FAILED: {failure}");
    }
}

fn heading(m: &Measured) {
    println!();
    let mode = if m.full {
        ""
    } else {
        " (test mode: one pass, not figures)"
    };
    println!("## allocport benchmark summary{mode}");
    println!();
    let ipv6 = if m.ipv6 {
        "yes"
    } else {
        "no (IPv6 rows skipped)"
    };
    match server_tcp_ports_with_source() {
        Ok(server) => println!(
            "Pool: {} ports from {}. IPv6 loopback: {ipv6}.",
            server.ports.len(),
            server.source,
        ),
        Err(e) => println!("Pool: {e}"),
    }
    println!();
}

fn operations(m: &Measured) {
    let mut t = Table::new(&[
        "operation (allocate + release unless noted)",
        "median",
        "ratio",
    ]);
    for o in &OPERATIONS {
        let r = o.against.map_or(String::new(), |(other, what)| {
            format!("{} of {what}", ratio(m.median(o.bench), m.median(other)))
        });
        t.row([o.label.to_owned(), show(m.median(o.bench)), r]);
    }
    let (a, b) = (
        m.median("alloc/localhost_v4"),
        m.median("floor/bind_localhost_v4"),
    );
    let rest = a.zip(b).map(|(a, b)| a.saturating_sub(b));
    t.row([
        "part: localhost IPv4 allocation minus its bind check".to_owned(),
        show(rest),
        String::new(),
    ]);
    t.print();
}

fn paired(m: &Measured) {
    let mut t = Table::new(&[
        "paired: A / B, in alternating blocks",
        "A per operation",
        "B per operation",
        "A / B (median of rounds)",
    ]);
    for pair in m.pairs.all() {
        t.row([
            pair.label.to_owned(),
            fmt_duration(pair.a),
            fmt_duration(pair.b),
            format!("{:.2}x", pair.ratio),
        ]);
    }
    t.print();
}

fn initialisation(m: &Measured) {
    let mut t = Table::new(&["pool initialisation", "median"]);
    let init = |bench| show(m.median(bench));
    t.row([
        "`ephemeral_tcp_port_range()`".to_owned(),
        init("init/ephemeral_range"),
    ]);
    t.row([
        "`server_tcp_ports()` (OS pool)".to_owned(),
        init("init/server_tcp_ports"),
    ]);
    if let Some(f) = &m.procs.first {
        let (noop, first) = (f.noop_wall, f.first_wall);
        let pair = |a, b| format!("{} / {}", fmt_duration(a), fmt_duration(b));
        t.row([
            format!(
                "first allocation in a fresh process, timed inside ({} ports, median of {})",
                f.pool, f.runs
            ),
            fmt_duration(f.first_inside),
        ]);
        t.row([
            "second allocation in that process".to_owned(),
            fmt_duration(f.second_inside),
        ]);
        t.row([
            "first minus second: the one-time cost".to_owned(),
            fmt_duration(f.first_inside.saturating_sub(f.second_inside)),
        ]);
        t.row([
            "process spawn-to-exit, no-op child (median / minimum)".to_owned(),
            pair(noop.0, noop.1),
        ]);
        t.row([
            "process spawn-to-exit, child allocating twice (median / minimum)".to_owned(),
            pair(first.0, first.1),
        ]);
        t.row([
            "difference: both allocations seen from outside (medians / minima)".to_owned(),
            pair(
                first.0.saturating_sub(noop.0),
                first.1.saturating_sub(noop.1),
            ),
        ]);
    }
    t.print();
}

fn threads(m: &Measured) {
    let mut t = Table::new(&[
        "threads (default hosts)",
        "wall time per allocation",
        "allocations/s",
        "per-thread latency",
        "rate vs 1 thread",
    ]);
    let one = m.median("threads/1");
    for n in THREADS {
        let med = m.median(&format!("threads/{n}"));
        let rate = med.map_or("-".to_owned(), |d| format!("{:.0}", 1.0 / d.as_secs_f64()));
        let latency = med.map(|d| d * n as u32);
        t.row([
            n.to_string(),
            show(med),
            rate,
            show(latency),
            ratio(one, med),
        ]);
    }
    t.print();
}

fn processes_at_once(m: &Measured) {
    let mut t = Table::new(&[
        "processes at once (default hosts)",
        "total allocations/s",
        "median per allocation in each",
    ]);
    for run in &m.procs.procs {
        t.row([
            run.procs.to_string(),
            format!("{:.0}", run.total_per_sec),
            fmt_duration(run.per_op),
        ]);
    }
    t.print();
}

fn pool_sizes(m: &Measured) {
    let mut t = Table::new(&[
        "pool (`PYSYS_PORTS`, own process)",
        "ports",
        "first allocation",
        "per allocation (localhost IPv4)",
        "vs smallest",
    ]);
    let smallest = m.procs.sizes.first().map(|s| s.per_op);
    for s in &m.procs.sizes {
        t.row([
            s.spec.unwrap_or("(unset: OS pool)").to_owned(),
            s.pool.to_string(),
            fmt_duration(s.first),
            fmt_duration(s.per_op),
            ratio(Some(s.per_op), smallest),
        ]);
    }
    t.print();
}

fn holders(m: &Measured) {
    let mut t = Table::new(&[
        "ports held",
        "one more allocation (localhost IPv4)",
        "vs 1 held",
        "bare fcntl lock + unlock: 1 lock file",
        "vs 1 held",
        "64 files (port % 64)",
        "256 files (port % 256)",
    ]);
    for h in HOLDERS {
        let a = m.median(&format!("holders/{h}"));
        let f = m.median(&format!("holders_fcntl/{h}"));
        t.row([
            h.to_string(),
            show(a),
            ratio(a, m.median("holders/1")),
            show(f),
            ratio(f, m.median("holders_fcntl/1")),
            show(m.median(&format!("holders_fcntl_sharded/{h}"))),
            show(m.median(&format!("holders_fcntl_sharded256/{h}"))),
        ]);
    }
    t.print();
}

/// The first allocation of fresh processes, the whole suite and waking across processes, with
/// their targets beside them.
fn fresh_and_waking(m: &Measured) {
    let mut t = Table::new(&["fresh processes and waiting", "figure", "target"]);
    let p = &m.procs;
    let minus = |a: Duration, b: Duration| {
        format!(
            "{} ({} - {})",
            fmt_duration(a.saturating_sub(b)),
            fmt_duration(a),
            fmt_duration(b)
        )
    };
    if let Some(f) = &p.first {
        t.row([
            "first allocation, fresh optimised process (default store), minus its 2 bind checks",
            &minus(f.first_inside, f.checks_inside),
            "at most 30 µs (issue 20)",
        ]);
        t.row([
            "the same for the bare allocator (`bare.rs`: the default store's claim, bind checks, nothing else)",
            &minus(f.bare_inside, f.bare_checks_inside),
            "(the floor of the row above)",
        ]);
        t.row([
            "first release, fresh optimised process (its one-time set-up included)",
            &fmt_duration(f.release_inside),
            "at most 20 µs",
        ]);
    }
    t.row([
        "steady state: `new()` / its 2 bind checks (paired; its floor with the store's claim: issue 20's table)",
        &format!("{:.2}x", m.pairs.default_v4.ratio),
        "",
    ]);
    waiting_rows(m, &mut t);
    t.print();
}

fn waiting_rows(m: &Measured, t: &mut Table) {
    let p = &m.procs;
    if let Some(s) = &p.startup {
        t.row([
            format!(
                "pool start-up: first allocation, `PYSYS_PORTS={}` / `{}` (medians of {} fresh processes each)",
                s.large.0, s.small.0, s.runs
            ),
            format!("{} / {}", fmt_duration(s.large.1), fmt_duration(s.small.1)),
            "flat (within 1.25x)".to_owned(),
        ]);
    }
    if let Some(w) = &p.wakeups {
        t.row([
            format!(
                "release in one process to wake-up of a waiting process (median / max of {})",
                w.rounds
            ),
            format!("{} / {}", fmt_duration(w.median), fmt_duration(w.max)),
            "median at most 5 ms".to_owned(),
        ]);
    }
    if let Some(cpu) = p.waiting_cpu {
        t.row([
            "CPU of a process whose 64 threads wait 1 s for a 200-port pool another process holds"
                .to_owned(),
            format!("{:.2}% of a core", cpu * 100.0),
            "under 1%".to_owned(),
        ]);
    }
}
