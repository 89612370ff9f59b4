//! UDP ports and held sockets in one process: a UDP port in use is skipped, TCP and UDP on one
//! number, and listeners and UDP sockets bound on held ports on `127.0.0.1` and `::1`.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream, UdpSocket};

use allocport_core::{
    AddressFamily, DEFAULT_HOSTS, HeldTcpListener, HeldUdpSocket, TcpPortOwner, UdpPortOwner,
    is_tcp_port_held,
};
use allocport_testkit::TempDir;
use allocport_tests::udp_probe;

/// Numbers reserved for one test, for TCP and UDP, in the shared lock store, so that no other
/// allocport user (another test, under nextest, in another process) takes or binds them
/// meanwhile; the test binds some of them outside allocport, as another program would, and
/// probes run with exactly these numbers as their pool and a private lock directory, so they
/// see the test's binds but not its reservation.
struct Sandbox {
    ports: Vec<u16>,
    dir: TempDir,
    _reserved: Vec<TcpPortOwner>,
}

impl Sandbox {
    fn new(n: usize) -> Sandbox {
        let reserved = TcpPortOwner::many_with_udp(n, &DEFAULT_HOSTS, AddressFamily::Ipv4)
            .expect("reserving ports for the test");
        Sandbox {
            ports: reserved.iter().map(TcpPortOwner::port).collect(),
            dir: TempDir::new("udp"),
            _reserved: reserved,
        }
    }

    /// `allocport-probe udp try KIND` with `ports` (some of this sandbox's) as its pool.
    fn try_in_pool(&self, kind: &str, ports: &[u16]) -> String {
        let pool: Vec<String> = ports.iter().map(u16::to_string).collect();
        let lock_dir = self.dir.path().join("locks");
        let mut p = udp_probe(
            &["try", kind],
            &[
                ("PYSYS_PORTS", &pool.join(",")),
                ("ALLOCPORT_LOCK_DIR", lock_dir.to_str().unwrap()),
                ("ALLOCPORT_TIMEOUT_SECS", "0.3"),
            ],
        );
        let line = p.line();
        p.wait();
        line
    }
}

#[test]
fn a_udp_port_in_use_is_skipped_and_a_tcp_listener_does_not_count_for_udp() {
    let sandbox = Sandbox::new(2);
    let [a, b] = sandbox.ports[..] else {
        unreachable!()
    };
    // Bound outside allocport, as another program would.
    let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, a)).expect("bind UDP for the test");
    let _tcp = TcpListener::bind((Ipv4Addr::LOCALHOST, b)).expect("bind TCP for the test");
    for _ in 0..5 {
        // The pool order is shuffled per process: each run would try `a` first half the time.
        assert_eq!(sandbox.try_in_pool("udp", &[a, b]), format!("ok {b}"));
    }
    let busy = sandbox.try_in_pool("udp", &[a]);
    assert!(busy.starts_with("err timed out"), "{busy}");
    drop(udp);
    assert_eq!(sandbox.try_in_pool("udp", &[a]), format!("ok {a}"));
}

#[test]
fn a_tcp_and_udp_port_is_free_for_both_and_skips_numbers_busy_for_either() {
    let sandbox = Sandbox::new(3);
    let [a, b, c] = sandbox.ports[..] else {
        unreachable!()
    };
    let _udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, a)).expect("bind UDP for the test");
    let _tcp = TcpListener::bind((Ipv4Addr::LOCALHOST, b)).expect("bind TCP for the test");
    for _ in 0..5 {
        assert_eq!(sandbox.try_in_pool("dual", &[a, b, c]), format!("ok {c}"));
    }
}

