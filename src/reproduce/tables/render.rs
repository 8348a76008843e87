//! The one rendering of a table, to Markdown: the book's and `dip results --tables`.

use super::{Row, Source, Table};

impl Table {
    /// The table in Markdown: its title, the table (`–` for a missing number; our
    /// rows of the paper's protocol in bold, a reduced protocol's never), then what is
    /// missing, which runs made it, and the notes.
    pub fn to_markdown(&self) -> String {
        let mut s = format!("**{}**\n\n| |", self.title);
        for c in &self.columns {
            s += &format!(" {} |", c.name);
        }
        s += &format!("\n|---|{}\n", "---:|".repeat(self.columns.len()));
        // Our rows of the paper's own protocol stand out among the quoted ones; a
        // reduced protocol (crops, fewer iterations) is never bold: it is not the paper's row.
        let is_ours = |r: &Row| matches!(&r.source, Source::Ours { .. });
        let is_paper_protocol =
            |r: &Row| matches!(&r.source, Source::Ours { preset } if preset == "paper");
        let bold = !self.rows.iter().all(is_ours);
        for row in &self.rows {
            let label = if bold && is_paper_protocol(row) {
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

#[cfg(test)]
mod tests {
    use super::super::{Cell, Column};
    use super::*;

    #[test]
    fn only_the_papers_protocol_is_bold_never_a_reduced_one() {
        let row = |label: &str, source: Source| Row {
            label: label.into(),
            source,
            cells: vec![Some(Cell::quoted(30.0))],
        };
        let ours = |preset: &str| Source::Ours {
            preset: preset.into(),
        };
        let table = Table {
            title: "t".into(),
            columns: vec![Column {
                name: "x".into(),
                decimals: 2,
            }],
            rows: vec![
                row("quoted (paper)", Source::Paper),
                row("ours (ours, paper, cpu)", ours("paper")),
                row("ours (ours, quick, cpu)", ours("quick")),
                row("ours (ours, cpu, cpu)", ours("cpu")),
            ],
            notes: vec![],
            runs: vec![],
            missing: None,
        };
        let md = table.to_markdown();
        assert!(md.contains("| **ours (ours, paper, cpu)** |"), "{md}");
        assert!(md.contains("| ours (ours, quick, cpu) |"), "{md}");
        assert!(md.contains("| ours (ours, cpu, cpu) |"), "{md}");
    }
}
