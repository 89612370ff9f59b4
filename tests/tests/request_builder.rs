//! `PortRequest` in one process, on the default pool: counts, hosts, families, related ports,
//! exact ports, and invalid requests refused at once.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use allocport_core::{AddressFamily, Error, PortRequest, TcpPortOwner, is_tcp_port_held};

fn ports(owners: &[TcpPortOwner]) -> Vec<u16> {
    owners.iter().map(TcpPortOwner::port).collect()
}

#[test]
fn count_hosts_and_family_are_honoured() {
    let owners = PortRequest::new()
        .count(3)
        .hosts(&["localhost"])
        .allocate()
        .unwrap();
    let got = ports(&owners);
    assert_eq!(got.len(), 3);
    let mut distinct = got.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "{got:?}");
    for port in &got {
        assert!(is_tcp_port_held(*port));
        TcpListener::bind(("127.0.0.1", *port)).unwrap();
    }
    let wrong_family = PortRequest::new()
        .hosts(&["127.0.0.1"])
        .family(AddressFamily::Ipv6)
        .allocate()
        .unwrap_err();
    assert!(
        matches!(wrong_family, Error::UnresolvableHost { .. }),
        "{wrong_family}"
    );
}

#[test]
fn the_shortcuts_are_requests() {
    let one = TcpPortOwner::with_hosts(&["localhost"], AddressFamily::Ipv4).unwrap();
    let many = TcpPortOwner::many(2, &["localhost"], AddressFamily::Ipv4).unwrap();
    assert_eq!(many.len(), 2);
    assert!(!ports(&many).contains(&one.port()));
    assert!(
        TcpPortOwner::many(0, &["localhost"], AddressFamily::Ipv4)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn offsets_and_consecutive_give_related_ports_held_together() {
    let node = PortRequest::new()
        .count(2)
        .offsets(&[0, 10000])
        .hosts(&["localhost"])
        .timeout(Duration::from_secs(30))
        .allocate()
        .unwrap();
    let got = ports(&node);
    assert_eq!(got.len(), 4);
    assert_eq!(got[1], got[0] + 10000, "{got:?}");
    assert_eq!(got[3], got[2] + 10000, "{got:?}");
    assert!(got.iter().all(|&p| is_tcp_port_held(p)));
    let pool = allocport_core::server_tcp_ports().unwrap();
    assert!(
        got.iter().all(|p| pool.contains(p)),
        "{got:?} not all in the pool"
    );

    let block = PortRequest::new()
        .consecutive(4)
        .hosts(&["localhost"])
        .allocate()
        .unwrap();
    let got = ports(&block);
    assert_eq!(got, (got[0]..got[0] + 4).collect::<Vec<_>>());
    for port in got {
        TcpListener::bind(("127.0.0.1", port)).unwrap();
    }
}

/// A port outside the pool that nothing uses now: one of the ephemeral range, from a place of
/// its own in the range, that binds. Not one the OS hands out for port 0: under Wine that
/// comes from Linux's range, which the pool, built on Windows' default range there, includes.
fn port_outside_the_pool() -> u16 {
    let pool = allocport_core::server_tcp_ports().unwrap();
    let (low, high) = allocport_core::ephemeral_tcp_port_range().unwrap();
    let range: Vec<u16> = (low..=high).collect();
    let start = RandomState::new().build_hasher().finish() as usize % range.len();
    range[start..]
        .iter()
        .chain(&range[..start])
        .copied()
        .find(|port| !pool.contains(port) && TcpListener::bind(("127.0.0.1", *port)).is_ok())
        .unwrap_or_else(|| panic!("no port of {low}-{high} outside the pool binds"))
}

#[test]
fn an_exact_port_outside_the_pool_is_taken_in_turns() {
    let port = port_outside_the_pool();
    let request = PortRequest::new().exact(port).hosts(&["localhost"]);
    let first = request.allocate().unwrap();
    assert_eq!(ports(&first), vec![port]);
    assert!(is_tcp_port_held(port));

    let start = Instant::now();
    let err = request
        .clone()
        .timeout(Duration::from_millis(300))
        .allocate()
        .unwrap_err();
    assert!(start.elapsed() >= Duration::from_millis(300));
    let message = err.to_string();
    assert!(matches!(err, Error::ExactPortTimeout { .. }), "{message}");
    assert!(message.contains(&format!("port {port}")), "{message}");

    // A waiter gets it as soon as the first owner lets go.
    let waiter = std::thread::spawn(move || {
        request
            .timeout(Duration::from_secs(30))
            .allocate()
            .map(|owners| ports(&owners))
    });
    std::thread::sleep(Duration::from_millis(100));
    drop(first);
    assert_eq!(waiter.join().unwrap().unwrap(), vec![port]);
    assert!(!is_tcp_port_held(port));
}

#[test]
fn exact_with_offsets_is_a_fixed_group() {
    let port = port_outside_the_pool();
    let Some(second) = port.checked_add(1) else {
        return;
    };
    if TcpListener::bind(("127.0.0.1", second)).is_err() {
        return; // something else uses the neighbour right now: nothing to learn here
    }
    let group = PortRequest::new()
        .exact(port)
        .consecutive(2)
        .hosts(&["localhost"])
        .timeout(Duration::from_secs(5))
        .allocate()
        .unwrap();
    assert_eq!(ports(&group), vec![port, second]);
}

#[test]
fn invalid_requests_are_errors_at_once_naming_the_options() {
    let cases = [
        (PortRequest::new().count(0), "count(0)"),
        (
            PortRequest::new().offsets(&[0, 1]).consecutive(2),
            "offsets and consecutive",
        ),
        (PortRequest::new().offsets(&[0, 7, 7]), "7 is given twice"),
        (PortRequest::new().exact(0), "exact(0)"),
        (PortRequest::new().exact(6379).count(2), "count(2)"),
        (PortRequest::new().consecutive(0), "consecutive(0)"),
    ];
    for (request, expected) in cases {
        let start = Instant::now();
        let err = request
            .timeout(Duration::from_secs(60))
            .allocate()
            .unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(10), "it waited");
        assert!(matches!(err, Error::InvalidRequest { .. }), "{err}");
        assert!(err.to_string().contains(expected), "{err} lacks {expected}");
    }
}
