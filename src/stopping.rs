//! When to stop without a clean image: ES-WMV and ES-EMV (Wang, Li, Zhuang, Chen,
//! Liang, Sun, "Early Stopping for Deep Image Prior", TMLR 2023).
//!
//! Deep Image Prior fits the image before the noise, so its PSNR against the clean
//! image rises, peaks and falls; where the peak is depends on the image and the
//! noise. The observation behind ES-WMV: near the peak the outputs change least, so
//! the running variance of the outputs has its minimum there. Per iteration `t`, with
//! the output `x_t` (the one the loss sees) and the last `W` outputs,
//!
//! `VAR_t = (1/W) Σ_{i=t−W+1..t} ‖x_i − x̄‖² / (C·H·W)`,  `x̄` their mean,
//!
//! and the detected iteration is the one with the lowest `VAR_t`; the fit stops once
//! `P` iterations have passed without a new low, and the output kept at the detected
//! iteration is the result. ES-EMV keeps an exponential moving mean and variance
//! instead of a window (constant memory, for images whose `W` outputs do not fit).
//!
//! A known failure: in the first iterations the output may barely move (a small
//! learning rate, a flat start), so the variance is tiny and a minimum there is
//! false. The guard here: a low only counts once the fit has started, i.e. once the
//! loss has fallen to [`Guard::loss_fraction`] of its first value (half: the PSNR
//! against the corrupted image up by 3 dB). A fit that moves from the start arms
//! the guard within a few iterations; one that idles does not count its idling. Lows
//! count from `W` iterations after the guard armed, once the window no longer holds
//! the idle start.
//!
//! Two more failures, measured on the project's stopping runs, and the default
//! ([`StopRule::DEFAULT`]) that answers them:
//! - *The variance's global minimum is at the end.* Once the network has fitted the
//!   noise, its outputs stop moving, and the variance falls below its low at the
//!   peak (kodim01: the low at 240 is beaten at 1100, within the patience, and the
//!   rule keeps the noisy last output). The default confirms a low as soon as the
//!   variance has risen [`StopRule::rise`] above it.
//! - *An early low, before the image is fitted.* The default counts a low only once
//!   the loss (the MSE to the noisy image) has come down to the noise level,
//!   `E ≤ m·σ̂²`, σ̂ estimated from the noisy image ([`crate::noise_level`]): the
//!   discrepancy principle says that the clean image is that far from the noisy one.
//!
//! And it keeps the mean of the window's outputs at the detected iteration: the
//! outputs jitter with the input's perturbation, and their mean over the `W`
//! iterations where they move least is a better image than any one of them (the
//! paper's exponential average does the same over the whole fit, and so still holds
//! the blurry start when the peak comes early).

use std::collections::VecDeque;

use candle_core::Tensor;

use crate::error::Result;
use crate::fit::{Control, FitConfig, FitResult, Fitter, Step};
use crate::image_io::Image;
use crate::net::SkipNet;
use crate::noise_level;
use crate::tasks::Problem;

/// The settings of the stopping rule.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StopRule {
    /// The window `W` (ES-WMV) or the start of monitoring (ES-EMV), in iterations.
    pub window: usize,
    /// `P`: stop once this many iterations pass without a new low.
    pub patience: usize,
    pub kind: Kind,
    pub guard: Guard,
    /// Confirm a low (and stop) as soon as the variance has risen this fraction above
    /// it, without waiting out the patience; `None`: the patience alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rise: Option<f64>,
    /// What the fit keeps at the detected iteration.
    #[serde(default, skip_serializing_if = "Keep::is_output")]
    pub keep: Keep,
}

/// The image a stopped fit keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Keep {
    /// The output `x_t` of the detected iteration (ES-WMV as published).
    #[default]
    Output,
    /// The mean `x̄` of the window's outputs at the detected iteration.
    WindowMean,
}

impl Keep {
    fn is_output(&self) -> bool {
        *self == Keep::Output
    }
}

/// Windowed or exponential.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// ES-WMV: the variance over the last `window` outputs.
    Windowed,
    /// ES-EMV: exponential moving mean and variance with weight `alpha`.
    Exponential { alpha: f64 },
}

