//! Where each kind of mark lies in a lock file: one lane of 65,536 bytes per kind, port `p`'s
//! mark at byte `lane start + p` of file `ports-<p % 64>.lock`, so no two kinds ever meet.

/// A lane of the lock files. Port `p` lies at byte `p` (TCP claim), `p + 65536` (UDP claim),
/// `p + 131072` (TCP reservation, see [`fair`](super::fair)), `p + 196608` (UDP reservation)
/// and `p + 262144` (a waiting process's shared mark, see [`wake`](super::wake)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lane {
    Tcp = 0,
    Udp = 1,
    Reservation = 2,
    UdpReservation = 3,
    /// The last lane: dropping every waiting mark (a lock from its start to the end of any
    /// file) never drops a claim or a reservation. Only Linux marks it (the wake listener
    /// needs inotify); elsewhere it stays unused.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    Waiting = 4,
}

/// Bytes per lane: one per port.
const WIDTH: u32 = 1 << 16;

impl Lane {
    /// The first byte of the lane: port 0's mark.
    pub(super) const fn start(self) -> u32 {
        self as u32 * WIDTH
    }

    /// The byte of `port`'s mark in this lane.
    pub(super) const fn byte(self, port: u16) -> u32 {
        self.start() + port as u32
    }

    /// What a byte of the lock files stands for, to name it in messages.
    pub(super) fn describe(byte: u32) -> String {
        let port = byte % WIDTH;
        match byte / WIDTH {
            0 => format!("port {port}"),
            1 => format!("UDP port {port}"),
            2 => format!("the reservation of port {port}"),
            3 => format!("the reservation of UDP port {port}"),
            _ => format!("the waiting mark of port {port}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Lane;

    #[test]
    fn each_lane_holds_every_port_and_meets_no_other() {
        let lanes = [
            Lane::Tcp,
            Lane::Udp,
            Lane::Reservation,
            Lane::UdpReservation,
            Lane::Waiting,
        ];
        assert_eq!(Lane::Tcp.byte(80), 80);
        assert_eq!(Lane::Udp.byte(80), 65536 + 80);
        assert_eq!(Lane::Reservation.byte(80), 131072 + 80);
        assert_eq!(Lane::UdpReservation.byte(80), 196608 + 80);
        assert_eq!(Lane::Waiting.byte(0), 262144);
        for pair in lanes.windows(2) {
            assert_eq!(pair[0].byte(u16::MAX) + 1, pair[1].start(), "{pair:?}");
        }
    }

    #[test]
    fn a_byte_is_described_by_its_lane_and_port() {
        assert_eq!(Lane::describe(Lane::Tcp.byte(8080)), "port 8080");
        assert_eq!(Lane::describe(Lane::Udp.byte(53)), "UDP port 53");
        assert_eq!(
            Lane::describe(Lane::Reservation.byte(7)),
            "the reservation of port 7"
        );
        assert_eq!(
            Lane::describe(Lane::UdpReservation.byte(65535)),
            "the reservation of UDP port 65535"
        );
        assert_eq!(
            Lane::describe(Lane::Waiting.byte(1)),
            "the waiting mark of port 1"
        );
    }
}
