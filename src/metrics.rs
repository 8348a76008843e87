//! Image quality metrics: PSNR as the reference computes it, its
//! super-resolution variant (Y channel, shaved border) and SSIM.

use crate::error::{DipError, Result};
use crate::image_io::Image;

/// PSNR in dB of `test` against `reference`: `10·log10(1 / MSE)` over all pixels and
/// channels, both in `[0, 1]`, `test` clipped to `[0, 1]` first (the reference's `compare_psnr`).
pub fn psnr(reference: &Image, test: &Image) -> Result<f64> {
    same_size(reference, test)?;
    let mse = reference
        .data
        .iter()
        .zip(&test.data)
        .map(|(&a, &b)| {
            let d = a as f64 - b.clamp(0.0, 1.0) as f64;
            d * d
        })
        .sum::<f64>()
        / reference.data.len() as f64;
    Ok(10.0 * (1.0 / mse).log10())
}

fn same_size(a: &Image, b: &Image) -> Result<()> {
    if (a.channels, a.height, a.width) != (b.channels, b.height, b.width) {
        return Err(DipError::invalid(format!(
            "images differ in size: {}×{}×{} and {}×{}×{}",
            a.channels, a.height, a.width, b.channels, b.height, b.width
        )));
    }
    Ok(())
}

/// PSNR of the luma channel with a `shave`-pixel border removed (super-resolution).
pub fn psnr_y(reference: &Image, test: &Image, shave: usize) -> Result<f64> {
    same_size(reference, test)?;
    let luma = |img: &Image| -> Image {
        let g = img.clipped().to_grey();
        Image {
            data: g
                .data
                .iter()
                .map(|v| v * 219.0 / 255.0 + 16.0 / 255.0)
                .collect(),
            ..g
        }
    };
    let (h, w) = (reference.height, reference.width);
    if h <= 2 * shave || w <= 2 * shave {
        return Err(DipError::invalid(format!(
            "image {w}×{h} is too small to shave {shave} pixels"
        )));
    }
    let a = luma(reference).crop(shave, shave, h - 2 * shave, w - 2 * shave)?;
    let b = luma(test).crop(shave, shave, h - 2 * shave, w - 2 * shave)?;
    psnr(&a, &b)
}
