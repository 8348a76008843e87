//! The one rendering of a table, to Markdown: the book's and `dip results --tables`.

use super::{Row, Source, Table};

impl Table {
    /// The table in Markdown: its title, the table (`–` for a missing number, our
    /// rows in bold), then what is missing, which runs made it, and the notes.
    pub fn to_markdown(&self) -> String {
        let mut s = format!("**{}**\n\n| |", self.title);
        for c in &self.columns {
            s += &format!(" {} |", c.name);
        }
        s += &format!("\n|---|{}\n", "---:|".repeat(self.columns.len()));
        // Our rows stand out among the quoted ones.
        let is_ours = |r: &Row| matches!(r.source, Source::Ours { .. });
        let bold = !self.rows.iter().all(is_ours);
        for row in &self.rows {
            let label = if bold && is_ours(row) {
                format!("**{}**", row.label)
            } else {
                row.label.clone()
            };
            s += &format!("| {label} |");
            for (cell, column) in row.cells.iter().zip(&self.columns) {
                let text = cell
                    .as_ref()
                    .map_or("–".into(), |c| c.format(column.decimals));
                s += &format!(" {text} |");
            }
            s += "\n";
        }
        s += "\n";
        if let Some(missing) = &self.missing {
            s += &format!("> {missing}\n\n");
        }
        for runs in &self.runs {
            s += &format!("{runs}\n\n");
        }
        for note in &self.notes {
            s += &format!("{note}\n\n");
        }
        s
    }
}
