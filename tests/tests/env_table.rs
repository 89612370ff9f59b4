//! The environment variables are listed once, in `allocport_core::ENVIRONMENT` (from which
//! `allocport --help` is built); the tables that describe them at more length, in the crate
//! docs and on the configuration page, name exactly the same variables.

use std::path::Path;

/// The variables named in the first column of the `| variable | meaning |` table of `text`,
/// whose lines start with `prefix` (`//! ` in a crate's docs). `ALLOCPORT_STATS=1` names
/// `ALLOCPORT_STATS`; a row such as `neither`, not in backquotes, names none.
fn documented(text: &str, prefix: &str) -> Vec<String> {
    let header = format!("{prefix}| variable | meaning |\n{prefix}|---|---|\n");
    let (_, table) = text
        .split_once(&header)
        .unwrap_or_else(|| panic!("no `| variable | meaning |` table"));
    let row_start = format!("{prefix}| ");
    let mut names: Vec<String> = table
        .lines()
        .map_while(|line| line.strip_prefix(&row_start))
        .filter_map(|row| row.strip_prefix('`')?.split_once('`'))
        .map(|(name, _)| name.split('=').next().unwrap_or(name).to_owned())
        .collect();
    names.sort();
    names
}

fn listed() -> Vec<String> {
    let mut names: Vec<String> = allocport_core::ENVIRONMENT
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();
    names.sort();
    names
}

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_crate_docs_table_names_exactly_the_listed_variables() {
    let docs = read("allocport-core/src/lib.rs");
    assert_eq!(documented(&docs, "//! "), listed());
}

#[test]
fn the_configuration_page_names_exactly_the_listed_variables() {
    let page = read("docs/configuration.md");
    assert_eq!(documented(&page, ""), listed());
}
