//! Port specifications have bounds: a `PYSYS_PORTS_FILE` that is a FIFO, a device, a
//! directory or too large is refused at once, naming the variable and the path; ranges are
//! merged, not expanded, so a spec of thousands of full ranges is cheap. The time limits here
//! only turn a hang into a failure; the README's figures come from timing the CLI.

use std::process::Output;
use std::time::{Duration, Instant};

use allocport_core::{DEFAULT_HOSTS, MAX_PORTS_FILE_BYTES, TcpPortOwner, format_ports_spec};
use allocport_testkit::{TempDir, output_within};

/// Generous: a loaded machine must not fail these; a hang (the old FIFO case) must.
const LIMIT: Duration = Duration::from_secs(30);

struct Sandbox {
    dir: TempDir,
    _owners: Vec<TcpPortOwner>,
    ports: Vec<u16>,
}

/// A private lock directory, and two ports reserved through the shared pool so that the
/// probe, given them in its spec, finds them free.
fn sandbox() -> Sandbox {
    let owners = TcpPortOwner::many(2, &DEFAULT_HOSTS, Default::default()).unwrap();
    let mut ports: Vec<u16> = owners.iter().map(TcpPortOwner::port).collect();
    ports.sort_unstable();
    Sandbox {
        dir: TempDir::new("input-spec"),
        _owners: owners,
        ports,
    }
}

impl Sandbox {
    /// Runs `allocport-probe try` with `var=value`; returns its output and how long it took.
    fn try_with(&self, var: &str, value: &std::ffi::OsStr) -> (String, Output, Duration) {
        let start = Instant::now();
        let output = output_within(
            allocport_tests::probe_command()
                .arg("try")
                .env("ALLOCPORT_LOCK_DIR", self.dir.path().join("locks"))
                .env("ALLOCPORT_TIMEOUT_SECS", "120")
                .env_remove("PYSYS_PORTS")
                .env(var, value),
            LIMIT,
        );
        let line = String::from_utf8_lossy(&output.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        (line, output, start.elapsed())
    }

    fn file(&self, name: &str, contents: &[u8]) -> std::path::PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

fn refused(line: &str, path: &std::path::Path, what: &str) {
    assert!(
        line.starts_with(&format!(
            "err PYSYS_PORTS_FILE: cannot read {:?}: it is {what}",
            path
        )),
        "{line}"
    );
}

#[cfg(unix)]
#[test]
fn a_fifo_is_refused_at_once() {
    let sandbox = sandbox();
    let fifo = sandbox.dir.path().join("ports.fifo");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates the FIFO.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let (line, _, took) = sandbox.try_with("PYSYS_PORTS_FILE", fifo.as_os_str());
    refused(&line, &fifo, "a FIFO, not a regular file");
    println!("FIFO refused in {took:?}");
}

#[cfg(unix)]
#[test]
fn a_device_is_refused_at_once() {
    let sandbox = sandbox();
    let zero = std::path::Path::new("/dev/zero");
    let (line, _, took) = sandbox.try_with("PYSYS_PORTS_FILE", zero.as_os_str());
    refused(&line, zero, "a device, not a regular file");
    println!("/dev/zero refused in {took:?}");
}

#[test]
fn a_directory_is_refused() {
    let sandbox = sandbox();
    let dir = sandbox.dir.path();
    let (line, _, _) = sandbox.try_with("PYSYS_PORTS_FILE", dir.as_os_str());
    if cfg!(windows) {
        // Windows refuses to open a directory as a file: the open's error names it.
        let prefix = format!("err PYSYS_PORTS_FILE: cannot read {dir:?}: ");
        assert!(line.starts_with(&prefix), "{line}");
    } else {
        refused(&line, dir, "a directory, not a regular file");
    }
}

#[test]
fn a_file_above_the_limit_is_refused_before_it_is_read() {
    let sandbox = sandbox();
    // 55 MB, sparse: refused on its size alone.
    let path = sandbox.file("huge.txt", b"");
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_len(55_000_000).unwrap();
    let (line, _, took) = sandbox.try_with("PYSYS_PORTS_FILE", path.as_os_str());
    refused(&line, &path, "55000000 bytes");
    assert!(line.contains(&MAX_PORTS_FILE_BYTES.to_string()), "{line}");
    println!("55 MB file refused in {took:?}");
}

#[test]
fn a_file_of_many_full_ranges_below_the_limit_is_read() {
    let sandbox = sandbox();
    let spec = format_ports_spec(&sandbox.ports);
    // Close to the limit: 3.9 MB of full ranges, then the real ports.
    let mut text = "1-65535,".repeat(3_900_000 / 8);
    text.push('\n');
    text.push_str(&spec);
    let path = sandbox.file("ranges.txt", text.as_bytes());
    let (line, _, took) = sandbox.try_with("PYSYS_PORTS_FILE", path.as_os_str());
    assert!(line.starts_with("ok "), "{line}");
    println!("3.9 MB file of 1-65535 ranges read and a port allocated in {took:?}");
}

#[test]
fn four_thousand_overlapping_full_ranges_are_cheap() {
    let sandbox = sandbox();
    let spec = vec!["1-65535"; 4000].join(",");
    assert!(spec.len() > 31_000);
    let (line, _, took) = sandbox.try_with("PYSYS_PORTS", spec.as_ref());
    assert!(line.starts_with("ok "), "{line}");
    println!("32 KB spec: a port allocated in {took:?}");
}

#[test]
fn a_byte_order_mark_at_the_start_of_a_ports_file_is_ignored() {
    let sandbox = sandbox();
    let mut text = b"\xEF\xBB\xBF".to_vec();
    text.extend(format_ports_spec(&sandbox.ports).bytes());
    let path = sandbox.file("bom.txt", &text);
    let (line, _, _) = sandbox.try_with("PYSYS_PORTS_FILE", path.as_os_str());
    let port: u16 = line
        .strip_prefix("ok ")
        .unwrap_or_else(|| panic!("{line}"))
        .parse()
        .unwrap();
    assert!(
        sandbox.ports.contains(&port),
        "{port} not in {:?}",
        sandbox.ports
    );
}
