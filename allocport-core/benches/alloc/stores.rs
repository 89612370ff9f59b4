//! The kernel store beside the file store, in one run: issue 20's targets measured once per
//! store, each in child processes put on that store by their environment
//! (`ALLOCPORT_STORE=kernel` with an `ALLOCPORT_NAMESPACE` of this run's, or
//! `ALLOCPORT_STORE=files` with a private `ALLOCPORT_LOCK_DIR` of this run's), so neither
//! store meets the other's claims, nor another run's.
//!
//! The child modes here: `steady` (allocation against its floor and against portpicker,
//! paired) and `status` (naming every holder). The parent side starts holders (`hold`, in
//! `wakeup.rs`) and the children, and collects the figures; `fresh.rs` and `procs.rs` do the
//! fresh-process parts.

use std::collections::BTreeSet;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use allocport_core::{
    AddressFamily, DEFAULT_HOSTS, StoreKind, TcpPortOwner, process_command_line, store_kind,
    tcp_port_holders,
};
use allocport_testkit::{Process, Spawn};

use crate::floor::{V4_LOOPBACK, V4_WILDCARD, bind_check};
use crate::paired;
use crate::procs;
use crate::record::median_duration;
use crate::shared::{FLOOR_PORTS, HOLD, HOSTS, PAIRS};

/// `hold` children may take this long to say they hold their ports.
const HOLDER_DEADLINE: Duration = Duration::from_secs(60);

/// One of the two stores, and how a child is put on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Store {
    Kernel,
    Files,
}

impl Store {
    pub(crate) const ALL: [Store; 2] = [Store::Kernel, Store::Files];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Store::Kernel => "kernel store",
            Store::Files => "file store",
        }
    }

    /// The environment of a child on this store, in the place named `tag` (a fresh `tag` is a
    /// store nothing has used: a new namespace, a lock directory that does not exist yet).
    pub(crate) fn envs(self, tag: &str) -> Vec<(&'static str, String)> {
        let run = std::process::id();
        match self {
            Store::Kernel => vec![
                ("ALLOCPORT_STORE", "kernel".to_owned()),
                // At most 32 bytes: `b<pid>-<tag>`.
                ("ALLOCPORT_NAMESPACE", format!("b{run}-{tag}")),
            ],
            Store::Files => vec![
                ("ALLOCPORT_STORE", "files".to_owned()),
                (
                    "ALLOCPORT_LOCK_DIR",
                    run_dir().join(tag).to_string_lossy().into_owned(),
                ),
            ],
        }
    }
}

/// This run's lock directories' parent, private, removed by [`clean_up`].
fn run_dir() -> PathBuf {
    std::env::temp_dir().join(format!("allocport-bench-{}", std::process::id()))
}

/// Makes the parent of this run's lock directories (each made by allocport itself).
pub(crate) fn prepare() -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(run_dir())
        .map_err(|e| format!("creating {}: {e}", run_dir().display()))
}

/// Removes this run's lock directories.
pub(crate) fn clean_up() {
    let _ = std::fs::remove_dir_all(run_dir());
}

/// Child `steady`: `new()` paired against its floor (its two bind checks and the store's
/// claim and release, bare) and against `portpicker::pick_unused_port()`.
pub(crate) fn steady() -> Result<String, String> {
    let kind = store_kind().map_err(|e| e.to_string())?;
    let held = TcpPortOwner::many(FLOOR_PORTS, &DEFAULT_HOSTS, AddressFamily::Ipv4)
        .map_err(|e| format!("holding {FLOOR_PORTS} ports for the floor: {e}"))?;
    let ports: Vec<u16> = held.iter().map(TcpPortOwner::port).collect();
    let scratch = crate::floor::ScratchLocks::new("steady").map_err(|e| e.to_string())?;
    let mut next = ports.iter().copied().cycle();
    let mut floor = move || {
        let port = next.next().unwrap_or(0);
        black_box(bind_check(V4_WILDCARD, port).unwrap());
        black_box(bind_check(V4_LOOPBACK, port).unwrap());
        match kind {
            StoreKind::Kernel => {
                // Names of the floor's own: the real ones are held by this process.
                let claim = crate::bare::abstract_claim("allocport-floor", port);
                black_box(claim.unwrap().is_some());
            }
            StoreKind::Files => {
                scratch.lock(port).unwrap();
                scratch.unlock(port).unwrap();
            }
        }
    };
    let alloc = || drop(black_box(TcpPortOwner::new().unwrap()));
    let (rounds, block) = (100, 100);
    let f = paired::measure("new / floor", rounds, block, alloc, &mut floor);
    let p = paired::measure("new / portpicker", rounds, block, alloc, || {
        black_box(portpicker::pick_unused_port().expect("portpicker found no port"));
    });
    drop(held);
    Ok(format!(
        "new_ns={} floor_ns={} floor_ratio_milli={:.0} pp_new_ns={} pp_ns={} pp_ratio_milli={:.0}",
        f.a.as_nanos(),
        f.b.as_nanos(),
        f.ratio * 1000.0,
        p.a.as_nanos(),
        p.b.as_nanos(),
        p.ratio * 1000.0
    ))
}

