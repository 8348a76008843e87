//! Denoising: `E(x; x0) = ‖x − x0‖²`. Fitted long enough the network reproduces
//! the noise too; stopped early (and averaged over iterations) it gives the
//! clean image first, because natural images are what it fits fastest.

use candle_core::Device;

use super::{
    check_clean, check_min_size, plain_fit, upload, Degradation, Framing, Problem, Score, Spec,
    NOISE32,
};
use crate::error::Result;
use crate::fit::{FinalInput, FitConfig, RollbackCheck};
use crate::image_io::Image;
use crate::input::InputKind;
use crate::net::{SkipConfig, NARROW_WIDTH};
use crate::rng::Rng;

// ANCHOR: spec
/// The paper's denoising (`denoising.ipynb`) of an image of `channels`: σ = 25, the
/// standard net on 32 channels of noise, 3000 iterations of Adam at 0.01 with
/// `reg_noise_std` 1/30, the outputs averaged (weight 0.99), a rollback where the
/// fit to the noisy image drops by 5 dB (checked where `i % 100 != 0`), and the final
/// image read off the last perturbed input.
pub fn paper(channels: usize) -> Spec<f32> {
    Spec {
        net: SkipConfig::standard(32, channels),
        fit: fit(3000, NOISE32),
        corruption: 25.0,
    }
}

/// `dip denoise --fast`: [`paper`]'s settings on the narrow net ([`NARROW_WIDTH`]
/// channels at every scale instead of 128), for photos that would take hours. What it
/// costs in PSNR is measured by the `stopping-fast` experiment, beside the standard
/// net's runs on the same crops.
pub fn fast(channels: usize) -> Spec<f32> {
    let paper = paper(channels);
    Spec {
        net: paper.net.narrowed(NARROW_WIDTH),
        ..paper
    }
}

/// [`paper`]'s fit for `iterations` from `input` (the JPEG snail's is 2400 from 3 channels).
pub fn fit(iterations: usize, input: InputKind) -> FitConfig {
    FitConfig {
        exp_weight: Some(0.99),
        rollback_drop_db: Some(5.0),
        rollback_every: 100,
        rollback_check: RollbackCheck::AllButMultiples,
        final_input: FinalInput::LastPerturbed,
        ..plain_fit(iterations, 0.01, 1.0 / 30.0, input)
    }
}
// ANCHOR_END: spec

// ANCHOR: corrupt
/// Add white Gaussian noise of standard deviation `sigma` (on the `[0, 1]` scale,
/// so σ = 25 on the 8-bit scale is `25/255`) and clip to `[0, 1]`, as the reference does.
pub fn add_noise(clean: &Image, sigma: f32, rng: &mut Rng) -> Image {
    let noise = rng.normal(clean.data.len(), sigma);
    let data = clean
        .data
        .iter()
        .zip(noise)
        .map(|(x, n)| (x + n).clamp(0.0, 1.0))
        .collect();
    Image {
        data,
        ..clean.clone()
    }
}
// ANCHOR_END: corrupt

/// The denoising problem for a noisy image (padded by reflection, [`Framing`]; a
/// number is the multiple to pad to); `clean`, if known, is used to report PSNR.
pub fn problem(
    noisy: &Image,
    clean: Option<&Image>,
    framing: impl Into<Framing>,
    device: &Device,
) -> Result<Problem> {
    check_min_size(noisy, 1, "the noisy image")?;
    check_clean(clean, noisy.channels, noisy.height, noisy.width)?;
    let (padded, crop) = framing.into().apply(noisy)?;
    Ok(Problem {
        observed: upload(&padded, device)?,
        degradation: Degradation::Identity,
        output_size: (padded.channels, padded.height, padded.width),
        crop,
        clean: clean.cloned(),
        score: Score::Psnr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_has_the_asked_level_and_is_clipped() {
        let clean = Image::filled(3, 64, 64, 0.5);
        let noisy = add_noise(&clean, 25.0 / 255.0, &mut Rng::new(0));
        assert!(noisy.data.iter().all(|v| (0.0..=1.0).contains(v)));
        let psnr = crate::metrics::psnr(&clean, &noisy).unwrap();
        // σ = 25/255 gives 20·log10(255/25) = 20.17 dB.
        assert!((psnr - 20.17).abs() < 0.15, "{psnr}");
    }
}
