//! Requests at the edges: timeouts the clock cannot add, counts that overflow, groups the
//! pool's shape can never hold, block searches among many refused ports, and the cost of a
//! waiting block request. Each request runs in a process of its own, on a small pool.

use std::net::TcpListener;
use std::ops::RangeInclusive;
use std::process::Command;
use std::time::{Duration, Instant};

use allocport_core::{Error, PortRequest, TcpPortOwner};
use allocport_testkit::{
    DEADLINE, Process, Spawn, cpu_time, output_within, rerun_tests, skip_under_wine,
};
use allocport_tests::request_probe_command;

/// Set in a re-run of this binary, whose test then runs its scenario.
const CHILD: &str = "ALLOCPORT_REQUEST_LIMITS_CHILD";

fn probe(args: &[&str], pool: &str) -> Command {
    let mut command = request_probe_command(args, pool, "60");
    command.env_remove("PYSYS_PORTS_FILE");
    command
}

/// One request in a process of its own: its line, `ports ... ms T` or `err MESSAGE ms T`,
/// split into the rest and T.
fn request(options: &[&str], pool: &str) -> (String, u64) {
    let mut args = vec!["request"];
    args.extend_from_slice(options);
    let output = output_within(&mut probe(&args, pool), DEADLINE);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().next().unwrap_or_else(|| {
        panic!(
            "{options:?} printed nothing ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let (rest, ms) = line.rsplit_once(" ms ").expect("`... ms T`");
    (rest.to_owned(), ms.parse().expect("milliseconds"))
}

/// A holder of `options`' ports, holding until its stdin closes.
fn holder(options: &[&str], pool: &str) -> Process {
    let mut args = vec!["request", "hold"];
    args.extend_from_slice(options);
    let mut holder = Spawn::new().start(&mut probe(&args, pool));
    let line = holder.line();
    assert!(
        line.starts_with("ports "),
        "the holder got no ports: {line}"
    );
    holder
}

/// A request refused at once (within 2 s) although it may wait 30: its error line, which says
/// `said`.
fn refused_at_once(options: &[&str], pool: &str, said: &str) -> String {
    let mut options = options.to_vec();
    options.push("timeout=30");
    let (line, ms) = request(&options, pool);
    assert!(
        line.starts_with("err ") && line.contains(said),
        "{options:?}: {line}"
    );
    assert!(ms < 2000, "{options:?} took {ms} ms to fail");
    line
}

/// A request that must time out: how long it took, in milliseconds.
fn timing_out(options: &[&str], pool: &str) -> u64 {
    let (line, ms) = request(options, pool);
    assert!(line.starts_with("err timed out"), "{options:?}: {line}");
    ms
}

/// Listeners of programs outside allocport on every `step`th port of `ports` (those that can
/// be bound), kept open while the result lives.
fn outside_listeners(ports: RangeInclusive<u16>, step: usize) -> Vec<TcpListener> {
    ports
        .step_by(step)
        .filter_map(|p| TcpListener::bind(("127.0.0.1", p)).ok())
        .collect()
}

#[test]
fn timeouts_the_clock_cannot_add_wait_without_end_and_never_panic() {
    let pool = "28000-28001";
    let mut held = holder(&["count=2"], pool);
    let mut from_env = probe(&["request", "count=1"], pool);
    from_env.env("ALLOCPORT_TIMEOUT_SECS", "1e19");
    let waiters = [
        Spawn::new().capture_stderr().start(&mut from_env),
        Spawn::new()
            .capture_stderr()
            .start(&mut probe(&["request", "count=2", "timeout=1e19"], pool)),
    ];
    // Still waiting after a while: neither panicked nor gave up.
    for waiter in &waiters {
        assert_eq!(waiter.line_within(Duration::from_secs(1)), None);
    }
    held.close_stdin();
    held.wait();
    for mut waiter in waiters {
        let line = waiter.line();
        assert!(line.starts_with("ports "), "{line}");
    }
}

#[test]
fn counts_larger_than_the_ports_that_exist_or_the_pool_are_refused_at_once() {
    let pool = "28010-28012";
    for (options, said) in [
        (
            &["count=9223372036854775808", "offsets=0:1"][..],
            "more ports than exist (65535)",
        ),
        (&["count=18446744073709551615"], "more ports than exist"),
        (
            &["count=6148914691236517206", "offsets=0:1:2"],
            "count(6148914691236517206) of 3 port(s) each",
        ),
        (
            &["count=4"],
            "4 ports were asked for at once but the pool has only 3",
        ),
        (&["count=2", "consecutive=2"], "4 ports were asked for"),
    ] {
        refused_at_once(options, pool, said);
    }
}

#[test]
fn groups_the_pool_cannot_hold_are_refused_at_once_saying_why() {
    let pool = "28020-28022,28024-28026";
    for (options, said) in [
        (
            &["consecutive=4"][..],
            "runs of consecutive ports, the longest 3 ports",
        ),
        (&["count=3", "consecutive=2"], "room for 2 at most"),
        (&["count=2", "offsets=0:65000"], "room for 0 at most"),
        (
            &["offsets=0:3:9"],
            "0 of its ports p have p + o - 0 in it for every offset o",
        ),
    ] {
        let line = refused_at_once(options, pool, said);
        assert!(
            line.contains("PYSYS_PORTS=\"28020-28022,28024-28026\"")
                && !line.contains("do not use allocport"),
            "{line}"
        );
    }
    let (line, _) = request(&["count=2", "consecutive=3", "timeout=30"], pool);
    assert!(
        line.starts_with("ports 28020,28021,28022,28024,28025,28026")
            || line.starts_with("ports 28024,28025,28026,28020,28021,28022"),
        "{line}"
    );
}

/// Listeners from outside allocport on every 300th port of 1500: no 400-block is free.
#[test]
fn a_block_search_among_outside_listeners_keeps_its_deadline() {
    let pool = "28100-29599";
    let _listeners = outside_listeners(28100..=29599, 300);
    for (timeout, limit_ms) in [("1", 1000 + 1500), ("0", 1500)] {
        let t = format!("timeout={timeout}");
        let ms = timing_out(&["consecutive=400", &t], pool);
        assert!(ms < limit_ms, "timeout={timeout} took {ms} ms");
        println!("consecutive=400 timeout={timeout}: {ms} ms");
    }
}

/// The waiting 60-block while another process holds every 50th port: the wait must
/// cost a small part of a core (it cost 8.4 s of CPU in a 9.7 s wait). The bound here is
/// generous, to catch gross failures on a loaded machine.
#[test]
fn a_waiting_block_request_costs_little_cpu() {
    if std::env::var_os(CHILD).is_some() {
        return wait_for_a_block();
    }
    let _held: Vec<Vec<TcpPortOwner>> = (25000..26000)
        .step_by(50)
        .map(|p| {
            PortRequest::new()
                .exact(p)
                .hosts(&["localhost"])
                .timeout(Duration::from_secs(10))
                .allocate()
                .unwrap_or_else(|e| panic!("holding {p}: {e}"))
        })
        .collect();
    let output = output_within(
        rerun_tests("a_waiting_block_request_costs_little_cpu")
            .env(CHILD, "1")
            .env("PYSYS_PORTS", "25000-25999")
            .env_remove("PYSYS_PORTS_FILE")
            .env_remove("NEXTEST_TEST_GLOBAL_SLOT"),
        DEADLINE,
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the waiting block failed:\n{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The figure, for `--nocapture`.
    println!(
        "{}",
        stdout
            .lines()
            .find_map(|l| l.split_once("waited ").map(|(_, figure)| figure))
            .unwrap_or("")
    );
}

fn wait_for_a_block() {
    let (cpu, start) = (cpu_time(), Instant::now());
    let result = PortRequest::new()
        .consecutive(60)
        .hosts(&["localhost"])
        .timeout(Duration::from_secs(4))
        .allocate();
    let (cpu, waited) = (cpu_time() - cpu, start.elapsed());
    assert!(matches!(result, Err(Error::Timeout { .. })), "{result:?}");
    println!("waited {waited:?}, CPU {cpu:?}");
    assert!(waited < Duration::from_millis(4500), "waited {waited:?}");
    assert!(cpu < waited / 4, "{cpu:?} of CPU in a wait of {waited:?}");
}

#[test]
fn a_udp_request_timing_out_says_udp() {
    let pool = "28030";
    let _held = holder(&["udp"], pool);
    let (line, _) = request(&["udp", "timeout=0.3"], pool);
    assert!(
        line.contains("waiting for a free UDP server port"),
        "{line}"
    );
}

/// A pass that would run for seconds stops soon after the deadline: each claim binds on 1000
/// loopback addresses, and outside listeners on the last of them refuse every 10th port, so
/// each of the many 20-blocks tried costs up to ten claims of 1000 binds.
#[test]
fn a_long_pass_stops_soon_after_the_deadline() {
    let pool = "29600-31099";
    let _listeners = outside_listeners(29600..=31099, 10);
    let mut hosts: Vec<String> = (1..=4)
        .flat_map(|b| (1..=250).map(move |c| format!("127.0.{b}.{c}")))
        .collect();
    hosts.push("127.0.0.1".into());
    let hosts = format!("hosts={}", hosts.join(":"));
    let ms = timing_out(&["consecutive=20", "timeout=0", &hosts], pool);
    println!("a long pass with timeout=0: {ms} ms");
    if !skip_under_wine(
        "the 1.5 s bound of a long pass",
        "a bind costs 13 times Linux's there: one look, up to 10 claims of 1000 binds, outlasts it",
    ) {
        assert!(ms < 1500, "timeout=0 took {ms} ms");
    }
    // Under Wine too: the pass stopped after a look or two, far short of all 150 blocks.
    assert!(ms < 6000, "timeout=0 took {ms} ms");
}
