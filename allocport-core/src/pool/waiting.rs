//! What an allocation that waits tells the user: once, after [`REPORT_AFTER`], a line on
//! standard error; and in the timeout error, who holds the ports, as `allocport status` shows.

use std::time::Duration;

use crate::claim::PortHolder;
use crate::error::Error;
use crate::ports::source::PortSource;
use crate::warn::PREFIX;

/// Who holds a lock when the kernel gives its pid as 0: it cannot name the process to this
/// one, as for a process in another (not a descendant) pid namespace, such as another
/// container sharing the lock directory.
pub(crate) const OTHER_NAMESPACE: &str = "a process in another pid namespace";

/// How long an allocation waits before saying so.
pub(crate) const REPORT_AFTER: Duration = Duration::from_secs(5);

/// How many holding processes a report names; the rest are counted.
const NAMED_HOLDERS: usize = 3;

/// Prints, once for an allocation that has waited `waited`, what it waits for and on whom.
pub(crate) fn report_waiting(
    waited: Duration,
    wanted: usize,
    pool_size: usize,
    source: &PortSource,
    held_here: usize,
    holders: &str,
) {
    let message = format!(
        "waited {:.0?} so far for {wanted} free TCP port{} from a pool of {pool_size} \
         ({source}); {held_here} held by this process; {}",
        waited,
        if wanted == 1 { "" } else { "s" },
        holders
    );
    log::warn!("{message}");
    crate::warn::write_line(&format!("{PREFIX}{message}"));
}

/// Who holds ports in other processes (`holders`, as read from the lock files): the main
/// holders with their pids, port counts and commands, or, when the lock files cannot be read
/// or no other process holds a port, what that means.
pub(crate) fn describe_holders(holders: Result<Vec<PortHolder>, Error>) -> String {
    match holders {
        Ok(holders) => summarise(&holders, &process_command_line),
        Err(e) => format!("other holders unknown ({e})"),
    }
}

/// What other processes' reservations of the pool's ports keep from everyone, to follow
/// [`describe_holders`]: empty when there are none. A reservation outlives a stopped
/// (`SIGSTOP`) waiter, so its pid is named.
pub(crate) fn describe_reservations(reserved: &[PortHolder]) -> String {
    let Some(&PortHolder { pid, .. }) = reserved.first() else {
        return String::new();
    };
    let who = process_named(pid, &process_command_line);
    let n = reserved.len();
    format!(
        "; {n} port{} reserved for the multi-port wait of {who}, which no other request takes \
         until that process gets its ports, gives up or exits (a stopped process keeps them)",
        if n == 1 { " is" } else { "s are" }
    )
}

/// A holding process as a message names it: its pid and command where they are known.
fn process_named(pid: Option<u32>, command_of: &dyn Fn(u32) -> Option<String>) -> String {
    match pid {
        Some(0) => OTHER_NAMESPACE.to_owned(),
        Some(pid) => match command_of(pid).filter(|c| !c.is_empty()) {
            Some(command) => format!("pid {pid} ({command})"),
            None => format!("pid {pid}"),
        },
        None => "a process the OS does not name".to_owned(),
    }
}

/// The summary of `holders`; `command_of` gives a pid's command line (empty if unknown).
fn summarise(holders: &[PortHolder], command_of: &dyn Fn(u32) -> Option<String>) -> String {
    if holders.is_empty() {
        return "no other allocport process holds a port, so the others are in use by \
                programs that do not use allocport"
            .to_owned();
    }
    let counts = ports_per_pid(holders);
    let named: Vec<String> = counts
        .iter()
        .take(NAMED_HOLDERS)
        .map(|&(pid, count)| format!("{} holds {count}", process_named(pid, command_of)))
        .collect();
    let rest = counts.len().saturating_sub(NAMED_HOLDERS);
    format!(
        "other processes hold {} port{}: {}{}; `allocport status` shows them all",
        holders.len(),
        if holders.len() == 1 { "" } else { "s" },
        named.join(", "),
        if rest > 0 {
            format!(
                " and {rest} more process{}",
                if rest == 1 { "" } else { "es" }
            )
        } else {
            String::new()
        }
    )
}

/// How many of `holders` each pid holds: most ports first, ties in pid order (`None` first),
/// so the text is stable. Counted through sorted `u64` keys (the pid in the low 33 bits, the
/// count's complement above): a map and a sort by closure would each add an instantiation of
/// the standard library's code to every user's build.
fn ports_per_pid(holders: &[PortHolder]) -> Vec<(Option<u32>, usize)> {
    const PID_BITS: u32 = 33;
    const MOST: u64 = (1 << (64 - PID_BITS)) - 1;
    let mut pids: Vec<u64> = holders
        .iter()
        .map(|h| h.pid.map_or(0, |pid| u64::from(pid) + 1))
        .collect();
    pids.sort_unstable();
    let mut keys: Vec<u64> = pids
        .chunk_by(|a, b| a == b)
        .map(|same| (MOST - (same.len() as u64).min(MOST)) << PID_BITS | same[0])
        .collect();
    keys.sort_unstable();
    keys.iter()
        .map(|&key| {
            let pid = key & ((1 << PID_BITS) - 1);
            let count = MOST - (key >> PID_BITS);
            (pid.checked_sub(1).map(|p| p as u32), count as usize)
        })
        .collect()
}

