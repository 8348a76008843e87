//! Whole images and crops never share a table: a table of the paper's (its printed
//! rows and the authors' outputs, both on whole images) is split into its part on
//! whole images, with our runs that fit whole images, and one part per preset of
//! ours that ran on crops, each with the authors' output cut to the same crops.

use super::experiments::{FINAL_PSNR_NOTE, REDUCED_NOTE};
use super::{Row, Runs, Source, Table};

/// The note of a part on whole images without a run of ours there.
pub const NO_WHOLE_RUN_NOTE: &str = "**Whole images at the paper's settings: no recorded run \
yet.** The `paper` preset runs them (`dip reproduce --preset paper`; `--estimate` says how long \
it takes on this machine).";

/// The preset of one of our rows; `None` for the paper's and the authors' outputs'.
pub fn preset_of(row: &Row) -> Option<&str> {
    match &row.source {
        Source::Baseline { preset }
        | Source::Ours { preset }
        | Source::Ssim { preset }
        | Source::AuthorsSamePixels { preset }
        | Source::Gap { preset }
        | Source::Gain { preset, .. }
        | Source::Twin { preset } => Some(preset),
        Source::Paper | Source::AuthorsOutputs | Source::Bench => None,
    }
}

/// `title` with what its numbers are on before its unit: "… (PSNR, dB)" becomes
/// "…, on whole images (PSNR, dB)".
fn scoped_title(title: &str, scope: &str) -> String {
    match title.rfind(" (") {
        Some(p) => format!("{}, on {scope}{}", &title[..p], &title[p..]),
        None => format!("{title}, on {scope}"),
    }
}

impl Table {
    /// The table as parts that never mix whole images and crops: the part on whole
    /// images (the paper's rows, the authors' outputs, ours where they fit whole
    /// images), then one part per preset of ours on crops. A table without the
    /// paper's rows is one part, its title naming its crops where one preset made it.
    pub fn by_scope(&self) -> Vec<Table> {
        let quoted = |r: &Row| matches!(r.source, Source::Paper | Source::AuthorsOutputs);
        if !self.rows.iter().any(quoted) {
            if self.runs.len() > 1 {
                return self.by_preset();
            }
            // Our runs alone: named with their scope where one preset made them.
            let mut only = self.clone();
            if let [Runs { crops, preset, .. }] = self.runs.as_slice() {
                let scope = crops.as_deref().unwrap_or("whole images");
                only.title = scoped_title(&self.title, &format!("{scope}, preset `{preset}`"));
            }
            return vec![only];
        }
        let on_crops: Vec<&Runs> = self.runs.iter().filter(|r| r.crops.is_some()).collect();
        let is_crop = |p: &str| on_crops.iter().any(|r| r.preset == p);
        let general: Vec<String> = self
            .notes
            .iter()
            .filter(|n| *n != FINAL_PSNR_NOTE && *n != REDUCED_NOTE)
            .cloned()
            .collect();
        let with_ours = |mut notes: Vec<String>, rows: &[Row]| {
            if rows.iter().any(|r| preset_of(r).is_some()) {
                notes.insert(0, FINAL_PSNR_NOTE.into());
            }
            notes
        };
        let rows: Vec<Row> = self
            .rows
            .iter()
            .filter(|r| preset_of(r).is_none_or(|p| !is_crop(p)))
            .filter(|r| !self.repeats_the_authors_outputs(r))
            .cloned()
            .collect();
        let ours_whole = rows.iter().any(|r| preset_of(r).is_some());
        let mut parts = vec![Table {
            title: scoped_title(&self.title, "whole images"),
            columns: self.columns.clone(),
            notes: with_ours(general.clone(), &rows),
            runs: self
                .runs
                .iter()
                .filter(|r| r.crops.is_none())
                .cloned()
                .collect(),
            missing: self
                .missing
                .clone()
                .or_else(|| (!ours_whole).then(|| NO_WHOLE_RUN_NOTE.into())),
            rows,
        }];
        for runs in on_crops {
            let rows: Vec<Row> = self
                .rows
                .iter()
                .filter(|r| preset_of(r) == Some(runs.preset.as_str()))
                .cloned()
                .collect();
            let mut notes = with_ours(general.clone(), &rows);
            notes.push(REDUCED_NOTE.into());
            let scope = format!(
                "{}, preset `{}`",
                runs.crops.as_deref().unwrap_or("crops"),
                runs.preset
            );
            parts.push(Table {
                title: scoped_title(&self.title, &scope),
                columns: self.columns.clone(),
                rows,
                notes,
                runs: vec![runs.clone()],
                missing: None,
            });
        }
        parts
    }
}

