//! A Markdown table: a header, then rows, printed at once with a blank line after, so every
//! table of the summary looks the same and none spells out its own `|---|` line.

/// Rows under a header, printed by [`Table::print`].
pub(crate) struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new<S: ToString>(header: &[S]) -> Self {
        Table {
            header: header.iter().map(ToString::to_string).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; a row may have fewer cells than the header (Markdown leaves the rest empty).
    pub(crate) fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    pub(crate) fn print(&self) {
        println!("{}", line(&self.header));
        println!("|{}", "---|".repeat(self.header.len()));
        for row in &self.rows {
            println!("{}", line(row));
        }
        println!();
    }
}

fn line(cells: &[String]) -> String {
    format!("| {} |", cells.join(" | "))
}
