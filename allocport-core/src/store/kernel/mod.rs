//! The kernel store (Linux): a claim is an `AF_UNIX` stream socket bound to the port's
//! abstract name ([`super::names`]). The kernel refuses a second bind of a name
//! (`EADDRINUSE`) and forgets it the moment its socket is closed, which happens when its
//! process dies, even by `SIGKILL`. Nothing is written anywhere: no file can be deleted,
//! aged out or hidden behind another `/tmp`, and no thread keeps anything alive.
//!
//! The names live in the network namespace, as the ports do: every process that shares
//! the ports (another user, a container on the host's network, a private `/tmp`) shares the
//! names, and a process in another network namespace, with ports of its own, does not.
//!
//! Each held claim is one descriptor, kept in a table indexed by name and port, so taking
//! and giving back a port costs three system calls (`socket`, `bind`, `close`) and no lock
//! of this process's. Descriptors are close-on-exec: a program this process `exec`s holds
//! nothing; a child `fork`ed without `exec` holds the claims too until it exits (a port
//! held longer, never twice).

pub(crate) mod doorbell;
pub(crate) mod names;
pub(crate) mod proc;

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::AtomicI32;
use std::sync::atomic::Ordering::{AcqRel, Relaxed};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::env;
use crate::error::Error;
use crate::warn::warn_once;
use names::{Name, NameBuf, Prefix};

/// How long a look that found nobody holding the wait token is relied on: a reservation
/// steers other claimers from this long after it is made (a fair wait lasts far longer).
const LOOK_LASTS: Duration = Duration::from_millis(5);

/// The slots of the descriptor table: four kinds of port name, a port each.
const SLOTS: usize = 4 << 16;

/// The store of this process: its prefix and the names it holds.
pub(crate) struct KernelStore {
    prefix: OnceLock<Prefix>,
    /// For each port name, the descriptor holding it here plus one (0: not held here).
    held: [AtomicI32; SLOTS],
    /// Until when nobody was seen holding the wait token, so no port can be reserved.
    no_token_until: Mutex<Option<Instant>>,
    /// This process's unbound datagram socket, for ringing doorbells (`sendto` names the
    /// bell, even once the socket is connected) and asking after the wait token: made at
    /// first use and kept. A field, not a static of its own, so that it shares a page of
    /// memory with the prefix: a test process's first claim faults in one page the fewer.
    sender: OnceLock<Option<OwnedFd>>,
}

static KERNEL: KernelStore = KernelStore {
    prefix: OnceLock::new(),
    held: [const { AtomicI32::new(0) }; SLOTS],
    no_token_until: Mutex::new(None),
    sender: OnceLock::new(),
};

/// The kernel store, its prefix read from `ALLOCPORT_NAMESPACE` on the first call. A sandbox
/// that forbids Unix sockets is an error here, before any port is handed out.
pub(crate) fn kernel_store() -> Result<&'static KernelStore, Error> {
    if KERNEL.prefix.get().is_some() {
        return Ok(&KERNEL);
    }
    let prefix = Prefix::from_env(&env::process)?;
    // One socket proves the family is allowed (a seccomp filter or an LSM that forbids it
    // must not pass for an empty store), and is the first claim's socket.
    keep_spare(stream_socket().map_err(unavailable)?);
    KERNEL.prefix.get_or_init(|| prefix);
    Ok(&KERNEL)
}

fn unavailable(cause: io::Error) -> Error {
    Error::StoreUnavailable {
        store: "kernel",
        reason: format!(
            "this process may not create Unix sockets ({cause}; a seccomp filter, systemd's \
             RestrictAddressFamilies= or a security module forbids them)"
        ),
    }
}

/// What trying to bind a name came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bound {
    /// The name is this process's now.
    Yes,
    /// Another socket has it: another process, or another claim of this one.
    Taken,
}

impl KernelStore {
    pub(crate) fn prefix(&self) -> &Prefix {
        self.prefix
            .get()
            .expect("kernel_store sets the prefix first")
    }

    fn slot(name: Name) -> usize {
        let lane = match name {
            Name::Tcp(_) => 0,
            Name::Udp(_) => 1,
            Name::ReservedTcp(_) => 2,
            Name::ReservedUdp(_) => 3,
            Name::WaitToken | Name::Doorbell(_) => unreachable!("not a port's name"),
        };
        (lane << 16) | usize::from(name.port().unwrap_or(0))
    }

