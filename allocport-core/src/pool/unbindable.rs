//! Ports the OS refuses to bind for a reason other than use (`EACCES` on a privileged port,
//! `EPERM`, `EADDRNOTAVAIL` for one port, a Windows excluded port range): the pool drops them
//! and names them in one warning, instead of failing the allocation as if the host were bad.

use std::net::IpAddr;

use crate::ports::spec::format_ports_spec;
use crate::warn::warn_once;

/// Host, address and reason: what the ports of one part of the warning share.
type Reason = (String, IpAddr, String);

/// The ports one pass of the pool found unbindable, grouped by host and reason, the groups in
/// that order. A vector, not a map: every pass of every allocation makes and drops one,
/// nearly always empty, and an empty `BTreeMap` costs a hundred instructions to drop where a
/// `Vec` costs none.
#[derive(Default)]
pub(crate) struct Unbindable {
    by_reason: Vec<(Reason, Vec<u16>)>,
}

impl Unbindable {
    pub(crate) fn add(&mut self, port: u16, host: &str, addr: IpAddr, error: &std::io::Error) {
        let reason = (host.to_owned(), addr, error.to_string());
        // Kept sorted as groups come (a few per pass at most): no sort of groups to compile.
        match self.by_reason.binary_search_by(|(r, _)| r.cmp(&reason)) {
            Ok(at) => self.by_reason[at].1.push(port),
            Err(at) => self.by_reason.insert(at, (reason, vec![port])),
        }
    }

    /// Warns once, naming every port found (each port is met once: the pool drops it).
    pub(crate) fn warn(self) {
        // Every pass ends here, nearly always with nothing to say.
        if self.by_reason.is_empty() {
            return;
        }
        if let Some(message) = self.message() {
            warn_once(&message);
        }
    }

    fn message(self) -> Option<String> {
        let parts: Vec<String> = self
            .by_reason
            .into_iter()
            .map(|((host, addr, reason), mut ports)| {
                ports.sort_unstable();
                format!(
                    "port{} {} on host {host:?} ({addr}): {reason}",
                    if ports.len() == 1 { "" } else { "s" },
                    format_ports_spec(&ports)
                )
            })
            .collect();
        if parts.is_empty() {
            return None;
        }
        Some(format!(
            "cannot bind {}; left out of this process's pool",
            parts.join("; ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error, ErrorKind};

    #[test]
    fn ports_are_grouped_by_host_and_reason() {
        let mut found = Unbindable::default();
        let any = IpAddr::from([0, 0, 0, 0]);
        let denied = Error::new(ErrorKind::PermissionDenied, "Permission denied");
        found.add(443, "", any, &denied);
        found.add(80, "", any, &denied);
        found.add(81, "", any, &denied);
        assert_eq!(
            found.message().unwrap(),
            r#"cannot bind ports 80-81,443 on host "" (0.0.0.0): Permission denied; left out of this process's pool"#
        );
        assert_eq!(Unbindable::default().message(), None);
    }

    #[test]
    fn groups_come_in_the_order_of_host_address_and_reason_whatever_order_they_were_met() {
        let mut found = Unbindable::default();
        let any = IpAddr::from([0, 0, 0, 0]);
        let local = IpAddr::from([127, 0, 0, 1]);
        let denied = Error::new(ErrorKind::PermissionDenied, "Permission denied");
        let absent = Error::new(ErrorKind::AddrNotAvailable, "Address not available");
        found.add(2000, "localhost", local, &denied);
        found.add(1000, "", any, &absent);
        found.add(1001, "", any, &absent);
        found.add(3000, "", any, &denied);
        assert_eq!(
            found.message().unwrap(),
            "cannot bind ports 1000-1001 on host \"\" (0.0.0.0): Address not available; \
             port 3000 on host \"\" (0.0.0.0): Permission denied; \
             port 2000 on host \"localhost\" (127.0.0.1): Permission denied; \
             left out of this process's pool"
        );
    }
}
