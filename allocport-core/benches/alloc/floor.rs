//! The physical floor of an allocation, and its other unavoidable part, timed bare.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};

pub(crate) const V4_WILDCARD: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
pub(crate) const V4_LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
pub(crate) const V6_WILDCARD: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
pub(crate) const V6_LOOPBACK: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

/// The bind check allocation makes on one host, and nothing else: a fresh TCP socket, a plain
/// bind (no `SO_REUSEADDR`), close. Returns whether the bind succeeded.
pub(crate) fn bind_check(ip: IpAddr, port: u16) -> io::Result<bool> {
    let addr = SocketAddr::new(ip, port);
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    match socket.bind(&addr.into()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether this machine can bind the IPv6 loopback address at all.
pub(crate) fn has_ipv6() -> bool {
    bind_check(V6_LOOPBACK, 0).unwrap_or(false)
}

/// A scratch file for timing bare `fcntl` byte-range locks, the cross-process half of an
/// allocation. It is never the real lock file: opening and closing that one in a process that
/// holds ports would drop the process's locks.
#[cfg(unix)]
pub(crate) struct ScratchLocks {
    file: std::fs::File,
    path: std::path::PathBuf,
}

#[cfg(unix)]
impl ScratchLocks {
    pub(crate) fn new(tag: &str) -> io::Result<Self> {
        let path =
            std::env::temp_dir().join(format!("allocport-bench-{}-{tag}.lock", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        Ok(ScratchLocks { file, path })
    }

    /// The lock kinds are `c_int` on Linux but `c_short` on macOS and the BSDs, hence the
    /// widening.
    fn fcntl(&self, kind: impl Into<i64>, byte: u16) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        // SAFETY: flock is plain data; all-zero is a valid value, and the fields are set below.
        let mut lock: libc::flock = unsafe { std::mem::zeroed() };
        lock.l_type = kind.into() as _;
        lock.l_whence = libc::SEEK_SET as _;
        lock.l_start = libc::off_t::from(byte);
        lock.l_len = 1;
        // SAFETY: the descriptor is open for the call and `lock` is a valid flock.
        let rc = unsafe { libc::fcntl(self.file.as_raw_fd(), libc::F_SETLK, &raw mut lock) };
        if rc == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    pub(crate) fn lock(&self, byte: u16) -> io::Result<()> {
        self.fcntl(libc::F_WRLCK, byte)
    }

    pub(crate) fn unlock(&self, byte: u16) -> io::Result<()> {
        self.fcntl(libc::F_UNLCK, byte)
    }
}

#[cfg(unix)]
impl Drop for ScratchLocks {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
