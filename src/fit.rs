//! The fitting loop: minimise `E(f_θ(z); x0)` over θ with Adam, and read the
//! restored image off `f_θ(z)`.
//!
//! What the reference adds to plain gradient descent, all here:
//! - the input is perturbed with fresh noise each iteration (`reg_noise_std`);
//! - an exponential average of the outputs (weight 0.99) smooths the result;
//! - if the fit to the corrupted image suddenly gets much worse (its PSNR
//!   drops by more than 5 dB), the parameters are rolled back to the last good
//!   ones, exactly as the reference notebooks do it ([`RollbackCheck`]) — and a
//!   NaN or infinite loss is rolled back too, never silently;
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
    /// The period of the rollback check (the reference's `show_every`).
    pub rollback_every: usize,
    /// Which iterations the check runs on: the multiples of `rollback_every`
    /// (Table 1's `restoration.ipynb`) or all the others (`denoising.ipynb`).
    #[serde(default)]
    pub rollback_check: RollbackCheck,
    /// The input the final image is read off: the clean `z`, or, as the
    /// reference's notebooks do, the last perturbed `z + noise`.
    #[serde(default)]
    pub final_input: FinalInput,
    /// Seed of everything random in the fit (weights, `z`, perturbations).
    pub seed: u64,
}

/// On which iterations the rollback check runs.
///
/// In both reference notebooks the check compares this iteration's PSNR against
/// the corrupted image with the last saved one; on a drop of more than
/// `rollback_drop_db` it copies the saved parameters back, but the optimiser step
/// that follows still runs with the gradients already computed, and the output
/// average has already taken this output. Otherwise it saves the parameters and
/// the PSNR. The iteration counter `i` the check reads is only advanced by an
/// iteration that did not roll back, so after a rollback the same `i` is checked
/// again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RollbackCheck {
    /// When `i % every == 0` (`restoration.ipynb`, Table 1: `every` = 50).
    #[default]
    Multiples,
    /// When `i % every != 0` (`denoising.ipynb`: `every` = `show_every` = 100).
    AllButMultiples,
}

impl RollbackCheck {
    /// Whether the check runs at the reference's counter `i`.
    pub fn applies(self, i: usize, every: usize) -> bool {
        let multiple = i.is_multiple_of(every.max(1));
        match self {
            RollbackCheck::Multiples => multiple,
            RollbackCheck::AllButMultiples => !multiple,
        }
    }
}

/// Which input the final image is computed from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinalInput {
    /// `f_θ(z)`.
    #[default]
    Clean,
    /// `f_θ(z + noise)` with the last iteration's noise: the reference's
    /// `net(net_input)` after the loop, where `net_input` is the global the
    /// closure last perturbed (denoising, super-resolution, Table 1).
    LastPerturbed,
}

impl FitConfig {
    /// The paper's denoising fit: [`crate::tasks::denoising::paper`]'s.
    pub fn paper_denoising() -> Self {
        crate::tasks::denoising::paper(3).fit
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
    /// The variance of the recent outputs, where a stopping rule watches them ([`crate::stopping`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variance: Option<f64>,
    /// The same variance of the recent *averaged* outputs, where a rule watches them too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variance_average: Option<f64>,
}

/// The outcome of a fit.
pub struct FitResult {
    /// The network's output at the end (from [`FinalInput`]), cropped to the user's image.
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
    /// The last iteration's output `f_θ(z + noise)` (the one the loss saw), detached.
    pub last_output: Option<Tensor>,
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
            last_output: None,
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
    /// One iteration: perturb `z`, forward, energy, backward, the rollback check, Adam step.
    pub fn step(&mut self) -> Result<Step> {
        let start = Instant::now();
        let i = self.iteration();
        let z = self.perturbed_input(i)?;
        let out = self.net.forward(&z)?;
        let energy = self.problem.energy(&out)?;
        let loss = energy.to_scalar::<f32>()? as f64;

        if !loss.is_finite() {
            let step = self.roll_back_non_finite(i, loss)?;
            self.elapsed += start.elapsed().as_secs_f64();
            return Ok(step);
        }
        self.non_finite_in_a_row = 0;
        let psnr_corrupted = -10.0 * loss.log10();

        let out = out.detach();
        if let Some(w) = self.config.exp_weight {
            self.average = Some(match &self.average {
                None => out.clone(),
                Some(avg) => ((avg * w)? + (&out * (1.0 - w))?)?,
            });
        }
        let grads = energy.backward()?;
        let rolled_back = self.rollback_check(psnr_corrupted)?;
        // As in the reference, the step runs after a rollback too, with this iteration's gradients.
        self.adam.step(&grads)?;

        let (psnr_clean, psnr_clean_average) = self.psnr_against_clean(&out)?;
        self.last_output = Some(out);
        let step = Step {
            iteration: i,
            loss,
            psnr_corrupted,
            psnr_clean,
            psnr_clean_average,
            rolled_back,
            variance: None,
            variance_average: None,
        };
        self.history.push(step.clone());
        self.elapsed += start.elapsed().as_secs_f64();
        Ok(step)
    }
    // ANCHOR_END: step

