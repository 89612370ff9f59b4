//! Which protocols a port is claimed for: TCP, UDP, or both on one number.
//!
//! A port number is one thing in this process's pool whatever the protocol, so a thread never
//! gets a number another thread holds for either. Between processes the claims are apart: a
//! TCP claim is one lock, a UDP claim another ([`crate::store::files`]), so one process's TCP port and
//! another's UDP port may share a number, as the two protocols' ports do in the kernel.

/// One protocol of a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proto {
    Tcp,
    Udp,
}

/// The protocols a claim is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Tcp,
    Udp,
    /// TCP and UDP on the same number, for servers that serve both (QUIC, DNS).
    TcpAndUdp,
}

impl Transport {
    pub(crate) fn tcp(self) -> bool {
        matches!(self, Transport::Tcp | Transport::TcpAndUdp)
    }

    pub(crate) fn udp(self) -> bool {
        matches!(self, Transport::Udp | Transport::TcpAndUdp)
    }

    /// The protocols claimed, TCP first.
    pub(crate) fn protos(self) -> &'static [Proto] {
        match self {
            Transport::Tcp => &[Proto::Tcp],
            Transport::Udp => &[Proto::Udp],
            Transport::TcpAndUdp => &[Proto::Tcp, Proto::Udp],
        }
    }

    /// The protocols as messages name them.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "TCP",
            Transport::Udp => "UDP",
            Transport::TcpAndUdp => "TCP and UDP",
        }
    }
}
