//! Where ports came from: one type for the pool's source and for the place errors name.

use std::fmt;
use std::path::PathBuf;

use crate::env::{PYSYS_PORTS, PYSYS_PORTS_FILE};

/// Where ports came from: the pool's [`ServerPorts::source`](crate::ServerPorts), and the
/// place an [`Error::InvalidPortSpec`](crate::Error::InvalidPortSpec) or
/// [`Error::EmptyPool`](crate::Error::EmptyPool) names.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PortSource {
    /// The `PYSYS_PORTS` environment variable, with its value.
    Env(String),
    /// The file named by `PYSYS_PORTS_FILE`, with its path.
    File(PathBuf),
    /// Ports 1024-65535 outside the OS's ephemeral range, given inclusively.
    Os {
        /// The ephemeral range left out.
        ephemeral: (u16, u16),
    },
    /// Ports 1024-49151, because fewer than 50 ports lie outside the OS's ephemeral range.
    OsFallback {
        /// The ephemeral range that left too few ports.
        ephemeral: (u16, u16),
    },
}

impl fmt::Display for PortSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortSource::Env(value) => write!(f, "PYSYS_PORTS={value:?}"),
            PortSource::File(path) => {
                write!(f, "PYSYS_PORTS_FILE={:?}", path.display().to_string())
            }
            PortSource::Os {
                ephemeral: (min, max),
            } => {
                write!(
                    f,
                    "ports 1024-65535 outside the OS's ephemeral range {min}-{max}"
                )
            }
            PortSource::OsFallback {
                ephemeral: (min, max),
            } => write!(
                f,
                "ports 1024-49151 (the OS's ephemeral range {min}-{max} leaves fewer than 50 ports)"
            ),
        }
    }
}

impl PortSource {
    /// Where a specification token was read, as error messages name it: `PYSYS_PORTS`, or
    /// `PYSYS_PORTS_FILE <path>, line <n>`.
    pub(crate) fn place(&self, line: Option<usize>) -> Place<'_> {
        Place { source: self, line }
    }
}

/// See [`PortSource::place`].
pub(crate) struct Place<'a> {
    source: &'a PortSource,
    line: Option<usize>,
}

impl fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.source, self.line) {
            (PortSource::Env(_), _) => f.write_str(PYSYS_PORTS),
            (PortSource::File(path), Some(line)) => {
                write!(f, "{PYSYS_PORTS_FILE} {}, line {line}", path.display())
            }
            (PortSource::File(path), None) => write!(f, "{PYSYS_PORTS_FILE} {}", path.display()),
            (os, _) => fmt::Display::fmt(os, f),
        }
    }
}
