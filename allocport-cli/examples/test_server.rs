//! A stand-in server for allocport-cli's integration tests, so they need nothing but Rust.
//!
//! `test_server [--exit CODE] [--wait] [--catch] [--ipv6] [--echo TEXT] PORT...` listens on
//! each PORT on every IPv4 interface (with `--ipv6`, on `::1`), without `SO_REUSEADDR` (so the bind fails if anything else has the
//! port), prints one line describing what it got, then exits with CODE (default 0), or with
//! `--wait` stays up until a signal ends it (60 seconds at most, so a failed test leaves
//! nothing running). With `--catch`, SIGINT and SIGTERM are caught: it prints
//! `caught signal N xCOUNT` (COUNT: how many came within 100 ms of the first) and exits with
//! status 42, so a test can tell that the signal reached it, and how often; `--rounds R` waits
//! for R such bursts before exiting. `--catch-also N,M,...` catches those signal numbers too.
//!
//! Try it: `cargo run -p allocport-cli --example test_server -- --echo hello 0`.

use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};

const MAX_LIFETIME: Duration = Duration::from_secs(60);

/// What the command line asks for.
struct Options {
    exit_code: i32,
    wait: bool,
    catch: bool,
    also: Vec<i32>,
    rounds: u32,
    ipv6: bool,
    echo: Vec<String>,
    ports: Vec<u16>,
}

fn main() {
    let options = parse_args(std::env::args().skip(1));
    if options.catch {
        catch_signals(&[]);
    }
    if !options.also.is_empty() {
        catch_signals(&options.also);
    }
    // Kept open until exit: the ports are in use for as long as this process lives.
    let listeners: Vec<Socket> = options
        .ports
        .iter()
        .map(|&port| listen(port, options.ipv6))
        .collect();
    report(&options.ports, &options.echo);
    if options.wait {
        wait_for_signals(options.rounds);
    }
    drop(listeners);
    std::process::exit(options.exit_code);
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Options {
    let mut options = Options {
        exit_code: 0,
        wait: false,
        catch: false,
        also: Vec::new(),
        rounds: 1,
        ipv6: false,
        echo: Vec::new(),
        ports: Vec::new(),
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--exit" => {
                options.exit_code = args.next().and_then(|c| c.parse().ok()).unwrap_or(2);
            }
            "--wait" => options.wait = true,
            "--catch" => options.catch = true,
            "--catch-also" => {
                let list = args.next().unwrap_or_default();
                options.also = list.split(',').filter_map(|n| n.parse().ok()).collect();
            }
            "--ipv6" => options.ipv6 = true,
            "--rounds" => options.rounds = args.next().and_then(|c| c.parse().ok()).unwrap_or(1),
            "--echo" => options.echo.push(args.next().unwrap_or_default()),
            port => match port.parse::<u16>() {
                Ok(port) => options.ports.push(port),
                Err(e) => fail(&format!("{port:?} is not a port: {e}")),
            },
        }
    }
    options
}

/// The one line a test reads: the pid, the ports, what allocport put in the environment.
fn report(ports: &[u16], echo: &[String]) {
    let env = |name: &str| std::env::var(name).unwrap_or_else(|_| "-".into());
    let port_vars: Vec<String> = (0..ports.len())
        .map(|i| env(&format!("PORT_{i}")))
        .collect();
    say(&format!(
        "pid={} ports={} env={} vars={} echo={}",
        std::process::id(),
        join(ports),
        env("ALLOCPORT_PORTS"),
        port_vars.join(","),
        echo.join(" ")
    ));
}

/// Stays up until `rounds` bursts of caught signals came (then exits 42), or fails after
/// [`MAX_LIFETIME`].
fn wait_for_signals(mut rounds: u32) -> ! {
    let start = Instant::now();
    while start.elapsed() < MAX_LIFETIME {
        if let Some(signal) = caught() {
            // Long enough for a duplicate (say from the terminal and from allocport both)
            // to arrive, so a test can see that the signal came exactly once.
            std::thread::sleep(Duration::from_millis(100));
            say(&format!("caught signal {signal} x{}", take_count()));
            rounds -= 1;
            if rounds == 0 {
                std::process::exit(42);
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    fail("--wait: no signal came within 60 seconds")
}

fn listen(port: u16, ipv6: bool) -> Socket {
    let bind = || -> std::io::Result<Socket> {
        let addr = if ipv6 {
            SocketAddr::from((Ipv6Addr::LOCALHOST, port))
        } else {
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))
        };
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
        socket.bind(&addr.into())?;
        socket.listen(16)?;
        Ok(socket)
    };
    bind().unwrap_or_else(|e| fail(&format!("cannot listen on port {port}: {e}")))
}

fn join(ports: &[u16]) -> String {
    ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    // A test reading the line may have gone; nothing to do about it here.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn fail(message: &str) -> ! {
    eprintln!("test_server: {message}");
    std::process::exit(3);
}

#[cfg(unix)]
mod sig {
    use std::sync::atomic::{AtomicI32, Ordering};

    pub(crate) static CAUGHT: AtomicI32 = AtomicI32::new(0);
    pub(crate) static COUNT: AtomicI32 = AtomicI32::new(0);

    extern "C" fn on_signal(signal: libc::c_int) {
        CAUGHT.store(signal, Ordering::SeqCst);
        COUNT.fetch_add(1, Ordering::SeqCst);
    }

    /// Catches `signals`, or SIGINT and SIGTERM if none are given.
    pub(crate) fn install(signals: &[libc::c_int]) {
        let default = [libc::SIGINT, libc::SIGTERM];
        let signals = if signals.is_empty() {
            &default[..]
        } else {
            signals
        };
        for &signal in signals {
            // SAFETY: a zeroed sigaction is a valid empty one; the handler only stores an atomic.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(signal, &action, std::ptr::null_mut());
            }
        }
    }
}

#[cfg(unix)]
fn catch_signals(signals: &[i32]) {
    sig::install(signals);
}

#[cfg(unix)]
fn caught() -> Option<i32> {
    Some(sig::CAUGHT.load(std::sync::atomic::Ordering::SeqCst)).filter(|&s| s != 0)
}

/// How many signals came since the last call; the next `caught` waits for a new one.
#[cfg(unix)]
fn take_count() -> i32 {
    sig::CAUGHT.store(0, std::sync::atomic::Ordering::SeqCst);
    sig::COUNT.swap(0, std::sync::atomic::Ordering::SeqCst)
}

#[cfg(not(unix))]
fn catch_signals(_: &[i32]) {}

#[cfg(not(unix))]
fn take_count() -> i32 {
    0
}

#[cfg(not(unix))]
fn caught() -> Option<i32> {
    None
}
