//! Batch normalisation in training mode, optionally followed by LeakyReLU.
//!
//! The reference never switches its nets to evaluation mode: with a batch of
//! one image, the statistics are the mean and (biased) variance of each channel
//! over the H × W pixels of the current forward pass, also for the final output.

use std::mem::MaybeUninit;
use std::sync::Mutex;

use candle_core::{bail, CpuStorage, CustomOp3, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::cpu_util::{
    cpu_f32, lanes_total, simd_fn, sum, with_f32, write_new, SendPtr, BLOCK, LANES,
};
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
    kernels: Kernels,
) -> Result<Tensor> {
    let f32s = [x, gamma, beta].iter().all(|t| t.dtype() == DType::F32);
    if kernels.use_cpu_kernels(x.device()) && f32s {
        batch_norm_fast(x, gamma, beta, slope)
    } else {
        batch_norm_candle(x, gamma, beta, slope)
    }
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

// ---------------------------------------------------------------------------
// The CPU kernel
// ---------------------------------------------------------------------------

// ANCHOR: bn_math
// Per channel, over the `M = N·H·W` values `x_i` of the batch:
//
//     μ = Σ x_i / M,   σ² = Σ (x_i − μ)² / M,   r = 1 / √(σ² + ε),
//     x̂_i = (x_i − μ)·r,   u_i = γ·x̂_i + β,   y_i = act(u_i),
//
// with `act(u) = u` for `u > 0` and `slope·u` elsewhere (or the identity). With
// `g_i = ∂L/∂u_i = ∂L/∂y_i · act′(u_i)`, the backward pass is
//
//     ∂L/∂β = Σ g_i,   ∂L/∂γ = Σ g_i·x̂_i,
//     ∂L/∂x_i = γ·r·(g_i − (Σ g_j)/M − x̂_i·(Σ g_j·x̂_j)/M),
//
// the last line being the chain rule through μ and σ² as well as through x_i.
// Each channel is one task (they run in parallel); the forward pass keeps μ and
// r for the backward pass, which recomputes `u_i` and `x̂_i` from `x_i` instead
// of storing them. Nothing of the size of `x` is allocated but the results.
// ANCHOR_END: bn_math

/// Batch norm (+ LeakyReLU) as a candle op with its own backward pass; its
/// arguments are `(x, gamma, beta)`.
struct BatchNormOp {
    slope: Option<f32>,
    /// `(μ, r)` of each channel, saved by the forward pass.
    stats: Mutex<Vec<(f32, f32)>>,
}

/// The values of channel `c` of image `img` in `[N, C, H·W]` data.
fn channel(data: &[f32], c: usize, channels: usize, hw: usize, img: usize) -> &[f32] {
    &data[(img * channels + c) * hw..][..hw]
}

/// `(μ, 1/√(σ² + ε))` of one channel, the variance by a second pass (accurate).
fn channel_stats(x: &[f32], c: usize, (n, ch, hw): (usize, usize, usize)) -> (f32, f32) {
    let m = (n * hw) as f64;
    let planes = || (0..n).map(|img| channel(x, c, ch, hw, img));
    let mean = (planes().map(sum).sum::<f64>() / m) as f32;
    let var = planes().map(|v| squared_deviations(v, mean)).sum::<f64>() / m;
    (mean, (1.0 / (var + EPS).sqrt()) as f32)
}

simd_fn! {
    /// `Σ (x − μ)²`, summed as [`sum`] does.
    fn squared_deviations(x: &[f32], mean: f32) -> f64 {
        let mut total = 0f64;
        for block in x.chunks(BLOCK) {
            let mut acc = [0f32; LANES];
            let chunks = block.chunks_exact(LANES);
            let rest = chunks.remainder();
            for c in chunks {
                for (a, v) in acc.iter_mut().zip(c) {
                    *a += (v - mean) * (v - mean);
                }
            }
            total += lanes_total(&acc)
                + rest.iter().map(|&v| ((v - mean) * (v - mean)) as f64).sum::<f64>();
        }
        total
    }
}

/// LeakyReLU with `slope` (1: the identity) and its derivative, without branches.
#[inline(always)]
fn act(u: f32, slope: f32) -> f32 {
    if u > 0.0 {
        u
    } else {
        u * slope
    }
}

#[inline(always)]
fn act_grad(u: f32, slope: f32) -> f32 {
    if u > 0.0 {
        1.0
    } else {
        slope
    }
}

simd_fn! {
    /// `y = act(x·scale + shift)` over one plane.
    fn plane_forward(x: &[f32], y: &mut [MaybeUninit<f32>], scale: f32, shift: f32, slope: f32) {
        for (d, &v) in y.iter_mut().zip(x) {
            d.write(act(v * scale + shift, slope));
        }
    }
}

simd_fn! {
    /// `(Σ g, Σ g·x̂)` over one plane, `g = dy·act′(x·scale + shift)`, `x̂ = (x − μ)·r`.
    fn plane_grad_sums(
        x: &[f32],
        dy: &[f32],
        scale: f32,
        shift: f32,
        slope: f32,
        mean: f32,
        r: f32,
    ) -> (f64, f64) {
        let (mut total_g, mut total_gx) = (0f64, 0f64);
        for (xb, db) in x.chunks(BLOCK).zip(dy.chunks(BLOCK)) {
            let (mut acc_g, mut acc_gx) = ([0f32; LANES], [0f32; LANES]);
            let (xc, dc) = (xb.chunks_exact(LANES), db.chunks_exact(LANES));
            let (xr, dr) = (xc.remainder(), dc.remainder());
            for (xl, dl) in xc.zip(dc) {
                for l in 0..LANES {
                    let g = dl[l] * act_grad(xl[l] * scale + shift, slope);
                    acc_g[l] += g;
                    acc_gx[l] += g * ((xl[l] - mean) * r);
                }
            }
            let (mut block_g, mut block_gx) = (lanes_total(&acc_g), lanes_total(&acc_gx));
            for (&xv, &dv) in xr.iter().zip(dr) {
                let g = dv * act_grad(xv * scale + shift, slope);
                block_g += g as f64;
                block_gx += (g * ((xv - mean) * r)) as f64;
            }
            total_g += block_g;
            total_gx += block_gx;
        }
        (total_g, total_gx)
    }
}

simd_fn! {
    /// `dx = k·(g − mean_g − x̂·mean_gx)` over one plane.
    fn plane_input_grad(
        x: &[f32],
        dy: &[f32],
        dx: &mut [MaybeUninit<f32>],
        scale: f32,
        shift: f32,
        slope: f32,
        mean: f32,
        r: f32,
        k: f32,
        mean_g: f32,
        mean_gx: f32,
    ) {
        for ((d, &xv), &dv) in dx.iter_mut().zip(x).zip(dy) {
            let g = dv * act_grad(xv * scale + shift, slope);
            d.write(k * (g - mean_g - (xv - mean) * r * mean_gx));
        }
    }
}

fn dims3(dims: &[usize]) -> Result<(usize, usize, usize)> {
    match dims {
        [n, c, rest @ ..] if !rest.is_empty() => Ok((*n, *c, rest.iter().product())),
        _ => bail!("batch_norm: expected an input [N, C, H, W], got {dims:?}"),
    }
}

// ANCHOR: bn_forward
fn bn_forward(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    slope: Option<f32>,
    (n, ch, hw): (usize, usize, usize),
) -> (Vec<f32>, Vec<(f32, f32)>) {
    let slope = slope.unwrap_or(1.0);
    // SAFETY: the channels together write every element of `y`.
    unsafe {
        write_new(x.len(), |out| {
            (0..ch)
                .into_par_iter()
                .map(|c| {
                    let (mean, r) = channel_stats(x, c, (n, ch, hw));
                    // u = γ·(x − μ)·r + β = x·scale + shift
                    let scale = gamma[c] * r;
                    let shift = beta[c] - mean * scale;
                    for img in 0..n {
                        // SAFETY: each task writes its own channel.
                        let dst = std::slice::from_raw_parts_mut(
                            out.get()
                                .add((img * ch + c) * hw)
                                .cast::<MaybeUninit<f32>>(),
                            hw,
                        );
                        plane_forward(channel(x, c, ch, hw, img), dst, scale, shift, slope);
                    }
                    (mean, r)
                })
                .collect()
        })
    }
}
// ANCHOR_END: bn_forward

/// The gradients of one batch norm: `(dx, dγ, dβ)`.
type BnGrads = (Option<Vec<f32>>, Vec<f32>, Vec<f32>);

// ANCHOR: bn_backward
#[allow(clippy::too_many_arguments)]
fn bn_backward(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    dy: &[f32],
    stats: &[(f32, f32)],
    slope: Option<f32>,
    (n, ch, hw): (usize, usize, usize),
    need_dx: bool,
) -> BnGrads {
    let slope = slope.unwrap_or(1.0);
    let m = (n * hw) as f64;
    // Written in full below when asked for (every channel of every image).
    let mut dx = need_dx.then(|| Vec::<f32>::with_capacity(x.len()));
    let out = dx.as_mut().map(|d| SendPtr(d.as_mut_ptr()));
    let (dgamma, dbeta): (Vec<f32>, Vec<f32>) = (0..ch)
        .into_par_iter()
        .map(|c| {
            let (mean, r) = stats[c];
            let scale = gamma[c] * r;
            let shift = beta[c] - mean * scale;
            // Σ g and Σ g·x̂, with g = dy·act′(u).
            let (mut sum_g, mut sum_gx) = (0f64, 0f64);
            for img in 0..n {
                let (xv, dv) = (channel(x, c, ch, hw, img), channel(dy, c, ch, hw, img));
                let (g, gx) = plane_grad_sums(xv, dv, scale, shift, slope, mean, r);
                sum_g += g;
                sum_gx += gx;
            }
            if let Some(out) = out {
                let (mean_g, mean_gx) = ((sum_g / m) as f32, (sum_gx / m) as f32);
                for img in 0..n {
                    let (xv, dv) = (channel(x, c, ch, hw, img), channel(dy, c, ch, hw, img));
                    // SAFETY: each task writes its own channel.
                    let dst = unsafe {
                        std::slice::from_raw_parts_mut(
                            out.get()
                                .add((img * ch + c) * hw)
                                .cast::<MaybeUninit<f32>>(),
                            hw,
                        )
                    };
                    let k = scale;
                    plane_input_grad(
                        xv, dv, dst, scale, shift, slope, mean, r, k, mean_g, mean_gx,
                    );
                }
            }
            (sum_gx as f32, sum_g as f32)
        })
        .unzip();
    if let Some(d) = dx.as_mut() {
        // SAFETY: every channel of every image was written above.
        unsafe { d.set_len(x.len()) }
    }
    (dx, dgamma, dbeta)
}
// ANCHOR_END: bn_backward

impl CustomOp3 for BatchNormOp {
    fn name(&self) -> &'static str {
        "dip-batch-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let dims = dims3(l1.dims())?;
        if l2.dims() != [dims.1] || l3.dims() != [dims.1] {
            bail!(
                "batch_norm: gamma {:?} and beta {:?} for {} channels",
                l2.dims(),
                l3.dims(),
                dims.1
            )
        }
        let x = cpu_f32(s1, l1, "batch_norm input")?;
        let gamma = cpu_f32(s2, l2, "batch_norm gamma")?;
        let beta = cpu_f32(s3, l3, "batch_norm beta")?;
        let (y, stats) = bn_forward(x, gamma, beta, self.slope, dims);
        *self.stats.lock().unwrap_or_else(|e| e.into_inner()) = stats;
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        beta: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let dims = dims3(x.dims())?;
        let stats = self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let (dx, dgamma, dbeta) = with_f32(x, "batch_norm input", |xv| {
            let stats = if stats.len() == dims.1 {
                stats
            } else {
                (0..dims.1).map(|c| channel_stats(xv, c, dims)).collect()
            };
            with_f32(gamma, "batch_norm gamma", |gv| {
                with_f32(beta, "batch_norm beta", |bv| {
                    with_f32(grad, "batch_norm gradient", |dy| {
                        Ok(bn_backward(
                            xv,
                            gv,
                            bv,
                            dy,
                            &stats,
                            self.slope,
                            dims,
                            x.track_op(),
                        ))
                    })
                })
            })
        })?;
        let dev = x.device();
        let dx = dx
            .map(|v| Tensor::from_vec(v, x.shape(), dev))
            .transpose()?;
        let dgamma = Tensor::from_vec(dgamma, gamma.shape(), dev)?;
        let dbeta = Tensor::from_vec(dbeta, beta.shape(), dev)?;
        Ok((
            dx,
            gamma.track_op().then_some(dgamma),
            beta.track_op().then_some(dbeta),
        ))
    }
}

/// Batch norm (+ LeakyReLU) by our CPU kernel (`f32` tensors on the CPU).
pub fn batch_norm_fast(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    slope: Option<f64>,
) -> Result<Tensor> {
    let op = BatchNormOp {
        slope: slope.map(|s| s as f32),
        stats: Mutex::new(Vec::new()),
    };
    x.contiguous()?
        .apply_op3(&gamma.contiguous()?, &beta.contiguous()?, op)
}
