//! Image quality metrics: PSNR as the reference computes it, its
//! super-resolution variant (Y channel, shaved border) and SSIM.
//!
//! All three compare a `test` image (a restoration) with a `reference` image
//! (the ground truth), both [`Image`]s with values in `[0, 1]`; the data range
//! (the largest possible pixel value) is therefore 1, which is 255 on 8-bit images.
//!
//! - [`mse`]: the mean squared error `(1/N) Σ (x_i − y_i)²` over all `N` values.
//! - [`psnr`]: the peak signal-to-noise ratio `10·log10(1 / MSE)` in dB, over all
//!   pixels and channels, `test` clipped to `[0, 1]` first. This is what the
//!   paper reports for denoising and inpainting (the reference code's
//!   `compare_psnr` of scikit-image on float images).
//! - [`psnr_y`]: PSNR on the luma channel Y of ITU-R BT.601 "studio swing"
//!   YCbCr with a border shaved off, the convention of the super-resolution
//!   literature (MATLAB's `rgb2ycbcr`), which the paper follows for its SR tables;
//!   [`psnr_sr`] is the paper's whole SR protocol.
//! - [`ssim`]: the structural similarity index of Wang, Bovik, Sheikh and
//!   Simoncelli, "Image quality assessment: from error visibility to structural
//!   similarity", IEEE TIP 13(4), 2004, with its standard settings.
//!
//! Every function fails, with a message naming both sizes, when the images do
//! not have the same size.

use crate::error::{DipError, Result};
use crate::image_io::Image;

/// Mean squared error between two images of the same size: `(1/N) Σ (a_i − b_i)²`
/// over all `N = C·H·W` values. No clipping.
pub fn mse(a: &Image, b: &Image) -> Result<f64> {
    same_size(a, b)?;
    let sum: f64 = a
        .data
        .iter()
        .zip(&b.data)
        .map(|(&x, &y)| {
            let d = x as f64 - y as f64;
            d * d
        })
        .sum();
    Ok(sum / a.data.len() as f64)
}

/// PSNR in dB for a mean squared error of images in `[0, 1]` (peak value 1):
/// `10·log10(1 / mse)`. An `mse` of 0 (identical images) gives `+∞`.
pub fn psnr_from_mse(mse: f64) -> f64 {
    10.0 * (1.0 / mse).log10()
}

/// PSNR in dB of `test` against `reference`: `10·log10(1 / MSE)` over all pixels and
/// channels, both in `[0, 1]`, `test` clipped to `[0, 1]` first (the reference's `compare_psnr`).
///
/// Identical images give `f64::INFINITY` (the MSE is 0), as in scikit-image.
pub fn psnr(reference: &Image, test: &Image) -> Result<f64> {
    Ok(psnr_from_mse(mse(reference, &test.clipped())?))
}

/// The weights of R, G and B in the luma Y of ITU-R BT.601.
pub const LUMA_WEIGHTS: [f32; 3] = [0.299, 0.587, 0.114];

/// The Y (luma) channel of BT.601 "studio swing" YCbCr, for an image in `[0, 1]`:
///
/// `Y = (0.299·R + 0.587·G + 0.114·B) · 219/255 + 16/255`,
///
/// so that Y covers `[16/255, 235/255]`: on 8-bit values this is MATLAB's
/// `rgb2ycbcr`, `Y = 16 + (65.481·R + 128.553·G + 24.966·B)` with `R, G, B` in
/// `[0, 1]` (65.481 = 0.299·219, and so on).
///
/// A grey (1-channel) image is treated as `R = G = B`, so its Y is `v·219/255 + 16/255`
/// (the three weights sum to 1). Other channel counts are an error.
///
/// Unlike MATLAB's `rgb2ycbcr` on `uint8` images, the result is *not* rounded
/// to an integer number of 255ths: see [`psnr_y`] for why.
pub fn y_channel(image: &Image) -> Result<Image> {
    const SCALE: f32 = 219.0 / 255.0;
    const OFFSET: f32 = 16.0 / 255.0;
    let plane = image.height * image.width;
    let data: Vec<f32> = match image.channels {
        1 => image.data.iter().map(|&v| v * SCALE + OFFSET).collect(),
        3 => {
            let (r, g, b) = (
                &image.data[..plane],
                &image.data[plane..2 * plane],
                &image.data[2 * plane..],
            );
            let [wr, wg, wb] = LUMA_WEIGHTS;
            (0..plane)
                .map(|i| (wr * r[i] + wg * g[i] + wb * b[i]) * SCALE + OFFSET)
                .collect()
        }
        c => {
            return Err(DipError::invalid(format!(
                "the Y channel needs a grey or RGB image, got {c} channels"
            )))
        }
    };
    Image::new(1, image.height, image.width, data)
}

