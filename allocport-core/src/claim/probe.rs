//! The bind check: whether a port can be bound on an address right now.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

use crate::claim::host::CheckAddr;
use crate::error::Error;

/// What a bind check found.
#[derive(Debug)]
pub(crate) enum Check {
    Free,
    /// TCP only: refused by a plain bind, but only lingering connections (TIME_WAIT and the
    /// like) are in the way: a server that binds with `SO_REUSEADDR`, as Rust's std, tokio and
    /// most servers do, can use it now. Only found on Linux, where such a bind fails beside a
    /// listener, and only with a connection on the port in the kernel's table (a socket bound
    /// but not listening lets such a bind succeed too, and is in use).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    Lingering,
    InUse,
    /// This port cannot be bound on the address for a reason other than use (`EACCES` for a
    /// privileged port, `EPERM`, a Windows excluded port range...) while the address itself
    /// can be bound: the port is of no use to this process.
    Unbindable(io::Error),
}

/// Binds a fresh socket to `ip:port` and closes it: the port is free there if that succeeds.
/// No `SO_REUSEADDR` (which would let the bind succeed beside a lingering socket): when that
/// bind is refused, a second one with it tells a port only in TIME_WAIT apart; on Windows
/// `SO_EXCLUSIVEADDRUSE`, so a socket bound with `SO_REUSEADDR` elsewhere cannot hide.
pub(crate) fn check_port(addr: &CheckAddr<'_>, port: u16) -> Result<Check, Error> {
    check(addr, port, Type::STREAM, Protocol::TCP)
}

/// [`check_port`] for UDP: binds a datagram socket the same way.
pub(crate) fn check_udp_port(addr: &CheckAddr<'_>, port: u16) -> Result<Check, Error> {
    check(addr, port, Type::DGRAM, Protocol::UDP)
}

fn check(addr: &CheckAddr<'_>, port: u16, kind: Type, protocol: Protocol) -> Result<Check, Error> {
    let error = |cause: io::Error| Error::PortCheck {
        port,
        host: addr.host.to_owned(),
        addr: addr.ip,
        cause,
    };
    let sockaddr = SocketAddr::new(addr.ip, port);
    let socket = Socket::new(Domain::for_address(sockaddr), kind, Some(protocol)).map_err(error)?;
    #[cfg(windows)]
    exclusive_address_use(&socket).map_err(error)?;
    let bound = socket.bind(&sockaddr.into());
    close(socket);
    match bound {
        Ok(()) => Ok(Check::Free),
        Err(e) if e.kind() == io::ErrorKind::AddrInUse && kind == Type::STREAM => {
            lingering_only(sockaddr).map_err(error)
        }
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => Ok(Check::InUse),
        // PySys counts every bind error as "busy"; here only a port-specific one is skipped,
        // so that a host that is not a local address still fails at once.
        Err(e) if address_is_bindable(sockaddr, kind, protocol) => Ok(Check::Unbindable(e)),
        Err(e) => Err(error(e)),
    }
}

/// Closes a bind check's socket. On Unix by `close` alone: a drop in a debug build first asks
/// the kernel whether the descriptor is open (a debug assertion of the standard library), one
/// system call more per bind check in every test process.
fn close(socket: Socket) {
    #[cfg(unix)]
    {
        use std::os::fd::IntoRawFd;
        // SAFETY: the descriptor is the socket's own, given up by it, and used by nothing after.
        unsafe { libc::close(socket.into_raw_fd()) };
    }
    #[cfg(not(unix))]
    drop(socket);
}

/// After a plain TCP bind was refused: whether only lingering connections are in the way. On
/// Linux a bind with `SO_REUSEADDR` fails beside a listener (so the port is in use), and
/// succeeds beside connections in TIME_WAIT and the like, but also beside a socket an outside
/// program has bound with `SO_REUSEADDR` and not yet put to listen, whose `listen()` would then
/// fail if the port were handed out. The kernel's table of connections tells the two apart:
/// with no connection on the port, it is such a bound socket, in use.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn lingering_only(sockaddr: SocketAddr) -> io::Result<Check> {
    use crate::claim::tcp_table::{Connections, connections_on};
    let socket = Socket::new(
        Domain::for_address(sockaddr),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    let bound = socket.bind(&sockaddr.into());
    close(socket);
    match bound {
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => Ok(Check::InUse),
        Err(e) => Err(e),
        Ok(()) => Ok(match connections_on(sockaddr.port()) {
            Connections::Some => Check::Lingering,
            Connections::None => Check::InUse,
            // Without the table (no /proc, or a sandbox hides it) the port cannot be told
            // apart from one in TIME_WAIT: it is taken for one, as it always was.
            Connections::Unknown => Check::Lingering,
        }),
    }
}

