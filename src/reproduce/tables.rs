//! The paper's tables, as data, from the records: the paper's rows, the authors'
//! published outputs measured again with this crate's metrics (from the data
//! folder), and ours (mean ± sd over seeds where there are several).
//!
//! Ours are the *final* PSNRs (the best-iteration PSNR peeks at the clean image
//! and is left out of the tables). Quick and tiny runs are on crops, so their
//! numbers are not comparable with the paper's: every table says which preset a row is.

use std::collections::BTreeMap;

use super::paper;
use super::plan::{Experiment, Preset, Task};
use super::record::Record;
use crate::data::DataDir;
use crate::image_io::Image;
use crate::metrics;

/// A number of a table: a mean, its standard deviation over seeds (if more than one), and how many runs.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Cell {
    pub mean: f64,
    pub sd: Option<f64>,
    pub n: usize,
}

impl Cell {
    /// A number quoted from elsewhere.
    pub fn quoted(v: f64) -> Self {
        Self {
            mean: v,
            sd: None,
            n: 1,
        }
    }

    /// Mean and (sample) standard deviation of `values`; `None` if empty.
    pub fn of(values: &[f64]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n as f64;
        let sd = (n > 1).then(|| {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        });
        Some(Self { mean, sd, n })
    }

    pub fn format(&self, decimals: usize) -> String {
        match self.sd {
            Some(sd) => format!("{:.*} ± {:.*}", decimals, self.mean, decimals, sd),
            None => format!("{:.*}", decimals, self.mean),
        }
    }
}

/// Where a row's numbers come from.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Quoted from the paper.
    Paper,
    /// The authors' published outputs, measured by this crate.
    AuthorsOutputs,
    /// Our runs of this preset.
    Ours { preset: String },
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Row {
    pub label: String,
    pub source: Source,
    pub cells: Vec<Option<Cell>>,
}

/// A table: a title, a note, its columns and rows.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Table {
    pub title: String,
    pub note: String,
    pub columns: Vec<String>,
    pub rows: Vec<Row>,
}

impl Table {
    /// The table in Markdown, `–` for a missing number.
    pub fn to_markdown(&self, decimals: usize) -> String {
        let mut s = format!("| | {} |\n", self.columns.join(" | "));
        s.push_str(&format!("|---|{}\n", "---|".repeat(self.columns.len())));
        for row in &self.rows {
            let cells: Vec<String> = row
                .cells
                .iter()
                .map(|c| c.as_ref().map_or("–".into(), |c| c.format(decimals)))
                .collect();
            s.push_str(&format!("| {} | {} |\n", row.label, cells.join(" | ")));
        }
        s
    }

    /// The row with this label.
    pub fn row(&self, label: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.label == label)
    }
}

/// The presets that have records of `experiment`, paper first.
fn presets_of(records: &[Record], experiment: Experiment) -> Vec<String> {
    let mut presets: Vec<String> = records
        .iter()
        .filter(|r| r.experiment == experiment)
        .map(|r| r.preset.clone())
        .collect();
    presets.sort_by_key(|p| {
        (
            Preset::parse(p).map(|p| p as usize).unwrap_or(usize::MAX),
            p.clone(),
        )
    });
    presets.dedup();
    presets
}

