//! Batch normalisation in training mode, optionally followed by LeakyReLU.
//!
//! The reference never switches its nets to evaluation mode: with a batch of
//! one image, the statistics are the mean and (biased) variance of each channel
//! over the H × W pixels of the current forward pass, also for the final output.
//!
//! Alone it is [`batch_norm`]; inside the fused ops (`conv_bn_act`, the merge with its
//! batch norm) it runs in place, and its backward pass reads its output (`InPlace`).

use std::mem::MaybeUninit;

use candle_core::{bail, CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::cpu_util::{
    cpu_f32, lanes_total, simd_fn, sum, with_f32, write_new, SendPtr, Stash, BLOCK, LANES,
};
use super::{Accepts, Kernels};

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
    if kernels.ours(&[x, gamma, beta], Accepts::F32) {
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
// of storing them (inside a fused op, from `y_i`: `InPlace`). Nothing of the
// size of `x` is allocated but the results.
// ANCHOR_END: bn_math

/// Batch norm (+ LeakyReLU) as a candle op with its own backward pass; its
/// arguments are `(x, gamma, beta)`.
struct BatchNormOp {
    slope: Option<f32>,
    /// `(μ, r)` of each channel, saved by the forward pass.
    stats: Stash<Vec<(f32, f32)>>,
}

/// `(μ, 1/√(σ² + ε))` of one channel, the variance by a second pass (accurate).
fn channel_stats(x: &[f32], c: usize, dims: (usize, usize, usize)) -> (f32, f32) {
    let (n, _, hw) = dims;
    let planes = Planes::channel(x, c, dims);
    stats_of_planes(n * hw, || (0..n).map(|img| planes.plane(img, hw)))
}

/// `(μ, 1/√(σ² + ε))` of the `m` values of some planes.
fn stats_of_planes<'p, I: Iterator<Item = &'p [f32]>>(
    m: usize,
    planes: impl Fn() -> I,
) -> (f32, f32) {
    let m = m as f64;
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

/// `u = x·scale + shift` of channel `c`, given its `(μ, r)`: `scale = γ·r`, `shift = β − μ·scale`.
fn affine(gamma: f32, beta: f32, (mean, r): (f32, f32)) -> (f32, f32) {
    let scale = gamma * r;
    (scale, beta - mean * scale)
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
    /// [`plane_forward`] in place: `x` becomes `y`.
    fn plane_forward_in_place(x: &mut [f32], scale: f32, shift: f32, slope: f32) {
        for v in x.iter_mut() {
            *v = act(*v * scale + shift, slope);
        }
    }
}

/// How the backward pass gets back, value by value, `act′(u)` and `x̂` of a channel
/// from what was kept of it.
trait Recover: Copy {
    /// `(act′(u), x̂)` of one kept value.
    fn recover(self, v: f32) -> (f32, f32);
}

/// From the batch norm's input `x`: `u = x·scale + shift`, `x̂ = (x − μ)·r`.
#[derive(Clone, Copy)]
struct FromInput {
    scale: f32,
    shift: f32,
    slope: f32,
    mean: f32,
    r: f32,
}

impl FromInput {
    /// For a channel of affine map `(scale, shift)` ([`affine`]) and statistics `(μ, r)`.
    fn new((scale, shift): (f32, f32), slope: f32, (mean, r): (f32, f32)) -> Self {
        Self {
            scale,
            shift,
            slope,
            mean,
            r,
        }
    }
}

impl Recover for FromInput {
    #[inline(always)]
    fn recover(self, x: f32) -> (f32, f32) {
        let d = act_grad(x * self.scale + self.shift, self.slope);
        (d, (x - self.mean) * self.r)
    }
}

/// From the output `y = act(u)`: `u = act⁻¹(y)`, then `x̂ = (u − β)/γ`. The
/// input then need not be kept at all (Rota Bulò et al. 2018, "In-place activated
/// batch norm"); dividing by γ is accurate only where |γ| is not tiny beside |β|,
/// which [`recoverable`] checks.
#[derive(Clone, Copy)]
struct FromOutput {
    slope: f32,
    inv_slope: f32,
    beta: f32,
    inv_gamma: f32,
}

impl FromOutput {
    /// For a channel of scale `γ` and shift `β`.
    fn new(slope: f32, gamma: f32, beta: f32) -> Self {
        Self {
            slope,
            inv_slope: 1.0 / slope,
            beta,
            inv_gamma: 1.0 / gamma,
        }
    }
}

impl Recover for FromOutput {
    #[inline(always)]
    fn recover(self, y: f32) -> (f32, f32) {
        // y > 0 exactly where u > 0, as 0 < slope.
        let positive = y > 0.0;
        let u = if positive { y } else { y * self.inv_slope };
        let d = if positive { 1.0 } else { self.slope };
        (d, (u - self.beta) * self.inv_gamma)
    }
}

/// Whether `x̂` can be recovered from the output of a channel with these `γ, β`:
/// `u` carries a rounding error of about `ε·(|u| + |β|)`, which `1/γ` magnifies; with
/// `|γ| ≥ (1 + |β|)/100` the error of `x̂` stays below about `10⁻⁵`.
fn recoverable(gamma: f32, beta: f32) -> bool {
    gamma.abs() >= (1.0 + beta.abs()) / 100.0
}

simd_fn! {
    /// `(Σ g, Σ g·x̂)` over one plane of kept values `v`, `g = dy·act′(u)`.
    fn plane_grad_sums<R: Recover>(v: &[f32], dy: &[f32], rec: R) -> (f64, f64) {
        let (mut total_g, mut total_gx) = (0f64, 0f64);
        for (vb, db) in v.chunks(BLOCK).zip(dy.chunks(BLOCK)) {
            let (mut acc_g, mut acc_gx) = ([0f32; LANES], [0f32; LANES]);
            let (vc, dc) = (vb.chunks_exact(LANES), db.chunks_exact(LANES));
            let (vr, dr) = (vc.remainder(), dc.remainder());
            for (vl, dl) in vc.zip(dc) {
                for l in 0..LANES {
                    let (d, x_hat) = rec.recover(vl[l]);
                    let g = dl[l] * d;
                    acc_g[l] += g;
                    acc_gx[l] += g * x_hat;
                }
            }
            let (mut block_g, mut block_gx) = (lanes_total(&acc_g), lanes_total(&acc_gx));
            for (&vv, &dv) in vr.iter().zip(dr) {
                let (d, x_hat) = rec.recover(vv);
                let g = dv * d;
                block_g += g as f64;
                block_gx += (g * x_hat) as f64;
            }
            total_g += block_g;
            total_gx += block_gx;
        }
        (total_g, total_gx)
    }
}

simd_fn! {
    /// `dx = k·(g − mean_g − x̂·mean_gx)` over one plane of kept values `v`.
    fn plane_input_grad<R: Recover>(
        v: &[f32],
        dy: &[f32],
        dx: &mut [MaybeUninit<f32>],
        rec: R,
        k: f32,
        mean_g: f32,
        mean_gx: f32,
    ) {
        for ((d, &vv), &dv) in dx.iter_mut().zip(v).zip(dy) {
            let (a, x_hat) = rec.recover(vv);
            let g = dv * a;
            d.write(k * (g - mean_g - x_hat * mean_gx));
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
                    let stats = channel_stats(x, c, (n, ch, hw));
                    // u = γ·(x − μ)·r + β = x·scale + shift
                    let (scale, shift) = affine(gamma[c], beta[c], stats);
                    for img in 0..n {
                        // SAFETY: each task writes its own channel.
                        let dst = std::slice::from_raw_parts_mut(
                            out.get()
                                .add((img * ch + c) * hw)
                                .cast::<MaybeUninit<f32>>(),
                            hw,
                        );
                        let src = Planes::channel(x, c, (n, ch, hw)).plane(img, hw);
                        plane_forward(src, dst, scale, shift, slope);
                    }
                    stats
                })
                .collect()
        })
    }
}
// ANCHOR_END: bn_forward