#[test]
fn with_udp_holds_one_number_bindable_for_tcp_and_udp() {
    let owner = TcpPortOwner::with_udp(&["localhost"], AddressFamily::Ipv4).unwrap();
    assert!(owner.holds_udp());
    assert!(is_tcp_port_held(owner.port()));
    let _tcp = TcpListener::bind((Ipv4Addr::LOCALHOST, owner.port())).unwrap();
    let _udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, owner.port())).unwrap();
    let many = TcpPortOwner::many_with_udp(3, &["localhost"], AddressFamily::Ipv4).unwrap();
    assert!(many.iter().all(TcpPortOwner::holds_udp));
    assert!(!TcpPortOwner::new().unwrap().holds_udp());
}

#[test]
fn udp_owners_are_distinct_display_their_port_and_release_on_cleanup() {
    let owners = UdpPortOwner::many(20, &["localhost"], AddressFamily::Ipv4).unwrap();
    let ports: std::collections::HashSet<u16> = owners.iter().map(UdpPortOwner::port).collect();
    assert_eq!(ports.len(), 20);
    let one = UdpPortOwner::new().unwrap();
    assert!(!ports.contains(&one.port()));
    assert_eq!(one.to_string(), one.port().to_string());
    let port = one.port();
    // A UDP port's number is out of this process's pool whatever the protocol.
    assert!(is_tcp_port_held(port));
    one.cleanup();
    assert!(!is_tcp_port_held(port));
    let v6 = UdpPortOwner::with_hosts(&["::1"], AddressFamily::Ipv6).unwrap();
    UdpSocket::bind(("::1", v6.port())).unwrap();
}

fn serve_one_tcp(listener: &TcpListener) {
    let addr = listener.local_addr().unwrap();
    let mut client = TcpStream::connect(addr).unwrap();
    client.write_all(b"ping").unwrap();
    let (mut conn, _) = listener.accept().unwrap();
    let mut buf = [0; 4];
    conn.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
}

#[test]
fn held_tcp_listeners_serve_on_127_0_0_1_and_on_ipv6_loopback() {
    let v4 = HeldTcpListener::new().unwrap();
    assert_eq!(v4.local_addr().unwrap().ip(), Ipv4Addr::LOCALHOST);
    assert_eq!(v4.local_addr().unwrap().port(), v4.port());
    assert!(is_tcp_port_held(v4.port()));
    serve_one_tcp(&v4);

    let v6 = HeldTcpListener::with_host("::1", AddressFamily::Ipv6).unwrap();
    assert_eq!(v6.local_addr().unwrap().ip(), std::net::Ipv6Addr::LOCALHOST);
    assert_eq!(v6.local_addr().unwrap().port(), v6.port());
    serve_one_tcp(&v6);

    let port = v6.port();
    let (listener, owner) = v6.into_parts();
    drop(listener);
    assert!(is_tcp_port_held(port));
    drop(owner);
    assert!(!is_tcp_port_held(port));
}

fn echo_one_udp(socket: &UdpSocket, client_bind: &str) {
    let client = UdpSocket::bind(client_bind).unwrap();
    client
        .send_to(b"ping", socket.local_addr().unwrap())
        .unwrap();
    let mut buf = [0; 8];
    let (n, from) = socket.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ping");
    assert_eq!(from, client.local_addr().unwrap());
}

#[test]
fn held_udp_sockets_receive_on_127_0_0_1_and_on_ipv6_loopback() {
    let v4 = HeldUdpSocket::new().unwrap();
    assert_eq!(v4.local_addr().unwrap().ip(), Ipv4Addr::LOCALHOST);
    assert_eq!(v4.local_addr().unwrap().port(), v4.port());
    echo_one_udp(&v4, "127.0.0.1:0");

    let v6 = HeldUdpSocket::with_host("::1", AddressFamily::Ipv6).unwrap();
    assert_eq!(v6.local_addr().unwrap().port(), v6.port());
    echo_one_udp(&v6, "[::1]:0");
}

#[test]
fn a_held_listener_on_a_host_of_the_wrong_family_is_an_error_naming_it() {
    let err = HeldTcpListener::with_host("::1", AddressFamily::Ipv4).unwrap_err();
    assert!(err.to_string().contains("\"::1\""), "{err}");
}