/// Our rows for `columns` (run names) of a preset: per column the final PSNRs over
/// seeds; the last cell is the mean over columns, with an sd over the seeds that have all columns.
fn ours(
    records: &[Record],
    experiment: Experiment,
    preset: &str,
    columns: &[String],
    value: impl Fn(&Record) -> Option<f64>,
) -> Vec<Option<Cell>> {
    let mut by_seed: BTreeMap<u64, BTreeMap<&str, f64>> = BTreeMap::new();
    let mut cells = Vec::new();
    for col in columns {
        let vals: Vec<f64> = records
            .iter()
            .filter(|r| r.experiment == experiment && r.preset == preset && r.image == *col)
            .filter_map(|r| {
                let v = value(r)?;
                by_seed.entry(r.seed).or_default().insert(col, v);
                Some(v)
            })
            .collect();
        cells.push(Cell::of(&vals));
    }
    let present: Vec<f64> = cells.iter().flatten().map(|c| c.mean).collect();
    let mean = if present.len() == columns.len() {
        let full_seeds: Vec<f64> = by_seed
            .values()
            .filter(|m| m.len() == columns.len())
            .map(|m| m.values().sum::<f64>() / m.len() as f64)
            .collect();
        Cell::of(&present).map(|mut c| {
            c.sd = Cell::of(&full_seeds).and_then(|s| s.sd);
            c.n = full_seeds.len().max(1);
            c
        })
    } else {
        None
    };
    cells.push(mean);
    cells
}

fn mean_cell(cells: &[Option<Cell>]) -> Option<Cell> {
    let v: Option<Vec<f64>> = cells.iter().map(|c| c.as_ref().map(|c| c.mean)).collect();
    v.and_then(|v| Cell::of(&v)).map(|c| Cell { sd: None, ..c })
}

fn quoted_row(label: &str, values: &[f64], mean: Option<f64>) -> Row {
    let mut cells: Vec<Option<Cell>> = values.iter().map(|&v| Some(Cell::quoted(v))).collect();
    cells.push(mean.map(Cell::quoted));
    Row {
        label: label.into(),
        source: Source::Paper,
        cells,
    }
}

fn load(data: &DataDir, rel: &str) -> Option<Image> {
    data.image(rel).ok().and_then(|p| Image::load(p).ok())
}

/// Table 1: inpainting with 50 % of the pixels missing.
pub fn table1(records: &[Record], data: Option<&DataDir>) -> Table {
    let names: Vec<String> = paper::TABLE1_IMAGES.iter().map(|s| s.to_string()).collect();
    let mut columns = names.clone();
    columns.push("mean".into());
    let mut rows = vec![
        quoted_row(
            "Papyan et al.",
            &paper::TABLE1_PAPYAN,
            Some(paper::TABLE1_PAPYAN_MEAN),
        ),
        quoted_row(
            "Deep Image Prior (paper)",
            &paper::TABLE1_DIP,
            Some(paper::TABLE1_DIP_MEAN),
        ),
    ];
    if let Some(data) = data {
        let mut cells: Vec<Option<Cell>> = names
            .iter()
            .map(|n| {
                let clean = load(data, &format!("inpainting-table1/{n}.png"))?;
                let out = load(
                    data,
                    &format!("reference-outputs/inpainting-table1/{n}.png"),
                )?;
                metrics::psnr(&clean, &out).ok().map(Cell::quoted)
            })
            .collect();
        cells.push(mean_cell(&cells));
        rows.push(Row {
            label: "DIP, authors' outputs (measured here)".into(),
            source: Source::AuthorsOutputs,
            cells,
        });
    }
    for preset in presets_of(records, Experiment::Table1) {
        rows.push(Row {
            label: format!("Deep Image Prior (ours, {preset})"),
            cells: ours(records, Experiment::Table1, &preset, &names, |r| {
                r.final_psnr
            }),
            source: Source::Ours { preset },
        });
    }
    Table {
        title: "Inpainting, 50 % of the pixels missing (PSNR, dB)".into(),
        note:
            "Ours: the final output, mean ± sd over seeds. Quick and tiny runs are on centre crops."
                .into(),
        columns,
        rows,
    }
}

