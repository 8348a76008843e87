//! The tiling table: the same denoising fit of a crop, whole and in overlapping
//! tiles each fitted on its own (`dip denoise --tile`), so that a reader sees what
//! restoring a photo too large for memory costs in PSNR and in time.

use super::experiments::no_cpu_run_note;
use super::presets::chosen_presets;
use super::stats::column_means;
use super::{Cell, Column, Inputs, Row, Runs, Source, Table};
use crate::reproduce::catalogue::TILING_IMAGES;
use crate::reproduce::plan::{self, Cut, Experiment, Preset};
use crate::reproduce::record::Record;

/// The columns, in order.
const COLUMNS: [(&str, usize); 5] = [
    ("whole (dB)", 2),
    ("in tiles (dB)", 2),
    ("tiles − whole", 2),
    ("whole (s)", 0),
    ("in tiles (s)", 0),
];

/// One image's cells from its whole and its tiled record.
fn cells(whole: &Record, tiled: &Record) -> Vec<Option<Cell>> {
    let gap = whole
        .final_psnr
        .zip(tiled.final_psnr)
        .map(|(w, t)| Cell::quoted(t - w));
    vec![
        whole.final_psnr.map(Cell::quoted),
        tiled.final_psnr.map(Cell::quoted),
        gap,
        Some(Cell::quoted(whole.wall_seconds)),
        Some(Cell::quoted(tiled.wall_seconds)),
    ]
}

/// The (whole, tiled) records of seed 0 of each image of `records`.
fn pairs<'a>(records: &[&'a Record]) -> Vec<(&'static str, &'a Record, &'a Record)> {
    TILING_IMAGES
        .iter()
        .filter_map(|&name| {
            let of = |tiled: bool| {
                records.iter().copied().find(|r| {
                    r.seed == 0
                        && r.tiles.is_some() == tiled
                        && (r.image == name
                            || tiled && r.image.starts_with(&format!("{name}-tiles")))
                })
            };
            Some((name, of(false)?, of(true)?))
        })
        .collect()
}

/// The table of the tiling experiment, per preset shown.
pub fn tiling(inputs: &Inputs) -> Table {
    let names: Vec<String> = TILING_IMAGES.iter().map(|n| n.to_string()).collect();
    let mut rows = Vec::new();
    let mut runs = Vec::new();
    let mut setting = None;
    let mut verdict = None;
    for preset in chosen_presets(inputs, Experiment::Tiling, &names) {
        let records: Vec<&Record> = inputs
            .records
            .iter()
            .filter(|r| r.is_ours() && r.experiment == Experiment::Tiling && r.preset == preset)
            .collect();
        let source = Source::Ours {
            preset: preset.clone(),
        };
        let pairs = pairs(&records);
        for (name, whole, tiled) in &pairs {
            rows.push(Row {
                label: format!("{name} ({preset})"),
                source: source.clone(),
                cells: cells(whole, tiled),
            });
            setting.get_or_insert_with(|| setting_note(whole, tiled));
        }
        if verdict.is_none() && !pairs.is_empty() {
            verdict = Some(verdict_note(&pairs));
        }
        if pairs.len() > 1 {
            let all: Vec<Vec<Option<Cell>>> = pairs.iter().map(|(_, w, t)| cells(w, t)).collect();
            rows.push(Row {
                label: format!("mean ({preset})"),
                source,
                cells: column_means(&all, COLUMNS.len()),
            });
        }
        let used: Vec<&Record> = pairs.iter().flat_map(|(_, w, t)| [*w, *t]).collect();
        runs.push(Runs::of(&preset, &used));
    }
    let missing = rows.is_empty().then(|| no_cpu_run_note(Experiment::Tiling));
    Table {
        title: "Tiling: one denoising fit of a crop, whole and in overlapping tiles \
                (σ = 25, PSNR in dB, wall time in seconds)"
            .into(),
        columns: Column::all(&COLUMNS),
        rows,
        notes: setting.into_iter().chain(verdict).collect(),
        runs,
        missing,
    }
}

/// What the records say, in words: the mean and the range of the difference, the
/// time, and why the difference need not be a cost.
fn verdict_note(pairs: &[(&str, &Record, &Record)]) -> String {
    let gaps: Vec<f64> = pairs
        .iter()
        .filter_map(|(_, w, t)| Some(t.final_psnr? - w.final_psnr?))
        .collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len().max(1) as f64;
    let (lo, hi) = gaps
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), g| (a.min(*g), b.max(*g)));
    let time: f64 = pairs.iter().map(|(_, _, t)| t.wall_seconds).sum::<f64>()
        / pairs.iter().map(|(_, w, _)| w.wall_seconds).sum::<f64>();
    let (name, whole) = (pairs[0].0, pairs[0].1);
    // The crop the preset's own denoising run of this image takes, from the catalogue.
    let denoising_crop = Preset::parse(&whole.preset)
        .ok()
        .and_then(|p| plan::jobs(p, &[Experiment::Denoising], &[name.to_string()], None, 1).pop())
        .and_then(|job| match job.cut {
            Cut::CentreCrop(side) => Some(format!(" on {side} × {side} crops")),
            _ => None,
        })
        .unwrap_or_default();
    format!(
        "{} the tiles scored {mean:+.2} dB against the whole fit on average \
         (from {lo:+.2} to {hi:+.2} dB) and took {time:.1} times as long. The iterations are \
         the same for both, those the preset's denoising runs take{denoising_crop}: the whole \
         fit of the larger crop may want another number, so this measures tiling at one \
         number of iterations, not its cost at each fit's best.",
        match gaps.len() {
            1 => "On this image".to_string(),
            n => format!("Over these {n} images"),
        }
    )
}

/// The footnote: the crop, the tiles and the fit, read off the records.
fn setting_note(whole: &Record, tiled: &Record) -> String {
    let crop = whole.cut.describe();
    let tiles = tiled.tiles.expect("a tiled record");
    format!(
        "Both fit {crop} of the image with the same network, seed and {} iterations of \
         Adam; \"in tiles\" fits {} tiles of {} × {} overlapping by {} pixels, each on its \
         own, and blends them with a raised cosine over the overlap, as `dip denoise --tile` \
         does. A difference below zero is what tiling costs.",
        whole.fit.iterations,
        tiled.tile_count.unwrap_or(0),
        tiles.side,
        tiles.side,
        tiles.overlap
    )
}
