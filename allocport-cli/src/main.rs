//! `allocport`: TCP server ports for programs started from scripts, from the same pool, with
//! the same environment variables and the same cross-process locks as the allocport library,
//! so Rust tests and shell-driven tests never get the same port.

mod exec;
mod exit;
mod limits;
mod listen;
mod placeholders;
mod ports;
#[cfg(unix)]
mod signals;
mod status;

use std::ffi::OsString;

use clap::{Args, Parser, Subcommand, ValueEnum};

use exit::{EXIT_FAILURE, EXIT_USAGE, Failure};

const EXAMPLES: &str = "\
Examples:
  # two servers on ports held until the script ends
  allocport exec -n 2 -- ./run-test.sh --server-port {port0} --admin-port {port1}
  # the ports also come as ALLOCPORT_PORTS=p1,p2, PORT_0=p1 and PORT_1=p2
  allocport exec -n 1 -- sh -c 'python3 -m http.server \"$PORT_0\"'
  # check on IPv6 loopback only
  allocport exec -n 1 --hosts ::1 --family ipv6 -- ./server {port0}
  # a port and the port 10000 above it; a block of 3; a fixed port taken in turns
  allocport exec -n 2 --offsets 0,10000 -- redis-server --port {port0}
  allocport exec -n 3 --consecutive -- ./cluster --first-port {port0}
  allocport exec --exact 6379 -- ./vendor-server
  # UDP ports; a number free and held for TCP and UDP (a DNS server)
  allocport exec -n 2 --udp --consecutive -- ./rtp-server --rtp {port0} --rtcp {port1}
  allocport exec --tcp-and-udp -- ./dns-server --port {port0}
  # where the ports come from, and who holds which now
  PYSYS_PORTS=2000-2100 allocport ports
  allocport status";

const EXIT_STATUS: &str = "\
Exit status: 0 on success, 1 when `ports` or `status` fail, 2 on a usage error;
`exec` exits with the command's status (128+N if it dies from signal N), 125 when
no ports could be allocated, 126 when the command cannot be run, 127 when it is not found.";

/// The top-level `--help`'s closing sections: examples, the environment variables (from the
/// library's own table, so the two cannot drift apart) and the exit statuses.
fn after_help() -> String {
    let width = allocport_core::ENVIRONMENT
        .iter()
        .map(|(name, _)| name.len())
        .max()
        .unwrap_or(0);
    let environment: String = allocport_core::ENVIRONMENT
        .iter()
        .map(|(name, meaning)| format!("  {name:width$}  {meaning}\n"))
        .collect();
    format!(
        "{EXAMPLES}\n\nEnvironment (shared with the allocport library):\n{environment}\n{EXIT_STATUS}"
    )
}

/// Run programs on TCP server ports that no other test holds.
#[derive(Debug, Parser)]
#[command(name = "allocport", version, after_help = after_help())]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Hold N ports while COMMAND runs, passing them in its environment and arguments.
    #[command(after_help = exec::AFTER_HELP)]
    Exec(ExecArgs),
    /// Print the server ports the pool uses, where they come from, and the excluded ports.
    Ports,
    /// Print which TCP and UDP ports other processes hold now and which processes, and the
    /// ports a waiting multi-port request reserved.
    Status,
    /// Internal to `exec --listen`: sets LISTEN_PID to its own pid and becomes COMMAND.
    #[command(name = listen::WRAPPER, hide = true)]
    ListenExec {
        /// The program to run and its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<OsString>,
    },
}