/// Colour denoising at σ = 25 on the nine CBM3D images.
pub fn denoising(records: &[Record], data: Option<&DataDir>) -> Table {
    let names: Vec<String> = paper::DENOISING_IMAGES
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    let mut columns = names.clone();
    columns.push("mean".into());
    let only_f16_and_mean = |label: &str, f16: Option<f64>, mean: f64| {
        let mut cells = vec![None; names.len() + 1];
        cells[0] = f16.map(Cell::quoted);
        cells[names.len()] = Some(Cell::quoted(mean));
        Row {
            label: label.into(),
            source: Source::Paper,
            cells,
        }
    };
    let mut rows = vec![
        only_f16_and_mean(
            "Deep Image Prior (paper)",
            Some(paper::DENOISING_DIP_F16),
            paper::DENOISING_DIP_MEAN,
        ),
        only_f16_and_mean(
            "CBM3D (paper)",
            Some(paper::DENOISING_CBM3D_F16),
            paper::DENOISING_CBM3D_MEAN,
        ),
        only_f16_and_mean("NLM (paper)", None, paper::DENOISING_NLM_MEAN),
    ];
    if let Some(data) = data {
        let mut cells: Vec<Option<Cell>> = paper::DENOISING_IMAGES
            .iter()
            .map(|(n, file)| {
                let clean = load(data, &format!("denoising-cbm3d9/{file}.png"))?;
                let out = load(data, &format!("reference-outputs/denoising-cbm3d9/{n}.png"))?;
                metrics::psnr(&clean, &out).ok().map(Cell::quoted)
            })
            .collect();
        cells.push(mean_cell(&cells));
        rows.push(Row {
            label: "DIP, authors' outputs (measured here)".into(),
            source: Source::AuthorsOutputs,
            cells,
        });
    }
    for preset in presets_of(records, Experiment::Denoising) {
        rows.push(Row {
            label: format!("noisy input (ours, {preset})"),
            cells: ours(records, Experiment::Denoising, &preset, &names, |r| {
                r.baseline.as_ref().and_then(|b| b.psnr)
            }),
            source: Source::Ours {
                preset: preset.clone(),
            },
        });
        rows.push(Row {
            label: format!("Deep Image Prior (ours, {preset})"),
            cells: ours(records, Experiment::Denoising, &preset, &names, |r| {
                r.final_psnr
            }),
            source: Source::Ours { preset },
        });
    }
    Table {
        title: "Colour denoising, σ = 25 (PSNR, dB)".into(),
        note: "Ours: the averaged output at the last iteration, mean ± sd over seeds (the noise differs per seed)."
            .into(),
        columns,
        rows,
    }
}

fn sr_runs(set: &str, factor: usize) -> Vec<String> {
    let names: &[&str] = if set == "set5" {
        &paper::SET5
    } else {
        &paper::SET14
    };
    names
        .iter()
        .map(|n| format!("{set}-x{factor}-{n}"))
        .collect()
}

/// The authors' published SR outputs under the paper's protocol, per image.
fn sr_authors(data: &DataDir, set: &str, factor: usize) -> Vec<Option<f64>> {
    let names: &[&str] = if set == "set5" {
        &paper::SET5
    } else {
        &paper::SET14
    };
    names
        .iter()
        .map(|n| {
            let hr = load(data, &format!("{set}/{n}.png"))?;
            let out = load(
                data,
                &format!("reference-outputs/sr/{set}/x{factor}/{n}.png"),
            )?;
            let gt = hr
                .crop(
                    0,
                    0,
                    hr.height - hr.height % factor,
                    hr.width - hr.width % factor,
                )
                .ok()?;
            let out = out.crop_to_multiple(metrics::SR_CROP_MULTIPLE).ok()?;
            let out = if gt.channels == 1 { out.to_grey() } else { out };
            metrics::psnr_sr(&gt, &out).ok()
        })
        .collect()
}

