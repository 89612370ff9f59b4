//! Waking across processes: a port released in one process reaches another process waiting for
//! it at once on Linux, not at that process's next poll (elsewhere, as on Windows, waiting
//! processes poll, at most 50 ms apart), and however many threads wait, the waiting costs
//! almost no CPU.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use allocport_tests::{parse_ports_line, probe, run_probe};

/// Taken by each test here: the 64 busy threads of one would slow the other's wake-ups on a
/// two-core machine. (Under nextest, `.config/nextest.toml` keeps them apart.)
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The median of a few wake-ups: a waiter that only polled (backing off to every 50 ms) woke
/// after 16-25 ms in the median; with the wake-up it takes one or two milliseconds. The bound
/// leaves a loaded machine twice the target's 5 ms (the benchmark measures the figure). Where
/// no release wakes another process (not Linux), the waiter's polls must find the port: ten
/// times their longest interval.
#[test]
fn a_release_in_one_process_wakes_a_waiting_process_at_once() {
    let _alone = one_at_a_time();
    let pool = [("PYSYS_PORTS", "23600"), ("ALLOCPORT_TIMEOUT_SECS", "30")];
    let mut latencies = Vec::new();
    for _ in 0..5 {
        let mut holder = probe(&["hold", "1"], &pool);
        assert_eq!(parse_ports_line(&holder.line()), vec![23600]);
        let mut waiter = probe(&["try"], &pool);
        // Long enough for the waiter to back off to its longest poll.
        assert_eq!(
            waiter.line_within(Duration::from_millis(600)),
            None,
            "got a port while it was held"
        );
        let released = Instant::now();
        holder.close_stdin();
        let line = waiter.line();
        latencies.push(released.elapsed());
        assert_eq!(line, "ok 23600");
        assert!(holder.wait().success());
        assert!(waiter.wait().success());
    }
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    eprintln!("release to wake-up in another process: median {median:?} of {latencies:?}");
    let (bound, missing) = if cfg!(target_os = "linux") {
        (Duration::from_millis(10), "the release did not wake it")
    } else {
        (
            Duration::from_millis(500),
            "its polls did not find the port",
        )
    };
    assert!(
        median < bound,
        "woke after {median:?} in the median ({latencies:?}): {missing}"
    );
}

/// 64 threads waiting three seconds for ports another process holds, 200 of them: the process
/// must sleep, not look through the pool with each thread every 50 ms (a quarter of a core and
/// more here, a core on bigger pools). Three seconds, so that what is measured is the waiting,
/// not each thread's first look through the pool, which every allocation pays.
#[test]
fn sixty_four_waiting_threads_use_little_cpu() {
    let _alone = one_at_a_time();
    let pool = [
        ("PYSYS_PORTS", "26000-26199"),
        ("ALLOCPORT_TIMEOUT_SECS", "30"),
    ];
    let mut holder = probe(&["hold", "200"], &pool);
    assert_eq!(parse_ports_line(&holder.line()).len(), 200);
    let line = run_probe(&["wait-threads", "64", "3"], &pool);
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields.first(), Some(&"cpu_ms"), "{line}");
    let cpu_ms: u64 = fields[1].parse().expect(&line);
    assert_eq!(fields[3], "64", "every thread must time out: {line}");
    eprintln!("CPU time of 64 threads waiting 3 s: {cpu_ms} ms");
    // Under 1% of a core is the target (the benchmark's figure); 10% catches spinning and
    // polling (each thread looking every 50 ms costs several times that). Where no release
    // wakes another process (not Linux), each thread does poll every 50 ms (under Wine about
    // 30% of a core): there the bound only catches a thread that spins, a whole core.
    let bound = if cfg!(target_os = "linux") { 300 } else { 3000 };
    assert!(
        cpu_ms < bound,
        "64 waiting threads used {cpu_ms} ms of CPU in 3 s"
    );
    holder.close_stdin();
    assert!(holder.wait().success());
}

/// A port released while nobody waits for it is not announced: the wake file is written
/// only when some process's shared lock says it waits.
#[cfg(target_os = "linux")]
#[test]
fn a_release_nobody_waits_for_is_not_announced() {
    let dir = allocport_testkit::TempDir::new("wake-quiet");
    let lock_dir = dir.path().join("locks");
    let lock_dir_str = lock_dir.to_str().unwrap();
    let env = [
        ("PYSYS_PORTS", "23620-23629"),
        ("ALLOCPORT_LOCK_DIR", lock_dir_str),
    ];
    let wake = lock_dir.join("wake");
    assert_eq!(run_probe(&["try"], &env).split(' ').next(), Some("ok"));
    let quiet = std::fs::metadata(&wake).map(|m| m.len()).unwrap_or(0);
    assert_eq!(
        quiet, 0,
        "a release with nobody waiting wrote the wake file"
    );

    let mut holder = probe(&["hold", "10"], &env);
    assert_eq!(parse_ports_line(&holder.line()).len(), 10);
    let mut waiter = probe(&["try"], &env);
    assert_eq!(waiter.line_within(Duration::from_millis(300)), None);
    holder.close_stdin();
    assert!(waiter.line().starts_with("ok 2362"));
    assert_eq!(
        std::fs::metadata(&wake).unwrap().len(),
        1,
        "the release a process waited for did not write the wake file"
    );
}
