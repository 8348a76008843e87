//! Inpainting: `E(x; x0) = ‖(x − x0) ⊙ m‖²`, `m` the mask of known pixels
//! (1 known, 0 missing). Nothing in the energy says what goes in the holes:
//! only the network's structure does.

use candle_core::Device;

use super::{
    check_clean, check_min_size, plain_fit, upload, Degradation, Framing, Problem, Score, Spec,
    NOISE32,
};
use crate::error::{DipError, Result};
use crate::fit::{FinalInput, RollbackCheck};
use crate::image_io::Image;
use crate::net::SkipConfig;
use crate::rng::Rng;

// ANCHOR: spec
/// The paper's Table 1 (`restoration.ipynb`): grey images with half of the pixels
/// missing, the standard net on 32 channels of noise, 11000 iterations of Adam at
/// 0.001 with `reg_noise_std` 0.03, a rollback where the fit to the known pixels
/// drops by 5 dB (checked where `i % 50 == 0`), and the final image read off the last
/// perturbed input. (The images are reflection-padded by one pixel: the catalogue's
/// framing.)
pub fn paper() -> Spec<f64> {
    Spec {
        net: SkipConfig::standard(32, 1),
        fit: crate::fit::FitConfig {
            rollback_drop_db: Some(5.0),
            rollback_every: 50,
            rollback_check: RollbackCheck::Multiples,
            final_input: FinalInput::LastPerturbed,
            ..plain_fit(11000, 0.001, 0.03, NOISE32)
        },
        corruption: 0.5,
    }
}
// ANCHOR_END: spec

// ANCHOR: mask
/// A random mask with a fraction `missing` of the pixels removed (each pixel
/// independently, the same for every channel), 1 = known.
pub fn bernoulli_mask(height: usize, width: usize, missing: f64, rng: &mut Rng) -> Image {
    Image {
        channels: 1,
        height,
        width,
        data: rng.bernoulli(height * width, 1.0 - missing),
    }
}
// ANCHOR_END: mask

/// A mask from a mask image: white (above one half) is known, black is a hole.
pub fn mask_from_image(mask: &Image) -> Image {
    let grey = mask.to_grey();
    Image {
        data: grey
            .data
            .iter()
            .map(|&v| if v > 0.5 { 1.0 } else { 0.0 })
            .collect(),
        ..grey
    }
}

/// The mask of an image whose holes are stored as zeros (the paper's masked
/// inputs of Table 1): a pixel is known where any channel is non-zero.
pub fn mask_of_masked_image(masked: &Image) -> Image {
    let plane = masked.height * masked.width;
    let data = (0..plane)
        .map(|i| {
            let known = (0..masked.channels).any(|c| masked.data[c * plane + i] != 0.0);
            if known {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    Image {
        channels: 1,
        height: masked.height,
        width: masked.width,
        data,
    }
}

/// `image ⊙ mask` (what the network is shown).
pub fn apply_mask(image: &Image, mask: &Image) -> Result<Image> {
    check_mask(image, mask)?;
    let plane = image.height * image.width;
    let data = image
        .data
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let c = i / plane;
            let mc = if mask.channels == 1 { 0 } else { c };
            v * mask.data[mc * plane + i % plane]
        })
        .collect();
    Ok(Image {
        data,
        ..image.clone()
    })
}

/// A mask must have the image's size and one channel (or the image's channels).
pub fn check_mask(image: &Image, mask: &Image) -> Result<()> {
    if (mask.height, mask.width) != (image.height, image.width) {
        return Err(DipError::invalid(format!(
            "the mask is {}×{} but the image is {}×{}",
            mask.width, mask.height, image.width, image.height
        )));
    }
    if mask.channels != 1 && mask.channels != image.channels {
        return Err(DipError::invalid(format!(
            "the mask has {} channels; it needs 1 or {} (the image's)",
            mask.channels, image.channels
        )));
    }
    if mask.data.iter().all(|&m| m == 0.0) {
        return Err(DipError::invalid(
            "the mask has no known pixels: there is nothing to fit",
        ));
    }
    Ok(())
}

/// The inpainting problem for an image and its mask (both padded by reflection,
/// [`Framing`]; a number is the multiple to pad to); `clean`, if known, is used to report PSNR.
pub fn problem(
    image: &Image,
    mask: &Image,
    clean: Option<&Image>,
    framing: impl Into<Framing>,
    device: &Device,
) -> Result<Problem> {
    check_min_size(image, 1, "the image")?;
    check_mask(image, mask)?;
    check_clean(clean, image.channels, image.height, image.width)?;
    let framing = framing.into();
    let (padded, crop) = framing.apply(image)?;
    let (padded_mask, _) = framing.apply(mask)?;
    let observed = apply_mask(&padded, &padded_mask)?;
    Ok(Problem {
        observed: upload(&observed, device)?,
        degradation: Degradation::Mask(upload(&padded_mask, device)?),
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
    fn bernoulli_mask_removes_the_asked_fraction() {
        let m = bernoulli_mask(100, 100, 0.5, &mut Rng::new(1));
        let known = m.data.iter().sum::<f32>() / m.data.len() as f32;
        assert!((known - 0.5).abs() < 0.02, "{known}");
    }

    #[test]
    fn a_mask_of_another_size_is_refused() {
        let img = Image::filled(3, 64, 64, 0.5);
        let mask = Image::filled(1, 32, 64, 1.0);
        let err = problem(&img, &mask, None, 32, &Device::Cpu)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("the mask is 64×32 but the image is 64×64"),
            "{err}"
        );
    }

    #[test]
    fn holes_of_a_masked_image_are_its_zeros() {
        let img = Image::new(1, 1, 4, vec![0.0, 0.2, 0.0, 1.0]).unwrap();
        assert_eq!(mask_of_masked_image(&img).data, vec![0.0, 1.0, 0.0, 1.0]);
    }
}