/// The image without a border of `border` pixels on each of its four sides.
pub fn shave(image: &Image, border: usize) -> Result<Image> {
    if 2 * border >= image.height || 2 * border >= image.width {
        return Err(DipError::invalid(format!(
            "cannot shave {border} pixels off each side of a {}×{} image",
            image.height, image.width
        )));
    }
    image.crop(
        border,
        border,
        image.height - 2 * border,
        image.width - 2 * border,
    )
}

/// PSNR in dB on the Y channel with a border of `shave` pixels removed on each side:
/// the super-resolution convention.
///
/// 1. `test` is clipped to `[0, 1]`;
/// 2. both images are converted to Y by [`y_channel`] (a grey image counts as
///    `R = G = B`, so a grey ground truth can be compared with an RGB result);
/// 3. `shave` pixels are cut from each side of both, because the borders of an
///    upsampled image cannot be reconstructed well by any method;
/// 4. PSNR as in [`psnr`], peak value 1 (255 on 8 bits), *not* the 219 of Y's range.
///
/// Choices, and why. The SR community's evaluation scripts (those of Set5/Set14
/// results, e.g. LapSRN's) call MATLAB's `rgb2ycbcr` on 8-bit images, which
/// rounds Y to whole 255ths. Here Y is kept as a float. On the authors' Set5 ×4
/// outputs the rounded variant gives 0.004–0.021 dB less than the float one, and the
/// float one is the closer to the paper (largest difference 0.041 dB against 0.045 dB):
/// see `tests/metrics.rs`. The images are only required to have the same height
/// and width; their channel counts may differ (1 or 3).
pub fn psnr_y(reference: &Image, test: &Image, shave: usize) -> Result<f64> {
    psnr_y_trimmed(reference, test, Trim::even(shave))
}

/// The border, in pixels, that the paper's SR evaluation leaves out on the top
/// and left; one more is left out on the bottom and right ([`PAPER_SR_TRIM`]).
pub const SR_SHAVE: usize = 4;

/// A border to cut off: `(top, left, bottom, right)` pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Trim {
    pub top: usize,
    pub left: usize,
    pub bottom: usize,
    pub right: usize,
}

impl Trim {
    /// The same border on every side.
    pub const fn even(b: usize) -> Self {
        Self {
            top: b,
            left: b,
            bottom: b,
            right: b,
        }
    }

    /// `image` without the border.
    pub fn apply(self, image: &Image) -> Result<Image> {
        let (h, w) = (image.height, image.width);
        if self.top + self.bottom >= h || self.left + self.right >= w {
            return Err(DipError::invalid(format!(
                "cannot trim {self:?} off a {h}×{w} image (height × width)"
            )));
        }
        image.crop(
            self.top,
            self.left,
            h - self.top - self.bottom,
            w - self.left - self.right,
        )
    }
}

/// The border the paper's SR numbers leave out. `super-resolution_eval_script.py`
/// ("used to get the numbers in the paper") finds the rows `t2` and columns `t1`
/// where the output is non-zero and scores `[t2[0] + 4 : t2[-1] - 4]`: `t2[-1]` is
/// the last row *inside*, and the slice's end is exclusive, so 4 pixels go on the
/// top and left and 5 on the bottom and right.
pub const PAPER_SR_TRIM: Trim = Trim {
    top: SR_SHAVE,
    left: SR_SHAVE,
    bottom: SR_SHAVE + 1,
    right: SR_SHAVE + 1,
};

/// PSNR of the Y channel ([`y_channel`]) with `trim` cut off both images; `test`
/// is clipped to `[0, 1]` first.
pub fn psnr_y_trimmed(reference: &Image, test: &Image, trim: Trim) -> Result<f64> {
    if (reference.height, reference.width) != (test.height, test.width) {
        return Err(DipError::invalid(format!(
            "images differ in size: {}×{} and {}×{} (height × width)",
            reference.height, reference.width, test.height, test.width
        )));
    }
    let reference = trim.apply(&y_channel(reference)?)?;
    let test = trim.apply(&y_channel(&test.clipped())?)?;
    psnr(&reference, &test)
}

/// The side multiple of the region that the reference's SR code restores.
pub const SR_CROP_MULTIPLE: usize = 32;

