//! The noise-impedance learning curves (the paper's Fig. 2), from the records.

use super::Record;
use crate::reproduce::plan::Task;

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
        .filter(|r| r.is_ours() && r.preset == preset && matches!(r.task, Task::Curve { .. }))
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
