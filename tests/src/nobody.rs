//! Running the `allocport-probe` helper as an unprivileged user, for the cases that only an
//! unprivileged process meets (ports below `ip_unprivileged_port_start`).
//!
//! When the suite runs as root, the probe runs as `nobody` through `setpriv` (or `runuser`),
//! from a world-readable copy, with a lock directory `nobody` owns. When it runs unprivileged
//! already, the probe runs as is. Otherwise (root without either tool or user, or ports 80 and
//! 443 unprivileged on this machine) the test is skipped with a printed line saying why.

use std::path::PathBuf;
use std::process::Command;

use allocport_testkit::TempDir;

/// How a test runs the probe without privileges.
pub struct Unprivileged {
    /// `Some((uid, gid, tool))` when switching from root to `nobody`.
    switch: Option<(u32, u32, &'static str)>,
    probe: PathBuf,
    lock_dir: PathBuf,
    _dir: TempDir,
}

impl Unprivileged {
    /// The way to run the probe unprivileged here, or `None` after printing why the calling
    /// test is skipped.
    pub fn new(test: &str) -> Option<Unprivileged> {
        let start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
            .ok()
            .and_then(|text| text.trim().parse::<u32>().ok())
            .unwrap_or(1024);
        if start <= 443 {
            println!(
                "SKIPPED {test}: ip_unprivileged_port_start is {start}, so ports 80 and 443 \
                 need no privilege here"
            );
            return None;
        }
        let dir = TempDir::new("unprivileged");
        let lock_dir = dir.path().join("locks");
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            if may_bind_privileged_ports() {
                println!("SKIPPED {test}: this user has CAP_NET_BIND_SERVICE");
                return None;
            }
            return Some(Unprivileged {
                switch: None,
                probe: crate::probe_command().get_program().into(),
                lock_dir,
                _dir: dir,
            });
        }
        let Some((uid, gid)) = nobody() else {
            println!("SKIPPED {test}: running as root and there is no user `nobody`");
            return None;
        };
        let Some(tool) = ["setpriv", "runuser"].into_iter().find(|t| on_path(t)) else {
            println!(
                "SKIPPED {test}: running as root and neither setpriv nor runuser is installed"
            );
            return None;
        };
        // A world-readable copy: the build directory may not be open to `nobody`.
        let probe = dir.path().join("allocport-probe");
        std::fs::copy(crate::probe_command().get_program(), &probe).expect("copying the probe");
        chmod(dir.path(), 0o755);
        chmod(&probe, 0o755);
        std::fs::create_dir(&lock_dir).expect("creating the lock directory");
        chmod(&lock_dir, 0o700);
        let c_path = std::ffi::CString::new(lock_dir.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path; chown only changes the directory's owner.
        assert_eq!(
            unsafe { libc::chown(c_path.as_ptr(), uid, gid) },
            0,
            "chown"
        );
        Some(Unprivileged {
            switch: Some((uid, gid, tool)),
            probe,
            lock_dir,
            _dir: dir,
        })
    }

    /// `nobody`'s uid and gid when the probe is run as `nobody`.
    pub fn nobody_ids(&self) -> Option<(u32, u32)> {
        self.switch.map(|(uid, gid, _)| (uid, gid))
    }

    /// A command running the probe's copy as this process's own user, with the same lock
    /// directory as [`Unprivileged::probe`].
    pub fn probe_as_self(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.probe);
        command.args(args).env("ALLOCPORT_LOCK_DIR", &self.lock_dir);
        command
    }

    /// A command running the probe unprivileged with its own lock directory.
    pub fn probe(&self, args: &[&str]) -> Command {
        let mut command = match self.switch {
            None => Command::new(&self.probe),
            Some((uid, gid, "setpriv")) => {
                let mut c = Command::new("setpriv");
                c.args([
                    format!("--reuid={uid}"),
                    format!("--regid={gid}"),
                    "--clear-groups".to_owned(),
                ])
                .arg(&self.probe);
                c
            }
            Some(_) => {
                let mut c = Command::new("runuser");
                c.args(["-u", "nobody", "--"]).arg(&self.probe);
                c
            }
        };
        command.args(args).env("ALLOCPORT_LOCK_DIR", &self.lock_dir);
        command
    }
}

fn nobody() -> Option<(u32, u32)> {
    // SAFETY: getpwnam takes a NUL-terminated name; the entry is read at once, before any
    // other call could reuse its static storage (the tests of this file do not call it).
    unsafe {
        let entry = libc::getpwnam(c"nobody".as_ptr());
        (!entry.is_null()).then(|| ((*entry).pw_uid, (*entry).pw_gid))
    }
}

/// Whether this process's effective capabilities include `CAP_NET_BIND_SERVICE` (bit 10).
fn may_bind_privileged_ports() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let hex = status
                .lines()
                .find_map(|l| l.strip_prefix("CapEff:"))?
                .trim()
                .to_owned();
            u64::from_str_radix(&hex, 16).ok()
        })
        .is_some_and(|caps| caps & (1 << 10) != 0)
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}

fn chmod(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}
