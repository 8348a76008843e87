//! The authors' published output images, measured again by this crate's metrics
//! from the data folder ([`authors_psnr`]), and their row of a table.

use super::stats::mean_of_all;
use super::{Cell, Inputs, Row, Source};
use crate::data::DataDir;
use crate::image_io::Image;
use crate::metrics;
use crate::reproduce::plan::{Experiment, Job, Task};

fn load(data: &DataDir, rel: &str) -> Option<Image> {
    data.image(rel).ok().and_then(|p| Image::load(p).ok())
}

/// The PSNR (dB) of the authors' published output of the paper's run `image` of
/// `experiment`, measured by this crate with the run's protocol (Y channel and a
/// 4-pixel border for SR); `None` where the data folder lacks the files or the
/// paper has no published output.
pub fn authors_psnr(data: &DataDir, experiment: Experiment, image: &str) -> Option<f64> {
    let job = Job::paper(experiment, image)?;
    match &job.task {
        Task::Inpainting {
            clean,
            reference: Some(output),
            ..
        }
        | Task::Denoising {
            clean,
            reference: Some(output),
            ..
        } => metrics::psnr(&load(data, clean)?, &load(data, output)?).ok(),
        Task::SuperResolution {
            clean,
            factor,
            reference: Some(output),
        } => {
            let truth =
                crate::reproduce::prepare::sr_ground_truth(&load(data, clean)?, *factor).ok()?;
            // The published images are the restored centre crop pasted into a zero canvas.
            let output = load(data, output)?
                .crop_to_multiple(metrics::SR_CROP_MULTIPLE)
                .ok()?;
            metrics::psnr_sr(&truth, &output).ok()
        }
        _ => None,
    }
}

/// The label of the authors' outputs' row.
pub(super) const AUTHORS_LABEL: &str =
    "Deep Image Prior, the authors' outputs re-measured by our code";

/// The authors' outputs re-measured, per run and their mean; `None` without data.
pub(super) fn authors_row(inputs: &Inputs, experiment: Experiment, runs: &[String]) -> Option<Row> {
    let data = inputs.data?;
    let mut cells: Vec<Option<Cell>> = runs
        .iter()
        .map(|run| authors_psnr(data, experiment, run).map(Cell::quoted))
        .collect();
    cells.push(mean_of_all(&cells));
    Some(Row {
        label: AUTHORS_LABEL.into(),
        source: Source::AuthorsOutputs,
        cells,
    })
}
