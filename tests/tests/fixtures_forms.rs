//! Every fixture of allocport-fixtures under every rstest form of issue 5 (plain, `#[with]`,
//! `#[from]`, `#[case]`, async), in the shared process with the real pool. That the ports
//! return to the pool when a test ends is proved in `fixtures_release.rs`, in processes of
//! their own with a two-port pool.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

use allocport_core::is_tcp_port_held;
use allocport_fixtures::{
    HeldTcpListener, TcpPortOwner, ipv6_tcp_port, localhost_tcp_port, tcp_listener, tcp_port,
    tcp_ports,
};
use rstest::rstest;

/// The port is held by this process and a server can really listen on it at `host`.
fn assert_usable(owner: &TcpPortOwner, host: &str) {
    let port = owner.port();
    assert!(is_tcp_port_held(port), "port {port} is not held");
    let listener = TcpListener::bind((host, port))
        .unwrap_or_else(|e| panic!("cannot bind {host} port {port} held by a fixture: {e}"));
    assert_eq!(listener.local_addr().unwrap().port(), port);
}

fn distinct(ports: impl IntoIterator<Item = u16>) -> usize {
    ports.into_iter().collect::<BTreeSet<_>>().len()
}

#[rstest]
fn tcp_port_is_held_and_bindable_everywhere(tcp_port: TcpPortOwner) {
    assert_usable(&tcp_port, "0.0.0.0");
    assert_usable(&tcp_port, "127.0.0.1");
}

#[rstest]
fn tcp_ports_defaults_to_two_distinct(tcp_ports: Vec<TcpPortOwner>) {
    assert_eq!(tcp_ports.len(), 2);
    assert_eq!(distinct(tcp_ports.iter().map(TcpPortOwner::port)), 2);
    tcp_ports.iter().for_each(|o| assert_usable(o, "0.0.0.0"));
}

#[rstest]
fn tcp_ports_with_three(#[with(3)] tcp_ports: Vec<TcpPortOwner>) {
    assert_eq!(tcp_ports.len(), 3);
    assert_eq!(distinct(tcp_ports.iter().map(TcpPortOwner::port)), 3);
    tcp_ports.iter().for_each(|o| assert_usable(o, "127.0.0.1"));
}

#[rstest]
fn tcp_ports_renamed_with_from(#[from(tcp_ports)] servers: Vec<TcpPortOwner>) {
    assert_eq!(servers.len(), 2);
}

#[rstest]
fn from_tcp_port_twice_gives_two_ports(
    #[from(tcp_port)] a: TcpPortOwner,
    #[from(tcp_port)] b: TcpPortOwner,
) {
    assert_ne!(a.port(), b.port());
    assert_usable(&a, "127.0.0.1");
    assert_usable(&b, "127.0.0.1");
}

#[rstest]
#[case(1)]
#[case(2)]
#[case(3)]
fn each_case_gets_its_own_port(#[case] n: u32, tcp_port: TcpPortOwner) {
    assert!(n >= 1);
    assert_usable(&tcp_port, "127.0.0.1");
}

#[rstest]
#[case::one(1)]
#[case::four(4)]
fn cases_choose_the_count(#[case] n: usize, #[with(n)] tcp_ports: Vec<TcpPortOwner>) {
    assert_eq!(tcp_ports.len(), n);
    assert_eq!(distinct(tcp_ports.iter().map(TcpPortOwner::port)), n);
}

#[rstest]
fn localhost_port_is_bindable_on_loopback(localhost_tcp_port: TcpPortOwner) {
    assert_usable(&localhost_tcp_port, "127.0.0.1");
}

#[rstest]
fn ipv6_port_is_bindable_on_ipv6_loopback(ipv6_tcp_port: TcpPortOwner) {
    assert_usable(&ipv6_tcp_port, "::1");
}

