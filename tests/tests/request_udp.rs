//! `PortRequest` for UDP: `allocate_udp` with every option, `tcp_and_udp` holding one number
//! for both protocols, `listen` / `bind_udp` binding a request's ports, invalid combinations
//! refused at once, and UDP exact ports taken in turns across processes while TCP claims of
//! the same number stay apart.

use std::net::{Ipv4Addr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use allocport_core::{AddressFamily, Error, PortRequest, UdpPortOwner, is_tcp_port_held};
use allocport_testkit::Process;
use allocport_tests::{request_probe, run_request_probe};

/// A UDP port number the OS hands out for a socket bound on loopback: in the ephemeral range,
/// so outside the default pool, and free for UDP once the socket is dropped.
fn outside_udp_port() -> u16 {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    socket.local_addr().unwrap().port()
}

fn ports(owners: &[UdpPortOwner]) -> Vec<u16> {
    owners.iter().map(UdpPortOwner::port).collect()
}

#[test]
fn udp_requests_give_distinct_udp_ports_that_can_be_bound() {
    let owners = PortRequest::new()
        .count(3)
        .hosts(&["localhost"])
        .allocate_udp()
        .unwrap();
    let mut got = ports(&owners);
    got.sort_unstable();
    got.dedup();
    assert_eq!(got.len(), 3, "{owners:?}");
    for owner in &owners {
        assert!(is_tcp_port_held(owner.port()));
        UdpSocket::bind((Ipv4Addr::LOCALHOST, owner.port())).unwrap();
    }
    let released = owners[0].port();
    drop(owners);
    assert!(!is_tcp_port_held(released));
}

#[test]
fn udp_offsets_and_consecutive_give_related_ports() {
    let block = PortRequest::new()
        .consecutive(3)
        .count(2)
        .hosts(&["localhost"])
        .allocate_udp()
        .unwrap();
    assert_eq!(block.len(), 6);
    for group in block.chunks(3) {
        assert_eq!(group[1].port(), group[0].port() + 1);
        assert_eq!(group[2].port(), group[0].port() + 2);
    }
    // The default pool holds every p + 3 for most p; a short pool only makes this a timeout.
    let related = PortRequest::new()
        .offsets(&[0, 3])
        .hosts(&["localhost"])
        .timeout(Duration::from_secs(10))
        .allocate_udp()
        .unwrap();
    assert_eq!(related[1].port(), related[0].port() + 3);
}

#[test]
fn an_exact_udp_port_is_waited_for_while_held_and_a_busy_one_is_not_handed_out() {
    let port = outside_udp_port();
    let exact = || {
        PortRequest::new()
            .exact(port)
            .hosts(&["localhost"])
            .timeout(Duration::from_millis(300))
    };
    let held = exact().allocate_udp().unwrap();
    assert_eq!(ports(&held), [port]);
    match exact().allocate_udp() {
        Err(Error::ExactPortTimeout { port: p, .. }) => assert_eq!(p, port),
        other => panic!("expected a timeout while held, got {other:?}"),
    }
    drop(held);
    // Bound outside allocport, as another program would: busy for UDP, so not handed out.
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
    assert!(exact().allocate_udp().is_err());
    drop(socket);
    assert_eq!(ports(&exact().allocate_udp().unwrap()), [port]);
}

#[test]
fn tcp_and_udp_holds_one_number_free_for_both_and_skips_one_busy_for_either() {
    let owners = PortRequest::new()
        .count(2)
        .hosts(&["localhost"])
        .tcp_and_udp()
        .allocate()
        .unwrap();
    for owner in &owners {
        assert!(owner.holds_udp());
        let _tcp = TcpListener::bind((Ipv4Addr::LOCALHOST, owner.port())).unwrap();
        let _udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, owner.port())).unwrap();
    }
    drop(owners);

    let port = outside_udp_port();
    let request = || {
        PortRequest::new()
            .exact(port)
            .hosts(&["localhost"])
            .timeout(Duration::from_millis(300))
    };
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
    // Busy for UDP: refused for both, while TCP alone is free on that number.
    assert!(request().tcp_and_udp().allocate().is_err());
    let tcp = request().allocate().unwrap();
    assert!(!tcp[0].holds_udp());
    drop(tcp);
    drop(socket);
    let both = request().tcp_and_udp().allocate().unwrap();
    assert_eq!(both[0].port(), port);
    assert!(both[0].holds_udp());
}