/// The paper's super-resolution PSNR.
///
/// `ground_truth` is the high-resolution image (Set5/Set14 cropped top-left to a
/// multiple of the scale factor). The reference code super-resolves only its
/// centre crop whose sides are multiples of 32 ([`Image::crop_to_multiple`]);
/// `output` is the restoration of that crop and must have its size. The PSNR is
/// [`psnr_y_trimmed`] on that crop with the evaluation script's [`PAPER_SR_TRIM`].
///
/// This protocol gives the paper's per-image Set5 ×4 values from the authors'
/// own output images at two decimals (`tests/metrics.rs`). The authors'
/// published images are the output pasted into a zero canvas of the full size:
/// crop them with `crop_to_multiple(32)` first, or use [`psnr_paper_sr_canvas`].
pub fn psnr_sr(ground_truth: &Image, output: &Image) -> Result<f64> {
    let region = ground_truth.crop_to_multiple(SR_CROP_MULTIPLE)?;
    if (region.height, region.width) != (output.height, output.width) {
        return Err(DipError::invalid(format!(
            "the SR output is {}×{}, but the centre crop (multiple of {SR_CROP_MULTIPLE}) \
             of the {}×{} ground truth is {}×{}",
            output.height,
            output.width,
            ground_truth.height,
            ground_truth.width,
            region.height,
            region.width
        )));
    }
    psnr_y_trimmed(&region, output, PAPER_SR_TRIM)
}

/// The evaluation script itself, on a full-size output canvas (the authors'
/// published `*_deep_prior.png`): the region is where the output's channels sum
/// to more than zero, minus [`PAPER_SR_TRIM`]; the PSNR of the Y channel there.
/// `ground_truth` and `canvas` must have the same size.
pub fn psnr_paper_sr_canvas(ground_truth: &Image, canvas: &Image) -> Result<f64> {
    if (ground_truth.height, ground_truth.width) != (canvas.height, canvas.width) {
        return Err(DipError::invalid(format!(
            "images differ in size: {}×{} and {}×{} (height × width)",
            ground_truth.height, ground_truth.width, canvas.height, canvas.width
        )));
    }
    let plane = canvas.height * canvas.width;
    let channels = canvas.channels.min(3);
    let lit = |y: usize, x: usize| {
        (0..channels).any(|c| canvas.data[c * plane + y * canvas.width + x] > 0.0)
    };
    let rows: Vec<usize> = (0..canvas.height)
        .filter(|&y| (0..canvas.width).any(|x| lit(y, x)))
        .collect();
    let cols: Vec<usize> = (0..canvas.width)
        .filter(|&x| (0..canvas.height).any(|y| lit(y, x)))
        .collect();
    let (Some(&r0), Some(&r1), Some(&c0), Some(&c1)) =
        (rows.first(), rows.last(), cols.first(), cols.last())
    else {
        return Err(DipError::invalid(
            "the output is black everywhere: no region to score",
        ));
    };
    let region = |i: &Image| i.crop(r0, c0, r1 - r0 + 1, c1 - c0 + 1);
    let reference = PAPER_SR_TRIM.apply(&y_channel(&region(ground_truth)?)?)?;
    let test = PAPER_SR_TRIM.apply(&y_channel(&region(canvas)?)?)?;
    psnr(&reference, &test)
}

/// The data range `L` of every metric here: images are in `[0, 1]`.
pub const DATA_RANGE: f64 = 1.0;

/// Side of the SSIM window, in pixels.
pub const SSIM_WINDOW: usize = 11;
/// Standard deviation of the SSIM Gaussian window, in pixels.
pub const SSIM_SIGMA: f64 = 1.5;
/// SSIM stabilising constant of the luminance term: `C1 = (K1·L)²`.
pub const SSIM_K1: f64 = 0.01;
/// SSIM stabilising constant of the contrast-structure term: `C2 = (K2·L)²`.
pub const SSIM_K2: f64 = 0.03;

