//! Our rows of a table, per preset shown: the baseline (the corrupted input or
//! bicubic), Deep Image Prior (its PSNR, then its SSIM where recorded), and the comparison with the authors' published output
//! on exactly the same pixels (the gap, and for SR both gains over bicubic).

use super::presets::{chosen_presets, records_of};
use super::stats::Measure;
use super::{Cell, Inputs, Record, Row, Runs, Source};
use crate::reproduce::plan::Experiment;

/// Our rows and the runs that made them.
#[derive(Default)]
pub(super) struct Ours {
    pub(super) rows: Vec<Row>,
    pub(super) runs: Vec<Runs>,
}

/// A row label: `name (ours, preset)` (the devices are in the runs' line under the table).
fn our_label(name: &str, preset: &str) -> String {
    format!("{name} (ours, {preset})")
}

/// Our rows for `runs` of `experiment`, per preset shown: the corrupted input's
/// (or bicubic's) where the runs record one, then Deep Image Prior's; `cells` makes
/// a row's numbers from the preset's records.
pub(super) fn our_rows(
    inputs: &Inputs,
    experiment: Experiment,
    runs: &[String],
    cells: impl Fn(&[&Record], Measure) -> Vec<Option<Cell>>,
) -> Ours {
    let mut ours = Ours::default();
    for preset in chosen_presets(inputs, experiment, runs) {
        let records = records_of(inputs.records, experiment, &preset, runs);
        let baseline = records.iter().find_map(|r| r.baseline.as_ref());
        if let Some(baseline) = baseline {
            ours.rows.push(Row {
                label: our_label(&baseline.name, &preset),
                source: Source::Baseline {
                    preset: preset.clone(),
                },
                cells: cells(&records, Measure::Baseline),
            });
        }
        ours.rows.push(Row {
            label: our_label("Deep Image Prior", &preset),
            source: Source::Ours {
                preset: preset.clone(),
            },
            cells: cells(&records, Measure::Final),
        });
        if records.iter().any(|r| r.final_ssim.is_some()) {
            ours.rows.push(Row {
                label: format!("SSIM: ours ({preset})"),
                source: Source::Ssim {
                    preset: preset.clone(),
                },
                cells: cells(&records, Measure::Ssim),
            });
        }
        ours.rows.extend(same_pixel_rows(&preset, &records, &cells));
        ours.runs.push(Runs::of(&preset, &records));
    }
    ours
}

/// The comparison on exactly our pixels: the authors' published output measured like
/// ours, the gap, and both gains over the baseline the records carry (the masked or
/// noisy input, or bicubic for SR). Left out where no record has the authors' number.
fn same_pixel_rows(
    preset: &str,
    records: &[&Record],
    cells: &impl Fn(&[&Record], Measure) -> Vec<Option<Cell>>,
) -> Vec<Row> {
    if records.iter().all(|r| r.authors_psnr.is_none()) {
        return Vec::new();
    }
    let source = |f: fn(String) -> Source| f(preset.to_string());
    let mut rows = vec![
        Row {
            label: format!("the authors' output on the same pixels ({preset})"),
            source: source(|preset| Source::AuthorsSamePixels { preset }),
            cells: cells(records, Measure::Authors),
        },
        Row {
            label: format!("gap: ours − the authors', same pixels ({preset})"),
            source: source(|preset| Source::Gap { preset }),
            cells: cells(records, Measure::Gap),
        },
    ];
    let baseline = records.iter().find_map(|r| r.baseline.as_ref());
    if let Some(baseline) = baseline {
        for (authors, measure, who) in [
            (false, Measure::Gain, "ours"),
            (true, Measure::AuthorsGain, "the authors'"),
        ] {
            rows.push(Row {
                label: format!("gain over {}: {who} ({preset})", baseline.name),
                source: Source::Gain {
                    preset: preset.to_string(),
                    authors,
                },
                cells: cells(records, measure),
            });
        }
    }
    rows
}
