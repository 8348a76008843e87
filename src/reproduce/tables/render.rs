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
        let with_preset = self.presets().len() > 1;
        for row in &self.rows {
            let label = row.long_label(with_preset);
            let label = if bold && is_paper_protocol(row) {
                format!("**{label}**")
            } else {
                label
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

impl Table {
    /// The presets of our rows, in their order.
    fn presets(&self) -> Vec<&str> {
        let mut presets: Vec<&str> = self
            .rows
            .iter()
            .filter_map(super::scope::preset_of)
            .collect();
        presets.dedup();
        presets
    }
}

impl Row {
    /// The row's label, without its preset where the table holds one preset only (its
    /// title names it): "bicubic (ours, cpu)" becomes "bicubic (ours)".
    pub fn long_label(&self, with_preset: bool) -> String {
        match super::scope::preset_of(self) {
            Some(preset) if !with_preset => {
                let (inner, own) = (format!(", {preset})"), format!(" ({preset})"));
                if let Some(stem) = self.label.strip_suffix(&inner) {
                    format!("{stem})")
                } else {
                    self.label
                        .strip_suffix(&own)
                        .unwrap_or(&self.label)
                        .to_string()
                }
            }
            _ => self.label.clone(),
        }
    }

    /// A short name for this row, as a column heading of the table turned by image;
    /// with the preset of our rows where the table holds more than one.
    pub fn short_label(&self, with_preset: bool) -> String {
        let paper_name = |label: &str| {
            label
                .trim_end_matches(" (printed in the paper)")
                .replace("Deep Image Prior", "DIP")
                .replace(" et al.", "")
        };
        let name = match &self.source {
            Source::Paper => return format!("{}, printed", paper_name(&self.label)),
            Source::AuthorsOutputs => return "DIP, the authors' outputs re-measured".into(),
            Source::Bench => return self.label.clone(),
            Source::Baseline { .. } => {
                let name = self.label.split(" (ours").next().unwrap_or(&self.label);
                format!("{name}, measured")
            }
            Source::Ours { .. } => "ours".into(),
            Source::Ssim { .. } => "SSIM, ours".into(),
            Source::AuthorsSamePixels { .. } => "the authors', same pixels".into(),
            Source::Gap { .. } => "gap: ours − the authors'".into(),
            Source::Gain { authors, .. } => {
                let who = if *authors { "the authors'" } else { "ours" };
                format!("gain: {who}")
            }
            Source::Twin { .. } => "ours and the twin".into(),
        };
        match super::scope::preset_of(self) {
            Some(preset) if with_preset => format!("{name}, {preset}"),
            _ => name,
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
        let with_preset = self.presets().len() > 1;
        for row in &self.rows {
            let name = row.short_label(with_preset);
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
                row("quoted (printed in the paper)", Source::Paper),
                row("ours (ours, paper)", ours("paper")),
                row("ours (ours, quick)", ours("quick")),
                row("ours (ours, cpu)", ours("cpu")),
            ],
            notes: vec![],
            runs: vec![],
            missing: None,
        };
        let md = table.to_markdown();
        assert!(md.contains("| **ours (ours, paper)** |"), "{md}");
        assert!(md.contains("| ours (ours, quick) |"), "{md}");
        assert!(md.contains("| ours (ours, cpu) |"), "{md}");
        // Turned by image: the same rule on the headings, the column a row.
        let md = table.to_markdown_by_image();
        assert!(
            md.contains("| quoted, printed | **ours, paper** | ours, quick | ours, cpu |"),
            "{md}"
        );
        assert!(md.contains("| x | 30.00 | 30.00 | 30.00 | 30.00 |"), "{md}");
        // One preset: its title names it, the labels do not repeat it.
        let one = Table {
            rows: vec![
                row(
                    "bicubic (ours, cpu)",
                    Source::Baseline {
                        preset: "cpu".into(),
                    },
                ),
                row(
                    "SSIM: ours (cpu)",
                    Source::Ssim {
                        preset: "cpu".into(),
                    },
                ),
            ],
            ..table
        };
        let md = one.to_markdown();
        assert!(
            md.contains("| bicubic (ours) |") && md.contains("| SSIM: ours |"),
            "{md}"
        );
        let md = one.to_markdown_by_image();
        assert!(md.contains("| | bicubic, measured | SSIM, ours |"), "{md}");
    }
}
