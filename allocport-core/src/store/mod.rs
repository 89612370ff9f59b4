//! The stores of claims between processes, each with its own platform code: [`kernel`] and
//! [`files`]; here, the choice. Where the claims between processes are kept: the kernel store on Linux (abstract Unix
//! socket names, [`kernel`]), the file store elsewhere or when chosen ([`crate::store::files`]).
//! Two processes exclude each other only on the same store, so the choice is explicit and
//! never a silent fallback: `ALLOCPORT_STORE=kernel` or `files`; unset, an
//! `ALLOCPORT_LOCK_DIR` that is set chooses the files (its only use), and otherwise Linux
//! uses the kernel store and every other system the files.
//!
//! On Linux the file store is compiled only with the `file-store` feature: nearly no one there
//! uses it, yet it was a tenth of the crate's code, which every user's cold debug build paid
//! for. Without it, choosing the files is an error naming the variable, never the kernel
//! store instead.

use std::sync::OnceLock;

use crate::claim::transport::{Proto, Transport};
use crate::env::{self, ALLOCPORT_LOCK_DIR, ALLOCPORT_STORE, Env};
use crate::error::Error;
#[cfg(any(feature = "file-store", not(target_os = "linux")))]
use files::{Lock, PortLocks};

#[cfg(any(feature = "file-store", not(target_os = "linux")))]
pub(crate) mod files;
mod holder;
#[cfg(target_os = "linux")]
mod kernel;

pub use holder::PortHolder;

#[cfg(target_os = "linux")]
use kernel::names::{self, Name};
#[cfg(target_os = "linux")]
use kernel::{Bound, KernelStore, doorbell, proc};

/// What trying a port's claim came to, in either store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Taken {
    /// The claim is this process's now.
    Yes,
    /// Another process holds it.
    Held,
    /// It was free, but another process reserved the port for its multi-port wait: given
    /// back.
    Reserved,
}

/// The two stores, as `ALLOCPORT_STORE` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// Abstract Unix socket names the kernel keeps (Linux only): `ALLOCPORT_STORE=kernel`.
    Kernel,
    /// Byte-range locks on files in a private directory: `ALLOCPORT_STORE=files`. On Linux,
    /// only with allocport-core's `file-store` feature.
    Files,
}

/// The store this process uses, as the environment chooses it (see the crate docs):
/// `ALLOCPORT_STORE`, else the files when `ALLOCPORT_LOCK_DIR` is set, else the kernel's on
/// Linux and the files elsewhere.
///
/// ```
/// let kind = allocport_core::store_kind().unwrap();
/// # #[cfg(target_os = "linux")]
/// # if std::env::var_os("ALLOCPORT_STORE").is_none() && std::env::var_os("ALLOCPORT_LOCK_DIR").is_none() {
/// assert_eq!(kind, allocport_core::StoreKind::Kernel);
/// # }
/// ```
pub fn store_kind() -> Result<StoreKind, Error> {
    store_kind_from(&env::process)
}

/// Where this process's claims are kept, in words: the kernel store's name prefix, or the
/// file store's directory, as `allocport status` shows it.
///
/// ```
/// let place = allocport_core::store_description().unwrap();
/// assert!(place.starts_with("kernel store") || place.starts_with("file store"));
/// ```
pub fn store_description() -> Result<String, Error> {
    match store_kind()? {
        #[cfg(target_os = "linux")]
        StoreKind::Kernel => {
            let prefix = names::Prefix::from_env(&env::process)?;
            Ok(format!(
                "kernel store, names @{}/... (abstract Unix sockets)",
                prefix.as_str()
            ))
        }
        #[cfg(not(target_os = "linux"))]
        StoreKind::Kernel => unreachable!("store_kind refuses the kernel store here"),
        #[cfg(any(feature = "file-store", not(target_os = "linux")))]
        StoreKind::Files => Ok(format!("file store in {}", files::lock_dir()?.display())),
        #[cfg(not(any(feature = "file-store", not(target_os = "linux"))))]
        StoreKind::Files => unreachable!("store_kind refuses the file store in this build"),
    }
}