/// The command line of process `pid`, its arguments quoted as a shell would need them, where
/// the OS tells it (Linux does, through `/proc`); `None` when it does not or the process has
/// gone. `allocport status` shows the same.
///
/// ```
/// let me = allocport_core::process_command_line(std::process::id());
/// if cfg!(target_os = "linux") {
///     assert!(me.is_some());
/// }
/// ```
pub fn process_command_line(pid: u32) -> Option<String> {
    os::command_line(pid)
}

#[cfg(target_os = "linux")]
mod os {
    pub(super) fn command_line(pid: u32) -> Option<String> {
        // The process may have exited since the locks were read, or belong to another user.
        let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        Some(
            raw.split(|&b| b == 0)
                .filter(|arg| !arg.is_empty())
                .map(|arg| super::quote(&String::from_utf8_lossy(arg)))
                .collect::<Vec<_>>()
                .join(" "),
        )
    }
}

#[cfg(not(target_os = "linux"))]
mod os {
    pub(super) fn command_line(_pid: u32) -> Option<String> {
        None
    }
}

/// `arg` as a shell would need it, so a copied command line keeps its arguments apart.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn quote(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%{}".contains(c);
    if !arg.is_empty() && arg.chars().all(plain) {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(port: u16, pid: Option<u32>) -> PortHolder {
        PortHolder { port, pid }
    }

    #[test]
    fn no_holders_means_other_programs() {
        let text = summarise(&[], &|_| unreachable!());
        assert!(text.contains("no other allocport process"), "{text}");
    }

    #[test]
    fn main_holders_are_named_with_counts_and_commands() {
        let mut holders = vec![holder(1, Some(7)), holder(2, None)];
        holders.extend((10..15).map(|p| holder(p, Some(42))));
        holders.extend((20..22).map(|p| holder(p, Some(9))));
        holders.push(holder(30, Some(5)));
        let text = summarise(&holders, &|pid| (pid != 9).then(|| format!("prog-{pid} x")));
        assert_eq!(
            text,
            "other processes hold 10 ports: pid 42 (prog-42 x) holds 5, pid 9 holds 2, \
             a process the OS does not name holds 1 and 2 more processes; \
             `allocport status` shows them all"
        );
        let one = summarise(&[holder(3, Some(8))], &|_| Some(String::new()));
        assert_eq!(
            one,
            "other processes hold 1 port: pid 8 holds 1; `allocport status` shows them all"
        );
    }

    #[test]
    fn a_holder_in_another_pid_namespace_is_not_called_pid_0() {
        let text = summarise(
            &[holder(3, Some(0)), holder(4, Some(0))],
            &|_| unreachable!(),
        );
        assert_eq!(
            text,
            "other processes hold 2 ports: a process in another pid namespace holds 2; \
             `allocport status` shows them all"
        );
    }

    proptest::proptest! {
        #[test]
        fn ports_per_pid_counts_most_first_then_by_pid(
            pids in proptest::collection::vec(
                proptest::option::of(proptest::prop_oneof![0u32..4, proptest::num::u32::ANY]),
                0..300,
            )
        ) {
            let holders: Vec<PortHolder> = pids.iter().map(|&pid| holder(1, pid)).collect();
            let mut model = std::collections::BTreeMap::<Option<u32>, usize>::new();
            for &pid in &pids {
                *model.entry(pid).or_default() += 1;
            }
            let mut expected: Vec<(Option<u32>, usize)> = model.into_iter().collect();
            expected.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            proptest::prop_assert_eq!(ports_per_pid(&holders), expected);
        }
    }

    #[test]
    fn ports_per_pid_keeps_the_extreme_pids_apart() {
        let holders = [
            holder(1, Some(u32::MAX)),
            holder(2, Some(0)),
            holder(3, None),
            holder(4, Some(u32::MAX)),
        ];
        assert_eq!(
            ports_per_pid(&holders),
            [(Some(u32::MAX), 2), (None, 1), (Some(0), 1)]
        );
    }

    #[test]
    fn arguments_are_quoted_for_a_shell() {
        assert_eq!(quote("--port={port0}"), "--port={port0}");
        assert_eq!(quote("cargo"), "cargo");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_a_command_line() {
        let line = process_command_line(std::process::id()).unwrap();
        let exe = std::env::args().next().unwrap();
        assert!(line.starts_with(&quote(&exe)), "{line:?} vs {exe:?}");
        assert_eq!(process_command_line(u32::MAX), None);
    }
}
