//! The executables cargo built for this test run.

use std::path::PathBuf;
use std::process::Command;

/// The directory cargo puts a profile's binaries in (`target/debug`), found from the running
/// test or bench binary, which cargo puts in its `deps` subdirectory.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the running test binary's path");
    let mut dir = exe
        .parent()
        .expect("the test binary's directory")
        .to_owned();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

fn existing(path: PathBuf, how: &str) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing: cargo builds it with {how}",
        path.display()
    );
    path
}

/// A binary target of the workspace, as cargo built it for this run: `CARGO_BIN_EXE_<name>` if
/// the runner set it (nextest does), else `<name>` beside the test binary's `deps` directory.
/// Cargo builds a package's binaries for that package's integration tests.
pub fn cargo_bin(name: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(format!("CARGO_BIN_EXE_{name}")) {
        return PathBuf::from(path);
    }
    let file = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    existing(
        profile_dir().join(file),
        &format!("the tests of its package, or `cargo build --bin {name}`"),
    )
}

/// An example of the workspace, as cargo built it for this run (`cargo test` builds a package's
/// examples with its tests).
pub fn cargo_example(name: &str) -> PathBuf {
    let file = format!("{name}{}", std::env::consts::EXE_SUFFIX);
    existing(
        profile_dir().join("examples").join(file),
        &format!("the tests of its package, or `cargo build --example {name}`"),
    )
}

/// The running test binary again, as a child: it runs the tests whose names contain `filter`
/// one at a time with their output shown (add `--exact` or `--ignored` as needed).
///
/// This is the workspace's one way for a test to run other tests of its own file in a fresh
/// process, for what must start from a clean process (state built once per process, such as
/// the port pool) or what must fail (a test checking another test's failure). Anything else a
/// helper process does belongs in the `allocport-probe` binary.
pub fn rerun_tests(filter: &str) -> Command {
    let mut command = this_binary();
    command.args([filter, "--test-threads=1", "--nocapture"]);
    command
}

/// The running test or bench binary again, as a child, with no arguments: what
/// [`rerun_tests`] builds on, and how a benchmark starts itself in a child role (built with
/// the same profile, and always there when the benchmark is).
pub fn this_binary() -> Command {
    Command::new(std::env::current_exe().expect("the running binary's path"))
}
