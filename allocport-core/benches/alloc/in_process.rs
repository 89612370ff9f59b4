//! The measurements inside this process: criterion's groups (allocation, its floor, the
//! peer, pool initialisation, threads, held ports) and the paired ratios (`paired.rs`).

use std::hint::black_box;
use std::net::IpAddr;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use allocport_core::{
    AddressFamily, DEFAULT_HOSTS, TcpPortOwner, ephemeral_tcp_port_range, server_tcp_ports,
};
use criterion::{BenchmarkId, Criterion, Throughput};

use crate::floor::{V4_LOOPBACK, V4_WILDCARD, V6_LOOPBACK, V6_WILDCARD, bind_check};
use crate::paired::{self, Paired};
use crate::record::Recorder;
use crate::shared::{FLOOR_PORTS, HOLDERS, THREADS};

/// Allocation, its floor (bind checks, the lock, the wake-up) and the peer, one at a time.
pub(crate) fn single_operations(c: &mut Criterion, rec: &Recorder, ipv6: bool) {
    alloc_group(c, rec, ipv6);
    floor_group(c, rec, ipv6);
    let mut g = c.benchmark_group("peer");
    g.bench_function("portpicker", |b| {
        rec.iter(b, "peer/portpicker", || {
            black_box(portpicker::pick_unused_port().expect("portpicker found no port"));
        });
    });
    g.finish();
}

fn alloc_group(c: &mut Criterion, rec: &Recorder, ipv6: bool) {
    let mut g = c.benchmark_group("alloc");
    g.bench_function("default_v4", |b| {
        rec.iter(b, "alloc/default_v4", || {
            drop(black_box(TcpPortOwner::new().unwrap()));
        });
    });
    g.bench_function("localhost_v4", |b| {
        rec.iter(b, "alloc/localhost_v4", || {
            drop(black_box(alloc(&["localhost"], AddressFamily::Ipv4)));
        });
    });
    if ipv6 {
        g.bench_function("localhost_v6", |b| {
            rec.iter(b, "alloc/localhost_v6", || {
                drop(black_box(alloc(&["localhost"], AddressFamily::Ipv6)));
            });
        });
        g.bench_function("default_v6", |b| {
            rec.iter(b, "alloc/default_v6", || {
                drop(black_box(alloc(&DEFAULT_HOSTS, AddressFamily::Ipv6)));
            });
        });
    }
    g.finish();
}

fn floor_group(c: &mut Criterion, rec: &Recorder, ipv6: bool) {
    let mut g = c.benchmark_group("floor");
    let held = TcpPortOwner::many(FLOOR_PORTS, &DEFAULT_HOSTS, AddressFamily::Ipv4)
        .unwrap_or_else(|e| panic!("holding {FLOOR_PORTS} ports for the floor: {e}"));
    let ports: Vec<u16> = held.iter().map(TcpPortOwner::port).collect();
    let mut floor = |name: &'static str, ips: &'static [std::net::IpAddr]| {
        let mut next = ports.iter().copied().cycle();
        g.bench_function(name, |b| {
            rec.iter(b, &format!("floor/{name}"), || {
                let port = next.next().unwrap_or(0);
                for &ip in ips {
                    black_box(bind_check(ip, port).unwrap());
                }
            });
        });
    };
    floor("bind_localhost_v4", &[V4_LOOPBACK]);
    floor("bind_default_v4", &[V4_WILDCARD, V4_LOOPBACK]);
    if ipv6 {
        floor("bind_localhost_v6", &[V6_LOOPBACK]);
        floor("bind_default_v6", &[V6_WILDCARD, V6_LOOPBACK]);
    }
    // The pool wakes waiters on every release; with none waiting, this is what that costs.
    let released = std::sync::Condvar::new();
    g.bench_function("condvar_notify_all", |b| {
        rec.iter(b, "floor/condvar_notify_all", || released.notify_all());
    });
    #[cfg(unix)]
    {
        let scratch =
            crate::floor::ScratchLocks::new("floor").expect("creating a scratch lock file");
        let mut next = ports.iter().copied().cycle();
        g.bench_function("fcntl_lock_unlock", |b| {
            rec.iter(b, "floor/fcntl_lock_unlock", || {
                let byte = next.next().unwrap_or(0);
                scratch.lock(byte).unwrap();
                scratch.unlock(byte).unwrap();
            });
        });
    }
    g.finish();
    drop(held);
}

