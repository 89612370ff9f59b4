//! A helper process for the `PortRequest` tests: makes requests as told and reports on stdout.
//!
//! - `request OPTION...`: one request, then prints `ports a,b,... ms T` (T: milliseconds the
//!   allocation took) or `err MESSAGE ms T`. Options: `count=N`, `offsets=A:B:..`,
//!   `consecutive=N`, `exact=P`, `strict`, `timeout=SECS`, `hosts=H:H` (`-` for `""`), `udp`
//!   (UDP ports, `allocate_udp`), `tcp_and_udp` (each port held for both), and
//!   `hold` (after reporting, hold the ports until stdin closes), `hold_ms=N` (after
//!   reporting, hold them N milliseconds).
//! - `loop-one HOLD_MS FOR_MS`: allocates one port, holds it HOLD_MS, releases it, again and
//!   again for FOR_MS; prints `ready` after its first allocation and `loops N` at the end.
//! - `exact-in-pool`: with a pool of 3 ports, holds the first exactly, then shows that pool
//!   allocations in this process never get it while it is held and get it back after;
//!   prints `rest a,b then MESSAGE then got P`.
//! - `fair-threads THREADS HOLD_MS TRIES`: THREADS threads of this process hold one port
//!   HOLD_MS at a time, again and again, while the main thread asks TRIES times for two ports;
//!   prints `ms a,b,c`, the milliseconds each 2-port request took.
//! - `pick N`: calls `pick_unused_port` N times, prints `picked a,b,...` and holds them until
//!   stdin closes (they are only released when the process exits).

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use allocport_core::{PortRequest, TcpPortOwner, pick_unused_port};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let code = match args.as_slice() {
        ["request", options @ ..] => request(options),
        ["loop-one", hold, total] => loop_one(ms(hold), ms(total)),
        ["exact-in-pool"] => exact_in_pool(),
        ["pick", n] => pick(n.parse().expect("N")),
        ["fair-threads", threads, hold, tries] => fair_threads(
            threads.parse().expect("THREADS"),
            ms(hold),
            tries.parse().expect("TRIES"),
        ),
        _ => {
            eprintln!("allocport-request-probe: unknown arguments {args:?}");
            2
        }
    };
    std::process::exit(code);
}

fn ms(text: &str) -> Duration {
    Duration::from_millis(text.parse().expect("milliseconds"))
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .expect("stdout");
}

fn ports(owners: &[TcpPortOwner]) -> String {
    let ports: Vec<String> = owners.iter().map(ToString::to_string).collect();
    ports.join(",")
}

fn wait_for_stdin_close() {
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

fn request(options: &[&str]) -> i32 {
    let mut request = PortRequest::new();
    let mut hold = false;
    let mut udp = false;
    let mut hold_for = Duration::ZERO;
    for option in options {
        let (name, value) = option.split_once('=').unwrap_or((option, ""));
        let list = || -> Vec<u16> { value.split(':').map(|o| o.parse().expect("u16")).collect() };
        request = match name {
            "count" => request.count(value.parse().expect("count")),
            "offsets" => request.offsets(&list()),
            "consecutive" => request.consecutive(value.parse().expect("consecutive")),
            "exact" => request.exact(value.parse().expect("exact")),
            "strict" => request.strict(true),
            "timeout" => request.timeout(Duration::from_secs_f64(value.parse().expect("secs"))),
            "hosts" => {
                let hosts: Vec<&str> = value
                    .split(':')
                    .map(|h| if h == "-" { "" } else { h })
                    .collect();
                request.hosts(&hosts)
            }
            "hold" => {
                hold = true;
                request
            }
            "udp" => {
                udp = true;
                request
            }
            "tcp_and_udp" => request.tcp_and_udp(),
            "hold_ms" => {
                hold_for = ms(value);
                request
            }
            _ => panic!("unknown option {option:?}"),
        };
    }
    let start = Instant::now();
    // The owners, whichever kind, live as long as `result`.
    let result = if udp {
        request.allocate_udp().map(|owners| {
            let list: Vec<String> = owners.iter().map(ToString::to_string).collect();
            (list.join(","), Box::new(owners) as Box<dyn std::any::Any>)
        })
    } else {
        request
            .allocate()
            .map(|owners| (ports(&owners), Box::new(owners) as Box<dyn std::any::Any>))
    };
    let took = start.elapsed().as_millis();
    match result {
        Ok((list, _held)) => {
            say(&format!("ports {list} ms {took}"));
            if hold {
                wait_for_stdin_close();
            }
            std::thread::sleep(hold_for);
            0
        }
        Err(e) => {
            say(&format!("err {e} ms {took}"));
            1
        }
    }
}

fn loop_one(hold: Duration, total: Duration) -> i32 {
    let end = Instant::now() + total;
    let mut loops = 0u64;
    while Instant::now() < end {
        let owner = TcpPortOwner::new().unwrap_or_else(|e| panic!("loop-one: {e}"));
        if loops == 0 {
            say("ready");
        }
        std::thread::sleep(hold);
        drop(owner);
        loops += 1;
    }
    say(&format!("loops {loops}"));
    0
}

fn exact_in_pool() -> i32 {
    let pool = allocport_core::server_tcp_ports().expect("pool");
    let first = *pool.first().expect("a pool of 3 ports");
    let exact = PortRequest::new()
        .exact(first)
        .allocate()
        .expect("the exact port");
    let rest = PortRequest::new()
        .count(pool.len() - 1)
        .allocate()
        .expect("the rest of the pool");
    let one_more = PortRequest::new()
        .timeout(Duration::from_millis(300))
        .allocate();
    let message = match one_more {
        Ok(owners) => format!("unexpectedly got {}", ports(&owners)),
        Err(e) => e.to_string(),
    };
    drop(exact);
    let again = PortRequest::new()
        .timeout(Duration::from_secs(10))
        .allocate()
        .expect("the port freed by the exact owner");
    say(&format!(
        "rest {} then {message} then got {}",
        ports(&rest),
        ports(&again)
    ));
    0
}

fn pick(n: usize) -> i32 {
    let picked: Vec<String> = (0..n)
        .map(|_| match pick_unused_port() {
            Some(port) => port.to_string(),
            None => "none".into(),
        })
        .collect();
    say(&format!("picked {}", picked.join(",")));
    wait_for_stdin_close();
    0
}

fn fair_threads(threads: usize, hold: Duration, tries: usize) -> i32 {
    let stop = std::sync::atomic::AtomicBool::new(false);
    let took: Vec<String> = std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let owner = TcpPortOwner::new().unwrap_or_else(|e| panic!("one port: {e}"));
                    std::thread::sleep(hold);
                    drop(owner);
                }
            });
        }
        std::thread::sleep(Duration::from_millis(500));
        let took = (0..tries)
            .map(|_| {
                let start = Instant::now();
                let owners = PortRequest::new().count(2).allocate();
                let ms = start.elapsed().as_millis();
                drop(owners.unwrap_or_else(|e| panic!("two ports: {e}")));
                std::thread::sleep(Duration::from_millis(100));
                ms.to_string()
            })
            .collect();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        took
    });
    say(&format!("ms {}", took.join(",")));
    0
}