impl Table {
    /// A table of our runs alone, made by several presets: one part per preset (its
    /// rows, its runs), each titled with what it fits — whole images or its crops.
    fn by_preset(&self) -> Vec<Table> {
        self.runs
            .iter()
            .enumerate()
            .map(|(i, runs)| {
                let scope = runs.crops.as_deref().unwrap_or("whole images");
                Table {
                    title: scoped_title(&self.title, &format!("{scope}, preset `{}`", runs.preset)),
                    columns: self.columns.clone(),
                    rows: self
                        .rows
                        .iter()
                        .filter(|r| preset_of(r) == Some(runs.preset.as_str()))
                        .cloned()
                        .collect(),
                    notes: self.notes.clone(),
                    runs: vec![runs.clone()],
                    missing: if i == 0 { self.missing.clone() } else { None },
                }
            })
            .collect()
    }

    /// Whether `row` is the authors' output on the same pixels as a run on whole images,
    /// every number of it the authors' outputs' row's: shown once.
    fn repeats_the_authors_outputs(&self, row: &Row) -> bool {
        let Some(authors) = self.row_of(&Source::AuthorsOutputs) else {
            return false;
        };
        matches!(row.source, Source::AuthorsSamePixels { .. })
            && row
                .cells
                .iter()
                .zip(&authors.cells)
                .all(|(a, b)| match (a, b) {
                    (Some(a), Some(b)) => (a.mean - b.mean).abs() < 0.005,
                    (Some(_), None) => false,
                    (None, _) => true,
                })
    }

    /// [`Table::by_scope`]'s parts, each as [`Table::to_markdown`] renders it.
    pub fn scoped(&self) -> String {
        self.by_scope().iter().map(Table::to_markdown).collect()
    }

    /// [`Table::by_scope`]'s parts, each turned by image ([`Table::to_markdown_by_image`]).
    pub fn scoped_by_image(&self) -> String {
        self.by_scope()
            .iter()
            .map(Table::to_markdown_by_image)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Cell, Column};
    use super::*;

    fn runs(preset: &str, crops: Option<&str>) -> Runs {
        Runs {
            preset: preset.into(),
            devices: vec!["cpu".into()],
            runs: 1,
            seeds: 1,
            iterations: (1, 1),
            wall_seconds: 1.0,
            commits: vec![],
            crops: crops.map(String::from),
        }
    }

    fn row(label: &str, source: Source) -> Row {
        Row {
            label: label.into(),
            source,
            cells: vec![Some(Cell::quoted(30.0))],
        }
    }