/// An allocation the benchmark cannot do its work without.
pub(crate) fn alloc(hosts: &[&str], family: AddressFamily) -> TcpPortOwner {
    TcpPortOwner::with_hosts(hosts, family)
        .unwrap_or_else(|e| panic!("allocating a port on {hosts:?} in {family}: {e}"))
}

/// The target ratios again, with the two sides timed in alternating blocks (see `paired.rs`),
/// each by the name the targets read it by.
pub(crate) struct Pairs {
    /// `with_hosts(["localhost"], Ipv4)` against one bind check.
    pub(crate) localhost_v4: Paired,
    /// `new()` against its two bind checks.
    pub(crate) default_v4: Paired,
    /// `new()` against `portpicker::pick_unused_port()`.
    pub(crate) portpicker: Paired,
    /// `with_hosts(["localhost"], Ipv6)` against one bind check, where there is IPv6.
    pub(crate) localhost_v6: Option<Paired>,
}

impl Pairs {
    /// Every pair, in the summary's order.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Paired> {
        [&self.localhost_v4, &self.default_v4, &self.portpicker]
            .into_iter()
            .chain(&self.localhost_v6)
    }
}

pub(crate) fn paired_ratios(full: bool, ipv6: bool) -> Pairs {
    let (rounds, block) = if full { (100, 100) } else { (2, 2) };
    let held = TcpPortOwner::many(FLOOR_PORTS, &DEFAULT_HOSTS, AddressFamily::Ipv4)
        .unwrap_or_else(|e| panic!("holding {FLOOR_PORTS} ports for the floor: {e}"));
    let ports: Vec<u16> = held.iter().map(TcpPortOwner::port).collect();
    let mut next = ports.iter().copied().cycle();
    let mut port = move || next.next().unwrap_or(0);
    let mut against_checks = |label: &'static str, a: &dyn Fn(), ips: &[IpAddr]| {
        paired::measure(label, rounds, block, a, || {
            let p = port();
            for &ip in ips {
                black_box(bind_check(ip, p).unwrap());
            }
        })
    };
    let new = || drop(black_box(TcpPortOwner::new().unwrap()));
    let localhost = |family| move || drop(black_box(alloc(&["localhost"], family)));
    let localhost_v4 = against_checks(
        "`with_hosts([\"localhost\"], Ipv4)` / one bind check 127.0.0.1",
        &localhost(AddressFamily::Ipv4),
        &[V4_LOOPBACK],
    );
    let default_v4 = against_checks(
        "`TcpPortOwner::new()` / bind checks 0.0.0.0 + 127.0.0.1",
        &new,
        &[V4_WILDCARD, V4_LOOPBACK],
    );
    let portpicker = paired::measure(
        "`TcpPortOwner::new()` / `portpicker::pick_unused_port()`",
        rounds,
        block,
        new,
        || {
            black_box(portpicker::pick_unused_port().expect("portpicker found no port"));
        },
    );
    let localhost_v6 = ipv6.then(|| {
        against_checks(
            "`with_hosts([\"localhost\"], Ipv6)` / one bind check ::1",
            &localhost(AddressFamily::Ipv6),
            &[V6_LOOPBACK],
        )
    });
    drop(held);
    Pairs {
        localhost_v4,
        default_v4,
        portpicker,
        localhost_v6,
    }
}

/// The parts of building the pool that the public API can repeat. The pool itself is built
/// once per process, with its order, so the whole build is timed in fresh processes
/// (`procs::first_allocation`), where it runs as users get it.
pub(crate) fn pool_initialisation(c: &mut Criterion, rec: &Recorder) {
    let mut g = c.benchmark_group("init");
    g.bench_function("ephemeral_range", |b| {
        rec.iter(b, "init/ephemeral_range", || {
            black_box(ephemeral_tcp_port_range().unwrap());
        });
    });
    g.bench_function("server_tcp_ports", |b| {
        rec.iter(b, "init/server_tcp_ports", || {
            black_box(server_tcp_ports().unwrap());
        });
    });
    g.finish();
}

