//! The least an allocator with allocport's guarantees must do in a fresh process, done bare:
//! libc calls in a straight line, no pool, no order, no reservations, no waiting, no
//! warnings. The fresh-process figures (the first allocation, the whole suite) are weighed
//! against it, to tell what allocport's own code costs from what the guarantees cost.
//!
//! What it does, each for a reason allocport has:
//! - reads the ephemeral range (the pool is the ports outside it);
//! - looks at the private lock directory once (owner and mode), making it if missing;
//! - per port: opens the port's lock file (one of 64) and takes a one-byte `fcntl` lock on it
//!   (never twice across processes, freed by the kernel when a holder dies), then the bind
//!   checks on `0.0.0.0` and `127.0.0.1` (the port is really free);
//! - starts one thread that wakes every 20 ms (the lock-file watcher: a holder must notice
//!   within 100 ms that its lock file was replaced).
//!
//! Its lock files are its own (`allocport-bare-<uid>` in the temporary directory), so it never
//! meets allocport's locks; its bind checks keep it off ports anyone else uses.
//!
//! That is the file store's floor (`ALLOCPORT_STORE=files`). Otherwise, on Linux, it is the
//! kernel store's: per port one abstract-name claim (a close-on-exec `AF_UNIX` stream socket
//! bound to the port's name, kept until release) and the same two bind checks; no directory,
//! no file, no thread. Its names are its own (`\0allocport-bare/tcp/...`).

/// Ports held by [`take`]: each lock file's descriptor, kept open until [`release`].
pub(crate) struct Held {
    /// Per port, the descriptor holding it: a lock file's, or a claim's socket.
    #[cfg_attr(not(unix), allow(dead_code))]
    locks: Vec<(i32, u16)>,
    /// Whether the descriptors are the kernel store's sockets (closing them is the release).
    #[cfg_attr(not(unix), allow(dead_code))]
    kernel: bool,
}

impl Held {
    pub(crate) fn ports(&self) -> Vec<u16> {
        self.locks.iter().map(|&(_, port)| port).collect()
    }
}

#[cfg(target_os = "linux")]
#[allow(unused_imports)]
pub(crate) use unix::abstract_claim;
#[cfg(unix)]
pub(crate) use unix::{release, take};

#[cfg(not(unix))]
pub(crate) fn take(_n: usize) -> std::io::Result<Held> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "the bare allocator is for Unix",
    ))
}

#[cfg(not(unix))]
pub(crate) fn release(_held: Held) {}