    /// Binds `name` (a port's) and keeps it until [`unbind`](Self::unbind).
    pub(crate) fn bind(&self, name: Name) -> Result<Bound, Error> {
        let Some(fd) = self.bind_new(name)? else {
            return Ok(Bound::Taken);
        };
        let old = self.held[Self::slot(name)].swap(fd.as_raw_fd() + 1, AcqRel);
        std::mem::forget(fd);
        if old != 0 {
            // This process held the name already, so the bind above could not have worked.
            close(old - 1);
        }
        Ok(Bound::Yes)
    }

    /// Gives back `name` if this process holds it.
    pub(crate) fn unbind(&self, name: Name) {
        let old = self.held[Self::slot(name)].swap(0, AcqRel);
        if old != 0 {
            close(old - 1);
        }
    }

    /// Whether this process holds `name`.
    pub(crate) fn holds_here(&self, name: Name) -> bool {
        self.held[Self::slot(name)].load(Relaxed) != 0
    }

    /// A new socket bound to `name`, or `None` when another socket has the name.
    pub(crate) fn bind_new(&self, name: Name) -> Result<Option<OwnedFd>, Error> {
        let fd = match spare_or_new_socket() {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) && raise_fd_limit() => {
                stream_socket().map_err(|e| self.socket_error(e))?
            }
            Err(e) => return Err(self.socket_error(e)),
        };
        // The bind checks and the user's own sockets need descriptors too: a claim that takes
        // one of the last few raises the limit, or is refused while the others can still
        // work. The lowest free number is taken, so the number counts the open descriptors.
        if fd.as_raw_fd() as u64 + SPARE_FDS >= soft_fd_limit() && !raise_fd_limit() {
            drop(fd);
            return Err(self.socket_error(io::Error::from_raw_os_error(libc::EMFILE)));
        }
        match bind_abstract(&fd, self.prefix(), name) {
            Ok(()) => Ok(Some(fd)),
            Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => {
                keep_spare(fd);
                Ok(None)
            }
            Err(e) => Err(bind_failed(name, e)),
        }
    }

    /// Whether another socket has `name` now: bound for a moment and let go if not.
    pub(crate) fn is_taken(&self, name: Name) -> Result<bool, Error> {
        Ok(self.bind_new(name)?.is_none())
    }

    fn socket_error(&self, e: io::Error) -> Error {
        if e.raw_os_error() == Some(libc::EMFILE) {
            let held = self.held.iter().filter(|fd| fd.load(Relaxed) != 0).count();
            return Error::OutOfDescriptors {
                held,
                limit: fd_limits().map_or(0, |(soft, _)| soft),
            };
        }
        if matches!(
            e.raw_os_error(),
            Some(libc::EAFNOSUPPORT | libc::EACCES | libc::EPERM)
        ) {
            return unavailable(e);
        }
        Error::StoreUnavailable {
            store: "kernel",
            reason: format!("creating a Unix socket: {e}"),
        }
    }

    /// Whether a fair waiter of another process (or of this one) reserved `name`'s port, as
    /// `reservation` names it: asked only while somebody holds the wait token, and that is
    /// looked at once per [`LOOK_LASTS`].
    pub(crate) fn reserved(&self, reservation: Name) -> Result<bool, Error> {
        let now = Instant::now();
        {
            let until = self
                .no_token_until
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if until.is_some_and(|until| now < until) {
                return Ok(false);
            }
        }
        if !self.token_held() {
            *self
                .no_token_until
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(now + LOOK_LASTS);
            return Ok(false);
        }
        self.is_taken(reservation)
    }
}

impl KernelStore {
    /// Binds the wait token (a datagram socket, so that [`token_held`](Self::token_held) is
    /// one `connect`): the socket, or `None` when another process or thread holds it.
    pub(crate) fn bind_token(&self) -> Result<Option<OwnedFd>, Error> {
        let fd = unix_socket(libc::SOCK_DGRAM).map_err(|e| self.socket_error(e))?;
        match bind_abstract(&fd, self.prefix(), Name::WaitToken) {
            Ok(()) => Ok(Some(fd)),
            Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => Ok(None),
            Err(e) => Err(bind_failed(Name::WaitToken, e)),
        }
    }

