//! How noisy is a photo: an estimate of the noise's standard deviation σ from the
//! noisy image alone (Immerkær, "Fast Noise Variance Estimation", CVIU 1996).
//!
//! The mask `N = [1 −2 1; −2 4 −2; 1 −2 1]` is the difference of two Laplacians: it
//! cancels every plane and most smooth structure, and leaves white noise of variance
//! σ² with variance `36σ²` (the sum of its squared weights). For Gaussian noise
//! `E|n| = σ·√(2/π)`, so averaging `|I ∗ N|` over the `(H−2)(W−2)` interior pixels,
//!
//! `σ̂ = √(π/2) · Σ|I ∗ N| / (6 (W−2)(H−2))`.
//!
//! Edges and texture leak through the mask and raise the estimate a little; the
//! stopping rule ([`crate::stopping`]) uses σ̂² only as the level the fit's loss has
//! to reach before a minimum of the outputs' variance counts.

use crate::error::{DipError, Result};
use crate::image_io::Image;

/// The estimated σ of additive white noise in `image` (values on the 0–1 scale),
/// the root of the mean of the channels' variances. Needs at least 3 × 3 pixels.
pub fn estimate_sigma(image: &Image) -> Result<f64> {
    let (h, w) = (image.height, image.width);
    if h < 3 || w < 3 {
        return Err(DipError::invalid(format!(
            "the noise level needs an image of at least 3 × 3 pixels, got {w} × {h}"
        )));
    }
    let plane = h * w;
    let variance: f64 = image
        .data
        .chunks(plane)
        .map(|p| channel_sigma(p, h, w).powi(2))
        .sum::<f64>()
        / image.channels as f64;
    Ok(variance.sqrt())
}

/// Immerkær's σ̂ of one `h × w` plane.
fn channel_sigma(p: &[f32], h: usize, w: usize) -> f64 {
    let at = |y: usize, x: usize| p[y * w + x] as f64;
    let mut sum = 0.0;
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let corners = at(y - 1, x - 1) + at(y - 1, x + 1) + at(y + 1, x - 1) + at(y + 1, x + 1);
            let sides = at(y - 1, x) + at(y + 1, x) + at(y, x - 1) + at(y, x + 1);
            sum += (corners - 2.0 * sides + 4.0 * at(y, x)).abs();
        }
    }
    (std::f64::consts::PI / 2.0).sqrt() * sum / (6.0 * ((w - 2) * (h - 2)) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// A smooth colour image: a ramp and a slow wave, no noise.
    fn smooth(side: usize) -> Image {
        let data = (0..3 * side * side)
            .map(|i| {
                let (c, y, x) = (i / (side * side), (i / side) % side, i % side);
                0.2 + 0.1 * c as f32 + 0.3 * x as f32 / side as f32 + 0.1 * (y as f32 / 9.0).sin()
            })
            .collect();
        Image::new(3, side, side, data).unwrap()
    }

    #[test]
    fn a_smooth_image_has_almost_no_noise() {
        let s = estimate_sigma(&smooth(64)).unwrap();
        assert!(s < 0.2 / 255.0, "σ̂ = {}", s * 255.0);
    }

    #[test]
    fn gaussian_noise_of_each_level_is_estimated_within_five_percent() {
        for level in [5.0f32, 15.0, 25.0, 50.0] {
            let mut img = smooth(128);
            let noise = Rng::new(7).normal(img.data.len(), level / 255.0);
            for (v, n) in img.data.iter_mut().zip(noise) {
                *v += n;
            }
            let s = estimate_sigma(&img).unwrap() * 255.0;
            assert!(
                (s / level as f64 - 1.0).abs() < 0.05,
                "σ = {level}: σ̂ = {s:.2}"
            );
        }
    }

    #[test]
    fn a_too_small_image_is_a_one_line_error() {
        let tiny = Image::new(1, 2, 5, vec![0.0; 10]).unwrap();
        let e = estimate_sigma(&tiny).unwrap_err().to_string();
        assert!(e.contains("3 × 3") && !e.contains('\n'), "{e}");
    }
}
