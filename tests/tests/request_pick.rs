//! `pick_unused_port`: portpicker's signature, each port held until the process exits.

use std::collections::HashSet;

use allocport_tests::request_probe;

fn start(args: &[&str], pool: &str) -> allocport_testkit::Process {
    request_probe(args, pool, "0.3")
}

#[test]
fn picked_ports_stay_held_until_the_process_exits() {
    let mut picker = start(&["pick", "3"], "24330-24333");
    let line = picker.line();
    let picked: Vec<u16> = line
        .strip_prefix("picked ")
        .unwrap_or_else(|| panic!("{line}"))
        .split(',')
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(picked.iter().collect::<HashSet<_>>().len(), 3, "{line}");
    // Only one port is left for another process while the picker lives ...
    let mut other = start(&["pick", "2"], "24330-24333");
    let second = other.line();
    other.close_stdin();
    other.wait();
    let (got, none) = second
        .strip_prefix("picked ")
        .and_then(|r| r.split_once(','))
        .unwrap_or_else(|| panic!("{second}"));
    assert!(!picked.contains(&got.parse().unwrap()), "{second}");
    assert_eq!(none, "none", "{second}");
    // ... and all four once it has exited.
    picker.close_stdin();
    picker.wait();
    let mut after = start(&["pick", "4"], "24330-24333");
    let all = after.line();
    after.close_stdin();
    after.wait();
    assert!(!all.contains("none"), "{all}");
}

#[test]
fn pick_unused_port_has_portpicker_s_signature() {
    let pick: fn() -> Option<u16> = allocport_core::pick_unused_port;
    let port = pick().expect("a port");
    assert!(allocport_core::is_tcp_port_held(port));
    std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
}
