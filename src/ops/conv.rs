//! 2-d convolution with a bias, as the network uses it (no padding here: the
//! network pads first, by reflection or with zeros).

use candle_core::{Result, Tensor};

use super::Kernels;

/// `x ⋆ weight + bias` with the given stride, no padding.
/// `x: [N, Cin, H, W]`, `weight: [Cout, Cin, k, k]`, `bias: [Cout]`.
pub fn conv2d(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    conv2d_with(x, weight, bias, stride, padding, Kernels::default())
}

/// [`conv2d`] with an explicit choice of implementation.
pub fn conv2d_with(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    stride: usize,
    padding: usize,
    _kernels: Kernels,
) -> Result<Tensor> {
    conv2d_candle(x, weight, bias, stride, padding)
}

/// The convolution by candle's own `conv2d` (any device).
pub fn conv2d_candle(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    let y = x.conv2d(weight, padding, stride, 1, 1)?;
    y.broadcast_add(&bias.reshape((1, bias.dim(0)?, 1, 1))?)
}
