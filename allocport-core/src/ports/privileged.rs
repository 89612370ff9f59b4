//! Ports below the OS's first unprivileged port: a process without the privilege cannot bind
//! them, so the pool leaves them out up front instead of finding out port by port.

use std::sync::OnceLock;

/// The lowest port this process may bind: 1 when it may bind every port.
///
/// On Linux that is `net.ipv4.ip_unprivileged_port_start` (1024 unless changed) for a process
/// without `CAP_NET_BIND_SERVICE`; elsewhere 1, and a port the OS refuses is left out when the
/// bind check meets it ([`crate::claim::probe`]). Read once: neither changes while a process runs.
pub(crate) fn first_bindable_port() -> u16 {
    static FIRST: OnceLock<u16> = OnceLock::new();
    *FIRST.get_or_init(os::first_bindable_port)
}

/// [`first_bindable_port`] for a pool whose lowest port is `lowest`: when no port from
/// `lowest` up is privileged, the answer cannot leave any out, so the process's privileges
/// are not looked up (on Linux a read and parse of `/proc/self/status`, at every test
/// process's start under nextest).
///
/// A pool from 1024 up, the default one included, does not even read the first unprivileged
/// port (three system calls at every test process's start): 1024 is the kernel's default,
/// and where a machine raised it, the bind check refuses the ports below it (`EACCES`) and
/// the pool leaves them out as they are met, with a warning.
pub(crate) fn first_bindable_port_for(lowest: u16) -> u16 {
    bindable_from(lowest, os::unprivileged_start, first_bindable_port)
}

/// [`first_bindable_port_for`] with the OS's answers passed in, each asked only when needed.
fn bindable_from(lowest: u16, start: impl Fn() -> u16, first: impl Fn() -> u16) -> u16 {
    if lowest >= DEFAULT_UNPRIVILEGED_START || lowest >= start() {
        return 1;
    }
    first()
}

/// The first unprivileged port where the OS does not say otherwise (Linux's default of
/// `net.ipv4.ip_unprivileged_port_start`, and the rule elsewhere): where the OS-derived pool
/// starts.
pub(crate) const DEFAULT_UNPRIVILEGED_START: u16 = 1024;

/// Parses `/proc/self/status`: whether its `CapEff` line has `CAP_NET_BIND_SERVICE` (bit 10).
/// `None` when the line is missing or malformed.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn may_bind_privileged_ports(status: &str) -> Option<bool> {
    const CAP_NET_BIND_SERVICE: u32 = 10;
    let hex = status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))?
        .trim();
    let caps = u64::from_str_radix(hex, 16).ok()?;
    Some(caps & (1 << CAP_NET_BIND_SERVICE) != 0)
}

/// Parses `ip_unprivileged_port_start`: a number from 0 to 65536 (0 means every port is
/// unprivileged); `None` when malformed.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn parse_unprivileged_start(text: &str) -> Option<u16> {
    let start: u32 = text.trim().parse().ok()?;
    Some(u16::try_from(start.max(1)).unwrap_or(u16::MAX))
}

#[cfg(target_os = "linux")]
mod os {
    use super::*;

    const START: &str = "/proc/sys/net/ipv4/ip_unprivileged_port_start";

    pub(super) fn first_bindable_port() -> u16 {
        let capable = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| may_bind_privileged_ports(&status));
        if capable != Some(false) {
            // Privileged, or the OS does not say: leave it to the bind check.
            return 1;
        }
        unprivileged_start()
    }

    /// `net.ipv4.ip_unprivileged_port_start`, read once.
    pub(super) fn unprivileged_start() -> u16 {
        static START_PORT: OnceLock<u16> = OnceLock::new();
        *START_PORT.get_or_init(|| {
            // Kernels before 4.11 lack the file: their limit is fixed at 1024.
            crate::ports::ephemeral::read_short(START)
                .ok()
                .and_then(|text| parse_unprivileged_start(&text))
                .unwrap_or(DEFAULT_UNPRIVILEGED_START)
        })
    }
}

#[cfg(not(target_os = "linux"))]
mod os {
    pub(super) fn first_bindable_port() -> u16 {
        1
    }

    /// No port is privileged as far as the pool is concerned: the bind check finds out.
    pub(super) fn unprivileged_start() -> u16 {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_above_the_privileged_ports_needs_no_answer_about_privileges() {
        let start = os::unprivileged_start();
        assert_eq!(first_bindable_port_for(start), 1);
        assert_eq!(first_bindable_port_for(DEFAULT_UNPRIVILEGED_START), 1);
        assert_eq!(first_bindable_port_for(u16::MAX), 1);
        let below = start.min(DEFAULT_UNPRIVILEGED_START);
        if below > 1 {
            assert_eq!(first_bindable_port_for(below - 1), first_bindable_port());
        }
    }

    #[test]
    fn the_os_is_asked_only_for_a_pool_below_1024() {
        use std::cell::Cell;
        let asked = Cell::new(0);
        let start = |port: u16| {
            let asked = &asked;
            move || {
                asked.set(asked.get() + 1);
                port
            }
        };
        // Unprivileged (no CAP_NET_BIND_SERVICE), with the kernel's start at 1024.
        assert_eq!(bindable_from(1024, start(1024), || 1024), 1);
        assert_eq!(bindable_from(u16::MAX, start(1024), || 1024), 1);
        assert_eq!(asked.get(), 0, "a pool from 1024 up reads nothing");
        assert_eq!(bindable_from(1023, start(1024), || 1024), 1024);
        // A machine whose start is lower: a pool from it up needs no privilege.
        assert_eq!(bindable_from(80, start(80), || 80), 1);
        assert_eq!(bindable_from(79, start(80), || 80), 80);
        // Raised above 1024: left to the bind check.
        assert_eq!(bindable_from(1500, start(2000), || 2000), 1);
        assert_eq!(asked.get(), 3);
    }

    #[test]
    fn capability_bit_10_is_read_from_cap_eff() {
        let status = |eff: &str| format!("Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t{eff}\n");
        assert_eq!(
            may_bind_privileged_ports(&status("000001ffffffffff")),
            Some(true)
        );
        assert_eq!(
            may_bind_privileged_ports(&status("0000000000000400")),
            Some(true)
        );
        assert_eq!(
            may_bind_privileged_ports(&status("0000000000000000")),
            Some(false)
        );
        assert_eq!(
            may_bind_privileged_ports(&status("00000000000003ff")),
            Some(false)
        );
        assert_eq!(may_bind_privileged_ports("Name:\tx\n"), None);
        assert_eq!(may_bind_privileged_ports("CapEff:\tzz\n"), None);
    }

    #[test]
    fn unprivileged_start_is_clamped_to_a_port() {
        assert_eq!(parse_unprivileged_start("1024\n"), Some(1024));
        assert_eq!(parse_unprivileged_start("0\n"), Some(1));
        assert_eq!(parse_unprivileged_start("65536"), Some(u16::MAX));
        assert_eq!(parse_unprivileged_start("x"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_agrees_with_proc() {
        let first = first_bindable_port();
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        if may_bind_privileged_ports(&status) == Some(true) {
            assert_eq!(first, 1);
        } else {
            assert!(first >= 1);
        }
    }
}