    /// Whether anyone holds the wait token: connecting a datagram socket to its name is
    /// refused (`ECONNREFUSED`) only when nobody has bound it, and sends nothing. Where that
    /// cannot be asked, the token is taken as held, so the reservation is looked at.
    fn token_held(&self) -> bool {
        self.datagram_sender()
            .is_none_or(|sender| token_held_in(sender, self.prefix()))
    }

    /// The datagram socket of [`sender`](Self::sender).
    pub(crate) fn datagram_sender(&self) -> Option<&OwnedFd> {
        self.sender
            .get_or_init(|| unix_socket(libc::SOCK_DGRAM).ok())
            .as_ref()
    }
}

/// [`KernelStore::token_held`] in the store named by `prefix`, asked through `sender`.
fn token_held_in(sender: &OwnedFd, prefix: &Prefix) -> bool {
    let (addr, len) = address(prefix, Name::WaitToken);
    // SAFETY: a valid socket and a sockaddr_un of `len` bytes.
    let rc = unsafe { libc::connect(sender.as_raw_fd(), (&raw const addr).cast(), len) };
    rc == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ECONNREFUSED)
}

/// A bind of `name` that failed otherwise than by the name being taken.
fn bind_failed(name: Name, e: io::Error) -> Error {
    Error::StoreUnavailable {
        store: "kernel",
        reason: format!("binding the name of {}: {e}", describe(name)),
    }
}

/// What a name stands for, in messages.
fn describe(name: Name) -> String {
    match name {
        Name::Tcp(p) => format!("TCP port {p}"),
        Name::Udp(p) => format!("UDP port {p}"),
        Name::ReservedTcp(p) => format!("the reservation of TCP port {p}"),
        Name::ReservedUdp(p) => format!("the reservation of UDP port {p}"),
        Name::WaitToken => "the wait token".to_owned(),
        Name::Doorbell(i) => format!("doorbell {i}"),
    }
}

fn close(fd: RawFd) {
    // Not through `OwnedFd`: in a debug build, as tests are, its drop first asks the OS
    // whether the descriptor is open, a system call more for every port given back.
    // SAFETY: the table owned this descriptor, and the swap that took it out made this the
    // only close.
    unsafe { libc::close(fd) };
}

