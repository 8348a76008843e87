//! The tiling table: the same denoising fit of a crop, whole and in overlapping
//! tiles each fitted on its own (`dip denoise --tile`), so that a reader sees what
//! restoring a photo too large for memory costs in PSNR and in time.

use super::presets::chosen_presets;
use super::{Cell, Column, Inputs, Row, Runs, Source, Table};
use crate::reproduce::plan::{Experiment, TILING_IMAGES};
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
    for preset in chosen_presets(inputs, Experiment::Tiling, &names) {
        let records: Vec<&Record> = inputs
            .records
            .iter()
            .filter(|r| r.experiment == Experiment::Tiling && r.preset == preset)
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
        if pairs.len() > 1 {
            let all: Vec<Vec<Option<Cell>>> = pairs.iter().map(|(_, w, t)| cells(w, t)).collect();
            let mean = (0..COLUMNS.len())
                .map(|i| {
                    let v: Vec<f64> = all
                        .iter()
                        .filter_map(|r| Some(r[i].as_ref()?.mean))
                        .collect();
                    (v.len() == all.len())
                        .then(|| Cell::of(&v))
                        .flatten()
                        .map(|c| Cell { sd: None, ..c })
                })
                .collect();
            rows.push(Row {
                label: format!("mean ({preset})"),
                source,
                cells: mean,
            });
        }
        let used: Vec<&Record> = pairs.iter().flat_map(|(_, w, t)| [*w, *t]).collect();
        runs.push(Runs::of(&preset, &used));
    }
    let missing = rows.is_empty().then(|| {
        "**No recorded run yet** of `tiling`: `dip reproduce --preset cpu --only tiling` \
         writes them under `results/cpu/tiling/`."
            .to_string()
    });
    Table {
        title: "Tiling: one denoising fit of a crop, whole and in overlapping tiles \
                (σ = 25, PSNR in dB, wall time in seconds)"
            .into(),
        columns: COLUMNS
            .iter()
            .map(|(name, decimals)| Column {
                name: name.to_string(),
                decimals: *decimals,
            })
            .collect(),
        rows,
        notes: setting.into_iter().collect(),
        runs,
        missing,
    }
}

/// The footnote: the crop, the tiles and the fit, read off the records.
fn setting_note(whole: &Record, tiled: &Record) -> String {
    let crop = match whole.cut {
        crate::reproduce::Cut::CentreCrop(side) => format!("the centre {side} × {side}"),
        other => format!("{other:?}"),
    };
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
