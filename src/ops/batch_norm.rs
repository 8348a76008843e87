//! Batch normalisation in training mode, optionally followed by LeakyReLU.
//!
//! The reference never switches its nets to evaluation mode: with a batch of
//! one image, the statistics are the mean and (biased) variance of each channel
//! over the H × W pixels of the current forward pass, also for the final output.

use candle_core::{Result, Tensor};

use super::Kernels;

/// PyTorch's default `eps` of `BatchNorm2d`.
pub const EPS: f64 = 1e-5;

/// `γ · (x − μ) / √(σ² + ε) + β`, then LeakyReLU with `slope` if given.
/// `x: [N, C, H, W]`, `gamma`, `beta: [C]`.
pub fn batch_norm(x: &Tensor, gamma: &Tensor, beta: &Tensor, slope: Option<f64>) -> Result<Tensor> {
    batch_norm_with(x, gamma, beta, slope, Kernels::default())
}

/// [`batch_norm`] with an explicit choice of implementation.
pub fn batch_norm_with(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    slope: Option<f64>,
    _kernels: Kernels,
) -> Result<Tensor> {
    batch_norm_candle(x, gamma, beta, slope)
}

/// Batch normalisation composed of candle's ops (any device).
pub fn batch_norm_candle(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    slope: Option<f64>,
) -> Result<Tensor> {
    let c = x.dim(1)?;
    let mean = x.mean_keepdim((0, 2, 3))?;
    let centred = x.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim((0, 2, 3))?;
    let x_hat = centred.broadcast_div(&(var + EPS)?.sqrt()?)?;
    let y = x_hat
        .broadcast_mul(&gamma.reshape((1, c, 1, 1))?)?
        .broadcast_add(&beta.reshape((1, c, 1, 1))?)?;
    match slope {
        Some(s) => leaky_relu(&y, s),
        None => Ok(y),
    }
}

/// LeakyReLU: `x` where positive, `slope · x` elsewhere.
pub fn leaky_relu(x: &Tensor, slope: f64) -> Result<Tensor> {
    // max(x, slope·x) holds for 0 < slope < 1.
    x.maximum(&(x * slope)?)
}
