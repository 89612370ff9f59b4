//! Ports in TIME_WAIT: a server that closed its connection first leaves the port refused to a
//! plain bind for up to a minute, though a server binding with `SO_REUSEADDR` can use it at
//! once. Such a port is handed out when no fully free port is left, never while one is, and
//! never to a strict request, whose timeout then says TIME_WAIT.
#![cfg(any(target_os = "linux", target_os = "android"))]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use allocport_tests::run_request_probe;
use socket2::{Domain, Socket, Type};

/// Runs the request probe once and returns its report.
fn request(args: &[&str], pool: &str) -> String {
    run_request_probe(&[&["request"], args].concat(), pool, "20")
}

fn plain_bind(port: u16) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    socket.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into())?;
    Ok(socket)
}

/// Serves one connection on `port` and closes it first, as Redis does on `QUIT`: the server's
/// side of the connection goes to TIME_WAIT, on the server's port.
fn leave_in_time_wait(port: u16) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
    let mut client = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    let (mut served, _) = listener.accept().unwrap();
    served.write_all(b"+OK\r\n").unwrap();
    drop(served); // the server closes first
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).unwrap();
    drop(client);
    drop(listener);
}

/// Two ports of `range` that nothing uses now.
fn two_free(range: std::ops::RangeInclusive<u16>) -> (u16, u16) {
    let mut free = range.filter(|&p| plain_bind(p).is_ok());
    (free.next().unwrap(), free.next().unwrap())
}

#[test]
fn a_port_in_time_wait_is_handed_out_last_and_never_to_a_strict_request() {
    let (lingering, free) = two_free(24200..=24299);
    leave_in_time_wait(lingering);
    let refused = plain_bind(lingering).err().map(|e| e.kind());
    assert_eq!(
        refused,
        Some(std::io::ErrorKind::AddrInUse),
        "the test's premise: a plain bind is refused while the server's side lingers"
    );
    // A server that binds as std does (SO_REUSEADDR) can use it as soon as the connection's
    // last packets are through (a moment, on a loaded machine).
    let deadline = Instant::now() + Duration::from_secs(10);
    while let Err(e) = TcpListener::bind((Ipv4Addr::LOCALHOST, lingering)) {
        assert!(
            Instant::now() < deadline,
            "still refused with SO_REUSEADDR: {e}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(plain_bind(lingering).is_err(), "TIME_WAIT ended too soon");

    // Alone in the pool it is handed out at once, rather than waited for.
    let alone = request(&["hosts=localhost"], &lingering.to_string());
    assert!(alone.starts_with(&format!("ports {lingering} ")), "{alone}");

    // Beside a fully free port it comes last: the free one is preferred, whatever the order.
    let both = format!("{lingering},{free}");
    for _ in 0..4 {
        let one = request(&["hosts=localhost"], &both);
        assert!(one.starts_with(&format!("ports {free} ")), "{one}");
    }
    let two = request(&["count=2", "hosts=localhost"], &both);
    assert!(two.starts_with("ports "), "{two}");

    // A strict request refuses it, and its timeout names the reason.
    let strict = request(
        &["strict", "timeout=0.3", "hosts=localhost"],
        &lingering.to_string(),
    );
    assert!(strict.starts_with("err timed out"), "{strict}");
    assert!(strict.contains("TIME_WAIT"), "{strict}");
    let exact = request(
        &[
            "strict",
            "timeout=0.3",
            "hosts=localhost",
            &format!("exact={lingering}"),
        ],
        "24300",
    );
    assert!(exact.contains("TIME_WAIT"), "{exact}");
}

#[test]
fn a_listener_is_in_use_even_with_reuse_address() {
    // std's listener binds with SO_REUSEADDR; the check must still see it as in use.
    let (port, _) = two_free(24250..=24299);
    let _server = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap();
    let report = request(&["timeout=0.3", "hosts=localhost"], &port.to_string());
    assert!(report.starts_with("err timed out"), "{report}");
    assert!(!report.contains("TIME_WAIT"), "{report}");
}

/// A socket bound as a server binds before `listen()`: with `SO_REUSEADDR`, not listening.
fn bound_with_reuse_address(port: u16) -> Socket {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_reuse_address(true).unwrap();
    socket
        .bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into())
        .unwrap();
    socket
}

#[test]
fn a_socket_bound_but_not_listening_is_in_use_and_not_called_time_wait() {
    let (port, _) = two_free(24300..=24399);
    let outside = bound_with_reuse_address(port);
    // Such a socket lets a bind with SO_REUSEADDR succeed, as a lingering connection does:
    // only the kernel's table of connections tells them apart.
    let beside = bound_with_reuse_address(port);
    drop(beside);
    for strict in [false, true] {
        let mut args = vec!["timeout=0.3", "hosts=localhost"];
        if strict {
            args.push("strict");
        }
        let report = request(&args, &port.to_string());
        assert!(
            report.starts_with("err timed out"),
            "strict={strict}: {report}"
        );
        assert!(!report.contains("TIME_WAIT"), "strict={strict}: {report}");
    }
    // The outside program can still put it to listen: nobody was handed its port.
    outside.listen(1).unwrap();
}
