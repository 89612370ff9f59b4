//! rstest fixtures for held TCP server ports (issue 5; not built yet).

pub use allocport_core::TcpPortOwner;