#[derive(Debug, Args)]
struct ExecArgs {
    /// How many ports to hold (all or none).
    #[arg(short = 'n', long = "count", value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..))]
    count: u16,
    /// Comma-separated hosts each port must be free on: an empty item is the wildcard
    /// address, `localhost` the loopback address [default: ,localhost]
    #[arg(long, value_name = "HOSTS")]
    hosts: Option<String>,
    /// The address family the ports are checked in.
    #[arg(long, value_enum, default_value_t = Family::Ipv4)]
    family: Family,
    /// Also pass the ports as listening TCP sockets (with --udp, bound UDP sockets; with
    /// --tcp-and-udp, both) bound on the one host of --hosts (default localhost), as systemd
    /// socket activation does: fds from 3, LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES (Unix only).
    #[arg(long)]
    listen: bool,
    /// UDP ports instead of TCP ones: each free for UDP on every host, held apart from TCP
    /// claims (another process may hold the same number for TCP).
    #[arg(long, conflicts_with = "tcp_and_udp")]
    udp: bool,
    /// Each port free for TCP and UDP and held for both, for a server that serves both on one
    /// number (DNS, QUIC with a TCP fallback).
    #[arg(long)]
    tcp_and_udp: bool,
    /// Seconds to wait for ports when every one is held (overrides ALLOCPORT_TIMEOUT_SECS).
    #[arg(long, value_name = "SECS")]
    timeout: Option<f64>,
    /// Related ports: groups of `p + o` for these comma-separated offsets, all from the pool
    /// and held together (a Redis cluster node: `-n 2 --offsets 0,10000`); N counts every port,
    /// so it is a multiple of the number of offsets.
    #[arg(
        long,
        value_name = "OFFSETS",
        value_delimiter = ',',
        conflicts_with = "consecutive"
    )]
    offsets: Option<Vec<u16>>,
    /// The N ports are one block of consecutive ports.
    #[arg(long)]
    consecutive: bool,
    /// Exactly this port (with --offsets or --consecutive, the first of its group), waiting
    /// while another allocport user holds it; it need not be in the pool.
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    exact: Option<u16>,
    /// Only fully free ports: none whose only obstacle is connections in TIME_WAIT. For a
    /// server that binds without SO_REUSEADDR (most bind with it and need no --strict).
    #[arg(long)]
    strict: bool,
    /// The program to run and its arguments; {port0}, {port1}, ... and {ports} are replaced.
    #[arg(value_name = "COMMAND", required = true, trailing_var_arg = true)]
    command: Vec<OsString>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Family {
    Ipv4,
    Ipv6,
}

impl From<Family> for allocport_core::AddressFamily {
    fn from(family: Family) -> Self {
        match family {
            Family::Ipv4 => allocport_core::AddressFamily::Ipv4,
            Family::Ipv6 => allocport_core::AddressFamily::Ipv6,
        }
    }
}

fn main() {
    // Every value with a destructor (the port owners above all) is dropped inside `run`, so
    // exiting here skips nothing.
    std::process::exit(run());
}

fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let result = match cli.command {
        Command::Exec(args) => exec::run(args),
        Command::Ports => ports::run().map(|()| 0),
        Command::Status => status::run().map(|()| 0),
        Command::ListenExec { command } => listen::run_wrapper(&command),
    };
    match result {
        Ok(status) => status,
        Err(failure) => {
            eprintln!("allocport: {}", failure.message);
            failure.status
        }
    }
}

/// Prints a report; a reader that went away early (`allocport status | head -1`) is no error.
pub(crate) fn print_report(text: &str) -> Result<(), Failure> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Failure::new(
            EXIT_FAILURE,
            format!("cannot write to standard output: {e}"),
        )),
        _ => Ok(()),
    }
}

/// Help and version go to standard output as clap prints them; a real usage error becomes one
/// line, so scripts that capture standard error see what went wrong and nothing else.
fn usage_error(e: clap::Error) -> i32 {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        // Printing can only fail on a closed stdout, where there is nobody left to tell.
        let _ = e.print();
        return if e.use_stderr() { EXIT_USAGE } else { 0 };
    }
    // clap's message is its first paragraph (a missing argument is on the line after the
    // sentence); tips and usage come after a blank line.
    let rendered = e.render().to_string();
    let paragraph: Vec<&str> = rendered
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect();
    let message = paragraph.join(" ");
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    eprintln!("allocport: {message} (see 'allocport --help')");
    EXIT_USAGE
}
