//! Where the pool's ports come from: `PYSYS_PORTS` and its files ([`spec`], [`source`]), the
//! OS's ephemeral range and what this process may bind, and the exclusions, merged as ranges.

pub(crate) mod browsers;
pub(crate) mod ephemeral;
pub(crate) mod exclude;
pub(crate) mod port_ranges;
pub(crate) mod privileged;
pub(crate) mod reserved;
pub(crate) mod server_ports;
pub(crate) mod source;
pub(crate) mod spec;
