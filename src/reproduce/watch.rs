//! A watched run ([`super::Job::watch`]): the stopping rule's variance of the outputs
//! and of the averaged outputs, recorded each iteration so that the record can say
//! where the rule would have stopped; and `dip denoise`'s default rule
//! ([`StopRule::DEFAULT`]) followed as a user's fit would run it, with the PSNR of
//! the image it would have kept. The run itself goes on to its last iteration, so
//! that the record also holds what stopping missed.

use candle_core::Tensor;

use super::record::HistoryPoint;
use crate::error::Result;
use crate::fit::{Fitter, Step};
use crate::image_io::Image;
use crate::stopping::{self, Detector, Guard, StopRule};

/// What `dip denoise`'s default rule did in a watched run.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DefaultStop {
    /// The rule followed (the default at the time of the run; a record of another
    /// default is not shown against today's).
    #[serde(default)]
    pub rule: Option<StopRule>,
    /// The estimated σ of the noisy image (0–255 scale).
    pub noise_sigma: f64,
    /// The detected iteration, and the iteration the rule stopped at (`None`: it
    /// would have run to the end).
    pub detected: Option<usize>,
    pub stopped_at: Option<usize>,
    /// PSNR of what it keeps (the window's mean) at the detected iteration.
    pub psnr: Option<f64>,
}

/// Per iteration of a watched run, what a rule without the clean image could watch
/// beside the variances (the energies of the two means) and what it would keep (the
/// window mean's PSNR).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Means {
    /// PSNR of the mean of ES-WMV's window of outputs against the clean image.
    pub psnr_window: Option<f64>,
    /// The energy `E(x̄; x0)` of the window's mean.
    pub loss_window: Option<f64>,
    /// The energy of the exponential average of the outputs.
    pub loss_average: Option<f64>,
}

/// The detectors of a watched run.
pub(super) struct Watch {
    raw: Detector,
    averaged: Detector,
    default: Detector,
    outcome: DefaultStop,
    /// The default has stopped: its outcome is final.
    stopped: bool,
    /// One per iteration.
    pub means: Vec<Means>,
}

impl Watch {
    /// The watch of `fitter`'s run by `rule`, beside the default rule.
    pub fn new(rule: StopRule, fitter: &Fitter) -> Result<Self> {
        // The default at the watched rule's scale (the tiny preset's is shorter).
        let followed = StopRule {
            window: rule.window,
            patience: rule.patience,
            guard: Guard {
                loss_fraction: rule.guard.loss_fraction,
                ..StopRule::DEFAULT.guard
            },
            ..StopRule::DEFAULT
        };
        let (default, sigma) = stopping::detector_for(followed, fitter.problem)?;
        Ok(Self {
            raw: Detector::new(rule),
            averaged: Detector::new(rule),
            default,
            outcome: DefaultStop {
                rule: Some(followed),
                noise_sigma: sigma.unwrap_or(f64::NAN) * 255.0,
                detected: None,
                stopped_at: None,
                psnr: None,
            },
            stopped: false,
            means: Vec::new(),
        })
    }

    /// Watch the step `fitter` just took (`step`, also the last of its history): the
    /// variances go into both.
    pub fn observe(&mut self, fitter: &mut Fitter, step: &mut Step) -> Result<()> {
        let Some(out) = &fitter.last_output else {
            return Ok(());
        };
        let values = |t: &Tensor| t.flatten_all()?.to_vec1::<f32>();
        step.variance = self
            .raw
            .observe(step.iteration, &values(out)?, step.loss)
            .variance;
        if let Some(average) = &fitter.average {
            let verdict = self
                .averaged
                .observe(step.iteration, &values(average)?, step.loss);
            step.variance_average = verdict.variance;
        }
        let means = self.means_of(fitter)?;
        self.means.push(means);
        if !self.stopped {
            self.follow_default(step, means);
        }
        if let Some(last) = fitter.history.last_mut() {
            last.variance = step.variance;
            last.variance_average = step.variance_average;
        }
        Ok(())
    }

    /// The window's mean and the average, measured.
    fn means_of(&self, fitter: &Fitter) -> Result<Means> {
        let problem = fitter.problem;
        let energy = |t: &Tensor| -> Result<Option<f64>> {
            Ok(Some(problem.energy(t)?.to_scalar::<f32>()? as f64))
        };
        let mut means = Means::default();
        if let (Some(mean), Some(out)) = (self.raw.window_mean(), &fitter.last_output) {
            let mean = Tensor::from_vec(mean, out.dims(), out.device())?;
            let image = problem.crop_result(&Image::from_tensor(&mean)?)?;
            means.psnr_window = problem.score_against_clean(&image)?;
            means.loss_window = energy(&mean)?;
        }
        if let Some(average) = &fitter.average {
            means.loss_average = energy(average)?;
        }
        Ok(means)
    }

    /// The default rule on the same window (its `W` is ES-WMV's): a new low keeps the
    /// window's mean.
    fn follow_default(&mut self, step: &Step, means: Means) {
        let verdict = self
            .default
            .decide(step.iteration, step.variance, step.loss);
        if verdict.new_low {
            self.outcome.detected = Some(step.iteration);
            self.outcome.psnr = means.psnr_window;
        }
        if verdict.stop {
            self.outcome.stopped_at = Some(step.iteration);
            self.stopped = true;
        }
    }

    /// Put the means into the (thinned) history of the record.
    pub fn fill(&self, history: &mut [HistoryPoint]) {
        let finite = |v: Option<f64>| v.filter(|v| v.is_finite());
        for point in history {
            if let Some(m) = self.means.get(point.iteration) {
                point.psnr_clean_window = finite(m.psnr_window);
                point.loss_window = finite(m.loss_window);
                point.loss_average = finite(m.loss_average);
            }
        }
    }

    /// What the default rule did.
    pub fn default_stop(&self) -> DefaultStop {
        self.outcome.clone()
    }
}