/// Batch norm (+ LeakyReLU) inside a fused op, which leaves only its output `y` in
/// the graph: the input is overwritten by `y`, and the backward pass recovers `x̂`
/// from `y` ([`FromOutput`]), except in the channels where that is inaccurate
/// ([`recoverable`]), which keep a copy of their input.
#[derive(Default)]
pub(super) struct InPlace {
    /// `(μ, r)` of each channel.
    stats: Vec<(f32, f32)>,
    /// The input planes (`[N, H·W]`) of the channels that cannot be recovered from `y`.
    kept: Vec<Option<Vec<f32>>>,
    slope: Option<f32>,
}

impl InPlace {
    /// [`bn_forward`] in place: `x` becomes `y`.
    pub(super) fn forward(
        x: &mut [f32],
        gamma: &[f32],
        beta: &[f32],
        slope: Option<f32>,
        (n, ch, hw): (usize, usize, usize),
    ) -> Self {
        assert_eq!(x.len(), n * ch * hw, "batch_norm: input of the wrong size");
        let data = SendPtr(x.as_mut_ptr());
        let (stats, kept) = (0..ch)
            .into_par_iter()
            .map(|c| {
                // SAFETY: each task reads and writes the planes of its own channel only.
                let plane = |img: usize| unsafe {
                    std::slice::from_raw_parts_mut(data.get().add((img * ch + c) * hw), hw)
                };
                let stats = stats_of_planes(n * hw, || (0..n).map(|img| &*plane(img)));
                let keep = !recoverable(gamma[c], beta[c]);
                let kept = keep.then(|| (0..n).flat_map(|img| plane(img).to_vec()).collect());
                let (scale, shift) = affine(gamma[c], beta[c], stats);
                for img in 0..n {
                    plane_forward_in_place(plane(img), scale, shift, slope.unwrap_or(1.0));
                }
                (stats, kept)
            })
            .unzip();
        Self { stats, kept, slope }
    }

