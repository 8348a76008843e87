//! The fitting loop: minimise `E(f_θ(z); x0)` over θ with Adam, and read the
//! restored image off `f_θ(z)`.
//!
//! What the reference adds to plain gradient descent, all here:
//! - the input is perturbed with fresh noise each iteration (`reg_noise_std`);
//! - an exponential average of the outputs (weight 0.99) smooths the result;
//! - if the fit to the corrupted image suddenly gets much worse (its PSNR
//!   drops by more than 5 dB), the parameters are rolled back to the last good
//!   ones — and a NaN or infinite loss is treated the same way, never silently;
//! - a history of the loss and PSNRs, per iteration, for the learning curves.
//!
//! A fixed seed makes a CPU run repeat exactly: the per-iteration noise is
//! drawn from a generator seeded by `(seed, iteration)`, which also lets a
//! run resume from a checkpoint with the same draws.

use std::time::Instant;

use candle_core::{Module, Tensor};

use crate::error::{DipError, Result};
use crate::image_io::Image;
use crate::input::{self, InputKind};
use crate::net::SkipNet;
use crate::optim::{Adam, AdamConfig};
use crate::rng::Rng;
use crate::tasks::Problem;

/// The settings of one fit.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FitConfig {
    pub iterations: usize,
    pub lr: f64,
    /// Standard deviation of the noise added to `z` at each iteration (0: none).
    pub reg_noise_std: f64,
    pub input: InputKind,
    /// Weight of the exponential average of outputs (the reference's 0.99), if averaging.
    pub exp_weight: Option<f64>,
    /// Roll back when the PSNR against the corrupted image drops by more than this (dB).
    pub rollback_drop_db: Option<f64>,
    /// Check for a drop every this many iterations.
    pub rollback_every: usize,
    /// Seed of everything random in the fit (weights, `z`, perturbations).
    pub seed: u64,
}

impl FitConfig {
    /// The denoising settings of the paper: lr 0.01, 3000 iterations, 32-channel noise input,
    /// `reg_noise_std` 1/30, output averaging and rollback on.
    pub fn paper_denoising() -> Self {
        Self {
            iterations: 3000,
            lr: 0.01,
            reg_noise_std: 1.0 / 30.0,
            input: InputKind::Noise { channels: 32 },
            exp_weight: Some(0.99),
            rollback_drop_db: Some(5.0),
            rollback_every: 1,
            seed: 0,
        }
    }
}

/// What one iteration measured.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Step {
    pub iteration: usize,
    /// The energy `E(f_θ(z + noise); x0)`.
    pub loss: f64,
    /// PSNR of `A(f_θ(z + noise))` against `x0`: `−10·log10 E`, since the energy is an MSE.
    pub psnr_corrupted: f64,
    /// PSNR of this iteration's output against the clean image, if known.
    pub psnr_clean: Option<f64>,
    /// PSNR of the averaged output against the clean image, if known and averaging.
    pub psnr_clean_average: Option<f64>,
    /// Whether the parameters were rolled back at this iteration.
    pub rolled_back: bool,
}

/// The outcome of a fit.
pub struct FitResult {
    /// `f_θ(z)` with the clean input at the end, cropped to the user's image.
    pub output: Image,
    /// The exponential average of the outputs, cropped, if averaging.
    pub average: Option<Image>,
    pub history: Vec<Step>,
    pub rollbacks: usize,
    pub seconds: f64,
}

impl FitResult {
    /// The restored image: the average if there is one, else the final output.
    pub fn restored(&self) -> &Image {
        self.average.as_ref().unwrap_or(&self.output)
    }

    /// Seconds per iteration over the whole fit.
    pub fn seconds_per_iteration(&self) -> f64 {
        self.seconds / self.history.len().max(1) as f64
    }
}

/// What a progress callback may answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    Continue,
    /// Stop after this iteration (the result is made from where the fit is).
    Stop,
}

/// How many non-finite losses in a row end the fit with an error.
const MAX_NON_FINITE_IN_A_ROW: usize = 5;

/// The state of a fit that can be stopped and resumed.
pub struct Fitter<'a> {
    pub net: SkipNet,
    pub problem: &'a Problem,
    pub config: FitConfig,
    pub z: Tensor,
    pub adam: Adam,
    /// The exponential average of the outputs (padded size), if averaging.
    pub average: Option<Tensor>,
    pub history: Vec<Step>,
    /// The last parameters known to be good, for rollback.
    last_good: Option<Vec<Tensor>>,
    last_good_psnr: f64,
    non_finite_in_a_row: usize,
    pub rollbacks: usize,
    pub elapsed: f64,
}