/// The structural similarity index (SSIM) of `test` against `reference`, with the
/// settings of Wang et al. (2004): an 11×11 circular-symmetric Gaussian window of
/// standard deviation 1.5, `K1 = 0.01`, `K2 = 0.03`, data range `L = 1`.
///
/// At every position where the window fits inside the image, with `μ`, `σ²` and
/// `σ_xy` the window-weighted means, variances and covariance of the two images
/// (weights summing to 1, no "sample" correction):
///
/// `SSIM(x, y) = ((2·μx·μy + C1)·(2·σxy + C2)) / ((μx² + μy² + C1)·(σx² + σy² + C2))`,
///
/// with `C1 = (K1·L)²` and `C2 = (K2·L)²`. The result is the mean over those
/// positions (Wang et al.'s MSSIM), then over channels. It is 1 for identical
/// images and at most 1 otherwise. `test` is clipped to `[0, 1]` first, as in [`psnr`].
/// This equals scikit-image's `structural_similarity(.., gaussian_weights=True,
/// sigma=1.5, use_sample_covariance=False, data_range=1)`. Images smaller than
/// 11 pixels on a side are an error.
pub fn ssim(reference: &Image, test: &Image) -> Result<f64> {
    same_size(reference, test)?;
    if reference.height < SSIM_WINDOW || reference.width < SSIM_WINDOW {
        return Err(DipError::invalid(format!(
            "SSIM needs images of at least {SSIM_WINDOW}×{SSIM_WINDOW} pixels, got {}×{}",
            reference.height, reference.width
        )));
    }
    let test = test.clipped();
    let plane = reference.height * reference.width;
    let total: f64 = (0..reference.channels)
        .map(|c| {
            let x = &reference.data[c * plane..(c + 1) * plane];
            let y = &test.data[c * plane..(c + 1) * plane];
            ssim_plane(x, y, reference.height, reference.width)
        })
        .sum();
    Ok(total / reference.channels as f64)
}

/// The mean SSIM of one channel (`height × width` values, row-major).
fn ssim_plane(x: &[f32], y: &[f32], height: usize, width: usize) -> f64 {
    let c1 = (SSIM_K1 * DATA_RANGE).powi(2);
    let c2 = (SSIM_K2 * DATA_RANGE).powi(2);
    let window = gaussian_window(SSIM_WINDOW, SSIM_SIGMA);
    let x: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let y: Vec<f64> = y.iter().map(|&v| v as f64).collect();
    let product =
        |a: &[f64], b: &[f64]| -> Vec<f64> { a.iter().zip(b).map(|(p, q)| p * q).collect() };

    // Window-weighted local moments at every valid position.
    let mean_x = filter_valid(&x, height, width, &window);
    let mean_y = filter_valid(&y, height, width, &window);
    let mean_xx = filter_valid(&product(&x, &x), height, width, &window);
    let mean_yy = filter_valid(&product(&y, &y), height, width, &window);
    let mean_xy = filter_valid(&product(&x, &y), height, width, &window);

    let positions = mean_x.len();
    let total: f64 = (0..positions)
        .map(|i| {
            let (mx, my) = (mean_x[i], mean_y[i]);
            let var_x = mean_xx[i] - mx * mx;
            let var_y = mean_yy[i] - my * my;
            let cov_xy = mean_xy[i] - mx * my;
            ((2.0 * mx * my + c1) * (2.0 * cov_xy + c2))
                / ((mx * mx + my * my + c1) * (var_x + var_y + c2))
        })
        .sum();
    total / positions as f64
}

/// A 1-D Gaussian of `size` taps (odd) and standard deviation `sigma`, normalised to sum 1.
/// The 2-D window is the outer product of two of these (MATLAB's `fspecial('gaussian', 11, 1.5)`).
fn gaussian_window(size: usize, sigma: f64) -> Vec<f64> {
    let centre = (size / 2) as f64;
    let weights: Vec<f64> = (0..size)
        .map(|i| (-(i as f64 - centre).powi(2) / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f64 = weights.iter().sum();
    weights.iter().map(|w| w / sum).collect()
}

/// Correlate a `height × width` plane with the separable window `w ⊗ w`, keeping only
/// the positions where the window lies entirely inside the plane ("valid"):
/// the result is `(height − k + 1) × (width − k + 1)` for `k` taps.
fn filter_valid(plane: &[f64], height: usize, width: usize, w: &[f64]) -> Vec<f64> {
    let k = w.len();
    let (out_h, out_w) = (height - k + 1, width - k + 1);
    // Along the rows...
    let mut rows = vec![0.0; height * out_w];
    for r in 0..height {
        for c in 0..out_w {
            let src = &plane[r * width + c..r * width + c + k];
            rows[r * out_w + c] = src.iter().zip(w).map(|(v, t)| v * t).sum();
        }
    }
    // ...then along the columns.
    let mut out = vec![0.0; out_h * out_w];
    for r in 0..out_h {
        for c in 0..out_w {
            out[r * out_w + c] = (0..k).map(|i| rows[(r + i) * out_w + c] * w[i]).sum();
        }
    }
    out
}

/// Fail unless the two images have the same channels, height and width.
fn same_size(a: &Image, b: &Image) -> Result<()> {
    if (a.channels, a.height, a.width) != (b.channels, b.height, b.width) {
        return Err(DipError::invalid(format!(
            "images differ in size: {}×{}×{} and {}×{}×{} (channels × height × width)",
            a.channels, a.height, a.width, b.channels, b.height, b.width
        )));
    }
    Ok(())
}