    #[test]
    fn whole_images_and_crops_are_parts_of_their_own() {
        let ours = |p: &str| Source::Ours { preset: p.into() };
        let gap = |p: &str| Source::Gap { preset: p.into() };
        let table = Table {
            title: "Table 1: inpainting (PSNR, dB)".into(),
            columns: vec![Column {
                name: "Barbara".into(),
                decimals: 2,
            }],
            rows: vec![
                row("DIP (printed in the paper)", Source::Paper),
                row("authors' outputs", Source::AuthorsOutputs),
                row("ours (paper)", ours("paper")),
                // On whole images the authors' output on our pixels is their outputs' row.
                row(
                    "same pixels (paper)",
                    Source::AuthorsSamePixels {
                        preset: "paper".into(),
                    },
                ),
                row("ours (cpu)", ours("cpu")),
                row("gap (cpu)", gap("cpu")),
            ],
            notes: vec![FINAL_PSNR_NOTE.into(), "masks".into(), REDUCED_NOTE.into()],
            runs: vec![
                runs("paper", None),
                runs("cpu", Some("64 × 64 centre crops")),
            ],
            missing: None,
        };
        let parts = table.by_scope();
        assert_eq!(parts.len(), 2);
        let labels = |t: &Table| t.rows.iter().map(|r| r.label.clone()).collect::<Vec<_>>();
        assert_eq!(
            labels(&parts[0]),
            [
                "DIP (printed in the paper)",
                "authors' outputs",
                "ours (paper)"
            ]
        );
        assert_eq!(
            parts[0].title,
            "Table 1: inpainting, on whole images (PSNR, dB)"
        );
        assert_eq!(parts[0].notes, [FINAL_PSNR_NOTE, "masks"]);
        assert!(parts[0].missing.is_none());
        assert_eq!(labels(&parts[1]), ["ours (cpu)", "gap (cpu)"]);
        assert_eq!(
            parts[1].title,
            "Table 1: inpainting, on 64 × 64 centre crops, preset `cpu` (PSNR, dB)"
        );
        assert_eq!(parts[1].notes, [FINAL_PSNR_NOTE, "masks", REDUCED_NOTE]);
        assert_eq!(parts[1].runs.len(), 1);
        // Without a run on whole images, the part says so.
        let mut crops_only = table.clone();
        crops_only.rows.drain(2..4);
        crops_only.runs.remove(0);
        let parts = crops_only.by_scope();
        assert_eq!(parts[0].missing.as_deref(), Some(NO_WHOLE_RUN_NOTE));
        assert_eq!(parts[0].notes, ["masks"]);
        // A table without the paper's rows stays one, named with its crops.
        let mut ours_only = table;
        ours_only.rows.drain(..2);
        ours_only.runs.remove(0);
        let parts = ours_only.by_scope();
        assert_eq!(parts.len(), 1);
        assert_eq!(
            parts[0].title,
            "Table 1: inpainting, on 64 × 64 centre crops, preset `cpu` (PSNR, dB)"
        );
        assert_eq!(parts[0].rows, ours_only.rows);
        // One preset on whole images is named so too.
        let mut whole_only = ours_only;
        whole_only.runs = vec![runs("paper", None)];
        assert_eq!(
            whole_only.by_scope()[0].title,
            "Table 1: inpainting, on whole images, preset `paper` (PSNR, dB)"
        );
    }

    #[test]
    fn our_runs_alone_on_crops_and_whole_images_are_parts_of_their_own() {
        let ours = |label: &str, p: &str| row(label, Source::Ours { preset: p.into() });
        let table = Table {
            title: "The default rule (PSNR, dB)".into(),
            columns: vec![Column {
                name: "kept".into(),
                decimals: 2,
            }],
            rows: vec![ours("house (64²)", "cpu"), ours("house (whole)", "paper")],
            notes: vec!["rule".into()],
            runs: vec![
                runs("cpu", Some("64 × 64 centre crops")),
                runs("paper", None),
            ],
            missing: None,
        };
        let parts = table.by_scope();
        let titles: Vec<&str> = parts.iter().map(|t| t.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "The default rule, on 64 × 64 centre crops, preset `cpu` (PSNR, dB)",
                "The default rule, on whole images, preset `paper` (PSNR, dB)"
            ]
        );
        for (part, label) in parts.iter().zip(["house (64²)", "house (whole)"]) {
            assert_eq!(part.rows.len(), 1);
            assert_eq!(part.rows[0].label, label);
            assert_eq!(part.runs.len(), 1);
            assert_eq!(part.notes, ["rule"]);
        }
    }
}
