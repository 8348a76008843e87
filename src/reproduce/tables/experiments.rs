//! The paper's tables, one function each ([`table1`], [`denoising`], [`sr`],
//! [`sr_images`], [`demos`]): the paper's rows, the authors' outputs, ours, and the
//! notes under them.

use super::authors::{authors_row, AUTHORS_LABEL};
use super::ours::{our_rows, Ours};
use super::stats::{mean_over, run_cells};
use super::{Cell, Column, Inputs, Row, Source, Table};
use crate::reproduce::paper;
use crate::reproduce::plan::{Experiment, Preset};

/// The note under a table: ours is the final PSNR.
pub const FINAL_PSNR_NOTE: &str = "Ours: the PSNR of the final output (averaged where the run \
averages), not the best over the iterations, which would peek at the clean image; mean ± sd over \
seeds where there are several.";

/// The note under a table with rows of a reduced preset.
pub const REDUCED_NOTE: &str = "`cpu`, `quick` and `tiny` run on centre crops (`dip reproduce \
--list` shows each run's settings): compare them with the authors' output on the same pixels, \
not with the paper's whole-image numbers.";

/// What to run where our runs of `experiment` are missing (`on`: which part of it).
pub fn no_run_note(experiment: Experiment, on: Option<&str>) -> String {
    let e = experiment.name();
    let on = on.map(|o| format!(" on {o}")).unwrap_or_default();
    format!(
        "**No recorded run yet** for `{e}`{on}: `dip reproduce --preset paper --only {e}` \
         (or `--preset quick`, minutes on a CPU) writes them under `results/<preset>/{e}/`."
    )
}

/// What to run where our runs of `experiment`, one of the cpu preset's own, are missing.
pub(super) fn no_cpu_run_note(experiment: Experiment) -> String {
    let e = experiment.name();
    format!(
        "**No recorded run yet** of `{e}`: `dip reproduce --preset cpu --only {e}` \
         writes them under `results/cpu/{e}/`."
    )
}

/// A row quoted from the paper: per run (`None` where the paper has no number), then its mean.
fn paper_row(label: &str, per_run: &[Option<f64>], mean: Option<f64>) -> Row {
    let mut cells: Vec<Option<Cell>> = per_run.iter().map(|v| v.map(Cell::quoted)).collect();
    cells.push(mean.map(Cell::quoted));
    Row {
        label: paper_label(label),
        source: Source::Paper,
        cells,
    }
}

/// The label of a row quoted from the paper: "SRResNet (printed in the paper)".
pub fn paper_label(method: &str) -> String {
    format!("{method} (printed in the paper)")
}

/// Assemble a table from its parts; the notes say what ours is, and if our runs are
/// missing, what to run.
fn table(
    title: &str,
    (experiment, on): (Experiment, Option<&str>),
    columns: Vec<Column>,
    mut rows: Vec<Row>,
    ours: Ours,
    mut notes: Vec<String>,
) -> Table {
    let missing = ours.rows.is_empty().then(|| no_run_note(experiment, on));
    if !ours.rows.is_empty() {
        notes.insert(0, FINAL_PSNR_NOTE.into());
    }
    if ours.runs.iter().any(|r| r.preset != Preset::Paper.name()) {
        notes.push(REDUCED_NOTE.into());
    }
    rows.extend(ours.rows);
    Table {
        title: title.into(),
        columns,
        rows,
        notes,
        runs: ours.runs,
        missing,
    }
}

fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// The columns of a per-run table: one per run, then `mean`.
fn columns_with_mean(names: &[&str]) -> Vec<Column> {
    let mut columns: Vec<Column> = names.iter().map(|n| Column::db(n)).collect();
    columns.push(Column::db("mean"));
    columns
}

/// Table 1: inpainting of 11 grey images with 50 % of the pixels missing.
pub fn table1(inputs: &Inputs) -> Table {
    let runs = strings(&paper::TABLE1_IMAGES);
    let quoted = |values: &[f64; 11]| values.map(Some);
    let mut rows = vec![
        paper_row(
            "Papyan et al.",
            &quoted(&paper::TABLE1_PAPYAN),
            Some(paper::TABLE1_PAPYAN_MEAN),
        ),
        paper_row(
            "Deep Image Prior",
            &quoted(&paper::TABLE1_DIP),
            Some(paper::TABLE1_DIP_MEAN),
        ),
    ];
    rows.extend(authors_row(inputs, Experiment::Table1, &runs));
    let ours = our_rows(inputs, Experiment::Table1, &runs, |records, measure| {
        run_cells(records, &runs, measure, true)
    });
    table(
        "Table 1: inpainting, 50 % of the pixels missing (PSNR, dB)",
        (Experiment::Table1, None),
        columns_with_mean(&paper::TABLE1_TITLES),
        rows,
        ours,
        vec!["The masked inputs are the paper's own (its published 50 % masks).".into()],
    )
}

