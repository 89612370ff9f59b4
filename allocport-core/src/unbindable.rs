//! Ports the OS refuses to bind for a reason other than use (`EACCES` on a privileged port,
//! `EPERM`, `EADDRNOTAVAIL` for one port, a Windows excluded port range): the pool drops them
//! and names them in one warning, instead of failing the allocation as if the host were bad.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::spec::format_ports_spec;
use crate::warn::warn_once;

/// The ports one pass of the pool found unbindable, grouped by host and reason.
#[derive(Default)]
pub(crate) struct Unbindable {
    by_reason: BTreeMap<(String, IpAddr, String), Vec<u16>>,
}

impl Unbindable {
    pub(crate) fn add(&mut self, port: u16, host: &str, addr: IpAddr, error: &std::io::Error) {
        self.by_reason
            .entry((host.to_owned(), addr, error.to_string()))
            .or_default()
            .push(port);
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
}