pub(crate) fn store_kind_from(env: Env<'_>) -> Result<StoreKind, Error> {
    let Some(value) = env::non_empty(env, ALLOCPORT_STORE) else {
        if cfg!(not(target_os = "linux")) {
            return Ok(StoreKind::Files);
        }
        return match env::non_empty(env, ALLOCPORT_LOCK_DIR) {
            Some(dir) => files_here(ALLOCPORT_LOCK_DIR, &dir),
            None => Ok(StoreKind::Kernel),
        };
    };
    let invalid = |reason: &str| Error::InvalidEnv {
        var: ALLOCPORT_STORE,
        value: value.to_string_lossy().into_owned(),
        reason: reason.to_owned(),
    };
    match value.to_str() {
        Some("files") => files_here(ALLOCPORT_STORE, &value),
        Some("kernel") if cfg!(target_os = "linux") => Ok(StoreKind::Kernel),
        Some("kernel") => Err(invalid(
            "names the kernel store, which exists on Linux only: use `files` (the default here)",
        )),
        _ => Err(invalid("is not a store: use `kernel` (Linux) or `files`")),
    }
}

/// The file store, which `var` set to `value` chose, if this build has it. Without it, the
/// choice is refused rather than served by the kernel store: processes on two stores do not
/// exclude each other, so the user's other processes on the files would share ports with this
/// one.
fn files_here(var: &'static str, value: &std::ffi::OsStr) -> Result<StoreKind, Error> {
    if cfg!(any(feature = "file-store", not(target_os = "linux"))) {
        return Ok(StoreKind::Files);
    }
    Err(Error::InvalidEnv {
        var,
        value: value.to_string_lossy().into_owned(),
        reason: "chooses the file store, which on Linux is built only with allocport-core's \
                 `file-store` feature: enable it (`features = [\"file-store\"]` in Cargo.toml), \
                 or leave ALLOCPORT_STORE and ALLOCPORT_LOCK_DIR unset for the kernel store"
            .to_owned(),
    })
}

impl Proto {
    #[cfg(any(feature = "file-store", not(target_os = "linux")))]
    fn lock(self) -> Lock {
        match self {
            Proto::Tcp => Lock::Tcp,
            Proto::Udp => Lock::Udp,
        }
    }

    #[cfg(target_os = "linux")]
    fn claim_name(self, port: u16) -> Name {
        match self {
            Proto::Tcp => Name::Tcp(port),
            Proto::Udp => Name::Udp(port),
        }
    }

    #[cfg(target_os = "linux")]
    fn reservation_name(self, port: u16) -> Name {
        match self {
            Proto::Tcp => Name::ReservedTcp(port),
            Proto::Udp => Name::ReservedUdp(port),
        }
    }
}

/// What a list of holders is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Holding {
    Claim(Proto),
    /// Reservations of fair waits for the protocol.
    Reservation(Proto),
}

/// Whether a claim steps aside from a port another process reserved for its fair wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reservations {
    /// Gives the claim back, as everyone but the wait token's holder does.
    Respect,
    /// Claims it anyway: the token's holder, or a later protocol of a port already checked.
    Ignore,
}

/// Whom a release wakes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Processes waiting for a port: after a release of a port that was held.
    Waiters,
    /// No one: a claim given back unused frees nothing new, and two multi-port waiters would
    /// wake each other for ever.
    Nobody,
}