/// A close-on-exec `AF_UNIX` socket of `kind`.
pub(crate) fn unix_socket(kind: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket takes plain integers.
    let fd = unsafe { libc::socket(libc::AF_UNIX, kind | libc::SOCK_CLOEXEC, 0) };
    if fd == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn stream_socket() -> io::Result<OwnedFd> {
    unix_socket(libc::SOCK_STREAM)
}

/// A socket whose bind failed, kept for the next claim: a busy port then costs one system
/// call (`bind`) instead of three, which is what a look through a busy pool is made of.
static SPARE: AtomicI32 = AtomicI32::new(0);

fn spare_or_new_socket() -> io::Result<OwnedFd> {
    match SPARE.swap(0, AcqRel) {
        0 => stream_socket(),
        // SAFETY: the spare slot owned this descriptor; the swap handed it over alone.
        fd => Ok(unsafe { OwnedFd::from_raw_fd(fd - 1) }),
    }
}

/// Keeps `fd`, an unbound stream socket, as the spare, unless one is kept already.
fn keep_spare(fd: OwnedFd) {
    let raw = fd.as_raw_fd();
    if SPARE.compare_exchange(0, raw + 1, AcqRel, Relaxed).is_ok() {
        std::mem::forget(fd);
    }
}

/// The abstract address of `name`, and its length for `bind`, `sendto` and the like.
pub(crate) fn address(prefix: &Prefix, name: Name) -> (libc::sockaddr_un, libc::socklen_t) {
    // SAFETY: sockaddr_un is plain bytes; all zero is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let mut buf: NameBuf = [0; std::mem::size_of::<NameBuf>()];
    let len = prefix.write(name, &mut buf);
    for (dst, &src) in addr.sun_path.iter_mut().zip(&buf[..len]) {
        *dst = src as libc::c_char;
    }
    let base = std::mem::offset_of!(libc::sockaddr_un, sun_path);
    (addr, (base + len) as libc::socklen_t)
}

pub(crate) fn bind_abstract(fd: &OwnedFd, prefix: &Prefix, name: Name) -> io::Result<()> {
    let (addr, len) = address(prefix, name);
    // SAFETY: `addr` is a valid sockaddr_un of `len` bytes that outlives the call.
    let rc = unsafe { libc::bind(fd.as_raw_fd(), (&raw const addr).cast(), len) };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Descriptors left free for bind checks and the user's own sockets.
const SPARE_FDS: u64 = 32;

/// The soft limit of open descriptors, as read at the first claim or last raised.
static SOFT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn soft_fd_limit() -> u64 {
    match SOFT.load(Relaxed) {
        0 => {
            let soft = fd_limits().map_or(u64::MAX, |(soft, _)| soft);
            SOFT.store(soft, Relaxed);
            soft
        }
        soft => soft,
    }
}

/// The soft and hard limits of open descriptors.
fn fd_limits() -> Option<(u64, u64)> {
    // SAFETY: getrlimit writes the struct given.
    let mut limit: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: a valid resource and a live struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    Some((limit.rlim_cur as u64, limit.rlim_max as u64))
}

/// Raises the soft limit of open descriptors to the hard limit, once per process (as Go's
/// runtime does at start): each held port is a descriptor, and 1,024 is a common soft limit
/// under a far higher hard one. Whether this call raised it.
fn raise_fd_limit() -> bool {
    static RAISED: Mutex<bool> = Mutex::new(false);
    let mut raised = RAISED.lock().unwrap_or_else(|p| p.into_inner());
    if *raised {
        return false;
    }
    *raised = true;
    let Some((soft, hard)) = fd_limits() else {
        return false;
    };
    if hard <= soft {
        return false;
    }
    let limit = libc::rlimit {
        rlim_cur: hard as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: a valid resource and a live struct.
    let ok = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } == 0;
    if ok {
        SOFT.store(hard, Relaxed);
        warn_once(&format!(
            "raised this process's open-file limit from {soft} to {hard}: each port held \
             takes a descriptor"
        ));
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> &'static KernelStore {
        kernel_store().unwrap()
    }

    #[test]
    fn a_bound_name_refuses_a_second_bind_until_unbound() {
        let s = store();
        // A port nobody else in the test process uses: UDP lane, a high number.
        let name = Name::ReservedUdp(65001);
        assert_eq!(s.bind(name).unwrap(), Bound::Yes);
        assert!(s.holds_here(name));
        assert!(s.is_taken(name).unwrap());
        assert_eq!(s.bind_new(name).unwrap().map(|_| ()), None);
        s.unbind(name);
        assert!(!s.holds_here(name));
        assert!(!s.is_taken(name).unwrap());
    }

    #[test]
    fn only_a_datagram_socket_on_its_name_holds_the_wait_token() {
        // A store of this test's own: the machine's may have a fair waiter now.
        let env = |var: &str| {
            (var == "ALLOCPORT_NAMESPACE")
                .then(|| format!("unit-token-{}", std::process::id()).into())
        };
        let prefix = Prefix::from_env(&env).unwrap();
        let sender = store().datagram_sender().unwrap();
        assert!(!token_held_in(sender, &prefix));
        let squatter = stream_socket().unwrap();
        bind_abstract(&squatter, &prefix, Name::WaitToken).unwrap();
        assert!(
            !token_held_in(sender, &prefix),
            "a stream socket is nobody's token"
        );
        let token = unix_socket(libc::SOCK_DGRAM).unwrap();
        bind_abstract(&token, &prefix, Name::WaitToken).unwrap();
        assert!(token_held_in(sender, &prefix));
        assert!(
            token_held_in(sender, &prefix),
            "asking sent nothing that could fill a queue"
        );
        drop(token);
        assert!(!token_held_in(sender, &prefix));
    }

    #[test]
    fn names_of_different_kinds_do_not_meet() {
        let s = store();
        assert_eq!(s.bind(Name::ReservedTcp(65002)).unwrap(), Bound::Yes);
        assert!(!s.is_taken(Name::ReservedUdp(65002)).unwrap());
        assert!(!s.is_taken(Name::ReservedTcp(65003)).unwrap());
        s.unbind(Name::ReservedTcp(65002));
    }
}
