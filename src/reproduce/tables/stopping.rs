//! The stopping table: where ES-WMV stops each denoising run on its own, against the
//! best iteration (which peeks at the clean image) and the paper's fixed 3000
//! iterations with averaging; one row per image, then the mean and the worst gap.

use super::experiments::no_cpu_run_note;
use super::presets::{chosen_presets, records_of};
use super::stats::column_means;
use super::{Cell, Column, Inputs, Row, Runs, Source, Table};
use crate::reproduce::paper;
use crate::reproduce::plan::Experiment;
use crate::reproduce::record::{Record, StoppingSummary};

/// The columns, in order.
const COLUMNS: [(&str, usize); 6] = [
    ("stopped at", 0),
    ("stopped on its own (dB)", 2),
    ("best iteration (dB)", 2),
    ("gap to the best", 2),
    ("fixed 3000, averaged (dB)", 2),
    ("gap to the fixed", 2),
];

/// One image's cells: the detected iteration, the PSNRs and the two gaps (auto − other).
fn cells(s: &StoppingSummary) -> Vec<Option<Cell>> {
    let gap = |other: Option<f64>| Some(Cell::quoted(s.auto_psnr? - other?));
    vec![
        s.detected.map(|d| Cell::quoted(d as f64)),
        s.auto_psnr.map(Cell::quoted),
        s.best_psnr.map(Cell::quoted),
        gap(s.best_psnr),
        s.fixed_psnr.map(Cell::quoted),
        gap(s.fixed_psnr),
    ]
}

/// The mean of each column over `rows`, and the worst (lowest) of each gap.
fn summary_rows(rows: &[Vec<Option<Cell>>], preset: &str) -> Vec<Row> {
    let column = |i: usize| -> Vec<f64> {
        rows.iter()
            .filter_map(|r| r[i].as_ref().map(|c| c.mean))
            .collect()
    };
    let complete = |v: &Vec<f64>| v.len() == rows.len();
    let mean = column_means(rows, COLUMNS.len());
    let worst = (0..COLUMNS.len())
        .map(|i| {
            let is_gap = COLUMNS[i].0.starts_with("gap");
            let v = column(i);
            (is_gap && complete(&v))
                .then(|| Cell::quoted(v.iter().copied().fold(f64::INFINITY, f64::min)))
        })
        .collect();
    let source = Source::Ours {
        preset: preset.to_string(),
    };
    vec![
        Row {
            label: format!("mean ({preset})"),
            source: source.clone(),
            cells: mean,
        },
        Row {
            label: format!("worst ({preset})"),
            source,
            cells: worst,
        },
    ]
}

/// The table of the stopping experiment, per preset shown.
pub fn stopping(inputs: &Inputs) -> Table {
    let names: Vec<String> = paper::DENOISING_IMAGES
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    let mut rows = Vec::new();
    let mut runs = Vec::new();
    for preset in chosen_presets(inputs, Experiment::Stopping, &names) {
        let records: Vec<&Record> =
            records_of(inputs.records, Experiment::Stopping, &preset, &names)
                .into_iter()
                .filter(|r| r.seed == 0)
                .collect();
        let per_image: Vec<(String, Vec<Option<Cell>>)> = names
            .iter()
            .filter_map(|n| {
                let r = records.iter().find(|r| &r.image == n)?;
                Some((n.clone(), cells(r.stopping.as_ref()?)))
            })
            .collect();
        for (name, cells) in &per_image {
            rows.push(Row {
                label: format!("{name} ({preset})"),
                source: Source::Ours {
                    preset: preset.clone(),
                },
                cells: cells.clone(),
            });
        }
        let all: Vec<Vec<Option<Cell>>> = per_image.into_iter().map(|(_, c)| c).collect();
        if all.len() == names.len() {
            rows.extend(summary_rows(&all, &preset));
        }
        runs.push(Runs::of(&preset, &records));
    }
    let missing = rows
        .is_empty()
        .then(|| no_cpu_run_note(Experiment::Stopping));
    Table {
        title: "Stopping on its own (ES-WMV) against the best iteration and the fixed 3000, \
                denoising at σ = 25 (PSNR, dB)"
            .into(),
        columns: Column::all(&COLUMNS),
        rows,
        notes: vec![
            "Each run denoises for 4000 iterations with its outputs watched; the rule (the \
             variance of the last 100 outputs, 1000 iterations of patience, the guard against \
             an idle start) is replayed on the record. Stopped on its own: the output at the \
             detected iteration. Best: the best output over the iterations, found by peeking at \
             the clean image. A gap below zero is what stopping on its own costs."
                .into(),
        ],
        runs,
        missing,
    }
}