    /// [`InPlace::forward`] once more, on the same input: `x` becomes the same `y`, bit
    /// for bit, with the statistics found then (no pass to measure them, no copies kept).
    /// For a fused op that makes its intermediate result again rather than keep it.
    pub(super) fn forward_again(
        &self,
        x: &mut [f32],
        gamma: &[f32],
        beta: &[f32],
        (n, ch, hw): (usize, usize, usize),
    ) -> Result<()> {
        if self.stats.len() != ch || x.len() != n * ch * hw {
            bail!("batch_norm: made again without its forward pass")
        }
        let slope = self.slope.unwrap_or(1.0);
        x.par_chunks_mut(hw).enumerate().for_each(|(p, plane)| {
            let c = p % ch;
            let (scale, shift) = affine(gamma[c], beta[c], self.stats[c]);
            plane_forward_in_place(plane, scale, shift, slope);
        });
        Ok(())
    }

    /// `(dx, dγ, dβ)` from the output `y` and its gradient `dy`.
    pub(super) fn backward(
        &self,
        y: &[f32],
        gamma: &[f32],
        beta: &[f32],
        dy: &[f32],
        dims: (usize, usize, usize),
    ) -> Result<(Vec<f32>, Vec<f32>, Vec<f32>)> {
        if self.stats.len() != dims.1 {
            bail!("batch_norm: a backward pass without its forward pass")
        }
        let kept = |c: usize| match &self.kept[c] {
            Some(x) => Kept::Input(Planes::alone(x, dims.2)),
            None => Kept::Output(Planes::channel(y, c, dims)),
        };
        let (dx, dgamma, dbeta) =
            bn_backward(kept, gamma, beta, dy, &self.stats, self.slope, dims, true);
        Ok((dx.unwrap_or_default(), dgamma, dbeta))
    }

    /// [`InPlace::backward`] inside a fused candle op: `y` and `grad` are the op's output
    /// and its gradient, γ and β the last `2·C` values of its parameter tensor.
    pub(super) fn backward_of_op(
        &self,
        y: &Tensor,
        params: &Tensor,
        grad: &Tensor,
        dims: (usize, usize, usize),
    ) -> Result<(Vec<f32>, Vec<f32>, Vec<f32>)> {
        with_f32(y, "batch_norm output", |yv| {
            with_f32(params, "batch_norm parameters", |pv| {
                let Some(tail) = pv.len().checked_sub(2 * dims.1) else {
                    bail!(
                        "batch_norm: {} parameters for {} channels",
                        pv.len(),
                        dims.1
                    )
                };
                let (gamma, beta) = pv[tail..].split_at(dims.1);
                with_f32(grad, "batch_norm gradient", |dy| {
                    self.backward(yv, gamma, beta, dy, dims)
                })
            })
        })
    }
}

