//! The restoration tasks, each a corruption plus an energy.
//!
//! Every task of the paper minimises an energy of the same form,
//! `E(x; x0) = ‖A(x) − x0‖²` (as a mean over pixels), where `x = f_θ(z)` is the
//! network's output, `x0` the corrupted image and `A` the task's *degradation*:
//! - denoising (and JPEG artefact removal): `A` is the identity;
//! - inpainting: `A(x) = x ⊙ m`, `m` the mask of known pixels;
//! - super-resolution: `A = d`, the Lanczos-2 downsampler.
//!
//! Each task module makes the corruption (to test on a clean image) and the
//! [`Problem`] (the energy) from an image the user brings.

pub mod denoising;
pub mod inpainting;
pub mod jpeg;
pub mod super_resolution;

use candle_core::{Device, Tensor};

use crate::downsampler::Downsampler;
use crate::error::{DipError, Result};
use crate::fit::{FinalInput, FitConfig, RollbackCheck};
use crate::image_io::Image;
use crate::input::InputKind;
use crate::net::SkipConfig;

/// A task as the paper runs it: the network, the fit and the corruption's setting
/// (σ, the factor, the fraction missing). The one specification that the command
/// line, the catalogue of experiments (`dip::reproduce`) and the notebooks start
/// from; each task module has its own (`denoising::paper`, …).
#[derive(Clone, Debug, PartialEq)]
pub struct Spec<C> {
    pub net: SkipConfig,
    pub fit: FitConfig,
    pub corruption: C,
}

/// The input of most of the paper's nets: 32 channels of uniform noise.
pub const NOISE32: InputKind = InputKind::Noise { channels: 32 };

/// A fit with the given settings and the reference's extras off: no averaging, no
/// rollback, the final image read off the clean `z` (`inpainting.ipynb`).
pub fn plain_fit(iterations: usize, lr: f64, reg_noise_std: f64, input: InputKind) -> FitConfig {
    FitConfig {
        iterations,
        lr,
        reg_noise_std,
        input,
        exp_weight: None,
        rollback_drop_db: None,
        rollback_every: 1,
        rollback_check: RollbackCheck::Multiples,
        final_input: FinalInput::Clean,
        seed: 0,
    }
}

/// The degradation `A` of a task.
pub enum Degradation {
    /// Denoising: the network output is compared with the noisy image as it is.
    Identity,
    /// Inpainting: only the known pixels (mask 1) are compared; `[1, 1 or C, H, W]`.
    Mask(Tensor),
    /// Super-resolution: the output is downsampled first.
    Downsample(Downsampler),
}

/// How a restored image is scored against the clean one.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Score {
    /// PSNR over all pixels and channels.
    Psnr,
    /// PSNR of the luma channel with `shave` border pixels removed on every side.
    PsnrY { shave: usize },
    /// The paper's super-resolution PSNR: the luma channel without the border
    /// its evaluation script leaves out (4 pixels top and left, 5 bottom and right).
    PsnrYPaper,
}

impl Score {
    /// The border a luma score leaves out; `None` for the plain PSNR over all channels.
    pub fn luma_trim(self) -> Option<crate::metrics::Trim> {
        match self {
            Score::Psnr => None,
            Score::PsnrY { shave } => Some(crate::metrics::Trim::even(shave)),
            Score::PsnrYPaper => Some(crate::metrics::PAPER_SR_TRIM),
        }
    }

    /// The score of `test` against `clean` in dB.
    pub fn measure(self, clean: &Image, test: &Image) -> Result<f64> {
        match self {
            Score::Psnr => crate::metrics::psnr(clean, test),
            Score::PsnrY { shave } => crate::metrics::psnr_y(clean, test, shave),
            Score::PsnrYPaper => {
                crate::metrics::psnr_y_trimmed(clean, test, crate::metrics::PAPER_SR_TRIM)
            }
        }
    }
}

/// A restoration problem: minimise `‖A(f_θ(z)) − x0‖²`.
pub struct Problem {
    /// `x0`, the corrupted image, `[1, C, h, w]` on the device (for inpainting, already masked).
    pub observed: Tensor,
    pub degradation: Degradation,
    /// The channels, height and width of the network's output `f_θ(z)` (padded to fit the net).
    pub output_size: (usize, usize, usize),
    /// Where the image sits in the padded output: `(top, left, height, width)`.
    pub crop: (usize, usize, usize, usize),
    /// The clean image, if known (the size of the crop), to report PSNR against.
    pub clean: Option<Image>,
    pub score: Score,
}