impl<'a> Fitter<'a> {
    /// A new fit: the network is built from `net` (its weights from the seed), `z` drawn.
    pub fn new(net: SkipNet, problem: &'a Problem, config: &FitConfig) -> Result<Self> {
        if config.iterations == 0 {
            return Err(DipError::invalid(
                "the number of iterations must be at least 1",
            ));
        }
        if !(config.lr > 0.0 && config.lr.is_finite()) {
            return Err(DipError::invalid(format!(
                "the learning rate must be positive, got {}",
                config.lr
            )));
        }
        let (c, h, w) = problem.output_size;
        if net.config.output_channels != c {
            return Err(DipError::invalid(format!(
                "the network has {} output channels but the image has {c}",
                net.config.output_channels
            )));
        }
        if net.config.input_channels != config.input.channels() {
            return Err(DipError::invalid(format!(
                "the network takes {} input channels but the input has {}",
                net.config.input_channels,
                config.input.channels()
            )));
        }
        net.check_input_size(h, w)?;
        let device = problem.observed.device().clone();
        let z = input::network_input(
            config.input,
            h,
            w,
            &mut Rng::new(config.seed ^ 0x5eed_0001),
            &device,
        )?;
        let adam = Adam::new(net.parameters(), AdamConfig::with_lr(config.lr))?;
        Ok(Self {
            net,
            problem,
            config: config.clone(),
            z,
            adam,
            average: None,
            history: Vec::new(),
            last_good: None,
            last_good_psnr: f64::NEG_INFINITY,
            non_finite_in_a_row: 0,
            rollbacks: 0,
            elapsed: 0.0,
        })
    }

    /// The number of iterations done.
    pub fn iteration(&self) -> usize {
        self.history.len()
    }

    /// Whether all iterations are done.
    pub fn finished(&self) -> bool {
        self.iteration() >= self.config.iterations
    }

    // ANCHOR: step
    /// One iteration: perturb `z`, forward, energy, backward, Adam step.
    pub fn step(&mut self) -> Result<Step> {
        let start = Instant::now();
        let i = self.iteration();
        let mut noise_rng = Rng::new(
            self.config
                .seed
                .wrapping_mul(0x9e37_79b9)
                .wrapping_add(i as u64 + 1),
        );
        let z = input::perturbed(&self.z, self.config.reg_noise_std, &mut noise_rng)?;
        let out = self.net.forward(&z)?;
        let energy = self.problem.energy(&out)?;
        let loss = energy.to_scalar::<f32>()? as f64;

        if !loss.is_finite() {
            let step = self.roll_back(i, loss)?;
            self.elapsed += start.elapsed().as_secs_f64();
            return Ok(step);
        }
        self.non_finite_in_a_row = 0;
        let psnr_corrupted = -10.0 * loss.log10();

        // Rollback: a sudden drop of the fit to x0 means the optimisation jumped away.
        if let Some(drop) = self.config.rollback_drop_db {
            if i.is_multiple_of(self.config.rollback_every.max(1)) {
                if self.last_good.is_some() && psnr_corrupted - self.last_good_psnr < -drop {
                    let step = self.roll_back(i, loss)?;
                    self.elapsed += start.elapsed().as_secs_f64();
                    return Ok(step);
                }
                self.last_good = Some(self.snapshot()?);
                self.last_good_psnr = psnr_corrupted;
            }
        }

        let grads = energy.backward()?;
        self.adam.step(&grads)?;

        let out = out.detach();
        if let Some(w) = self.config.exp_weight {
            self.average = Some(match &self.average {
                None => out.clone(),
                Some(avg) => ((avg * w)? + (&out * (1.0 - w))?)?,
            });
        }
        let (psnr_clean, psnr_clean_average) = self.psnr_against_clean(&out)?;
        let step = Step {
            iteration: i,
            loss,
            psnr_corrupted,
            psnr_clean,
            psnr_clean_average,
            rolled_back: false,
        };
        self.history.push(step.clone());
        self.elapsed += start.elapsed().as_secs_f64();
        Ok(step)
    }
    // ANCHOR_END: step

    /// Put back the last good parameters (or fail if there are none, or too many NaNs in a row).
    fn roll_back(&mut self, i: usize, loss: f64) -> Result<Step> {
        if !loss.is_finite() {
            self.non_finite_in_a_row += 1;
            if self.non_finite_in_a_row >= MAX_NON_FINITE_IN_A_ROW {
                return Err(DipError::Diverged(format!(
                    "the loss was {loss} at {MAX_NON_FINITE_IN_A_ROW} iterations in a row (last: {i}); try a lower learning rate"
                )));
            }
        }
        let Some(good) = &self.last_good else {
            return Err(DipError::Diverged(format!(
                "the loss was {loss} at iteration {i}, before any good parameters were recorded; try a lower learning rate"
            )));
        };
        for (p, g) in self.net.parameters().iter().zip(good) {
            p.set(g)?;
        }
        self.rollbacks += 1;
        let step = Step {
            iteration: i,
            loss,
            psnr_corrupted: if loss.is_finite() {
                -10.0 * loss.log10()
            } else {
                f64::NAN
            },
            psnr_clean: None,
            psnr_clean_average: None,
            rolled_back: true,
        };
        self.history.push(step.clone());
        Ok(step)
    }

