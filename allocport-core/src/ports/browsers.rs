//! The ports excluded by default, in a file of their own: the port table starts with them in
//! its excluded lane (so it needs them at compile time), and [`super::exclude`] keeps that lane.

/// Ports some web browsers refuse to connect to, never allocated by default (PySys's
/// `excludedTCPPorts`): a browser-driven test against a server on one of them would fail.
pub const DEFAULT_EXCLUDED_TCP_PORTS: [u16; 17] = [
    1719, 1720, 1723, 2049, 3659, 4045, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6697,
    10080,
];
