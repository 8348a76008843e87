//! Super-resolution ×f: `E(x; x0) = ‖d(x) − x0‖²`, `d` the Lanczos-2
//! downsampler. Many high-resolution images downsample to the same `x0`; the
//! network picks one with the structure of a natural image.

use candle_core::Device;
use image::imageops::FilterType;

use super::{
    check_clean, check_min_size, pad_to_multiple, plain_fit, upload, Degradation, Problem, Score,
    Spec, NOISE32,
};
use crate::downsampler::Downsampler;
use crate::error::{DipError, Result};
use crate::fit::FinalInput;
use crate::image_io::Image;
use crate::net::SkipConfig;

// ANCHOR: spec
/// The paper's super-resolution by `factor` (`super-resolution.ipynb`) of an image
/// of `channels`: the standard net on 32 channels of noise, Adam at 0.01 for 2000
/// iterations with `reg_noise_std` 0.03 (×4), or 4000 with 0.05 (×8); no averaging, no
/// rollback, the final image read off the last perturbed input.
pub fn paper(factor: usize, channels: usize) -> Spec<usize> {
    let (iterations, reg_noise_std) = if factor >= 8 {
        (4000, 0.05)
    } else {
        (2000, 0.03)
    };
    Spec {
        net: SkipConfig::standard(32, channels),
        fit: crate::fit::FitConfig {
            final_input: FinalInput::LastPerturbed,
            ..plain_fit(iterations, 0.01, reg_noise_std, NOISE32)
        },
        corruption: factor,
    }
}
// ANCHOR_END: spec

// ANCHOR: low_resolution
/// The low-resolution image the paper starts from: the clean image resized
/// down by `factor` with an antialiasing Lanczos-3 filter (PIL's `ANTIALIAS`).
/// The sides of `clean` must be multiples of `factor`.
pub fn low_resolution(clean: &Image, factor: usize) -> Result<Image> {
    if !clean.height.is_multiple_of(factor) || !clean.width.is_multiple_of(factor) {
        return Err(DipError::invalid(format!(
            "the image is {}×{}: its sides must be multiples of the factor {factor}",
            clean.width, clean.height
        )));
    }
    Ok(clean.resize(
        clean.height / factor,
        clean.width / factor,
        FilterType::Lanczos3,
    ))
}
// ANCHOR_END: low_resolution

/// The bicubic baseline: the low-resolution image resized up by `factor`.
pub fn bicubic(low: &Image, factor: usize) -> Image {
    low.resize(
        low.height * factor,
        low.width * factor,
        FilterType::CatmullRom,
    )
    .clipped()
}

/// The super-resolution problem for a low-resolution image: the network output
/// is `factor` times larger, padded so that its sides are multiples of `multiple`.
pub fn problem(
    low: &Image,
    factor: usize,
    clean: Option<&Image>,
    multiple: usize,
    device: &Device,
) -> Result<Problem> {
    if factor < 2 {
        return Err(DipError::invalid(format!(
            "the super-resolution factor must be at least 2, got {factor}"
        )));
    }
    check_min_size(low, 2, "the low-resolution image")?;
    check_clean(clean, low.channels, low.height * factor, low.width * factor)?;
    // The low-resolution side must be a multiple of multiple / factor for the output to fit the net.
    let low_multiple = multiple.div_ceil(factor).max(1);
    let (padded, (top, left, h, w)) = pad_to_multiple(low, low_multiple)?;
    Ok(Problem {
        observed: upload(&padded, device)?,
        degradation: Degradation::Downsample(Downsampler::lanczos2(factor, device)?),
        output_size: (
            padded.channels,
            padded.height * factor,
            padded.width * factor,
        ),
        crop: (top * factor, left * factor, h * factor, w * factor),
        clean: clean.cloned(),
        score: Score::PsnrYPaper,
    })
}