#[test]
fn listen_and_bind_udp_bind_the_ports_of_any_request_on_its_one_host() {
    let listeners = PortRequest::new()
        .offsets(&[0, 2])
        .hosts(&["localhost"])
        .tcp_and_udp()
        .listen()
        .unwrap();
    let first = listeners[0].local_addr().unwrap();
    assert_eq!(first.ip(), Ipv4Addr::LOCALHOST);
    assert_eq!(listeners[1].port(), listeners[0].port() + 2);
    for held in &listeners {
        assert!(held.owner().holds_udp());
        assert_eq!(held.local_addr().unwrap().port(), held.port());
        // Held for UDP too: the server can bind its UDP socket on the same number.
        UdpSocket::bind(held.local_addr().unwrap()).unwrap();
    }
    let _client = TcpStream::connect(first).unwrap();
    listeners[0].accept().unwrap();

    let port = outside_udp_port();
    let sockets = PortRequest::new()
        .exact(port)
        .hosts(&["127.0.0.1"])
        .bind_udp()
        .unwrap();
    assert_eq!(sockets[0].local_addr().unwrap().port(), port);
    assert!(UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_err());
    drop(sockets);
    UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).unwrap();

    for err in [
        PortRequest::new().bind_udp().unwrap_err(),
        PortRequest::new()
            .hosts(&["localhost", "::1"])
            .listen()
            .unwrap_err(),
    ] {
        assert!(matches!(err, Error::InvalidRequest { .. }), "{err}");
    }
}

#[test]
fn every_option_works_over_ipv6_or_is_refused_at_once() {
    if UdpSocket::bind("[::1]:0").is_ok() {
        let owners = PortRequest::new()
            .consecutive(2)
            .hosts(&["::1"])
            .family(AddressFamily::Ipv6)
            .allocate_udp()
            .unwrap();
        UdpSocket::bind(("::1", owners[1].port())).unwrap();
    }
    let start = Instant::now();
    let invalid = [
        PortRequest::new().count(0),
        PortRequest::new().offsets(&[0, 1]).consecutive(2),
        PortRequest::new().offsets(&[0, 0]),
        PortRequest::new().exact(0),
        PortRequest::new().exact(7000).count(2),
        PortRequest::new().tcp_and_udp(),
        PortRequest::new().strict(true),
    ];
    for request in invalid {
        match request
            .clone()
            .timeout(Duration::from_secs(30))
            .allocate_udp()
        {
            Err(Error::InvalidRequest { .. }) => {}
            other => panic!("{request:?}: expected an invalid request, got {other:?}"),
        }
    }
    // "At once": nothing waited for the 30 s timeout.
    assert!(start.elapsed() < Duration::from_secs(20));
}

fn start(args: &[&str]) -> Process {
    request_probe(args, "25601", "30")
}

fn run(args: &[&str]) -> String {
    run_request_probe(args, "25601", "30")
}

#[test]
fn an_exact_udp_port_is_taken_in_turns_across_processes_apart_from_tcp() {
    let mut holder = start(&["request", "udp", "exact=25600", "hosts=localhost", "hold"]);
    let held = holder.line();
    assert!(held.starts_with("ports 25600 "), "{held}");
    let quick = run(&["request", "udp", "exact=25600", "timeout=0.3"]);
    assert!(quick.contains("waiting for port 25600"), "{quick}");
    // UDP claims are apart from TCP ones: the number is free for a TCP request...
    let tcp = run(&["request", "exact=25600", "hosts=localhost", "timeout=5"]);
    assert!(tcp.starts_with("ports 25600 "), "{tcp}");
    // ... but not for one that holds it for both.
    let both = run(&["request", "tcp_and_udp", "exact=25600", "timeout=0.3"]);
    assert!(both.contains("waiting for port 25600"), "{both}");
    let mut waiter = start(&["request", "udp", "exact=25600", "timeout=20"]);
    std::thread::sleep(Duration::from_millis(300));
    holder.close_stdin();
    holder.wait();
    let got = waiter.line();
    assert!(got.starts_with("ports 25600 "), "{got}");
    waiter.wait();
}
