//! `allocport ports` shows the library's warnings: they go to standard error without any
//! logger set up, beside the report on standard output.

use std::process::Command;
use std::time::Duration;

use allocport_testkit::{output_within, under_wine};

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
    let mut warnings: Vec<&str> = stderr.lines().collect();
    if under_wine() {
        // `ports` also reads the ephemeral range, which Wine's netsh does not print.
        warnings.retain(|line| !line.ends_with(WINDOWS_DEFAULT));
    }
    assert_eq!(
        warnings,
        [r#"allocport: warning: range "5000-4000" (PYSYS_PORTS) is reversed and names no port"#]
    );
}

/// The end of the warning where Windows' dynamic port range cannot be read.
const WINDOWS_DEFAULT: &str = "assuming Windows' default dynamic port range 49152-65535";

#[test]
fn ports_from_the_os_works_with_at_most_one_warning() {
    let output = output_within(
        Command::new(BIN)
            .arg("ports")
            .env_remove("PYSYS_PORTS")
            .env_remove("PYSYS_PORTS_FILE"),
        Duration::from_secs(30),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("source:    ports 1024-65535 outside"),
        "{stdout}"
    );
    let warnings: Vec<&str> = stderr.lines().collect();
    if under_wine() {
        // Wine's netsh prints nothing: Windows' default range, said once.
        assert_eq!(warnings.len(), 1, "{stderr}");
        assert!(warnings[0].starts_with("allocport: warning: cannot determine the ephemeral"));
        assert!(warnings[0].ends_with(WINDOWS_DEFAULT), "{stderr}");
        assert!(stdout.contains("ephemeral: 49152-65535"), "{stdout}");
    } else {
        assert_eq!(warnings, Vec::<&str>::new());
    }
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
    // Windows refuses to open a directory as a file: the open's error names it.
    let expected = match cfg!(unix) {
        true => format!("PYSYS_PORTS_FILE: cannot read {path:?}: it is "),
        false => format!("PYSYS_PORTS_FILE: cannot read {path:?}: "),
    };
    assert!(stderr.contains(&expected), "{stderr}");
}