/// Child `status`: what `allocport status` does to name the holders (every TCP holder of the
/// store, then each distinct holder's command line), timed 11 times; the median, and how many
/// holders it named with a pid and a command.
pub(crate) fn status() -> Result<String, String> {
    let mut times = Vec::new();
    let (mut holders, mut named) = (0, 0);
    for _ in 0..11 {
        let start = Instant::now();
        let found = tcp_port_holders().map_err(|e| e.to_string())?;
        let pids: BTreeSet<u32> = found.iter().filter_map(|h| h.pid).collect();
        let commands: Vec<(u32, Option<String>)> = pids
            .into_iter()
            .map(|p| (p, process_command_line(p)))
            .collect();
        times.push(start.elapsed());
        holders = found.len();
        named = found
            .iter()
            .filter(|h| {
                h.pid
                    .is_some_and(|p| commands.iter().any(|(q, c)| *q == p && c.is_some()))
            })
            .count();
    }
    let median = median_duration(&times).unwrap_or_default();
    Ok(format!(
        "median_ns={} holders={holders} named={named}",
        median.as_nanos()
    ))
}

/// Holder children on `store` (place `tag`): `counts[i]` ports each, started one after another
/// and returned once each said it holds them.
fn holders(store: Store, tag: &str, counts: &[usize]) -> Result<Vec<Process>, String> {
    let mut out = Vec::new();
    for &n in counts {
        let mut envs = store.envs(tag);
        envs.push((HOLD, n.to_string()));
        envs.push(("ALLOCPORT_TIMEOUT_SECS", "20".to_owned()));
        let mut cmd = procs::command("hold", &envs);
        let p = Spawn::new()
            .deadline(HOLDER_DEADLINE)
            .try_start(&mut cmd)
            .map_err(|e| format!("starting a holder: {e}"))?;
        let said = p
            .line_within(HOLDER_DEADLINE)
            .ok_or_else(|| format!("a holder of {n} ports said nothing"))?;
        if n > 1 && said != format!("held {n} ports") {
            return Err(format!("a holder of {n} ports said {said:?}"));
        }
        out.push(p);
    }
    Ok(out)
}

fn release(holders: Vec<Process>) {
    for mut p in holders {
        p.close_stdin();
        p.wait();
    }
}

/// One more allocation (default hosts) with one port held by another process, and with 4,000
/// held by four others (1,000 each), alternating over `rounds`: the medians of each side's
/// per-allocation medians.
pub(crate) struct HeldByOthers {
    pub(crate) one: Duration,
    pub(crate) many: Duration,
    pub(crate) many_count: usize,
    pub(crate) rounds: usize,
}

pub(crate) fn held_by_others(
    store: Store,
    tag: &str,
    rounds: usize,
    pairs: u64,
) -> Result<HeldByOthers, String> {
    const MANY: [usize; 4] = [1000; 4];
    let (mut one, mut many) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        for (counts, into) in [(&[1][..], &mut one), (&MANY[..], &mut many)] {
            let held = holders(store, tag, counts)?;
            let mut envs = store.envs(tag);
            envs.push((PAIRS, pairs.to_string()));
            envs.push((HOSTS, "default".to_owned()));
            let run = procs::run_child("loop", &envs);
            release(held);
            into.push(run?.nanos("median_ns")?);
        }
    }
    let median = |v: &[Duration]| median_duration(v).unwrap_or_default();
    Ok(HeldByOthers {
        one: median(&one),
        many: median(&many),
        many_count: MANY.iter().sum(),
        rounds,
    })
}

/// `allocport status`'s naming of every holder with 1,000 ports held by four other processes.
pub(crate) struct Status {
    pub(crate) median: Duration,
    pub(crate) holders: u64,
    pub(crate) named: u64,
}

pub(crate) fn status_with_held(store: Store, tag: &str) -> Result<Status, String> {
    let held = holders(store, tag, &[250; 4])?;
    let run = procs::run_child("status", &store.envs(tag));
    release(held);
    let run = run?;
    Ok(Status {
        median: run.nanos("median_ns")?,
        holders: run.get("holders")?,
        named: run.get("named")?,
    })
}

/// The steady-state child's figures.
pub(crate) struct Steady {
    pub(crate) new: Duration,
    pub(crate) floor: Duration,
    pub(crate) floor_ratio: f64,
    pub(crate) portpicker: Duration,
    pub(crate) portpicker_ratio: f64,
}

pub(crate) fn steady_of(store: Store, tag: &str) -> Result<Steady, String> {
    let run = procs::run_child("steady", &store.envs(tag))?;
    Ok(Steady {
        new: run.nanos("new_ns")?,
        floor: run.nanos("floor_ns")?,
        floor_ratio: run.get("floor_ratio_milli")? as f64 / 1000.0,
        portpicker: run.nanos("pp_ns")?,
        portpicker_ratio: run.get("pp_ratio_milli")? as f64 / 1000.0,
    })
}
