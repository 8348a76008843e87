//! The one rendering of a table, to Markdown: the book's and `dip results --tables`.

use super::{Cell, Row, Source, Table};

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
                s += &format!(" {} |", cell_text(cell, column.decimals));
            }
            s += "\n";
        }
        s += "\n";
        s + &self.footer()
    }
}

/// A cell as the tables print it: its number, or `–` where there is none.
fn cell_text(cell: &Option<Cell>, decimals: usize) -> String {
    cell.as_ref().map_or("–".into(), |c| c.format(decimals))
}

impl Row {
    /// A short name for this row, as a column heading of the table turned by image.
    pub fn short_label(&self) -> String {
        let paper_name = |label: &str| {
            label
                .trim_end_matches(" (paper)")
                .replace("Deep Image Prior", "DIP")
                .replace(" et al.", "")
        };
        match &self.source {
            Source::Paper => format!("{}, paper", paper_name(&self.label)),
            Source::AuthorsOutputs => "authors' outputs, whole".into(),
            Source::Baseline { preset } => {
                let name = self.label.split(" (ours").next().unwrap_or(&self.label);
                format!("{name}, {preset}")
            }
            Source::Ours { preset } => format!("ours, {preset}"),
            Source::Ssim { preset } => format!("SSIM: ours, {preset}"),
            Source::AuthorsSamePixels { preset } => format!("authors' on our pixels, {preset}"),
            Source::Gap { preset } => format!("gap, {preset}"),
            Source::Gain { preset, authors } => {
                let who = if *authors { "authors'" } else { "ours" };
                format!("gain: {who}, {preset}")
            }
            Source::Bench => self.label.clone(),
            Source::Twin { preset } => format!("ours and the twin, {preset}"),
        }
    }
}

impl Table {
    /// The table turned by image: one row per column of [`Table::to_markdown`] (an
    /// image, and the mean last), one column per source (the paper's rows, the
    /// authors' outputs, ours and the same-pixel comparison), headed by short names.
    /// With the images down the side the mean stays on the screen of a phone.
    pub fn to_markdown_by_image(&self) -> String {
        let mut s = format!("**{}**\n\n| |", self.title);
        let bold = !self
            .rows
            .iter()
            .all(|r| matches!(r.source, Source::Ours { .. }));
        for row in &self.rows {
            let name = row.short_label();
            let paper_protocol =
                matches!(&row.source, Source::Ours { preset } if preset == "paper");
            if bold && paper_protocol {
                s += &format!(" **{name}** |");
            } else {
                s += &format!(" {name} |");
            }
        }
        s += &format!("\n|---|{}\n", "---:|".repeat(self.rows.len()));
        for (i, column) in self.columns.iter().enumerate() {
            s += &format!("| {} |", column.name);
            for row in &self.rows {
                s += &format!(" {} |", cell_text(&row.cells[i], column.decimals));
            }
            s += "\n";
        }
        s += "\n";
        s + &self.footer()
    }

    /// What follows the table: what is missing, which runs made it, the notes.
    fn footer(&self) -> String {
        let mut s = String::new();
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
        // Turned by image: the same rule on the headings, the column a row.
        let md = table.to_markdown_by_image();
        assert!(
            md.contains("| quoted, paper | **ours, paper** | ours, quick | ours, cpu |"),
            "{md}"
        );
        assert!(md.contains("| x | 30.00 | 30.00 | 30.00 | 30.00 |"), "{md}");
    }
}
