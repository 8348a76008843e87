//! Reflection padding, as PyTorch's `ReflectionPad2d`: the border is mirrored
//! without repeating the edge pixel (`[a b c d]` padded by 2 is `[c b a b c d c b]`).
//!
//! The reference pads by reflection before every convolution of its networks
//! ("reflection" padding), so this op runs 2 × 26 times per iteration of the
//! standard net: forward and backward.

use candle_core::{Result, Tensor};

use super::Kernels;

/// The source index of each output position along an axis of length `n` padded by `pad`.
pub fn reflected_indices(n: usize, pad: usize) -> Vec<u32> {
    (0..n + 2 * pad)
        .map(|i| {
            let i = i as isize - pad as isize;
            let n = n as isize;
            let j = if i < 0 {
                -i
            } else if i >= n {
                2 * (n - 1) - i
            } else {
                i
            };
            j as u32
        })
        .collect()
}

/// Reflection-pad the last two dimensions of a `[N, C, H, W]` tensor by `pad` on every side.
pub fn reflection_pad2d(x: &Tensor, pad: usize) -> Result<Tensor> {
    reflection_pad2d_with(x, pad, Kernels::default())
}

/// [`reflection_pad2d`] with an explicit choice of implementation.
pub fn reflection_pad2d_with(x: &Tensor, pad: usize, _kernels: Kernels) -> Result<Tensor> {
    if pad == 0 {
        return Ok(x.clone());
    }
    let (_, _, h, w) = x.dims4()?;
    if pad >= h || pad >= w {
        candle_core::bail!(
            "reflection padding of {pad} needs an input larger than {pad} pixels, got {h}×{w}"
        );
    }
    reflection_pad2d_composed(x, pad)
}

/// Reflection padding from candle's differentiable `index_select` (any device).
pub fn reflection_pad2d_composed(x: &Tensor, pad: usize) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let device = x.device();
    let rows = Tensor::new(reflected_indices(h, pad).as_slice(), device)?;
    let cols = Tensor::new(reflected_indices(w, pad).as_slice(), device)?;
    x.index_select(&rows, 2)?.index_select(&cols, 3)
}