    /// `z` plus this iteration's noise (drawn from `(seed, iteration)`, so a resumed
    /// run and the final image draw the same noise again).
    fn perturbed_input(&self, iteration: usize) -> Result<Tensor> {
        let mut noise_rng = Rng::new(
            self.config
                .seed
                .wrapping_mul(0x9e37_79b9)
                .wrapping_add(iteration as u64 + 1),
        );
        Ok(input::perturbed(
            &self.z,
            self.config.reg_noise_std,
            &mut noise_rng,
        )?)
    }

    /// The reference's counter `i`: the iterations that did not roll back.
    fn reference_counter(&self) -> usize {
        self.history.iter().filter(|s| !s.rolled_back).count()
    }

    // ANCHOR: rollback
    /// The reference's backtracking: on a check iteration, a PSNR against the
    /// corrupted image more than `rollback_drop_db` below the last saved one puts
    /// the saved parameters back (returns true); otherwise the parameters are saved.
    fn rollback_check(&mut self, psnr_corrupted: f64) -> Result<bool> {
        let Some(drop) = self.config.rollback_drop_db else {
            return Ok(false);
        };
        let (check, every) = (self.config.rollback_check, self.config.rollback_every);
        if !check.applies(self.reference_counter(), every) {
            return Ok(false);
        }
        match &self.last_good {
            Some(good) if psnr_corrupted - self.last_good_psnr < -drop => {
                for (p, g) in self.net.parameters().iter().zip(good) {
                    p.set(g)?;
                }
                self.rollbacks += 1;
                Ok(true)
            }
            _ => {
                self.last_good = Some(self.snapshot()?);
                self.last_good_psnr = psnr_corrupted;
                Ok(false)
            }
        }
    }
    // ANCHOR_END: rollback

    /// A NaN or infinite loss: put back the last good parameters, without a step
    /// (or fail if there are none, or too many in a row). The reference has no such guard.
    fn roll_back_non_finite(&mut self, i: usize, loss: f64) -> Result<Step> {
        self.non_finite_in_a_row += 1;
        if self.non_finite_in_a_row >= MAX_NON_FINITE_IN_A_ROW {
            return Err(DipError::Diverged(format!(
                "the loss was {loss} at {MAX_NON_FINITE_IN_A_ROW} iterations in a row (last: {i}); try a lower learning rate"
            )));
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
            psnr_corrupted: f64::NAN,
            psnr_clean: None,
            psnr_clean_average: None,
            rolled_back: true,
            variance: None,
            variance_average: None,
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

    /// The input the final image is read off ([`FinalInput`]).
    pub fn final_input(&self) -> Result<Tensor> {
        match (self.config.final_input, self.iteration()) {
            (FinalInput::LastPerturbed, n) if n > 0 => self.perturbed_input(n - 1),
            _ => Ok(self.z.clone()),
        }
    }

    /// The final output `f_θ(final input)` and the average, cropped.
    pub fn result(&self) -> Result<FitResult> {
        let out = self.net.forward(&self.final_input()?)?;
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
        let (adam_m, adam_v, adam_steps) = self.adam.state()?;
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

/// Iterations timed by [`seconds_per_iteration`], after one warm-up.
pub const TIMED_ITERATIONS: usize = 5;

/// What an iteration of `config`'s fit of `problem` costs here: the median seconds of
/// [`TIMED_ITERATIONS`] after a warm-up (the first allocates what the others reuse).
/// The estimate of `dip reproduce --estimate` and of `dip denoise` before a restoration.
pub fn seconds_per_iteration(net: SkipNet, problem: &Problem, config: &FitConfig) -> Result<f64> {
    let config = FitConfig {
        iterations: TIMED_ITERATIONS + 1,
        ..config.clone()
    };
    let mut fitter = Fitter::new(net, problem, &config)?;
    fitter.step()?;
    let mut times = Vec::new();
    for _ in 0..TIMED_ITERATIONS {
        let start = Instant::now();
        fitter.step()?;
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
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
