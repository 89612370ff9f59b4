//! A server that takes its listening socket the way systemd socket activation passes it, as
//! `allocport exec --listen` does: it never binds a port itself, so it never races anyone for
//! one.
//!
//! It checks `LISTEN_PID` is its own pid and `LISTEN_FDS` is at least 1, takes descriptor 3,
//! prints `listening on ADDR (LISTEN_FDNAMES=NAMES)`, then answers each client: it reads one
//! line and writes back `hello NAME` (`NAME` being the line), `--count N` times (default 1),
//! then exits. Without the variables it exits with status 2 and says why.
//!
//! Try it: `allocport exec --listen -- target/debug/examples/listen_server`, then, from
//! another shell, `echo world | nc 127.0.0.1 PORT` with the port it printed.

#[cfg(unix)]
fn main() {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::os::fd::FromRawFd;

    let count: usize = match std::env::args().skip(1).collect::<Vec<_>>().as_slice() {
        [] => 1,
        [flag, n] if flag == "--count" => n.parse().expect("--count N"),
        other => fail(&format!("unknown arguments {other:?}")),
    };
    let var = |name: &str| std::env::var(name).ok();
    let pid = var("LISTEN_PID").unwrap_or_else(|| fail("LISTEN_PID is not set"));
    if pid != std::process::id().to_string() {
        fail(&format!(
            "LISTEN_PID={pid} is not this process ({}): the sockets are not for it",
            std::process::id()
        ));
    }
    let fds: usize = var("LISTEN_FDS")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| fail("LISTEN_FDS is not a number"));
    if fds < 1 {
        fail("LISTEN_FDS is 0: no socket was passed");
    }
    // SAFETY: socket activation hands this process descriptor 3, a listening TCP socket, to
    // own; nothing else in this program uses it.
    let listener = unsafe { TcpListener::from_raw_fd(3) };
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| fail(&format!("descriptor 3 is not a socket: {e}")));
    println!(
        "listening on {addr} (LISTEN_FDNAMES={})",
        var("LISTEN_FDNAMES").unwrap_or_default()
    );
    for _ in 0..count {
        let (conn, _) = listener.accept().expect("accept");
        let mut line = String::new();
        BufReader::new(&conn).read_line(&mut line).expect("read");
        writeln!(&conn, "hello {}", line.trim_end()).expect("write");
    }
}

#[cfg(unix)]
fn fail(message: &str) -> ! {
    eprintln!("listen_server: {message}");
    std::process::exit(2)
}

#[cfg(not(unix))]
fn main() {
    eprintln!("listen_server: socket activation needs Unix");
    std::process::exit(2)
}
