//! `allocport status`: who holds which ports now, to see why an allocation waits.

use std::collections::BTreeMap;

use allocport_core::{PortHolder, format_ports_spec};

use crate::exit::{EXIT_FAILURE, Failure};

/// What the COMMAND column says of a holder the kernel gives as pid 0.
const OTHER_NAMESPACE: &str = "(a process in another pid namespace)";

pub(crate) fn run() -> Result<(), Failure> {
    let failed = |e: allocport_core::Error| Failure::new(EXIT_FAILURE, e.to_string());
    let store = allocport_core::store_description().map_err(failed)?;
    let holders = Holders {
        tcp: allocport_core::tcp_port_holders().map_err(failed)?,
        udp: allocport_core::udp_port_holders().map_err(failed)?,
        reserved: allocport_core::port_reservations().map_err(failed)?,
    };
    crate::print_report(&report(&store, &holders, &command_line))
}

/// What other processes hold: TCP ports, UDP ports, and ports reserved for a fair wait.
#[derive(Default)]
struct Holders {
    tcp: Vec<PortHolder>,
    udp: Vec<PortHolder>,
    reserved: Vec<PortHolder>,
}

/// The report: where the claims are kept, then for TCP ports, UDP ports and reservations (each only
/// when there are some) one line per holding process.
fn report(store: &str, holders: &Holders, command_of: &dyn Fn(u32) -> String) -> String {
    let mut out = format!("store: {store}\n");
    if holders.tcp.is_empty() && holders.udp.is_empty() && holders.reserved.is_empty() {
        out += "no ports are held\n";
        return out;
    }
    let sections: [(&[PortHolder], &str, &str); 3] = [
        (&holders.tcp, "", "held"),
        (&holders.udp, "UDP ", "held"),
        (&holders.reserved, "", "reserved for a multi-port wait"),
    ];
    for (list, kind, what) in sections {
        if !list.is_empty() {
            out += &table(list, kind, what, command_of);
        }
    }
    out
}

/// One section: `N [UDP ]ports WHAT by M processes:`, then a PID / PORTS / COMMAND table.
fn table(
    holders: &[PortHolder],
    kind: &str,
    what: &str,
    command_of: &dyn Fn(u32) -> String,
) -> String {
    let mut out = String::new();
    let mut by_pid: BTreeMap<Option<u32>, Vec<u16>> = BTreeMap::new();
    for holder in holders {
        by_pid.entry(holder.pid).or_default().push(holder.port);
    }
    let rows: Vec<[String; 3]> = by_pid
        .iter()
        .map(|(pid, ports)| match pid {
            // The kernel names no process of another (not a descendant) pid namespace, such
            // as another container sharing the lock directory: it gives 0.
            Some(0) => [
                "-".to_owned(),
                format_ports_spec(ports),
                OTHER_NAMESPACE.to_owned(),
            ],
            _ => [
                pid.map_or_else(|| "?".to_owned(), |p| p.to_string()),
                format_ports_spec(ports),
                pid.map_or_else(String::new, command_of),
            ],
        })
        .collect();
    out += &format!(
        "{} {kind}port{} {what} by {} process{}:\n",
        holders.len(),
        plural(holders.len(), "", "s"),
        by_pid.len(),
        plural(by_pid.len(), "", "es"),
    );
    let pid_width = rows.iter().map(|r| r[0].len()).max().unwrap_or(0).max(3);
    let ports_width = rows.iter().map(|r| r[1].len()).max().unwrap_or(0).max(5);
    for [pid, ports, command] in
        std::iter::once(["PID".into(), "PORTS".into(), "COMMAND".into()]).chain(rows)
    {
        let line = format!("{pid:<pid_width$}  {ports:<ports_width$}  {command}");
        out += line.trim_end();
        out += "\n";
    }
    out
}

fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

/// The command line of `pid`, as far as the OS tells it; empty when it does not.
fn command_line(pid: u32) -> String {
    allocport_core::process_command_line(pid).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(port: u16, pid: Option<u32>) -> PortHolder {
        PortHolder { port, pid }
    }

    fn tcp(holders: &[PortHolder]) -> Holders {
        Holders {
            tcp: holders.to_vec(),
            ..Holders::default()
        }
    }

    #[test]
    fn no_holders() {
        let text = report("file store in /tmp/locks", &tcp(&[]), &|_| unreachable!());
        assert_eq!(text, "store: file store in /tmp/locks\nno ports are held\n");
    }

    #[test]
    fn holders_are_grouped_by_process() {
        let holders = [
            holder(2000, Some(42)),
            holder(2001, Some(42)),
            holder(2002, Some(42)),
            holder(2005, Some(7)),
            holder(2010, Some(42)),
        ];
        let text = report("file store in /l", &tcp(&holders), &|pid| {
            format!("prog-{pid} x")
        });
        assert_eq!(
            text,
            "store: file store in /l\n\
             5 ports held by 2 processes:\n\
             PID  PORTS           COMMAND\n\
             7    2005            prog-7 x\n\
             42   2000-2002,2010  prog-42 x\n"
        );
    }

    #[test]
    fn unknown_pid_is_a_question_mark() {
        let text = report(
            "file store in /l",
            &tcp(&[holder(9, None)]),
            &|_| unreachable!(),
        );
        assert!(text.contains("1 port held by 1 process:\n"), "{text}");
        assert!(text.ends_with("?    9\n"), "{text}");
    }

    #[test]
    fn a_holder_in_another_pid_namespace_is_named_so_not_pid_0() {
        let holders = [
            holder(2000, Some(0)),
            holder(2001, Some(0)),
            holder(9, Some(7)),
        ];
        let text = report("file store in /l", &tcp(&holders), &|pid| {
            assert_ne!(pid, 0, "no command line is looked up for pid 0");
            format!("prog-{pid}")
        });
        assert_eq!(
            text,
            "store: file store in /l\n\
             3 ports held by 2 processes:\n\
             PID  PORTS      COMMAND\n\
             -    2000-2001  (a process in another pid namespace)\n\
             7    9          prog-7\n"
        );
    }

    #[test]
    fn udp_holders_and_reservations_follow_the_tcp_ones() {
        let holders = Holders {
            tcp: vec![holder(2000, Some(42))],
            udp: vec![holder(2000, Some(42)), holder(5353, Some(7))],
            reserved: vec![holder(2001, Some(9)), holder(2002, Some(9))],
        };
        let text = report("file store in /l", &holders, &|pid| format!("prog-{pid}"));
        assert_eq!(
            text,
            "store: file store in /l\n\
             1 port held by 1 process:\n\
             PID  PORTS  COMMAND\n\
             42   2000   prog-42\n\
             2 UDP ports held by 2 processes:\n\
             PID  PORTS  COMMAND\n\
             7    5353   prog-7\n\
             42   2000   prog-42\n\
             2 ports reserved for a multi-port wait by 1 process:\n\
             PID  PORTS      COMMAND\n\
             9    2001-2002  prog-9\n"
        );
    }

    #[test]
    fn only_udp_holders_show_no_tcp_section() {
        let holders = Holders {
            udp: vec![holder(5353, None)],
            ..Holders::default()
        };
        let text = report("file store in /l", &holders, &|_| unreachable!());
        assert_eq!(
            text,
            "store: file store in /l\n1 UDP port held by 1 process:\nPID  PORTS  COMMAND\n?    5353\n"
        );
    }
}
