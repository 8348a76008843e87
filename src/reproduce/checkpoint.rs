//! Checkpoints: the [`FitState`] of a run in one safetensors file.
//!
//! Tensors: `param.<i>`, `adam_m.<i>`, `adam_v.<i>`, `last_good.<i>`, `average`;
//! the history as an `n × 6` f64 table (iteration, loss, PSNR against the
//! corrupted image, against the clean one, of the average, rolled back; NaN for
//! "none"); the scalars as one f64 vector; and the job the checkpoint belongs to,
//! with the run's start time, as JSON bytes (u8), so that a checkpoint of other
//! settings is never resumed. Written to a temporary file and renamed: a crash
//! leaves the previous checkpoint whole.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};

use super::plan::Job;
use crate::error::{DipError, Result};
use crate::fit::{FitState, Step};

/// What is saved beside the fit state.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CheckpointMeta {
    pub job: Job,
    pub started_at: String,
}

const HISTORY_COLUMNS: usize = 6;

/// Save `state` of `meta.job` to `path`, atomically.
pub fn save(path: &Path, meta: &CheckpointMeta, state: &FitState) -> Result<()> {
    let cpu = Device::Cpu;
    let mut t: HashMap<String, Tensor> = HashMap::new();
    for (i, p) in state.parameters.iter().enumerate() {
        t.insert(format!("param.{i}"), p.clone());
    }
    for (i, m) in state.adam_m.iter().enumerate() {
        t.insert(format!("adam_m.{i}"), m.clone());
    }
    for (i, v) in state.adam_v.iter().enumerate() {
        t.insert(format!("adam_v.{i}"), v.clone());
    }
    if let Some(good) = &state.last_good {
        for (i, g) in good.iter().enumerate() {
            t.insert(format!("last_good.{i}"), g.clone());
        }
    }
    if let Some(a) = &state.average {
        t.insert("average".into(), a.clone());
    }
    let opt = |v: Option<f64>| v.unwrap_or(f64::NAN);
    let history: Vec<f64> = state
        .history
        .iter()
        .flat_map(|s| {
            [
                s.iteration as f64,
                s.loss,
                s.psnr_corrupted,
                opt(s.psnr_clean),
                opt(s.psnr_clean_average),
                if s.rolled_back { 1.0 } else { 0.0 },
            ]
        })
        .collect();
    t.insert(
        "history".into(),
        Tensor::from_vec(history, (state.history.len(), HISTORY_COLUMNS), &cpu)?,
    );
    let scalars = vec![
        state.adam_steps as f64,
        state.last_good_psnr,
        state.non_finite_in_a_row as f64,
        state.rollbacks as f64,
        state.elapsed,
        state.parameters.len() as f64,
        if state.last_good.is_some() { 1.0 } else { 0.0 },
    ];
    t.insert("scalars".into(), Tensor::new(scalars, &cpu)?);
    let json = serde_json::to_vec(meta).map_err(|e| DipError::invalid(e.to_string()))?;
    t.insert("meta".into(), Tensor::new(json, &cpu)?);

    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = tempfile::Builder::new()
        .suffix(".safetensors")
        .tempfile_in(dir)?;
    candle_core::safetensors::save(&t, tmp.path())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| DipError::Unwritable {
        path: path.to_path_buf(),
        reason: e.error.to_string(),
    })?;
    Ok(())
}

/// Only the metadata of a checkpoint (which job, when it started).
pub fn load_meta(path: &Path) -> Result<CheckpointMeta> {
    let t = read(path)?;
    meta_of(&t, path)
}

/// The tensors of a checkpoint file; a damaged file is an error that names it.
fn read(path: &Path) -> Result<HashMap<String, Tensor>> {
    candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| {
        DipError::invalid(format!(
            "the checkpoint {} is damaged ({e}); delete it to start that run over",
            path.display()
        ))
    })
}

fn meta_of(t: &HashMap<String, Tensor>, path: &Path) -> Result<CheckpointMeta> {
    let bad =
        |what: &str| DipError::invalid(format!("{} is not a checkpoint: {what}", path.display()));
    let bytes = t
        .get("meta")
        .ok_or_else(|| bad("no metadata"))?
        .to_vec1::<u8>()?;
    serde_json::from_slice(&bytes).map_err(|e| bad(&e.to_string()))
}

/// Load a checkpoint onto `device`.
pub fn load(path: &Path, device: &Device) -> Result<(CheckpointMeta, FitState)> {
    let t = read(path)?;
    let meta = meta_of(&t, path)?;
    let bad =
        |what: String| DipError::invalid(format!("{} is not a checkpoint: {what}", path.display()));
    let get = |name: &str| -> Result<Tensor> {
        Ok(t.get(name)
            .ok_or_else(|| bad(format!("no tensor {name}")))?
            .to_device(device)?)
    };
    let scalars = t
        .get("scalars")
        .ok_or_else(|| bad("no scalars".into()))?
        .to_dtype(DType::F64)?
        .to_vec1::<f64>()?;
    if scalars.len() != 7 {
        return Err(bad("wrong scalars".into()));
    }
    let n = scalars[5] as usize;
    let list = |prefix: &str| -> Result<Vec<Tensor>> {
        (0..n).map(|i| get(&format!("{prefix}.{i}"))).collect()
    };
    let rows = t
        .get("history")
        .ok_or_else(|| bad("no history".into()))?
        .to_vec2::<f64>()?;
    let opt = |v: f64| (!v.is_nan()).then_some(v);
    let history = rows
        .into_iter()
        .map(|r| Step {
            iteration: r[0] as usize,
            loss: r[1],
            psnr_corrupted: r[2],
            psnr_clean: opt(r[3]),
            psnr_clean_average: opt(r[4]),
            rolled_back: r[5] != 0.0,
            variance: None,
            variance_average: None,
        })
        .collect();
    let state = FitState {
        parameters: list("param")?,
        adam_m: list("adam_m")?,
        adam_v: list("adam_v")?,
        adam_steps: scalars[0] as usize,
        average: t
            .contains_key("average")
            .then(|| get("average"))
            .transpose()?,
        last_good: if scalars[6] != 0.0 {
            Some(list("last_good")?)
        } else {
            None
        },
        last_good_psnr: scalars[1],
        non_finite_in_a_row: scalars[2] as usize,
        rollbacks: scalars[3] as usize,
        elapsed: scalars[4],
        history,
    };
    Ok((meta, state))
}