/// Against the false minimum at the start.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Guard {
    /// A low counts only once the loss is at most this fraction of the first loss
    /// (1: no guard).
    pub loss_fraction: f64,
    /// A low counts only once the loss has come down to this multiple of the noise's
    /// estimated variance σ̂² (the discrepancy principle); `None`: no such guard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise_multiple: Option<f64>,
}

impl StopRule {
    /// ES-WMV with the paper's `W` = 100 and `P` = 1000.
    pub const WMV: StopRule = StopRule {
        window: 100,
        patience: 1000,
        kind: Kind::Windowed,
        guard: Guard {
            loss_fraction: 0.5,
            noise_multiple: None,
        },
        rise: None,
        keep: Keep::Output,
    };

    /// ES-EMV with the paper's α = 0.1, monitored from iteration 100, `P` = 1000.
    pub const EMV: StopRule = StopRule {
        window: 100,
        patience: 1000,
        kind: Kind::Exponential { alpha: 0.1 },
        guard: Guard {
            loss_fraction: 0.5,
            noise_multiple: None,
        },
        rise: None,
        keep: Keep::Output,
    };

    /// The default of `dip denoise`: ES-WMV's window and patience, a low counting once
    /// the loss is down to [`NOISE_MULTIPLE`]·σ̂², confirmed once the variance has risen
    /// [`RISE`] above it, and the window's mean kept (the module's doc says why; the
    /// stopping chapter's table measures it).
    pub const DEFAULT: StopRule = StopRule {
        guard: Guard {
            loss_fraction: 0.5,
            noise_multiple: Some(NOISE_MULTIPLE),
        },
        rise: Some(RISE),
        keep: Keep::WindowMean,
        ..StopRule::WMV
    };

    /// The bytes ES-WMV keeps for outputs of `values` numbers: the window and the best output.
    pub fn window_bytes(&self, values: usize) -> usize {
        match self.kind {
            Kind::Windowed => (self.window + 1) * values * 4,
            Kind::Exponential { .. } => 3 * values * 4,
        }
    }
}

/// The default's noise guard: the loss down to σ̂² itself (the discrepancy principle).
/// Measured on the stopping runs (the denoising chapter's table): 1.1 let baboon's and
/// kodim01's 128² lows count before the image was fitted (1.1 and 1.2 dB below the best
/// averaged output); 0.9 waits too long on F16's 128² crop (0.6 dB below).
pub const NOISE_MULTIPLE: f64 = 1.0;
/// The default's confirmation: the variance 10 % above its low.
pub const RISE: f64 = 0.1;

/// What the rule says after an iteration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Verdict {
    /// `VAR_t`, once defined.
    pub variance: Option<f64>,
    /// Whether this iteration set a new (counted) low: keep its output.
    pub new_low: bool,
    /// Stop now: `patience` iterations without a new low.
    pub stop: bool,
}

/// The state of the rule over a fit.
pub struct Detector {
    pub rule: StopRule,
    window: VecDeque<Vec<f32>>,
    /// Σ x_i over the window, and Σ ‖x_i‖² (f64: the window's sums must not drift).
    sum: Vec<f64>,
    sum_sq: f64,
    /// ES-EMV's moving mean and variance (per value).
    ema_mean: Vec<f64>,
    ema_var: Vec<f64>,
    first_loss: Option<f64>,
    /// σ̂², for the noise guard ([`Guard::noise_multiple`]); unknown: that guard is off.
    noise_variance: Option<f64>,
    /// Whether the loss has come down to the noise level (stays so once it has).
    at_noise_level: bool,
    /// The iteration the guard armed at; lows count from `window` iterations later,
    /// when the window (or the moving average's memory) no longer holds the idle start.
    armed_at: Option<usize>,
    /// The detected iteration and its variance.
    pub best: Option<(usize, f64)>,
    seen: usize,
}

impl Detector {
    pub fn new(rule: StopRule) -> Self {
        Self {
            rule,
            window: VecDeque::new(),
            sum: Vec::new(),
            sum_sq: 0.0,
            ema_mean: Vec::new(),
            ema_var: Vec::new(),
            first_loss: None,
            noise_variance: None,
            at_noise_level: false,
            armed_at: None,
            best: None,
            seen: 0,
        }
    }

