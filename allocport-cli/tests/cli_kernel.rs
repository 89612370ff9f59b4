//! `allocport exec` and `allocport status` on the kernel store (Linux): the command's ports
//! stay held while it runs, with and without `--listen`, and `status` names allocport's pid.
//!
//! The test process reserves the ports in the shared store, so nothing else on the machine
//! takes them, and runs `allocport` in a namespace of its own (`ALLOCPORT_NAMESPACE`).
#![cfg(target_os = "linux")]

use std::process::Command;
use std::time::Duration;

use allocport_core::{TcpPortOwner, format_ports_spec};
use allocport_testkit::{Signal, Spawn, output_within};

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_allocport");
const LIMIT: Duration = Duration::from_secs(30);

struct Kernel {
    ns: String,
    spec: String,
    ports: Vec<u16>,
    _reserved: Vec<TcpPortOwner>,
}

impl Kernel {
    fn new(test: &str, n: usize) -> Kernel {
        let (reserved, ports) = common::reserve_ports(n);
        Kernel {
            ns: format!("cli-{test}-{}", std::process::id()),
            spec: format_ports_spec(&ports),
            ports,
            _reserved: reserved,
        }
    }

    fn allocport(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env("ALLOCPORT_STORE", "kernel")
            .env("ALLOCPORT_NAMESPACE", &self.ns)
            .env_remove("ALLOCPORT_LOCK_DIR")
            .env("PYSYS_PORTS", &self.spec)
            .env("ALLOCPORT_TIMEOUT_SECS", "1");
        command
    }

    fn status(&self) -> String {
        let out = output_within(&mut self.allocport(&["status"]), LIMIT);
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    }
}

fn holds_while_the_command_runs(test: &str, listen: bool) {
    let k = Kernel::new(test, 2);
    let mut args = vec!["exec", "-n", "2"];
    if listen {
        args.push("--listen");
    }
    args.extend(["--", "sh", "-c", "echo \"$ALLOCPORT_PORTS\"; exec sleep 30"]);
    let mut running = Spawn::new().start(&mut k.allocport(&args));
    let mut got: Vec<u16> = running
        .line()
        .split(',')
        .map(|p| p.parse().unwrap())
        .collect();
    got.sort_unstable();
    assert_eq!(got, k.ports);
    let status = k.status();
    assert!(
        status.starts_with(&format!("store: kernel store, names @allocport-{}/", k.ns)),
        "{status}"
    );
    assert!(status.contains("2 ports held by 1 process:\n"), "{status}");
    assert!(
        status.contains(&format!("\n{} ", running.pid())),
        "allocport's pid: {status}"
    );
    let more = output_within(&mut k.allocport(&["exec", "-n", "1", "--", "true"]), LIMIT);
    assert_eq!(more.status.code(), Some(125), "{more:?}");
    running.signal(Signal::Term);
    running.wait();
    assert!(k.status().ends_with("no ports are held\n"));
}

#[test]
fn exec_holds_its_ports_in_the_kernel_store_while_the_command_runs() {
    holds_while_the_command_runs("exec", false);
}

#[test]
fn exec_listen_holds_its_ports_in_the_kernel_store_while_the_command_runs() {
    holds_while_the_command_runs("listen", true);
}