    fn snapshot(&self) -> Result<Vec<Tensor>> {
        Ok(self
            .net
            .parameters()
            .iter()
            .map(|p| p.as_tensor().copy())
            .collect::<candle_core::Result<_>>()?)
    }

    fn psnr_against_clean(&self, out: &Tensor) -> Result<(Option<f64>, Option<f64>)> {
        let Some(_) = &self.problem.clean else {
            return Ok((None, None));
        };
        let score = |t: &Tensor| -> Result<Option<f64>> {
            let img = self.problem.crop_result(&Image::from_tensor(t)?)?;
            self.problem.score_against_clean(&img)
        };
        let avg = match &self.average {
            Some(a) => score(a)?,
            None => None,
        };
        Ok((score(out)?, avg))
    }

    /// The final output `f_θ(z)` with the clean `z`, and the average, cropped.
    pub fn result(&self) -> Result<FitResult> {
        let out = self.net.forward(&self.z)?;
        let output = self.problem.crop_result(&Image::from_tensor(&out)?)?;
        let average = match &self.average {
            Some(a) => Some(self.problem.crop_result(&Image::from_tensor(a)?)?),
            None => None,
        };
        Ok(FitResult {
            output,
            average,
            history: self.history.clone(),
            rollbacks: self.rollbacks,
            seconds: self.elapsed,
        })
    }
}

/// Everything a stopped fit needs to go on exactly where it was: the
/// parameters, Adam's moments, the output average, the rollback point and the
/// history. The network input `z` and the per-iteration noise are not in it:
/// both follow from the seed (and the iteration), so a resumed CPU run draws
/// the same numbers as one that never stopped.
#[derive(Clone)]
pub struct FitState {
    pub parameters: Vec<Tensor>,
    pub adam_m: Vec<Tensor>,
    pub adam_v: Vec<Tensor>,
    pub adam_steps: usize,
    pub average: Option<Tensor>,
    pub last_good: Option<Vec<Tensor>>,
    pub last_good_psnr: f64,
    pub non_finite_in_a_row: usize,
    pub rollbacks: usize,
    pub elapsed: f64,
    pub history: Vec<Step>,
}

impl Fitter<'_> {
    /// A copy of the state of the fit, to be saved and later [`restore`](Self::restore)d.
    pub fn checkpoint(&self) -> Result<FitState> {
        let (adam_m, adam_v, adam_steps) = self.adam.state();
        Ok(FitState {
            parameters: self.snapshot()?,
            adam_m,
            adam_v,
            adam_steps,
            average: self.average.clone(),
            last_good: self.last_good.clone(),
            last_good_psnr: self.last_good_psnr,
            non_finite_in_a_row: self.non_finite_in_a_row,
            rollbacks: self.rollbacks,
            elapsed: self.elapsed,
            history: self.history.clone(),
        })
    }

    /// Put back a state taken by [`checkpoint`](Self::checkpoint) from a fit of the same network.
    pub fn restore(&mut self, state: FitState) -> Result<()> {
        let params = self.net.parameters();
        let same_shapes = |ts: &[Tensor]| {
            ts.len() == params.len() && ts.iter().zip(&params).all(|(t, p)| t.dims() == p.dims())
        };
        if !same_shapes(&state.parameters)
            || state.last_good.as_deref().is_some_and(|g| !same_shapes(g))
        {
            return Err(DipError::invalid(
                "the checkpoint was made with another network",
            ));
        }
        for (p, t) in params.iter().zip(&state.parameters) {
            p.set(t)?;
        }
        self.adam
            .set_state(state.adam_m, state.adam_v, state.adam_steps)?;
        self.average = state.average;
        self.last_good = state.last_good;
        self.last_good_psnr = state.last_good_psnr;
        self.non_finite_in_a_row = state.non_finite_in_a_row;
        self.rollbacks = state.rollbacks;
        self.elapsed = state.elapsed;
        self.history = state.history;
        Ok(())
    }
}

// ANCHOR: fit
/// Fit `net` to `problem`, calling `progress` after every iteration.
pub fn fit(
    net: SkipNet,
    problem: &Problem,
    config: &FitConfig,
    progress: &mut dyn FnMut(&Step) -> Control,
) -> Result<FitResult> {
    let mut fitter = Fitter::new(net, problem, config)?;
    while !fitter.finished() {
        let step = fitter.step()?;
        if progress(&step) == Control::Stop {
            break;
        }
    }
    fitter.result()
}
// ANCHOR_END: fit