/// Colour denoising at σ = 25 on the nine CBM3D images.
pub fn denoising(inputs: &Inputs) -> Table {
    let names: Vec<&str> = paper::DENOISING_IMAGES.iter().map(|(n, _)| *n).collect();
    let runs = strings(&names);
    // The paper gives F16 (the first image) and the mean of the nine.
    let f16_and_mean = |label: &str, f16: Option<f64>, mean: f64| {
        let mut per_run = vec![None; runs.len()];
        per_run[0] = f16;
        paper_row(label, &per_run, Some(mean))
    };
    let mut rows = vec![
        f16_and_mean("NLM", None, paper::DENOISING_NLM_MEAN),
        f16_and_mean(
            "CBM3D",
            Some(paper::DENOISING_CBM3D_F16),
            paper::DENOISING_CBM3D_MEAN,
        ),
        f16_and_mean(
            "Deep Image Prior",
            Some(paper::DENOISING_DIP_F16),
            paper::DENOISING_DIP_MEAN,
        ),
    ];
    rows.extend(authors_row(inputs, Experiment::Denoising, &runs));
    let ours = our_rows(inputs, Experiment::Denoising, &runs, |records, measure| {
        run_cells(records, &runs, measure, true)
    });
    table(
        "Colour denoising, σ = 25, the nine images of CBM3D (PSNR, dB)",
        (Experiment::Denoising, None),
        columns_with_mean(&names),
        rows,
        ours,
        vec![
            "The paper gives F16 and the mean of the nine. Our noise is drawn per seed; \
              ours is the averaged output at the last iteration."
                .into(),
        ],
    )
}

/// The run names of super-resolution on `set` ×`factor` (`set5-x4-baby`...).
fn sr_runs(set: &str, factor: usize) -> Vec<String> {
    paper::sr_images(set)
        .iter()
        .map(|n| format!("{set}-x{factor}-{n}"))
        .collect()
}

/// `Set5 ×4`.
fn sr_title(set: &str, factor: usize) -> String {
    let set = if set == "set5" { "Set5" } else { "Set14" };
    format!("{set} ×{factor}")
}

const SR_NOTE: &str = "PSNR of the Y channel with a 4-pixel border shaved, as the paper. \
Our bicubic is measured on the same low-resolution inputs as ours. A mean needs every image of the set.";

/// Super-resolution: the paper's table of means (Y channel) on Set5 and Set14, ×4
/// and ×8, with the authors' outputs and ours.
pub fn sr(inputs: &Inputs) -> Table {
    let columns: Vec<Column> = paper::SR_COLUMNS
        .iter()
        .map(|(set, f)| Column::db(&sr_title(set, *f)))
        .collect();
    let mut rows: Vec<Row> = paper::SR_TABLE
        .iter()
        .map(|r| Row {
            label: paper_label(r.method),
            source: Source::Paper,
            cells: r.values.iter().map(|v| v.map(Cell::quoted)).collect(),
        })
        .collect();
    let per_set: Vec<Vec<String>> = paper::SR_COLUMNS
        .iter()
        .map(|(set, f)| sr_runs(set, *f))
        .collect();
    if inputs.data.is_some() {
        // The mean (the last cell) of the authors' row of each set and factor.
        let mean = |runs: &[String]| authors_row(inputs, Experiment::Sr, runs)?.cells.pop()?;
        rows.push(Row {
            label: AUTHORS_LABEL.into(),
            source: Source::AuthorsOutputs,
            cells: per_set.iter().map(|runs| mean(runs)).collect(),
        });
    }
    // Our means per set and factor, from the strongest preset over all of them.
    let all_runs: Vec<String> = per_set.concat();
    let ours = our_rows(inputs, Experiment::Sr, &all_runs, |records, measure| {
        per_set
            .iter()
            .map(|runs| mean_over(records, runs, measure))
            .collect()
    });
    table(
        "Super-resolution, means over Set5 and Set14 (PSNR on Y, dB)",
        (Experiment::Sr, None),
        columns,
        rows,
        ours,
        vec![SR_NOTE.into()],
    )
}

