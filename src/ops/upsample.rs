//! ×2 upsampling of the decoder: bilinear (PyTorch's `align_corners = false`) and nearest.
//!
//! With `align_corners = false` output pixel `o` samples the input at
//! `(o + 0.5) / 2 - 0.5`, so along each axis
//! `out[2i] = ¼·x[i-1] + ¾·x[i]` and `out[2i+1] = ¾·x[i] + ¼·x[i+1]`,
//! with the neighbour index clamped at the border.

use candle_core::{Result, Tensor};

use super::Kernels;

/// Bilinear ×2 upsampling of the last two dimensions of `[N, C, H, W]`.
pub fn upsample_bilinear2x(x: &Tensor) -> Result<Tensor> {
    upsample_bilinear2x_with(x, Kernels::default())
}

/// [`upsample_bilinear2x`] with an explicit choice of implementation.
pub fn upsample_bilinear2x_with(x: &Tensor, _kernels: Kernels) -> Result<Tensor> {
    upsample_bilinear2x_composed(x)
}

/// Nearest-neighbour ×2 upsampling of the last two dimensions of `[N, C, H, W]`.
pub fn upsample_nearest2x(x: &Tensor) -> Result<Tensor> {
    upsample_nearest2x_with(x, Kernels::default())
}

/// [`upsample_nearest2x`] with an explicit choice of implementation.
pub fn upsample_nearest2x_with(x: &Tensor, _kernels: Kernels) -> Result<Tensor> {
    upsample_nearest2x_composed(x)
}

/// Bilinear ×2 from candle's differentiable ops (any device): the H axis, then the W axis.
pub fn upsample_bilinear2x_composed(x: &Tensor) -> Result<Tensor> {
    let x = bilinear2x_along(x, 2)?;
    bilinear2x_along(&x, 3)
}

/// Nearest ×2 from candle's differentiable `index_select` (any device).
pub fn upsample_nearest2x_composed(x: &Tensor) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let twice = |n: usize| -> Vec<u32> { (0..2 * n).map(|i| (i / 2) as u32).collect() };
    let rows = Tensor::new(twice(h).as_slice(), x.device())?;
    let cols = Tensor::new(twice(w).as_slice(), x.device())?;
    x.index_select(&rows, 2)?.index_select(&cols, 3)
}

/// Linear ×2 interpolation along one axis (2 or 3) of a 4-d tensor.
fn bilinear2x_along(x: &Tensor, axis: usize) -> Result<Tensor> {
    let n = x.dim(axis)?;
    let prev: Vec<u32> = (0..n).map(|i| i.saturating_sub(1) as u32).collect();
    let next: Vec<u32> = (0..n).map(|i| (i + 1).min(n - 1) as u32).collect();
    let prev = x.index_select(&Tensor::new(prev.as_slice(), x.device())?, axis)?;
    let next = x.index_select(&Tensor::new(next.as_slice(), x.device())?, axis)?;
    let even = ((prev * 0.25)? + (x * 0.75)?)?;
    let odd = ((x * 0.75)? + (next * 0.25)?)?;
    // Interleave: stack behind the axis, then merge the two dimensions.
    let mut dims = x.dims().to_vec();
    dims[axis] *= 2;
    Tensor::stack(&[even, odd], axis + 1)?.reshape(dims)
}
