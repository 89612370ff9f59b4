//! `allocport ports` shows the library's warnings: they go to standard error without any
//! logger set up, beside the report on standard output.

use std::process::Command;
use std::time::Duration;

use allocport_testkit::output_within;

const BIN: &str = env!("CARGO_BIN_EXE_allocport");

#[test]
fn ports_shows_a_reversed_range_warning() {
    let output = output_within(
        Command::new(BIN)
            .arg("ports")
            .env("PYSYS_PORTS", "5000-4000, 23456")
            .env_remove("PYSYS_PORTS_FILE"),
        Duration::from_secs(30),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("ports:     1 (23456)"), "{stdout}");
    assert_eq!(
        stderr.trim_end(),
        r#"allocport: warning: range "5000-4000" (PYSYS_PORTS) is reversed and names no port"#
    );
}

#[test]
fn ports_names_a_fifo_ports_file_at_once() {
    let dir = allocport_testkit::TempDir::new("cli-fifo");
    let path = dir.path().join("fifo");
    #[cfg(unix)]
    {
        let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo only creates the FIFO.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    }
    #[cfg(not(unix))]
    std::fs::create_dir(&path).unwrap();
    let output = output_within(
        Command::new(BIN)
            .arg("ports")
            .env_remove("PYSYS_PORTS")
            .env("PYSYS_PORTS_FILE", &path),
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains(&format!("PYSYS_PORTS_FILE: cannot read {:?}: it is ", path)),
        "{stderr}"
    );
}