// ANCHOR: energy
impl Problem {
    /// `A(x)`: what the corruption would make of the image `x`.
    pub fn degrade(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match &self.degradation {
            Degradation::Identity => Ok(x.clone()),
            Degradation::Mask(m) => x.broadcast_mul(m),
            Degradation::Downsample(d) => d.forward(x),
        }
    }

    /// The data term `E(x; x0) = mean((A(x) − x0)²)`.
    pub fn energy(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        (self.degrade(x)? - &self.observed)?.sqr()?.mean_all()
    }
}
// ANCHOR_END: energy

impl Problem {
    /// The user's image out of the padded network output.
    pub fn crop_result(&self, padded: &Image) -> Result<Image> {
        let (top, left, h, w) = self.crop;
        padded.crop(top, left, h, w)
    }

    /// Score a (cropped) result against the clean image, if there is one.
    pub fn score_against_clean(&self, result: &Image) -> Result<Option<f64>> {
        match &self.clean {
            Some(clean) => Ok(Some(self.score.measure(clean, result)?)),
            None => Ok(None),
        }
    }
}

/// How an image is made to fit the network's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Framing {
    /// Reflection-pad to the next multiple of this (at least two of them), so that
    /// any image fits; the result is cropped back. Ours, for the user's photos.
    PadToMultiple(usize),
    /// Reflection-pad this many pixels on every side: the reference's Table 1
    /// (`nn.ReflectionPad2d(1)`, 512×512 → 514×514, then fitted at that size).
    ReflectBorder(usize),
}

impl From<usize> for Framing {
    /// A plain number is the multiple to pad to.
    fn from(multiple: usize) -> Self {
        Framing::PadToMultiple(multiple)
    }
}

impl Framing {
    /// The framed image and the crop `(top, left, height, width)` that gives the original back.
    pub fn apply(self, image: &Image) -> Result<(Image, (usize, usize, usize, usize))> {
        match self {
            Framing::PadToMultiple(m) => pad_to_multiple(image, m),
            Framing::ReflectBorder(b) => {
                let (padded, (top, left)) =
                    image.reflect_pad_to(image.height + 2 * b, image.width + 2 * b)?;
                Ok((padded, (top, left, image.height, image.width)))
            }
        }
    }
}

/// The size to pad `n` up to: the next multiple of `multiple`, and at least two of them.
pub fn padded_size(n: usize, multiple: usize) -> usize {
    // At least two multiples: the deepest scale must be 2 pixels wide (see `SkipConfig::min_side`).
    n.div_ceil(multiple).max(2) * multiple
}

/// Reflection-pad an image so that its sides are multiples of `multiple`
/// (the network halves them `depth` times). Returns the padded image and the
/// crop `(top, left, height, width)` that gives the original back.
pub fn pad_to_multiple(
    image: &Image,
    multiple: usize,
) -> Result<(Image, (usize, usize, usize, usize))> {
    let (h, w) = (
        padded_size(image.height, multiple),
        padded_size(image.width, multiple),
    );
    let (padded, (top, left)) = image.reflect_pad_to(h, w)?;
    Ok((padded, (top, left, image.height, image.width)))
}

/// Check that a clean image, if given, has the size of the image to restore.
pub fn check_clean(
    clean: Option<&Image>,
    channels: usize,
    height: usize,
    width: usize,
) -> Result<()> {
    if let Some(c) = clean {
        if (c.channels, c.height, c.width) != (channels, height, width) {
            return Err(DipError::invalid(format!(
                "the clean image is {}×{} with {} channel(s), but the result will be {height}×{width} with {channels}",
                c.width, c.height, c.channels
            )));
        }
    }
    Ok(())
}

/// The smallest side the tasks accept: one pixel at the bottom of a 5-scale net is 32 pixels.
pub fn check_min_size(image: &Image, min_side: usize, what: &str) -> Result<()> {
    if image.height < min_side || image.width < min_side {
        return Err(DipError::invalid(format!(
            "{what} is {}×{} pixels; the network needs at least {min_side}×{min_side}",
            image.width, image.height
        )));
    }
    Ok(())
}

/// Upload an image as `[1, C, H, W]`.
pub(crate) fn upload(image: &Image, device: &Device) -> Result<Tensor> {
    image.to_tensor(device)
}
