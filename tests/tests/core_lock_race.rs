//! The first allocations of a process, made by many threads at once, must all end up locked
//! between processes. Closing any descriptor of a lock file drops every lock the process has
//! on it, so two threads that both opened the file, one dropping its copy, would silently
//! unlock ports the other had just taken: other processes would then see them as free.

use allocport_testkit::under_wine;
use allocport_tests::{parse_ports_line, probe};

#[test]
fn ports_taken_by_racing_first_allocations_are_all_locked_between_processes() {
    // Under Wine each round took about 2 s (80 s for 40): fewer rounds keep CI short.
    let rounds = if under_wine() { 5 } else { 40 };
    for round in 0..rounds {
        let mut racer = probe(&["race-first", "16"], &[]);
        let ports = parse_ports_line(&racer.line());
        assert_eq!(ports.len(), 16);
        let holders = allocport_core::tcp_port_holders().unwrap();
        // Windows cannot name a lock's owner: there the port must show as held, by no pid.
        let pid = cfg!(unix).then(|| racer.pid());
        for port in &ports {
            let holder = holders.iter().find(|h| h.port == *port);
            assert_eq!(
                holder.map(|h| h.pid),
                Some(pid),
                "round {round}: port {port}, held by the racing process, is not locked for it"
            );
        }
        racer.close_stdin();
        racer.wait();
    }
}