#[cfg(unix)]
mod unix {
    use std::ffi::CString;
    use std::io;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};

    use super::Held;

    /// Whether the floor is the kernel store's: on Linux unless `ALLOCPORT_STORE=files`.
    fn kernel_floor() -> bool {
        cfg!(target_os = "linux") && std::env::var("ALLOCPORT_STORE").as_deref() != Ok("files")
    }

    /// Takes `n` ports as described in the module's doc, and starts the watcher's stand-in
    /// (the file store's floor only).
    pub(crate) fn take(n: usize) -> io::Result<Held> {
        let kernel = kernel_floor();
        let (ephemeral_low, _) = ephemeral_range()?;
        let dir = if kernel {
            CString::default()
        } else {
            private_dir()?
        };
        // Somewhere different in each process, as allocport's order is.
        let span = u32::from(ephemeral_low) - 1024;
        let mut next = 1024 + (std::process::id().wrapping_mul(2_654_435_761) % span);
        let mut locks = Vec::with_capacity(n);
        for _ in 0..span {
            if locks.len() == n {
                break;
            }
            let port = u16::try_from(next).unwrap_or(1024);
            next = if next + 1 >= u32::from(ephemeral_low) {
                1024
            } else {
                next + 1
            };
            let fd = if kernel {
                claim_name(port)?
            } else {
                claim(&dir, port)?
            };
            if let Some(fd) = fd {
                locks.push((fd, port));
            }
        }
        if locks.len() < n {
            return Err(io::Error::other("no free port below the ephemeral range"));
        }
        if !kernel {
            start_ticker()?;
        }
        Ok(Held { locks, kernel })
    }

    /// Gives the ports back: unlocks and closes each lock file, or closes each claim.
    pub(crate) fn release(held: Held) {
        for (fd, port) in held.locks {
            // SAFETY: `fd` is a descriptor `claim` or `claim_name` opened and nothing else
            // closes.
            unsafe {
                if !held.kernel {
                    set_lock(fd, port, libc::F_UNLCK);
                }
                libc::close(fd);
            }
        }
    }

    /// The claim's descriptor if `port`'s abstract name was bound here and the port passed
    /// both bind checks.
    #[cfg(target_os = "linux")]
    fn claim_name(port: u16) -> io::Result<Option<i32>> {
        use std::os::fd::IntoRawFd;
        let Some(fd) = abstract_claim("allocport-bare", port)? else {
            return Ok(None);
        };
        let free = bind_check(libc::INADDR_ANY, port) && bind_check(libc::INADDR_LOOPBACK, port);
        Ok(free.then(|| fd.into_raw_fd()))
    }

    #[cfg(not(target_os = "linux"))]
    fn claim_name(_port: u16) -> io::Result<Option<i32>> {
        Err(io::Error::other("the kernel store is Linux's"))
    }

    /// A close-on-exec `AF_UNIX` stream socket bound to port `port`'s abstract name under
    /// `prefix`, in the protocol's layout (`\0<prefix>/tcp/<port>\0` and the port as two
    /// big-endian bytes), or `None` if another socket has the name. Dropping it releases the
    /// claim: `socket`, `bind`, `close` are the kernel store's part of an allocation.
    #[cfg(target_os = "linux")]
    pub(crate) fn abstract_claim(
        prefix: &str,
        port: u16,
    ) -> io::Result<Option<std::os::fd::OwnedFd>> {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        // SAFETY: socket takes plain integers.
        let raw = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
        if raw == -1 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new descriptor nothing else owns; closed when `fd` drops.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: sockaddr_un is plain bytes; all zero is valid.
        let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let mut name = format!("\0{prefix}/tcp/{port}\0").into_bytes();
        name.extend_from_slice(&port.to_be_bytes());
        for (dst, &src) in addr.sun_path.iter_mut().zip(&name) {
            *dst = src as libc::c_char;
        }
        let len = std::mem::offset_of!(libc::sockaddr_un, sun_path) + name.len();
        // SAFETY: `addr` is a valid sockaddr_un of at least `len` bytes for the call.
        let rc = unsafe { libc::bind(raw, (&raw const addr).cast(), len as libc::socklen_t) };
        debug_assert_eq!(raw, fd.as_raw_fd());
        if rc == 0 {
            return Ok(Some(fd));
        }
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::AddrInUse {
            Ok(None)
        } else {
            Err(e)
        }
    }

    fn ephemeral_range() -> io::Result<(u16, u16)> {
        let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .unwrap_or_else(|_| "49152 65535".to_owned());
        let mut parts = text.split_whitespace().map(str::parse::<u16>);
        match (parts.next(), parts.next()) {
            (Some(Ok(low)), Some(Ok(high))) if low > 1024 => Ok((low, high)),
            _ => Err(io::Error::other(format!("ephemeral range {text:?}"))),
        }
    }

    fn private_dir() -> io::Result<CString> {
        // SAFETY: geteuid has no preconditions.
        let uid = unsafe { libc::geteuid() };
        let path = std::env::temp_dir().join(format!("allocport-bare-{uid}"));
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                std::fs::DirBuilder::new().mode(0o700).create(&path)?;
                std::fs::symlink_metadata(&path)?
            }
            Err(e) => return Err(e),
        };
        if !meta.is_dir() || meta.uid() != uid || meta.mode() & 0o077 != 0 {
            return Err(io::Error::other(format!(
                "{} is not private",
                path.display()
            )));
        }
        CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)
    }

    /// The lock file's descriptor if `port` was locked here and passed both bind checks.
    fn claim(dir: &CString, port: u16) -> io::Result<Option<i32>> {
        let mut path = dir.as_bytes().to_vec();
        path.extend_from_slice(format!("/ports-{}.lock", port % 64).as_bytes());
        let path = CString::new(path).map_err(io::Error::other)?;
        let flags = libc::O_RDWR | libc::O_CREAT | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        // SAFETY: `path` is NUL-terminated; the descriptor is closed below or by `release`.
        let fd = unsafe { libc::open(path.as_ptr(), flags, 0o600) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is open; a lock on it is released by closing it.
        let free = unsafe { set_lock(fd, port, libc::F_WRLCK) }
            && bind_check(libc::INADDR_ANY, port)
            && bind_check(libc::INADDR_LOOPBACK, port);
        if free {
            return Ok(Some(fd));
        }
        // SAFETY: `fd` was opened above and is not used again.
        unsafe { libc::close(fd) };
        Ok(None)
    }

    /// Sets (or, with `F_UNLCK`, clears) the one-byte lock of `port`; whether it was set. The
    /// lock kinds are `c_int` on Linux but `c_short` on macOS and the BSDs, hence the widening.
    unsafe fn set_lock(fd: i32, port: u16, kind: impl Into<i64>) -> bool {
        // SAFETY: a zeroed `flock` is valid; the fields that matter are set below.
        let mut lock: libc::flock = unsafe { std::mem::zeroed() };
        lock.l_type = kind.into() as _;
        lock.l_whence = libc::SEEK_SET as _;
        lock.l_start = libc::off_t::from(port);
        lock.l_len = 1;
        // SAFETY: `lock` is a valid `flock` for the call's lifetime.
        unsafe { libc::fcntl(fd, libc::F_SETLK, &lock) == 0 }
    }

    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    const SOCK_CLOEXEC: i32 = libc::SOCK_CLOEXEC;
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
    const SOCK_CLOEXEC: i32 = 0;

    /// A TCP socket bound to `addr:port` without `SO_REUSEADDR`, then closed: whether it bound.
    fn bind_check(addr: u32, port: u16) -> bool {
        // SAFETY: plain socket calls on a descriptor made and closed here.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | SOCK_CLOEXEC, 0);
            if fd < 0 {
                return false;
            }
            let mut sin: libc::sockaddr_in = std::mem::zeroed();
            sin.sin_family = libc::AF_INET as _;
            sin.sin_port = port.to_be();
            sin.sin_addr.s_addr = addr.to_be();
            let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            let bound = libc::bind(fd, std::ptr::addr_of!(sin).cast(), len) == 0;
            libc::close(fd);
            bound
        }
    }

    /// The watcher's stand-in: a detached thread that wakes every 20 ms and does nothing.
    fn start_ticker() -> io::Result<()> {
        extern "C" fn tick(_: *mut libc::c_void) -> *mut libc::c_void {
            loop {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        // SAFETY: `attr` is initialised before use and destroyed after; `tick` takes no data.
        unsafe {
            let mut attr: libc::pthread_attr_t = std::mem::zeroed();
            libc::pthread_attr_init(&mut attr);
            libc::pthread_attr_setstacksize(&mut attr, 256 * 1024);
            libc::pthread_attr_setdetachstate(&mut attr, libc::PTHREAD_CREATE_DETACHED);
            let mut thread: libc::pthread_t = std::mem::zeroed();
            let rc = libc::pthread_create(&mut thread, &attr, tick, std::ptr::null_mut());
            libc::pthread_attr_destroy(&mut attr);
            if rc != 0 {
                return Err(io::Error::from_raw_os_error(rc));
            }
        }
        Ok(())
    }
}