    /// The detector of `rule` for a fit whose noise has the estimated variance `v`
    /// (σ̂², values on the 0–1 scale).
    pub fn with_noise_variance(mut self, v: f64) -> Self {
        self.noise_variance = Some(v);
        self
    }

    /// The mean of the outputs the rule holds: the window's (ES-WMV), once full, or
    /// the moving mean (ES-EMV).
    pub fn window_mean(&self) -> Option<Vec<f32>> {
        match self.rule.kind {
            Kind::Windowed => (self.window.len() == self.rule.window).then(|| {
                let w = self.window.len() as f64;
                self.sum.iter().map(|s| (s / w) as f32).collect()
            }),
            Kind::Exponential { .. } => (!self.ema_mean.is_empty())
                .then(|| self.ema_mean.iter().map(|&m| m as f32).collect()),
        }
    }

    /// The iteration detected so far.
    pub fn detected(&self) -> Option<usize> {
        self.best.map(|b| b.0)
    }

    /// Take the output `x_t` of iteration `t` (flattened) and its loss; say whether
    /// to keep it and whether to stop.
    pub fn observe(&mut self, t: usize, output: &[f32], loss: f64) -> Verdict {
        self.seen += 1;
        let variance = match self.rule.kind {
            Kind::Windowed => self.windowed(output),
            Kind::Exponential { alpha } => self.exponential(output, alpha),
        };
        self.decide(t, variance, loss)
    }

    /// The rule's decision at iteration `t`, from `VAR_t` (if defined) and the loss.
    pub fn decide(&mut self, t: usize, variance: Option<f64>, loss: f64) -> Verdict {
        let mut new_low = false;
        let first = *self.first_loss.get_or_insert(loss);
        if self.armed_at.is_none() && loss <= self.rule.guard.loss_fraction * first {
            self.armed_at = Some(t);
        }
        self.at_noise_level |= match (self.rule.guard.noise_multiple, self.noise_variance) {
            (Some(m), Some(v)) => loss <= m * v,
            _ => true,
        };
        let counting =
            self.at_noise_level && self.armed_at.is_some_and(|a| t >= a + self.rule.window);
        if let Some(v) = variance {
            if counting && self.best.is_none_or(|(_, b)| v < b) {
                self.best = Some((t, v));
                new_low = true;
            }
        }
        let risen = |low: f64| {
            self.rule
                .rise
                .zip(variance)
                .is_some_and(|(r, v)| v >= (1.0 + r) * low)
        };
        let stop = self
            .best
            .is_some_and(|(b, low)| t >= b + self.rule.patience || risen(low));
        Verdict {
            variance,
            new_low,
            stop,
        }
    }

    fn windowed(&mut self, x: &[f32]) -> Option<f64> {
        if self.sum.is_empty() {
            self.sum = vec![0.0; x.len()];
        }
        for (s, &v) in self.sum.iter_mut().zip(x) {
            *s += v as f64;
        }
        self.sum_sq += x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>();
        self.window.push_back(x.to_vec());
        if self.window.len() > self.rule.window {
            let old = self.window.pop_front().expect("non-empty");
            for (s, &v) in self.sum.iter_mut().zip(&old) {
                *s -= v as f64;
            }
            self.sum_sq -= old.iter().map(|&v| (v as f64).powi(2)).sum::<f64>();
        }
        let w = self.window.len();
        if w < self.rule.window {
            return None;
        }
        // (1/W) Σ‖x_i − x̄‖² = (1/W) (Σ‖x_i‖² − ‖Σ x_i‖²/W), per value.
        let mean_sq: f64 = self.sum.iter().map(|s| s * s).sum::<f64>() / w as f64;
        Some(((self.sum_sq - mean_sq) / w as f64).max(0.0) / x.len() as f64)
    }

