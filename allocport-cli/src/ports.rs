//! `allocport ports`: the pool as this environment would build it.

use allocport_core::{PortSource, ServerPorts, format_ports_spec};

use crate::exit::{EXIT_FAILURE, Failure};

pub(crate) fn run() -> Result<(), Failure> {
    let server = allocport_core::server_tcp_ports_with_source()
        .map_err(|e| Failure::new(EXIT_FAILURE, e.to_string()))?;
    let excluded = allocport_core::excluded_tcp_ports();
    // Only worth a note when it cannot be read from the source itself; failing to read it then
    // loses nothing, as the pool does not depend on it.
    let ephemeral = match server.source {
        PortSource::Os { .. } | PortSource::OsFallback { .. } => None,
        _ => allocport_core::ephemeral_tcp_port_range().ok(),
    };
    crate::print_report(&report(&server, &excluded, ephemeral))
}

/// The report: one `label: value` line each, so scripts can pick a line with grep.
fn report(server: &ServerPorts, excluded: &[u16], ephemeral: Option<(u16, u16)>) -> String {
    let mut out = String::new();
    out += &format!("source:    {}\n", server.source);
    out += &format!(
        "ports:     {} ({})\n",
        server.ports.len(),
        format_ports_spec(&server.ports)
    );
    match server.source {
        PortSource::Os {
            ephemeral: (min, max),
        }
        | PortSource::OsFallback {
            ephemeral: (min, max),
        } => out += &format!("ephemeral: {min}-{max} (the OS's range for outgoing connections)\n"),
        _ => {
            if let Some((min, max)) = ephemeral {
                let inside = server
                    .ports
                    .iter()
                    .filter(|&&p| (min..=max).contains(&p))
                    .count();
                if inside > 0 {
                    out += &format!(
                        "ephemeral: {min}-{max}: {inside} of the ports are in the OS's range for \
                         outgoing connections, which can take them at any time\n"
                    );
                }
            }
        }
    }
    out += &format!(
        "excluded:  {} ({})\n",
        excluded.len(),
        format_ports_spec(excluded)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_source_shows_value_count_and_compact_ports() {
        let server = ServerPorts {
            ports: vec![2000, 2001, 2002, 3000],
            source: PortSource::Env("2000-2002, 3000".into()),
        };
        let text = report(&server, &[22, 80, 443], Some((32768, 60999)));
        assert_eq!(
            text,
            "source:    PYSYS_PORTS=\"2000-2002, 3000\"\n\
             ports:     4 (2000-2002,3000)\n\
             excluded:  3 (22,80,443)\n"
        );
    }

    #[test]
    fn ports_inside_the_ephemeral_range_are_pointed_out() {
        let server = ServerPorts {
            ports: vec![40000, 40001, 50],
            source: PortSource::Env("40000-40001,50".into()),
        };
        let text = report(&server, &[], Some((32768, 60999)));
        assert!(
            text.contains("ephemeral: 32768-60999: 2 of the ports are in"),
            "{text}"
        );
    }

    #[test]
    fn os_source_shows_the_ephemeral_range() {
        let server = ServerPorts {
            ports: (1024..=32767).collect(),
            source: PortSource::Os {
                ephemeral: (32768, 60999),
            },
        };
        let text = report(&server, &[], None);
        assert!(text.contains("ports:     31744 (1024-32767)\n"), "{text}");
        assert!(text.contains("ephemeral: 32768-60999 (the OS's"), "{text}");
    }
}