/// Scatters `ports` over their range, as a shuffled pool's first ports are, in a fixed order
/// so every run locks the same ones: sorted by a multiplicative hash (Knuth's constant).
fn scatter(ports: &mut [u16]) {
    ports.sort_by_key(|&p| u32::from(p).wrapping_mul(2_654_435_761));
}

/// `t` threads allocating and releasing with the default hosts; criterion's time per
/// iteration is wall time per allocation, all threads together.
pub(crate) fn threads(c: &mut Criterion, rec: &Recorder) {
    let mut g = c.benchmark_group("threads");
    g.throughput(Throughput::Elements(1));
    for t in THREADS {
        let name = format!("threads/{t}");
        g.bench_with_input(BenchmarkId::from_parameter(t), &t, |b, &t| {
            b.iter_custom(|iters| {
                let barrier = Barrier::new(t);
                // Each thread clocks its own work: from the first thread's start to the last
                // one's end is the span, whatever the scheduler does with the spawning thread.
                let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
                    let workers: Vec<_> = (0..t as u64)
                        .map(|i| {
                            let n = iters / t as u64 + u64::from(i < iters % t as u64);
                            let barrier = &barrier;
                            s.spawn(move || {
                                barrier.wait();
                                let start = Instant::now();
                                for _ in 0..n {
                                    drop(black_box(TcpPortOwner::new().unwrap()));
                                }
                                (start, Instant::now())
                            })
                        })
                        .collect();
                    workers
                        .into_iter()
                        .map(|w| w.join().expect("an allocating thread panicked"))
                        .collect()
                });
                let first = spans.iter().map(|s| s.0).min();
                let last = spans.iter().map(|s| s.1).max();
                let elapsed = first
                    .zip(last)
                    .map_or(Duration::ZERO, |(first, last)| last - first);
                rec.push(&name, iters, elapsed);
                elapsed
            });
        });
    }
    g.finish();
}

/// Cost of one more allocation (localhost, IPv4) while this process holds `h` ports, and of
/// the bare fcntl lock with `h` other locks on the same file.
pub(crate) fn holders(c: &mut Criterion, rec: &Recorder) {
    let mut g = c.benchmark_group("holders");
    for h in HOLDERS {
        let held = TcpPortOwner::many(h, &["localhost"], AddressFamily::Ipv4)
            .unwrap_or_else(|e| panic!("holding {h} ports: {e}"));
        g.bench_with_input(BenchmarkId::from_parameter(h), &h, |b, _| {
            rec.iter(b, &format!("holders/{h}"), || {
                drop(black_box(alloc(&["localhost"], AddressFamily::Ipv4)));
            });
        });
        drop(held);
    }
    g.finish();

    #[cfg(unix)]
    holders_fcntl(c, rec);
}

/// The kernel's side of holding ports, bare: `h` ports of a scattered pool locked on one
/// scratch file, then lock + unlock of the next unheld ports in turn, as allocation does.
/// The `_sharded` groups do the same over 64 and 256 files, port `p` on file `p % files` (so
/// any range of ports spreads over all of them): the kernel walks a file's whole lock list on
/// every lock and unlock, which is why the pool spreads its locks over 64 files.
#[cfg(unix)]
fn holders_fcntl(c: &mut Criterion, rec: &Recorder) {
    let mut ports = server_tcp_ports().unwrap();
    scatter(&mut ports);
    for (group, shards) in [
        ("holders_fcntl", 1),
        ("holders_fcntl_sharded", 64),
        ("holders_fcntl_sharded256", 256),
    ] {
        let mut g = c.benchmark_group(group);
        for h in HOLDERS {
            let files: Vec<crate::floor::ScratchLocks> = (0..shards)
                .map(|i| crate::floor::ScratchLocks::new(&format!("{group}-{i}")))
                .collect::<Result<_, _>>()
                .expect("creating scratch lock files");
            let file = |port: u16| &files[usize::from(port) % shards];
            for &port in &ports[..h] {
                file(port).lock(port).unwrap();
            }
            let mut next = ports[h..h + 64].iter().copied().cycle();
            g.bench_with_input(BenchmarkId::from_parameter(h), &h, |b, _| {
                rec.iter(b, &format!("{group}/{h}"), || {
                    let port = next.next().unwrap_or(0);
                    file(port).lock(port).unwrap();
                    file(port).unlock(port).unwrap();
                });
            });
        }
        g.finish();
    }
}