    fn exponential(&mut self, x: &[f32], alpha: f64) -> Option<f64> {
        if self.ema_mean.is_empty() {
            self.ema_mean = x.iter().map(|&v| v as f64).collect();
            self.ema_var = vec![0.0; x.len()];
            return None;
        }
        // West's exponentially weighted mean and variance.
        for ((m, s), &v) in self.ema_mean.iter_mut().zip(&mut self.ema_var).zip(x) {
            let d = v as f64 - *m;
            *m += alpha * d;
            *s = (1.0 - alpha) * (*s + alpha * d * d);
        }
        (self.seen > self.rule.window).then(|| self.ema_var.iter().sum::<f64>() / x.len() as f64)
    }
}

/// Where `detector` would have stopped a fit whose per-iteration variance and loss
/// are `steps` (`(VAR_t, loss)`, in order): the detected iteration, and the
/// iteration it stops at (`None` if the patience ran past the end).
pub fn replay(
    mut detector: Detector,
    steps: &[(Option<f64>, f64)],
) -> (Option<usize>, Option<usize>) {
    for (t, &(variance, loss)) in steps.iter().enumerate() {
        if detector.decide(t, variance, loss).stop {
            return (detector.detected(), Some(t));
        }
    }
    (detector.detected(), None)
}

/// A fit stopped by `rule` (at most `config.iterations`), and what it detected.
pub struct AutoStopped {
    /// `output` is what the rule keeps ([`Keep`]) at the detected iteration (the last
    /// one if nothing was detected); no exponential average. The history's steps carry
    /// `variance`.
    pub result: FitResult,
    /// The detected iteration, if any.
    pub detected: Option<usize>,
    /// What `result.output` is: one output, or the window's mean.
    pub kept: Keep,
    /// σ̂ of the noisy image (0–1 scale), where the rule guards by the noise level.
    pub noise_sigma: Option<f64>,
}

/// The detector of `rule` for `problem`: with σ̂² of its corrupted image where the
/// rule guards by the noise level.
pub fn detector_for(rule: StopRule, problem: &Problem) -> Result<(Detector, Option<f64>)> {
    let detector = Detector::new(rule);
    if rule.guard.noise_multiple.is_none() {
        return Ok((detector, None));
    }
    let noisy = problem.crop_result(&Image::from_tensor(&problem.observed)?)?;
    let sigma = noise_level::estimate_sigma(&noisy)?;
    Ok((detector.with_noise_variance(sigma * sigma), Some(sigma)))
}

/// Fit `net` to `problem`, watching the outputs with `rule`: stop where it says, and
/// return what it keeps there. `progress` sees each step and the iteration detected
/// so far.
pub fn fit_auto(
    net: SkipNet,
    problem: &Problem,
    config: &FitConfig,
    rule: StopRule,
    progress: &mut dyn FnMut(&Step, Option<usize>) -> Control,
) -> Result<AutoStopped> {
    let mut fitter = Fitter::new(net, problem, config)?;
    let (mut detector, noise_sigma) = detector_for(rule, problem)?;
    let mut kept = None;
    while !fitter.finished() {
        let step = fitter.step()?;
        let out = fitter.last_output.clone().expect("a step sets it");
        let verdict = detector.observe(
            step.iteration,
            &out.flatten_all()?.to_vec1::<f32>()?,
            step.loss,
        );
        if let Some(last) = fitter.history.last_mut() {
            last.variance = verdict.variance;
        }
        let step = fitter.history.last().expect("a step").clone();
        let interrupted = progress(&step, detector.detected()) == Control::Stop;
        let last = verdict.stop || interrupted || fitter.finished();
        // Nothing detected by the end: keep what the rule would keep now.
        if verdict.new_low || (last && detector.detected().is_none()) {
            kept = Some(keep(rule.keep, &detector, &out)?);
        }
        if last {
            break;
        }
    }
    let mut result = fitter.result()?;
    let mut kept_as = Keep::Output;
    if let Some((out, what)) = kept {
        result.output = problem.crop_result(&Image::from_tensor(&out)?)?;
        kept_as = what;
    }
    result.average = None;
    Ok(AutoStopped {
        result,
        detected: detector.detected(),
        kept: kept_as,
        noise_sigma,
    })
}