/// The store of this process: chosen once, at the first use that succeeds.
#[derive(Clone, Copy)]
pub(crate) enum Store {
    #[cfg(target_os = "linux")]
    Kernel(&'static KernelStore),
    #[cfg(any(feature = "file-store", not(target_os = "linux")))]
    Files(&'static PortLocks),
}

/// The store the environment chooses, opened: an unusable one is an error every time it is
/// asked for, never a fallback to the other (processes on two stores do not exclude each
/// other).
pub(crate) fn open() -> Result<Store, Error> {
    static CHOSEN: OnceLock<Store> = OnceLock::new();
    if let Some(store) = CHOSEN.get() {
        return Ok(*store);
    }
    let store = match store_kind()? {
        #[cfg(target_os = "linux")]
        StoreKind::Kernel => Store::Kernel(kernel::kernel_store()?),
        #[cfg(not(target_os = "linux"))]
        StoreKind::Kernel => unreachable!("store_kind refuses the kernel store here"),
        #[cfg(any(feature = "file-store", not(target_os = "linux")))]
        StoreKind::Files => Store::Files(files::port_locks()?),
        #[cfg(not(any(feature = "file-store", not(target_os = "linux"))))]
        StoreKind::Files => unreachable!("store_kind refuses the file store in this build"),
    };
    Ok(*CHOSEN.get_or_init(|| store))
}

impl Store {
    /// Claims `port` for `proto` if no other holder has it; respecting `reservations`, also
    /// steps aside (giving the claim back) from a port another process reserved for its fair
    /// wait.
    pub(crate) fn try_claim(
        self,
        proto: Proto,
        port: u16,
        reservations: Reservations,
    ) -> Result<Taken, Error> {
        let respect = reservations == Reservations::Respect;
        match self {
            #[cfg(target_os = "linux")]
            Store::Kernel(k) => {
                if k.bind(proto.claim_name(port))? == Bound::Taken {
                    return Ok(Taken::Held);
                }
                if respect && k.reserved(proto.reservation_name(port))? {
                    k.unbind(proto.claim_name(port));
                    return Ok(Taken::Reserved);
                }
                Ok(Taken::Yes)
            }
            #[cfg(any(feature = "file-store", not(target_os = "linux")))]
            Store::Files(f) => f.try_lock_unreserved(proto.lock(), port, respect),
        }
    }

    /// Gives back the claim of `port` for `proto`, waking whom `wake` says.
    pub(crate) fn release(self, proto: Proto, port: u16, wake: Wake) {
        let announce = wake == Wake::Waiters;
        match self {
            #[cfg(target_os = "linux")]
            Store::Kernel(k) => {
                k.unbind(proto.claim_name(port));
                if announce {
                    doorbell::ring(k, port);
                }
            }
            #[cfg(any(feature = "file-store", not(target_os = "linux")))]
            Store::Files(f) => f.unlock_announcing(proto.lock(), port, announce),
        }
    }

    /// Which of `ports` other processes hold (or reserved), for each of `what`, and their pids
    /// where they can be known, in port order. The kernel store answers every list from one
    /// look at `/proc`: a look reads every process's descriptors, and a timeout asks for
    /// holders and reservations together.
    pub(crate) fn holders<const N: usize>(
        self,
        what: [Holding; N],
        ports: impl IntoIterator<Item = u16>,
    ) -> [Result<Vec<PortHolder>, Error>; N] {
        match self {
            #[cfg(target_os = "linux")]
            Store::Kernel(k) => kernel_holders(k, what, ports),
            #[cfg(any(feature = "file-store", not(target_os = "linux")))]
            Store::Files(f) => {
                let ports: Vec<u16> = ports.into_iter().collect();
                what.map(|what| files_holders(f, what, &ports))
            }
        }
    }

    /// Takes the machine-wide wait token of multi-port waits if it is free.
    pub(crate) fn try_wait_token(self) -> Result<Option<WaitToken>, Error> {
        match self {
            #[cfg(target_os = "linux")]
            Store::Kernel(k) => kernel_token(k),
            #[cfg(any(feature = "file-store", not(target_os = "linux")))]
            Store::Files(f) => Ok(files::WaitToken::try_take(f)?.map(WaitToken::Files)),
        }
    }

    /// Starts the thread that wakes this process's waiting threads when another process
    /// releases a port of `pool`; `false` where none can: waiters must poll.
    pub(crate) fn watch_releases(
        self,
        pool: Vec<(u16, u16)>,
        wanted: impl Fn(bool) -> bool + Send + 'static,
        wake: impl Fn() + Send + 'static,
    ) -> bool {
        match self {
            #[cfg(target_os = "linux")]
            Store::Kernel(k) => doorbell::start_watcher(k, pool, wanted, wake),
            #[cfg(any(feature = "file-store", not(target_os = "linux")))]
            Store::Files(f) => files::wake::start_listener(f, pool, wanted, wake),
        }
    }
}

/// The file store's holders of `ports` for `what`.
#[cfg(any(feature = "file-store", not(target_os = "linux")))]
fn files_holders(f: &PortLocks, what: Holding, ports: &[u16]) -> Result<Vec<PortHolder>, Error> {
    let kind = match what {
        Holding::Claim(proto) => proto.lock(),
        Holding::Reservation(proto) => proto.lock().reservation(),
    };
    let found = f.holders(kind, ports.iter().copied())?;
    // The file store's own holder type stays inside it.
    let mut all: Vec<PortHolder> = found
        .into_iter()
        .map(|(port, h)| PortHolder { port, pid: h.pid })
        .collect();
    all.sort_unstable();
    Ok(all)
}

#[cfg(target_os = "linux")]
fn kernel_holders<const N: usize>(
    k: &KernelStore,
    what: [Holding; N],
    ports: impl IntoIterator<Item = u16>,
) -> [Result<Vec<PortHolder>, Error>; N] {
    let mut wanted = vec![false; 1 << 16];
    for port in ports {
        wanted[usize::from(port)] = true;
    }
    let names = match proc::bound_names(k.prefix()) {
        Ok(names) => names,
        Err(e) => {
            let reason = format!("reading /proc/net/unix: {e}");
            return what.map(|_| {
                Err(Error::StoreUnavailable {
                    store: "kernel",
                    reason: reason.clone(),
                })
            });
        }
    };
    // This process's own names are not another's: they are in its descriptor table.
    let found: Vec<(Holding, u16, u64)> = names
        .into_iter()
        .filter_map(|(name, inode)| Some((name, name.holding()?, name.port()?, inode)))
        .filter(|&(_, holding, port, _)| what.contains(&holding) && wanted[usize::from(port)])
        .filter(|&(name, ..)| !k.holds_here(name))
        .map(|(_, holding, port, inode)| (holding, port, inode))
        .collect();
    let owners = proc::owners(found.iter().map(|&(_, _, inode)| inode).collect());
    what.map(|what| {
        let mut holders: Vec<PortHolder> = found
            .iter()
            .filter(|&&(holding, _, _)| holding == what)
            .map(|&(_, port, inode)| PortHolder {
                port,
                pid: owners.get(inode),
            })
            .collect();
        holders.sort_unstable();
        holders.dedup();
        Ok(holders)
    })
}

#[cfg(target_os = "linux")]
impl Name {
    /// What holding the name means: the claim or the reservation of a port for a protocol.
    fn holding(self) -> Option<Holding> {
        match self {
            Name::Tcp(_) => Some(Holding::Claim(Proto::Tcp)),
            Name::Udp(_) => Some(Holding::Claim(Proto::Udp)),
            Name::ReservedTcp(_) => Some(Holding::Reservation(Proto::Tcp)),
            Name::ReservedUdp(_) => Some(Holding::Reservation(Proto::Udp)),
            Name::WaitToken | Name::Doorbell(_) => None,
        }
    }
}

/// The kernel store's wait token: its name bound, and the mutex between this process's
/// threads held.
#[cfg(target_os = "linux")]
fn kernel_token(k: &'static KernelStore) -> Result<Option<WaitToken>, Error> {
    use std::sync::{Mutex, TryLockError};
    static TOKEN: Mutex<()> = Mutex::new(());
    let thread = match TOKEN.try_lock() {
        Ok(guard) => guard,
        Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        Err(TryLockError::WouldBlock) => return Ok(None),
    };
    Ok(k.bind_token()?.map(|fd| WaitToken::Kernel {
        store: k,
        _name: fd,
        _thread: thread,
    }))
}

/// The machine-wide token of multi-port waits, held until dropped: only its holder keeps
/// partial claims and reserves ports, so two multi-port waiters never hold part each.
pub(crate) enum WaitToken {
    #[cfg(target_os = "linux")]
    Kernel {
        store: &'static KernelStore,
        _name: std::os::fd::OwnedFd,
        _thread: std::sync::MutexGuard<'static, ()>,
    },
    #[cfg(any(feature = "file-store", not(target_os = "linux")))]
    Files(files::WaitToken),
}

impl WaitToken {
    /// Reserves `port` for each protocol of `transport`, or for none: `false` if another
    /// process reserved it for one of them.
    pub(crate) fn reserve_for(&self, transport: Transport, port: u16) -> Result<bool, Error> {
        let protos = transport.protos();
        for (i, &proto) in protos.iter().enumerate() {
            if !self.reserve(proto, port)? {
                protos[..i].iter().for_each(|&p| self.unreserve(p, port));
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Ends the reservations [`reserve_for`](Self::reserve_for) made.
    pub(crate) fn unreserve_for(&self, transport: Transport, port: u16) {
        for &proto in transport.protos() {
            self.unreserve(proto, port);
        }
    }

    /// Reserves `port` for `proto`: other processes will not claim it once it is released.
    /// `false` if another process reserved it (a former holder of the token that has not let
    /// go yet).
    pub(crate) fn reserve(&self, proto: Proto, port: u16) -> Result<bool, Error> {
        match self {
            #[cfg(target_os = "linux")]
            WaitToken::Kernel { store, .. } => {
                Ok(store.bind(proto.reservation_name(port))? == Bound::Yes)
            }
            #[cfg(any(feature = "file-store", not(target_os = "linux")))]
            WaitToken::Files(token) => token.reserve(proto.lock(), port),
        }
    }

    /// Ends the reservation of `port` for `proto`.
    pub(crate) fn unreserve(&self, proto: Proto, port: u16) {
        match self {
            #[cfg(target_os = "linux")]
            WaitToken::Kernel { store, .. } => store.unbind(proto.reservation_name(port)),
            #[cfg(any(feature = "file-store", not(target_os = "linux")))]
            WaitToken::Files(token) => token.unreserve(proto.lock(), port),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::fake;

    #[test]
    fn the_store_is_chosen_explicitly() {
        let kernel_here = if cfg!(target_os = "linux") {
            StoreKind::Kernel
        } else {
            StoreKind::Files
        };
        assert_eq!(store_kind_from(&fake(&[])).unwrap(), kernel_here);
        let both = fake(&[(ALLOCPORT_LOCK_DIR, "/x"), (ALLOCPORT_STORE, "kernel")]);
        if cfg!(target_os = "linux") {
            assert_eq!(store_kind_from(&both).unwrap(), StoreKind::Kernel);
        } else {
            assert!(store_kind_from(&both).is_err());
        }
        let err = store_kind_from(&fake(&[(ALLOCPORT_STORE, "sysv")])).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("ALLOCPORT_STORE: \"sysv\" is not a store"),
            "{err}"
        );
    }

    #[test]
    #[cfg(any(feature = "file-store", not(target_os = "linux")))]
    fn either_variable_chooses_the_files() {
        assert_eq!(
            store_kind_from(&fake(&[(ALLOCPORT_STORE, "files")])).unwrap(),
            StoreKind::Files
        );
        assert_eq!(
            store_kind_from(&fake(&[(ALLOCPORT_LOCK_DIR, "/x")])).unwrap(),
            StoreKind::Files
        );
    }

    #[test]
    #[cfg(all(target_os = "linux", not(feature = "file-store")))]
    fn choosing_the_files_without_them_is_an_error_naming_the_variable_and_the_feature() {
        for (env, var, value) in [
            (vec![(ALLOCPORT_STORE, "files")], ALLOCPORT_STORE, "files"),
            (
                vec![(ALLOCPORT_STORE, "files"), (ALLOCPORT_LOCK_DIR, "/x")],
                ALLOCPORT_STORE,
                "files",
            ),
            (vec![(ALLOCPORT_LOCK_DIR, "/x")], ALLOCPORT_LOCK_DIR, "/x"),
        ] {
            let err = store_kind_from(&fake(&env)).unwrap_err();
            assert!(
                matches!(&err, Error::InvalidEnv { var: v, value: got, .. } if *v == var && got == value),
                "{err}"
            );
            let text = err.to_string();
            assert!(
                text.starts_with(&format!("{var}: {value:?} chooses the file store")),
                "{text}"
            );
            assert!(text.contains("`file-store` feature"), "{text}");
        }
    }
}
