//! Allocates two ports, starts a small TCP echo server on each, talks to both, and prints the
//! ports and the allocation statistics.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

use allocport_core::{AddressFamily, TcpPortOwner, port_allocation_stats};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let owners = [
        TcpPortOwner::new()?,
        TcpPortOwner::with_hosts(&["localhost"], AddressFamily::Ipv4)?,
    ];
    let servers: Vec<_> = owners
        .iter()
        .map(|owner| {
            let listener = TcpListener::bind(("127.0.0.1", owner.port()))?;
            Ok(thread::spawn(move || echo_once(listener)))
        })
        .collect::<std::io::Result<_>>()?;

    for owner in &owners {
        let mut stream = TcpStream::connect(("127.0.0.1", owner.port()))?;
        writeln!(stream, "hello port {owner}")?;
        let mut reply = String::new();
        BufReader::new(stream).read_line(&mut reply)?;
        println!("server on port {owner} replied: {}", reply.trim_end());
    }
    for server in servers {
        server.join().expect("echo server panicked")?;
    }
    let ports: Vec<u16> = owners.iter().map(TcpPortOwner::port).collect();
    println!("ports: {ports:?}");
    println!("{}", port_allocation_stats());
    Ok(())
}

/// Accepts one connection and echoes one line back.
fn echo_once(listener: TcpListener) -> std::io::Result<()> {
    let (stream, _) = listener.accept()?;
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line)?;
    (&stream).write_all(line.as_bytes())
}