/// Super-resolution: mean PSNR (Y, 4-pixel border) on Set5 and Set14, ×4 and ×8.
pub fn sr(records: &[Record], data: Option<&DataDir>) -> Table {
    let columns: Vec<String> = paper::SR_COLUMNS
        .iter()
        .map(|(s, f)| format!("{} ×{f}", if *s == "set5" { "Set5" } else { "Set14" }))
        .collect();
    let mut rows: Vec<Row> = paper::SR_TABLE
        .iter()
        .map(|r| Row {
            label: format!("{} (paper)", r.method),
            source: Source::Paper,
            cells: r.values.iter().map(|v| v.map(Cell::quoted)).collect(),
        })
        .collect();
    if let Some(data) = data {
        rows.push(Row {
            label: "DIP, authors' outputs (measured here)".into(),
            source: Source::AuthorsOutputs,
            cells: paper::SR_COLUMNS
                .iter()
                .map(|(s, f)| {
                    let v: Option<Vec<f64>> = sr_authors(data, s, *f).into_iter().collect();
                    v.and_then(|v| Cell::of(&v)).map(|c| Cell { sd: None, ..c })
                })
                .collect(),
        });
    }
    for preset in presets_of(records, Experiment::Sr) {
        for (label, bicubic) in [("bicubic", true), ("Deep Image Prior", false)] {
            rows.push(Row {
                label: format!("{label} (ours, {preset})"),
                source: Source::Ours {
                    preset: preset.clone(),
                },
                cells: paper::SR_COLUMNS
                    .iter()
                    .map(|(s, f)| {
                        let runs = sr_runs(s, *f);
                        let cells = ours(records, Experiment::Sr, &preset, &runs, |r| {
                            if bicubic {
                                r.baseline.as_ref().and_then(|b| b.psnr)
                            } else {
                                r.final_psnr
                            }
                        });
                        cells.last().cloned().flatten()
                    })
                    .collect(),
            });
        }
    }
    Table {
        title: "Super-resolution (PSNR on Y, 4-pixel border shaved, dB)".into(),
        note: "Ours: the final output; bicubic measured on the same LR images. A mean needs every image of the set."
            .into(),
        columns,
        rows,
    }
}

/// Super-resolution on Set5 ×4, per image.
pub fn sr_set5_x4(records: &[Record], data: Option<&DataDir>) -> Table {
    let names: Vec<String> = paper::SET5.iter().map(|s| s.to_string()).collect();
    let runs = sr_runs("set5", 4);
    let mut columns = names.clone();
    columns.push("mean".into());
    let dip: Vec<f64> = paper::SR_SET5_X4_DIP.iter().map(|(_, v)| *v).collect();
    let mut rows = vec![quoted_row(
        "Deep Image Prior (paper)",
        &dip,
        paper::SR_TABLE[4].values[0],
    )];
    if let Some(data) = data {
        let mut cells: Vec<Option<Cell>> = sr_authors(data, "set5", 4)
            .into_iter()
            .map(|v| v.map(Cell::quoted))
            .collect();
        cells.push(mean_cell(&cells));
        rows.push(Row {
            label: "DIP, authors' outputs (measured here)".into(),
            source: Source::AuthorsOutputs,
            cells,
        });
    }
    for preset in presets_of(records, Experiment::Sr) {
        for (label, bicubic) in [("bicubic", true), ("Deep Image Prior", false)] {
            rows.push(Row {
                label: format!("{label} (ours, {preset})"),
                source: Source::Ours {
                    preset: preset.clone(),
                },
                cells: ours(records, Experiment::Sr, &preset, &runs, |r| {
                    if bicubic {
                        r.baseline.as_ref().and_then(|b| b.psnr)
                    } else {
                        r.final_psnr
                    }
                }),
            });
        }
    }
    Table {
        title: "Super-resolution ×4 on Set5, per image (PSNR on Y, dB)".into(),
        note: String::new(),
        columns,
        rows,
    }
}

