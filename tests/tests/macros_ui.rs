//! Compile errors of `#[with_ports]`: each `tests/ui/*.rs` must fail to build with exactly the
//! committed `.stderr` next to it. Regenerate those after a deliberate message change with
//! `TRYBUILD=overwrite cargo test -p allocport-tests --test macros_ui` and review the diff.

// One test function on purpose: trybuild builds all cases in one cargo invocation.
#[test]
fn compile_errors() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui/*.rs");
}