/// The gradients of one batch norm: `(dx, dγ, dβ)`.
type BnGrads = (Option<Vec<f32>>, Vec<f32>, Vec<f32>);

/// One channel's planes in a buffer: image `img`'s is `data[offset + img·stride..][..hw]`.
#[derive(Clone, Copy)]
struct Planes<'a> {
    data: &'a [f32],
    offset: usize,
    stride: usize,
}

impl<'a> Planes<'a> {
    /// Channel `c` of `[N, C, H·W]` data.
    fn channel(data: &'a [f32], c: usize, (_, ch, hw): (usize, usize, usize)) -> Self {
        Self {
            data,
            offset: c * hw,
            stride: ch * hw,
        }
    }

    /// A buffer holding one channel, `[N, H·W]`.
    fn alone(data: &'a [f32], hw: usize) -> Self {
        Self {
            data,
            offset: 0,
            stride: hw,
        }
    }

    fn plane(&self, img: usize, hw: usize) -> &'a [f32] {
        &self.data[self.offset + img * self.stride..][..hw]
    }
}

simd_fn! {
    /// [`plane_input_grad`] written over `dy`.
    fn plane_input_grad_in_place<R: Recover>(
        v: &[f32],
        dy: &mut [f32],
        rec: R,
        k: f32,
        mean_g: f32,
        mean_gx: f32,
    ) {
        for (dv, &vv) in dy.iter_mut().zip(v) {
            let (a, x_hat) = rec.recover(vv);
            *dv = k * (*dv * a - mean_g - x_hat * mean_gx);
        }
    }
}

impl InPlace {
    /// [`InPlace::backward`] with `dx` written over `dy`: `(dγ, dβ)`. For a batch norm
    /// without activation (as after the decoder's merge), whose input gradient would
    /// otherwise be one more tensor of its size alive.
    pub(super) fn backward_over(
        &self,
        y: &[f32],
        gamma: &[f32],
        beta: &[f32],
        dy: &mut [f32],
        dims: (usize, usize, usize),
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        let (n, ch, hw) = dims;
        if self.stats.len() != ch || y.len() != n * ch * hw || dy.len() != y.len() {
            bail!("batch_norm: a backward pass without its forward pass")
        }
        let slope = self.slope.unwrap_or(1.0);
        let data = SendPtr(dy.as_mut_ptr());
        let grads = (0..ch).into_par_iter().map(|c| {
            let affine = affine(gamma[c], beta[c], self.stats[c]);
            // SAFETY: each task reads and writes the planes of its own channel only.
            let plane = |img: usize| unsafe {
                std::slice::from_raw_parts_mut(data.get().add((img * ch + c) * hw), hw)
            };
            match &self.kept[c] {
                Some(x) => {
                    let rec = FromInput::new(affine, slope, self.stats[c]);
                    channel_backward_over(Planes::alone(x, hw), plane, rec, affine.0, (n, hw))
                }
                None => {
                    let rec = FromOutput::new(slope, gamma[c], beta[c]);
                    let kept = Planes::channel(y, c, dims);
                    channel_backward_over(kept, plane, rec, affine.0, (n, hw))
                }
            }
        });
        Ok(grads.unzip())
    }
}

/// One channel of [`InPlace::backward_over`]: `(dγ, dβ)`, and `dx` over the planes of `dy`.
fn channel_backward_over<'d, R: Recover>(
    kept: Planes,
    dy: impl Fn(usize) -> &'d mut [f32],
    rec: R,
    k: f32,
    (n, hw): (usize, usize),
) -> (f32, f32) {
    let (mut sum_g, mut sum_gx) = (0f64, 0f64);
    for img in 0..n {
        let (g, gx) = plane_grad_sums(kept.plane(img, hw), dy(img), rec);
        sum_g += g;
        sum_gx += gx;
    }
    let m = (n * hw) as f64;
    let (mean_g, mean_gx) = ((sum_g / m) as f32, (sum_gx / m) as f32);
    for img in 0..n {
        plane_input_grad_in_place(kept.plane(img, hw), dy(img), rec, k, mean_g, mean_gx);
    }
    (sum_gx as f32, sum_g as f32)
}

