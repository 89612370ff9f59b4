//! Any numbers a `PortRequest` can be given (counts, offsets, consecutive blocks, exact ports,
//! timeouts), small and huge: each request allocates exactly what it asked for, or returns an
//! error, at once when no wait could help, and never later than its timeout allows; it never
//! panics and never returns the wrong number of ports. Runs in a re-run of this binary, on a
//! pool of two runs of ports (20 and 10).

use std::time::{Duration, Instant};

use allocport_core::{Error, PortRequest};
use allocport_testkit::{DEADLINE, output_within, rerun_tests};
use proptest::prelude::*;

const CHILD: &str = "ALLOCPORT_REQUEST_NUMBERS_CHILD";
const POOL: &str = "28200-28219,28230-28239";

fn pool() -> Vec<u16> {
    (28200..=28219).chain(28230..=28239).collect()
}

/// How long past its timeout a request may return: the issue asks for 0.5 s; this allows for
/// an unoptimised build on a loaded machine.
const LATE: Duration = Duration::from_millis(1500);

#[derive(Debug, Clone)]
enum Shape {
    Plain,
    Consecutive(usize),
    Offsets(Vec<u16>),
}

fn huge_or_small_usize() -> impl Strategy<Value = usize> {
    prop_oneof![
        6 => 0usize..5,
        1 => 5usize..70_000,
        1 => Just(usize::MAX),
        1 => Just(1usize << 63),
        1 => Just(6_148_914_691_236_517_206usize),
        1 => any::<usize>(),
    ]
}

fn shape() -> impl Strategy<Value = Shape> {
    let offset = prop_oneof![3 => 0u16..25, 1 => any::<u16>()];
    prop_oneof![
        Just(Shape::Plain),
        huge_or_small_usize().prop_map(Shape::Consecutive),
        proptest::collection::vec(offset, 0..4).prop_map(Shape::Offsets),
    ]
}

fn exact() -> impl Strategy<Value = Option<u16>> {
    prop_oneof![
        3 => Just(None),
        1 => (28195u16..28245).prop_map(Some),
        1 => any::<u16>().prop_map(Some),
    ]
}

/// The offsets the request means, when they are valid.
fn offsets(shape: &Shape) -> Option<Vec<u16>> {
    let offsets = match shape {
        Shape::Plain => vec![0],
        Shape::Consecutive(n) if (1..=65535).contains(n) => (0..*n as u16).collect(),
        Shape::Consecutive(_) => return None,
        Shape::Offsets(offsets) => offsets.clone(),
    };
    let mut sorted = offsets.clone();
    sorted.sort_unstable();
    sorted.dedup();
    let wide = sorted.last().zip(sorted.first()).map(|(hi, lo)| hi - lo);
    (sorted.len() == offsets.len() && wide.is_some_and(|w| w < 65535)).then_some(offsets)
}

/// How many groups of `offsets` could start in the pool, each at a port of its own.
fn starts_in_pool(offsets: &[u16]) -> usize {
    let pool = pool();
    pool.iter()
        .filter(|&&p| {
            offsets.iter().all(|&o| {
                let port = i64::from(p) - i64::from(offsets[0]) + i64::from(o);
                u16::try_from(port).is_ok_and(|port| pool.contains(&port))
            })
        })
        .count()
}

fn check(count: usize, shape: &Shape, exact: Option<u16>, timeout: Duration) {
    let mut request = PortRequest::new()
        .count(count)
        .hosts(&["localhost"])
        .timeout(timeout);
    request = match shape {
        Shape::Plain => request,
        Shape::Consecutive(n) => request.consecutive(*n),
        Shape::Offsets(offsets) => request.offsets(offsets),
    };
    if let Some(port) = exact {
        request = request.exact(port);
    }
    let start = Instant::now();
    let result = request.allocate();
    let took = start.elapsed();
    assert!(took <= timeout + LATE, "took {took:?}: {result:?}");
    let offsets = offsets(shape);
    let (Some(offsets), Ok(owners)) = (&offsets, &result) else {
        // An invalid request, or a refusal: an error at once unless waiting could help.
        let error = result.expect_err("an invalid request allocated");
        if !matches!(
            error,
            Error::Timeout { .. } | Error::ExactPortTimeout { .. }
        ) {
            assert!(took < LATE, "{error} came after {took:?}");
        }
        if let (Some(offsets), None) = (&offsets, exact) {
            let impossible =
                count.saturating_mul(offsets.len()) > 30 || count > starts_in_pool(offsets);
            assert!(
                !impossible || !matches!(error, Error::Timeout { .. }),
                "an impossible request waited: {error}"
            );
        }
        return;
    };
    let ports: Vec<u16> = owners.iter().map(|o| o.port()).collect();
    assert_eq!(ports.len(), count * offsets.len(), "{ports:?}");
    let mut distinct = ports.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), ports.len(), "{ports:?}");
    for group in ports.chunks(offsets.len()) {
        for (&port, &o) in group.iter().zip(offsets) {
            assert_eq!(
                i64::from(port),
                i64::from(group[0]) - i64::from(offsets[0]) + i64::from(o),
                "{ports:?}"
            );
        }
        match exact {
            Some(port) => assert_eq!(group[0], port),
            None => assert!(group.iter().all(|p| pool().contains(p)), "{ports:?}"),
        }
    }
}

#[test]
fn any_request_numbers_allocate_right_or_fail_with_a_named_error() {
    if std::env::var_os(CHILD).is_none() {
        let output = output_within(
            rerun_tests("any_request_numbers_allocate_right")
                .env(CHILD, "1")
                .env("PYSYS_PORTS", POOL)
                .env_remove("PYSYS_PORTS_FILE")
                .env_remove("NEXTEST_TEST_GLOBAL_SLOT"),
            DEADLINE * 2,
        );
        assert!(
            output.status.success(),
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        return;
    }
    let config = ProptestConfig {
        cases: 128,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(
        count in huge_or_small_usize(),
        shape in shape(),
        exact in exact(),
        timeout_ms in 0u64..300,
    )| {
        check(count, &shape, exact, Duration::from_millis(timeout_ms));
    });
}