/// The demos with a clean image to score against (kate, vase, library): input and final PSNR.
pub fn demos(records: &[Record]) -> Table {
    let names: Vec<String> = ["kate", "vase", "library"].map(String::from).to_vec();
    let mut rows = Vec::new();
    for preset in presets_of(records, Experiment::Demos) {
        let mut base = ours(records, Experiment::Demos, &preset, &names, |r| {
            r.baseline.as_ref().and_then(|b| b.psnr)
        });
        base.pop();
        let mut dip = ours(records, Experiment::Demos, &preset, &names, |r| {
            r.final_psnr
        });
        dip.pop();
        rows.push(Row {
            label: format!("masked input (ours, {preset})"),
            source: Source::Ours {
                preset: preset.clone(),
            },
            cells: base,
        });
        rows.push(Row {
            label: format!("Deep Image Prior (ours, {preset})"),
            source: Source::Ours { preset },
            cells: dip,
        });
    }
    Table {
        title: "Text and region inpainting (PSNR against the unmasked image, dB)".into(),
        note: "The paper shows these as figures only.".into(),
        columns: names,
        rows,
    }
}

/// Time: per preset, experiment and device, the runs, iterations, seconds per iteration and total.
pub fn timing(records: &[Record]) -> Table {
    let mut groups: BTreeMap<(String, Experiment, String), Vec<&Record>> = BTreeMap::new();
    for r in records {
        groups
            .entry((r.preset.clone(), r.experiment, r.device_name.clone()))
            .or_default()
            .push(r);
    }
    let rows = groups
        .into_iter()
        .map(|((preset, experiment, device), rs)| {
            let iterations: usize = rs.iter().map(|r| r.iterations).sum();
            let wall: f64 = rs.iter().map(|r| r.wall_seconds).sum();
            let spi: Vec<f64> = rs.iter().map(|r| r.seconds_per_iteration).collect();
            Row {
                label: format!("{preset} / {} / {device}", experiment.name()),
                source: Source::Ours { preset },
                cells: vec![
                    Some(Cell::quoted(rs.len() as f64)),
                    Some(Cell::quoted(iterations as f64)),
                    Cell::of(&spi),
                    Some(Cell::quoted(wall)),
                ],
            }
        })
        .collect();
    Table {
        title: "Time".into(),
        note: "Seconds per iteration: mean ± sd over the runs; total: wall seconds summed.".into(),
        columns: vec![
            "runs".into(),
            "iterations".into(),
            "s / iteration".into(),
            "total s".into(),
        ],
        rows,
    }
}

/// One learning curve of the noise-impedance experiment.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Curve {
    /// `curve-image`, `curve-image-noise`, `curve-shuffled` or `curve-noise`.
    pub name: String,
    pub seed: u64,
    /// (iteration, loss) of the thinned history.
    pub points: Vec<(usize, f64)>,
}

/// The noise-impedance learning curves (the paper's Fig. 2) of a preset.
pub fn learning_curves(records: &[Record], preset: &str) -> Vec<Curve> {
    records
        .iter()
        .filter(|r| r.preset == preset && matches!(r.task, Task::Curve { .. }))
        .map(|r| Curve {
            name: r.image.clone(),
            seed: r.seed,
            points: r
                .history
                .iter()
                .filter_map(|h| h.loss.map(|l| (h.iteration, l)))
                .collect(),
        })
        .collect()
}

/// Every table, in the book's order.
pub fn all(records: &[Record], data: Option<&DataDir>) -> Vec<Table> {
    vec![
        table1(records, data),
        denoising(records, data),
        sr(records, data),
        sr_set5_x4(records, data),
        demos(records),
        timing(records),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_have_mean_and_sample_sd() {
        let c = Cell::of(&[1.0, 3.0]).unwrap();
        assert_eq!((c.mean, c.n), (2.0, 2));
        assert!((c.sd.unwrap() - 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(Cell::of(&[5.0]).unwrap().sd, None);
        assert!(Cell::of(&[]).is_none());
        assert_eq!(c.format(2), "2.00 ± 1.41");
    }

    #[test]
    fn paper_rows_without_records() {
        let t = table1(&[], None);
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[0].cells[11].as_ref().unwrap().mean, 31.19);
        let s = sr(&[], None);
        assert_eq!(s.row("SRResNet (paper)").unwrap().cells[2], None);
    }
}