/// Elsewhere `SO_REUSEADDR` lets a bind succeed beside a listener on another address (BSDs,
/// macOS) or even take the port over (Windows), so it proves nothing: the port is in use. A
/// port in TIME_WAIT is therefore never handed out there, and a socket bound but not listening
/// is always seen.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn lingering_only(_: SocketAddr) -> io::Result<Check> {
    Ok(Check::InUse)
}

/// Whether the address itself can be bound, on a port the OS picks: if so, a failed bind of
/// one port is about that port, not the address.
fn address_is_bindable(addr: SocketAddr, kind: Type, protocol: Protocol) -> bool {
    let any_port = SocketAddr::new(addr.ip(), 0);
    Socket::new(Domain::for_address(any_port), kind, Some(protocol))
        .and_then(|socket| socket.bind(&any_port.into()))
        .is_ok()
}

#[cfg(windows)]
fn exclusive_address_use(socket: &Socket) -> io::Result<()> {
    use std::os::windows::io::AsRawSocket;
    use windows_sys::Win32::Networking::WinSock::{
        SO_EXCLUSIVEADDRUSE, SOCKET, SOL_SOCKET, setsockopt,
    };
    let on: i32 = 1;
    // SAFETY: the socket is open for the call and `on` outlives it; the length matches its type.
    let rc = unsafe {
        setsockopt(
            socket.as_raw_socket() as SOCKET,
            SOL_SOCKET,
            SO_EXCLUSIVEADDRUSE,
            (&raw const on).cast(),
            std::mem::size_of::<i32>() as i32,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    #[test]
    fn bind_check_sees_a_listener() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let addr = CheckAddr {
            host: "localhost",
            ip: IpAddr::from([127, 0, 0, 1]),
        };
        assert!(matches!(check_port(&addr, port).unwrap(), Check::InUse));
        let wildcard = CheckAddr {
            host: "",
            ip: IpAddr::from([0, 0, 0, 0]),
        };
        assert!(matches!(check_port(&wildcard, port).unwrap(), Check::InUse));
        drop(listener);
        assert!(matches!(check_port(&addr, port).unwrap(), Check::Free));
    }

    #[test]
    fn udp_bind_check_sees_a_udp_socket_and_not_a_tcp_listener() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = socket.local_addr().unwrap().port();
        let addr = CheckAddr {
            host: "localhost",
            ip: IpAddr::from([127, 0, 0, 1]),
        };
        assert!(matches!(check_udp_port(&addr, port).unwrap(), Check::InUse));
        drop(socket);
        assert!(matches!(check_udp_port(&addr, port).unwrap(), Check::Free));
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp_port = tcp.local_addr().unwrap().port();
        // UDP's port space is its own: a TCP listener does not make the number busy for UDP.
        if std::net::UdpSocket::bind(("127.0.0.1", tcp_port)).is_ok() {
            assert!(matches!(
                check_udp_port(&addr, tcp_port).unwrap(),
                Check::Free
            ));
        }
    }

    #[test]
    fn a_privileged_port_is_unbindable_for_a_process_without_the_privilege() {
        let first = crate::ports::privileged::first_bindable_port();
        if first <= 80 {
            println!("skipped: this process may bind port 80 (the tests crate runs it as nobody)");
            return;
        }
        let addr = CheckAddr {
            host: "",
            ip: IpAddr::from([0, 0, 0, 0]),
        };
        match check_port(&addr, 80) {
            Ok(Check::Unbindable(e)) => assert_eq!(e.kind(), io::ErrorKind::PermissionDenied),
            other => panic!("port 80 as an unprivileged process: {other:?}"),
        }
    }

    #[test]
    fn address_not_on_this_machine_is_an_error_not_a_busy_port() {
        // TEST-NET-1 (RFC 5737) is never assigned to a local interface.
        let addr = CheckAddr {
            host: "192.0.2.1",
            ip: IpAddr::from([192, 0, 2, 1]),
        };
        let msg = check_port(&addr, 40000).unwrap_err().to_string();
        assert!(msg.contains("192.0.2.1") && msg.contains("40000"), "{msg}");
    }
}