/// The image `keep` names, now, and what it is: this iteration's output `out`, or the
/// window's mean (the output itself while the window is filling).
fn keep(keep: Keep, detector: &Detector, out: &Tensor) -> Result<(Tensor, Keep)> {
    match (keep, detector.window_mean()) {
        (Keep::WindowMean, Some(mean)) => Ok((
            Tensor::from_vec(mean, out.dims(), out.device())?,
            Keep::WindowMean,
        )),
        _ => Ok((out.clone(), Keep::Output)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The speed at which a synthetic fit's outputs move: barely at first (to 150),
    /// fast, slowest at iteration 400, fast again.
    fn speed(t: usize) -> f64 {
        if t < 150 {
            1e-5
        } else {
            0.002 + ((t as f64 - 400.0) / 150.0).powi(2) * 0.01
        }
    }

    /// Run the rule on outputs `pos(t)·u` that move along a line at [`speed`]; the
    /// loss stays at 1 while they idle, then falls.
    fn run(rule: StopRule, until: usize) -> (Option<usize>, usize) {
        let mut d = Detector::new(rule);
        let mut pos = 0.0;
        for t in 0..until {
            pos += speed(t);
            let x: Vec<f32> = (0..16)
                .map(|k| (pos * (1.0 + 0.1 * k as f64)) as f32)
                .collect();
            let loss = if t < 150 { 1.0 } else { 0.1 };
            if d.observe(t, &x, loss).stop {
                return (d.detected(), t);
            }
        }
        (d.detected(), until)
    }

    #[test]
    fn windowed_variance_finds_where_the_outputs_move_least_and_waits_out_the_patience() {
        let rule = StopRule {
            patience: 300,
            ..StopRule::WMV
        };
        let (detected, stopped) = run(rule, 5000);
        let detected = detected.expect("a detection");
        // The window is centred on the slowest point W/2 later.
        assert!((430..=470).contains(&detected), "detected {detected}");
        assert_eq!(stopped, detected + 300);
    }

    #[test]
    fn the_guard_skips_the_false_minimum_of_an_output_that_does_not_move_yet() {
        let off = StopRule {
            guard: Guard {
                loss_fraction: 1.0,
                noise_multiple: None,
            },
            patience: 300,
            ..StopRule::WMV
        };
        let (detected, _) = run(off, 5000);
        // Unguarded, the still start wins.
        assert!(detected.unwrap() < 150, "{detected:?}");
    }

    #[test]
    fn replaying_the_recorded_variances_stops_where_the_fit_would_have() {
        let rule = StopRule {
            patience: 300,
            ..StopRule::WMV
        };
        let mut d = Detector::new(rule);
        let (mut pos, mut steps, mut online) = (0.0, Vec::new(), None);
        for t in 0..3000 {
            pos += speed(t);
            let x: Vec<f32> = (0..16)
                .map(|k| (pos * (1.0 + 0.1 * k as f64)) as f32)
                .collect();
            let loss = if t < 150 { 1.0 } else { 0.1 };
            let v = d.observe(t, &x, loss);
            steps.push((v.variance, loss));
            if v.stop && online.is_none() {
                online = Some((d.detected(), Some(t)));
            }
        }
        assert_eq!(Some(replay(Detector::new(rule), &steps)), online);
    }

    #[test]
    fn the_windowed_variance_is_the_definition() {
        let mut d = Detector::new(StopRule {
            window: 3,
            ..StopRule::WMV
        });
        let xs = [
            vec![0.0f32, 1.0],
            vec![1.0, 1.0],
            vec![2.0, 4.0],
            vec![3.0, 1.0],
        ];
        let mut last = None;
        for (t, x) in xs.iter().enumerate() {
            last = d.observe(t, x, 1.0).variance;
        }
        // Window {x1, x2, x3}: means (2, 2); squared deviations 1+1, 0+4, 1+1 = 8; /W /(C·H·W) = 8/3/2.
        assert!((last.unwrap() - 8.0 / 3.0 / 2.0).abs() < 1e-12, "{last:?}");
    }

    /// Outputs that move at `speed(t)` along a line, with the loss `loss(t)`: each
    /// iteration's verdict, until the rule stops.
    fn watch(
        mut d: Detector,
        speed: impl Fn(usize) -> f64,
        loss: impl Fn(usize) -> f64,
    ) -> (Option<usize>, Option<usize>) {
        let mut pos = 0.0;
        for t in 0..6000 {
            pos += speed(t);
            let x: Vec<f32> = (0..16)
                .map(|k| (pos * (1.0 + 0.1 * k as f64)) as f32)
                .collect();
            if d.observe(t, &x, loss(t)).stop {
                return (d.detected(), Some(t));
            }
        }
        (d.detected(), None)
    }

    /// A fit that slows at its peak (400), speeds up while it fits the noise, and then
    /// comes to rest as the noise is fitted: slower at the end than at the peak.
    fn comes_to_rest(t: usize) -> f64 {
        let peak = 0.002 + ((t as f64 - 400.0) / 150.0).powi(2) * 0.01;
        if t < 700 {
            peak
        } else {
            (0.092 * (-(t as f64 - 700.0) / 150.0).exp()).max(1e-6)
        }
    }

    #[test]
    fn the_patience_alone_keeps_the_rest_at_the_end_and_the_rise_keeps_the_peak() {
        let plain = StopRule {
            guard: Guard {
                loss_fraction: 1.0,
                noise_multiple: None,
            },
            ..StopRule::WMV
        };
        let (detected, _) = watch(Detector::new(plain), comes_to_rest, |_| 1.0);
        assert!(detected.unwrap() > 1000, "{detected:?}");
        let rising = StopRule {
            rise: Some(RISE),
            ..plain
        };
        let (detected, stopped) = watch(Detector::new(rising), comes_to_rest, |_| 1.0);
        let detected = detected.expect("a detection");
        assert!((430..=470).contains(&detected), "detected {detected}");
        // It stops when the variance has risen 10 % above the low, long before the patience.
        assert!(stopped.unwrap() < detected + 200, "{stopped:?}");
    }

    /// A fit with a still stretch at 200, while the loss is still far above the noise
    /// level, and its peak at 600, where the loss has come down to it.
    fn early_still_stretch(t: usize) -> f64 {
        let dip = |c: f64| ((t as f64 - c) / 60.0).powi(2);
        0.001 + 0.01 * dip(200.0).min(dip(600.0)).min(4.0)
    }

    #[test]
    fn the_noise_guard_skips_a_low_before_the_loss_is_down_to_the_noise_level() {
        // The loss halves by 50 (arming the loss guard), reaches the noise level at 500.
        let loss = |t: usize| match t {
            0..50 => 1.0,
            50..500 => 0.02,
            _ => 0.0095,
        };
        let unguarded = StopRule {
            rise: Some(RISE),
            ..StopRule::WMV
        };
        // Both still stretches are equally still: unguarded, the first wins.
        let (detected, _) = watch(Detector::new(unguarded), early_still_stretch, loss);
        assert!(detected.unwrap() < 300, "{detected:?}");
        let sigma2 = 0.01;
        let guarded = Detector::new(StopRule::DEFAULT).with_noise_variance(sigma2);
        let (detected, _) = watch(guarded, early_still_stretch, loss);
        assert!((600..=700).contains(&detected.unwrap()), "{detected:?}");
        // Without σ̂² the noise guard is off.
        let (detected, _) = watch(Detector::new(StopRule::DEFAULT), early_still_stretch, loss);
        assert!(detected.unwrap() < 300, "{detected:?}");
    }

    #[test]
    fn the_window_mean_is_the_mean_of_the_last_w_outputs() {
        let mut d = Detector::new(StopRule {
            window: 2,
            ..StopRule::DEFAULT
        });
        d.observe(0, &[1.0, 2.0], 1.0);
        assert_eq!(d.window_mean(), None, "not before the window is full");
        d.observe(1, &[3.0, 2.0], 1.0);
        d.observe(2, &[5.0, 8.0], 1.0);
        assert_eq!(d.window_mean(), Some(vec![4.0, 5.0]));
    }

    #[test]
    fn the_exponential_variant_also_finds_the_slow_stretch() {
        let rule = StopRule {
            patience: 300,
            ..StopRule::EMV
        };
        let (detected, _) = run(rule, 5000);
        let detected = detected.expect("a detection");
        assert!((395..=430).contains(&detected), "detected {detected}");
    }
}