/// Super-resolution on `set` ×`factor`, per image: the paper's bicubic and Deep
/// Image Prior (per image where it gives them, Set5 ×4), the authors' outputs, ours.
pub fn sr_images(inputs: &Inputs, set: &str, factor: usize) -> Table {
    let names = paper::sr_images(set);
    let runs = sr_runs(set, factor);
    let no_images = vec![None; names.len()];
    let dip_per_image: Vec<Option<f64>> = if (set, factor) == ("set5", 4) {
        paper::SR_SET5_X4_DIP
            .iter()
            .map(|(_, v)| Some(*v))
            .collect()
    } else {
        no_images.clone()
    };
    let mut rows = vec![
        paper_row(
            paper::SR_BICUBIC,
            &no_images,
            paper::sr_value(paper::SR_BICUBIC, set, factor),
        ),
        paper_row(
            paper::SR_DIP,
            &dip_per_image,
            paper::sr_value(paper::SR_DIP, set, factor),
        ),
    ];
    rows.extend(authors_row(inputs, Experiment::Sr, &runs));
    let ours = our_rows(inputs, Experiment::Sr, &runs, |records, measure| {
        run_cells(records, &runs, measure, true)
    });
    table(
        &format!(
            "Super-resolution, {}, per image (PSNR on Y, dB)",
            sr_title(set, factor)
        ),
        (Experiment::Sr, Some(&sr_title(set, factor))),
        columns_with_mean(names),
        rows,
        ours,
        vec![SR_NOTE.into()],
    )
}

/// The demos: text inpainting (kate), region inpainting (vase, library) and JPEG
/// artefact removal (snail); PSNR against the unmasked image where there is one.
pub fn demos(inputs: &Inputs) -> Table {
    let names = ["kate", "vase", "library", "snail"];
    let runs = strings(&names);
    let ours = our_rows(inputs, Experiment::Demos, &runs, |records, measure| {
        run_cells(records, &runs, measure, false)
    });
    table(
        "Text and region inpainting, JPEG artefacts (PSNR against the unmasked image, dB)",
        (Experiment::Demos, None),
        names.iter().map(|n| Column::db(n)).collect(),
        Vec::new(),
        ours,
        vec![
            "The paper shows these as figures only. The JPEG image (snail) has no clean \
              version: no PSNR."
                .into(),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reproduce::tables::tests::no_runs;
    use crate::reproduce::tables::{all, bench};

    #[test]
    fn paper_rows_without_records() {
        let t = table1(&no_runs());
        assert_eq!(t.rows.len(), 2);
        assert_eq!(
            t.cell(&Source::Paper, "mean").unwrap().mean,
            paper::TABLE1_PAPYAN_MEAN
        );
        assert_eq!(
            t.rows[1].cells[2].as_ref().unwrap().mean,
            paper::TABLE1_DIP[2]
        );
        assert!(t.missing.as_ref().unwrap().contains("No recorded run yet"));
        let markdown = t.to_markdown();
        let papyan = format!(
            "| Papyan et al. (printed in the paper) | {:.2} |",
            paper::TABLE1_PAPYAN[0]
        );
        assert!(markdown.contains(&papyan), "{markdown}");
        assert!(markdown.contains("No recorded run yet"));
        let s = sr(&no_runs());
        assert_eq!(s.row(&paper_label("SRResNet")).unwrap().cells[2], None);
        let d = denoising(&no_runs());
        assert_eq!(
            d.cell(&Source::Paper, "mean").unwrap().mean,
            paper::DENOISING_NLM_MEAN
        );
        assert_eq!(
            d.row(&paper_label("CBM3D")).unwrap().cells[0]
                .as_ref()
                .unwrap()
                .mean,
            paper::DENOISING_CBM3D_F16
        );
        let x4 = sr_images(&no_runs(), "set5", 4);
        let dip = x4.row(&paper_label("Deep Image Prior")).unwrap();
        assert_eq!(
            dip.cells[2].as_ref().unwrap().mean,
            paper::SR_SET5_X4_DIP[2].1
        );
        let mean = paper::sr_value(paper::SR_DIP, "set5", 4).unwrap();
        assert_eq!(dip.cells[5].as_ref().unwrap().mean, mean);
        let x8 = sr_images(&no_runs(), "set14", 8);
        assert_eq!(
            x8.row(&paper_label("bicubic")).unwrap().cells[14]
                .as_ref()
                .unwrap()
                .mean,
            paper::sr_value(paper::SR_BICUBIC, "set14", 8).unwrap()
        );
        assert!(bench(&no_runs()).rows.is_empty());
        // The paper's three, four of SR per image, demos, the three of stopping (the
        // rules, the default, --fast), tiling, timing, bench.
        assert_eq!(all(&no_runs()).len(), 14);
    }
}