/// What the backward pass reads of one channel.
#[derive(Clone, Copy)]
enum Kept<'a> {
    /// The batch norm's input `x`.
    Input(Planes<'a>),
    /// The output `y`, after the activation (see [`FromOutput`]).
    Output(Planes<'a>),
}

// ANCHOR: bn_backward
/// `(dx, dγ, dβ)` from the output gradient `dy`, each channel read from what `kept(c)` says.
#[allow(clippy::too_many_arguments)]
fn bn_backward<'a>(
    kept: impl Fn(usize) -> Kept<'a> + Sync,
    gamma: &[f32],
    beta: &[f32],
    dy: &[f32],
    stats: &[(f32, f32)],
    slope: Option<f32>,
    dims: (usize, usize, usize),
    need_dx: bool,
) -> BnGrads {
    let (n, ch, hw) = dims;
    let slope = slope.unwrap_or(1.0);
    // Written in full below when asked for (every channel of every image).
    let mut dx = need_dx.then(|| Vec::<f32>::with_capacity(n * ch * hw));
    let out = dx.as_mut().map(|d| SendPtr(d.as_mut_ptr()));
    let (dgamma, dbeta): (Vec<f32>, Vec<f32>) = (0..ch)
        .into_par_iter()
        .map(|c| {
            let (mean, r) = stats[c];
            let (scale, shift) = affine(gamma[c], beta[c], (mean, r));
            let dy = Planes::channel(dy, c, dims);
            let dx = out.map(|o| (o, c));
            match kept(c) {
                Kept::Input(x) => {
                    let rec = FromInput::new((scale, shift), slope, (mean, r));
                    channel_backward(x, dy, rec, scale, dx, dims)
                }
                Kept::Output(y) => {
                    let rec = FromOutput::new(slope, gamma[c], beta[c]);
                    channel_backward(y, dy, rec, scale, dx, dims)
                }
            }
        })
        .unzip();
    if let Some(d) = dx.as_mut() {
        // SAFETY: every channel of every image was written above.
        unsafe { d.set_len(n * ch * hw) }
    }
    (dx, dgamma, dbeta)
}

/// One channel of [`bn_backward`]: `(dγ, dβ) = (Σ g·x̂, Σ g)`, and `dx` written
/// into channel `c` of `out` when given, with `k = γ·r`.
fn channel_backward<R: Recover>(
    kept: Planes,
    dy: Planes,
    rec: R,
    k: f32,
    out: Option<(SendPtr, usize)>,
    (n, ch, hw): (usize, usize, usize),
) -> (f32, f32) {
    let (mut sum_g, mut sum_gx) = (0f64, 0f64);
    for img in 0..n {
        let (g, gx) = plane_grad_sums(kept.plane(img, hw), dy.plane(img, hw), rec);
        sum_g += g;
        sum_gx += gx;
    }
    if let Some((out, c)) = out {
        let m = (n * hw) as f64;
        let (mean_g, mean_gx) = ((sum_g / m) as f32, (sum_gx / m) as f32);
        for img in 0..n {
            // SAFETY: each task writes its own channel.
            let dst = unsafe {
                std::slice::from_raw_parts_mut(
                    out.get()
                        .add((img * ch + c) * hw)
                        .cast::<MaybeUninit<f32>>(),
                    hw,
                )
            };
            let (v, d) = (kept.plane(img, hw), dy.plane(img, hw));
            plane_input_grad(v, d, dst, rec, k, mean_g, mean_gx);
        }
    }
    (sum_gx as f32, sum_g as f32)
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
        self.stats.keep(stats, "batch_norm")?;
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
        let stats = self.stats.get().cloned().unwrap_or_default();
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
                            |c| Kept::Input(Planes::channel(xv, c, dims)),
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
        stats: Stash::new(),
    };
    x.contiguous()?
        .apply_op3(&gamma.contiguous()?, &beta.contiguous()?, op)
}