#[rstest]
fn listener_is_bound_on_its_held_port_and_serves(tcp_listener: HeldTcpListener) {
    let addr = tcp_listener.local_addr().unwrap();
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    assert_eq!(addr.port(), tcp_listener.port());
    assert_eq!(tcp_listener.owner().port(), tcp_listener.port());
    assert!(is_tcp_port_held(tcp_listener.port()));

    let mut client = TcpStream::connect(addr).unwrap();
    client.write_all(b"ping").unwrap();
    let (mut conn, _) = tcp_listener.accept().unwrap();
    let mut buf = [0; 4];
    conn.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
}

#[rstest]
fn listener_parts_keep_the_port_held(tcp_listener: HeldTcpListener) {
    let port = tcp_listener.port();
    let (listener, owner) = tcp_listener.into_parts();
    assert_eq!(listener.local_addr().unwrap().port(), port);
    assert!(is_tcp_port_held(port));
    drop(owner);
    assert!(
        !is_tcp_port_held(port),
        "dropping the owner must release the port"
    );
}

#[rstest]
fn all_fixtures_in_one_test_hold_distinct_ports(
    tcp_port: TcpPortOwner,
    tcp_ports: Vec<TcpPortOwner>,
    localhost_tcp_port: TcpPortOwner,
    ipv6_tcp_port: TcpPortOwner,
    tcp_listener: HeldTcpListener,
) {
    let mut all = vec![
        tcp_port.port(),
        localhost_tcp_port.port(),
        ipv6_tcp_port.port(),
        tcp_listener.port(),
    ];
    all.extend(tcp_ports.iter().map(TcpPortOwner::port));
    assert_eq!(distinct(all.iter().copied()), all.len(), "ports: {all:?}");
}

#[rstest]
#[tokio::test]
async fn async_test_gets_a_port_it_can_serve_on(tcp_port: TcpPortOwner) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", tcp_port.port()))
        .await
        .unwrap();
    let client = tokio::net::TcpStream::connect(("127.0.0.1", tcp_port.port()));
    let (accepted, connected) = tokio::join!(listener.accept(), client);
    accepted.unwrap();
    connected.unwrap();
    assert!(is_tcp_port_held(tcp_port.port()));
}

#[rstest]
#[tokio::test]
async fn async_test_with_several_ports(#[with(3)] tcp_ports: Vec<TcpPortOwner>) {
    tokio::task::yield_now().await;
    assert_eq!(distinct(tcp_ports.iter().map(TcpPortOwner::port)), 3);
    assert!(tcp_ports.iter().all(|o| is_tcp_port_held(o.port())));
}

#[rstest]
#[case(1)]
#[case(2)]
#[tokio::test]
async fn async_cases_with_a_listener(#[case] n: u8, tcp_listener: HeldTcpListener) {
    let (std_listener, owner) = tcp_listener.into_parts();
    std_listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
    let client = tokio::net::TcpStream::connect(("127.0.0.1", owner.port()));
    let (accepted, connected) = tokio::join!(listener.accept(), client);
    accepted.unwrap();
    connected.unwrap();
    assert!(n >= 1 && is_tcp_port_held(owner.port()));
}

/// The value rstest builds for a parameter is the fixture's return value, moved into the
/// test; dropping it, as the end of the test does, must release the port.
#[test]
fn dropping_what_the_fixture_built_releases_its_ports() {
    let one = tcp_port::default();
    let port = one.port();
    assert!(is_tcp_port_held(port));
    drop(one);
    assert!(!is_tcp_port_held(port));

    let three = tcp_ports::partial_1(3);
    let ports: Vec<u16> = three.iter().map(TcpPortOwner::port).collect();
    assert!(ports.iter().all(|&p| is_tcp_port_held(p)));
    drop(three);
    assert!(ports.iter().all(|&p| !is_tcp_port_held(p)), "{ports:?}");

    let listener = tcp_listener::default();
    let port = listener.port();
    drop(listener);
    assert!(!is_tcp_port_held(port));
}
