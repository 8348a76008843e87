//! 2-d convolution with a bias, as the network uses it, padded with zeros or by
//! reflection: candle's own op, the same as explicit matrix products (the GPU path),
//! and our CPU kernel (im2col + gemm, Winograd for the 3×3 ones: [`super::winograd`]).

use std::mem::MaybeUninit;

use candle_core::{bail, CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::cpu_util::{
    cpu_f32, filled, gemm_parallelism, matmul, sum, threads, with_f32, with_scratch,
    with_second_scratch, write_new, SendPtr,
};

use super::cpu::PlaneKernel;
use super::reflection_pad::{source_index, ReflectionPad2dAdjointOp};
use super::winograd::Tiling as _;
use super::{winograd, winograd4};
use super::{Accepts, Kernels};

/// `x ⋆ weight + bias` with the given stride and zero padding.
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
    kernels: Kernels,
) -> Result<Tensor> {
    if kernels.ours(&[x, weight, bias], Accepts::F32) {
        let shape = ConvShape {
            stride,
            padding,
            reflect: false,
        };
        conv2d_fast(x, weight, bias, shape)
    } else if kernels.use_gemm_conv(x.device()) {
        conv2d_gemm(x, weight, bias, stride, padding)
    } else {
        conv2d_candle(x, weight, bias, stride, padding)
    }
}

/// Reflection padding by `padding` (PyTorch's `ReflectionPad2d`), then [`conv2d`]
/// without padding. Our CPU kernel does both in one op; elsewhere it is
/// [`reflection_pad2d_with`](super::reflection_pad::reflection_pad2d_with) then candle's `conv2d`.
pub fn conv2d_reflect_with(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    stride: usize,
    padding: usize,
    kernels: Kernels,
) -> Result<Tensor> {
    if kernels.ours(&[x, weight, bias], Accepts::F32) {
        let shape = ConvShape {
            stride,
            padding,
            reflect: true,
        };
        conv2d_fast(x, weight, bias, shape)
    } else {
        let x = super::reflection_pad::reflection_pad2d_with(x, padding, kernels)?;
        conv2d_with(&x, weight, bias, stride, 0, kernels)
    }
}

/// How a convolution strides and pads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    pub stride: usize,
    pub padding: usize,
    /// Pad by reflection (else with zeros).
    pub reflect: bool,
}

/// [`conv2d_reflect_with`] or [`conv2d_with`], as `shape` says.
pub fn conv2d_shaped_with(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    shape: ConvShape,
    kernels: Kernels,
) -> Result<Tensor> {
    let ConvShape {
        stride,
        padding,
        reflect,
    } = shape;
    if reflect {
        conv2d_reflect_with(x, weight, bias, stride, padding, kernels)
    } else {
        conv2d_with(x, weight, bias, stride, padding, kernels)
    }
}

/// The convolution by candle's own `conv2d` (any device).
///
/// candle's backward pass of a strided `conv2d` (0.11) recovers the input's size
/// with a transposed convolution whose output padding it derives from the height
/// alone and uses for the width too. When the numbers of trailing rows and columns
/// that no output reads (`(H + 2·padding − k) mod stride`, likewise for W) differ,
/// as for a 17 × 18 input with stride 2, the input gradient comes out with the
/// wrong width and `backward` fails. Those rows and columns change nothing and get
/// a zero gradient, so in that case they are cut off first (after the zero padding,
/// made explicit then); the output is the same.
pub fn conv2d_candle(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let (_, _, kh, kw) = weight.dims4()?;
    let unread = |n: usize, k: usize| (n + 2 * padding).saturating_sub(k) % stride;
    let (unread_h, unread_w) = (unread(h, kh), unread(w, kw));
    let y = if unread_h != unread_w {
        let x = if padding > 0 {
            x.pad_with_zeros(2, padding, padding)?
                .pad_with_zeros(3, padding, padding)?
        } else {
            x.clone()
        };
        let x =
            x.narrow(2, 0, h + 2 * padding - unread_h)?
                .narrow(3, 0, w + 2 * padding - unread_w)?;
        x.conv2d(weight, 0, stride, 1, 1)?
    } else {
        x.conv2d(weight, padding, stride, 1, 1)?
    };
    y.broadcast_add(&bias.reshape((1, bias.dim(0)?, 1, 1))?)
}

/// The convolution as one matrix product of candle tensors: what runs on a GPU.
///
/// The input is unfolded into the column matrix of the CPU kernel below
/// (`col`, `Cin·k·k × Ho·Wo`, one row per input channel and kernel offset) by
/// `k·k` shifted, strided views of it, and `y = W · col + b`. Every step is one of
/// candle's differentiable ops, so the backward pass is matrix products as well,
/// `dW = dy · colᵀ` and `dcol = Wᵀ · dy`, folded back onto the input by the views'
/// own gradients.
///
/// Why not candle's `conv2d`: its forward is this same product, but its backward
/// (0.11) takes the input gradient with a transposed convolution that on CUDA is a
/// direct loop, one thread per output value, not a matrix product: most of an
/// iteration's time at 512 × 512. The price here is memory: `col`, `k²` times the
/// input, is kept for the backward pass.
pub fn conv2d_gemm(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    let x = if padding > 0 {
        x.pad_with_zeros(2, padding, padding)?
            .pad_with_zeros(3, padding, padding)?
    } else {
        x.clone()
    };
    let (n, cin, h, w) = x.dims4()?;
    let (cout, wcin, kh, kw) = weight.dims4()?;
    if wcin != cin || h < kh || w < kw || stride == 0 {
        bail!(
            "conv2d_gemm: input {:?} does not fit kernel {:?}, stride {stride}",
            x.dims(),
            weight.dims()
        );
    }
    let (ho, wo) = ((h - kh) / stride + 1, (w - kw) / stride + 1);
    let col = unfold(&x, (kh, kw), stride, (ho, wo))?;
    let y = weight
        .reshape((cout, cin * kh * kw))?
        .broadcast_matmul(&col)?
        .reshape((n, cout, ho, wo))?;
    y.broadcast_add(&bias.reshape((1, cout, 1, 1))?)
}

/// The column matrix of `x` (`[N, Cin, H, W]`, already padded) for a `kh × kw`
/// kernel with `stride` and output size `(ho, wo)`: `[N, Cin·kh·kw, ho·wo]`, rows in
/// the order of the weight's `(Cin, kh, kw)`. Row `(c, a, b)` is the view
/// `x[c, a + stride·i, b + stride·j]` over the output pixels `(i, j)`.
fn unfold(
    x: &Tensor,
    (kh, kw): (usize, usize),
    stride: usize,
    (ho, wo): (usize, usize),
) -> Result<Tensor> {
    let (n, cin, _, _) = x.dims4()?;
    if (kh, kw, stride) == (1, 1, 1) {
        return x.reshape((n, cin, ho * wo));
    }
    let mut views = Vec::with_capacity(kh * kw);
    for a in 0..kh {
        let rows = every_stride(x, 2, a, ho, stride)?;
        for b in 0..kw {
            views.push(every_stride(&rows, 3, b, wo, stride)?);
        }
    }
    Tensor::stack(&views, 2)?.reshape((n, cin * kh * kw, ho * wo))
}

/// Indices `start, start + stride, …` (`count` of them) of dimension `dim` of `x`:
/// a narrow, and for a stride above 1 a reshape that puts each kept index first in a
/// group of `stride` (zeros pad the last group where the input ends inside it).
fn every_stride(
    x: &Tensor,
    dim: usize,
    start: usize,
    count: usize,
    stride: usize,
) -> Result<Tensor> {
    if stride == 1 {
        return x.narrow(dim, start, count);
    }
    let available = x.dim(dim)? - start;
    let span = count * stride;
    let x = if available < span {
        x.pad_with_zeros(dim, 0, span - available)?
    } else {
        x.clone()
    };
    let mut grouped = x.narrow(dim, start, span)?.dims().to_vec();
    grouped[dim] = count;
    grouped.insert(dim + 1, stride);
    x.narrow(dim, start, span)?
        .reshape(grouped)?
        .narrow(dim + 1, 0, 1)?
        .squeeze(dim + 1)
}

// ---------------------------------------------------------------------------
// The CPU kernel
// ---------------------------------------------------------------------------

// ANCHOR: conv_math
// A convolution is a matrix product. Write `K = Cin·kh·kw` and `P = Ho·Wo`, and
// unfold the input into the "column" matrix `col (K × P)` whose column `p` holds
// the `K` input values under the kernel at output pixel `p` (im2col). Then, per image,
//
//     y  (Cout × P) = W (Cout × K) · col + b          (forward)
//     dW (Cout × K) = Σ_images dy · colᵀ               (weight gradient)
//     db (Cout)     = Σ_images Σ_p dy                  (bias gradient)
//     dcol (K × P)  = Wᵀ · dy,  dx = fold(dcol)        (input gradient)
//
// where `fold` (col2im) adds every entry of `dcol` back onto the input pixel it
// was copied from. A 1×1 conv with stride 1 needs no unfolding: `col` is `x` itself.
//
// The full `col` of a large layer is big (the 3×3 conv of 132 channels at
// 256×256 would need 311 MB), so the products run over *tiles* of a few output
// rows, each unfolded into a small per-thread buffer, in parallel. The weight
// gradient sums over tiles: each of a fixed number of *groups* of rows keeps its
// own partial sum, and the partial sums are added in a fixed order, so that the
// result does not depend on the number of threads or on their timing. The input
// gradients of neighbouring groups overlap by `k − stride` input rows: the even
// groups run first, then the odd ones, so no two threads add to the same pixel.
//
// gemm is fast when it reads each factor along its contiguous direction. The
// weight gradient sums over the pixels, the contiguous direction of both `dy` and
// `col`; so it is computed as `dWᵀ = col · dyᵀ` with `dy`'s tile transposed first
// (a cheap copy), and the unfolded rows are a cache line longer than the tile, so
// that a walk down a column of `col` does not land in one cache set every time.
//
// The 3×3 convolutions with stride 1 (most of the network's work) on planes of 32²
// and more compute their output and their input gradient another way, with fewer
// multiplications: Winograd's minimal filtering (`ops::winograd`, `ops::winograd4`);
// from 64² their weight gradient too.
// ANCHOR_END: conv_math

/// Output pixels per tile: the tile's unfolded input is `K × TILE_PIXELS` floats
/// (4.9 MB for the 3×3 conv of 132 channels).
const TILE_PIXELS: usize = 1024;

/// At most this many groups (partial weight gradients) per layer, and at least
/// [`GROUP_PIXELS`] output pixels in each: numbers of the shape alone, so that
/// results do not depend on the number of threads. A group of fewer pixels spent more
/// time clearing and adding its partial gradient (`Cout·K` floats, 590 kB for the
/// network's 3×3 convs) than multiplying: the stride-2 conv to 16² took 1.26 ms of
/// backward pass in 8 groups, 0.89 ms in one (whose products gemm splits between the threads).
const MAX_GROUPS: usize = 8;
const GROUP_PIXELS: usize = 256;

/// Winograd ([`Geom::winograd`]) from this many output pixels up (32², not 16²). Below,
/// transforming the kernels (16/9 of the weights' size, for the input gradient once
/// more) costs more than the multiplications it saves: the layers of 16² and less run
/// faster by im2col.
const WINOGRAD_FROM_PIXELS: usize = 512;

/// Winograd's F(4 × 4, 3 × 3) ([`TileSize`]) from this many output pixels up (64²): on
/// a 132-to-128-channel layer its output and input gradient take 10 to 30 % less time
/// than F(2 × 2, 3 × 3)'s from 64², but at 32² its blocks have too few tiles and it is slower.
const WINOGRAD4_FROM_PIXELS: usize = 4096;

/// The weight gradient by Winograd's F(2×2, 3×3) too from this many output pixels up
/// (64²): its products over the tiles are 2.25 times fewer, but it transforms the input
/// again and the output gradient, which pays only on large planes (on a
/// 132-to-128-channel layer, a fifth to a quarter less time than im2col's from 64²; at
/// 32², none).
const WINOGRAD_WEIGHT_GRAD_FROM_PIXELS: usize = 2048;

/// The shapes of one convolution.
#[derive(Clone, Copy, Debug)]
pub(super) struct Geom {
    pub(super) n: usize,
    pub(super) cin: usize,
    pub(super) h: usize,
    pub(super) w: usize,
    pub(super) cout: usize,
    pub(super) kh: usize,
    pub(super) kw: usize,
    pub(super) stride: usize,
    pub(super) pad: usize,
    /// Pad by mirroring the border (PyTorch's `ReflectionPad2d`) instead of with zeros.
    pub(super) reflect: bool,
    pub(super) ho: usize,
    pub(super) wo: usize,
}

impl Geom {
    pub(super) fn new(
        x: &[usize],
        w: &[usize],
        stride: usize,
        pad: usize,
        reflect: bool,
    ) -> Result<Self> {
        let (&[n, cin, h, wd], &[cout, cin2, kh, kw]) = (x, w) else {
            bail!("conv2d: expected 4-d input and weight, got {x:?} and {w:?}")
        };
        if cin != cin2 {
            bail!("conv2d: input has {cin} channels, weight expects {cin2}")
        }
        if stride == 0 || h + 2 * pad < kh || wd + 2 * pad < kw {
            bail!("conv2d: kernel {kh}×{kw} does not fit input {h}×{wd} with padding {pad}")
        }
        if reflect && pad >= h.min(wd) {
            bail!("conv2d: reflection padding {pad} needs an input larger than {h}×{wd}")
        }
        Ok(Self {
            n,
            cin,
            h,
            w: wd,
            cout,
            kh,
            kw,
            stride,
            pad,
            reflect,
            ho: (h + 2 * pad - kh) / stride + 1,
            wo: (wd + 2 * pad - kw) / stride + 1,
        })
    }

    /// Rows of the unfolded matrix: `Cin·kh·kw`.
    fn k(&self) -> usize {
        self.cin * self.kh * self.kw
    }

    fn in_pixels(&self) -> usize {
        self.h * self.w
    }

    fn out_pixels(&self) -> usize {
        self.ho * self.wo
    }

    /// A 1×1 conv with stride 1 and no padding: `col` is the input itself.
    fn pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == 1 && self.pad == 0
    }

    /// Index `q` of the padded axis of length `n` in the unpadded one: mirrored at
    /// the border (`−1 → 1`, `n → n − 2`) for reflection padding, `None` (a zero) otherwise.
    fn unpad(&self, q: usize, n: usize) -> Option<usize> {
        source_index(q, n, self.pad, self.reflect)
    }

    /// The output rows of each tile.
    fn tile_rows(&self) -> usize {
        (TILE_PIXELS / self.wo).max(1)
    }

    /// The output columns `ow` whose input column `ow·stride + j − pad` lies inside the image.
    fn valid_cols(&self, j: usize) -> (usize, usize) {
        let s = self.stride;
        let lo = if j >= self.pad {
            0
        } else {
            (self.pad - j).div_ceil(s)
        };
        let hi = (self.w + self.pad - j).div_ceil(s).min(self.wo);
        (lo.min(hi), hi)
    }

    /// The input row under kernel row `i` at output row `r` (`None`: a zero of the padding).
    fn in_row(&self, r: usize, i: usize) -> Option<usize> {
        self.unpad(r * self.stride + i, self.h)
    }

    /// A 3×3 conv with stride 1 and padding 1 of at least [`WINOGRAD_FROM_PIXELS`]
    /// outputs, which runs by Winograd's minimal filtering (its tiles: [`TileSize`]): the
    /// network's convolutions but the strided, the 1×1 and the smallest ones.
    fn winograd(&self) -> bool {
        (self.kh, self.kw, self.stride, self.pad) == (3, 3, 1, 1)
            && self.out_pixels() >= WINOGRAD_FROM_PIXELS
    }

    /// Whether [`conv_grads`] computes the input gradient from the weights and the
    /// output gradient alone (by Winograd), so that the input may be passed empty.
    pub(super) fn input_grad_without_input(&self) -> bool {
        self.winograd()
    }

    /// One image of the forward pass, for [`winograd`].
    fn winograd_shape(&self) -> winograd::Shape3x3 {
        winograd::Shape3x3 {
            cin: self.cin,
            cout: self.cout,
            h: self.h,
            w: self.w,
            pad: 1,
            reflect: self.reflect,
        }
    }

    /// The input column under kernel column `j` at output column `ow`.
    fn in_col(&self, ow: usize, j: usize) -> Option<usize> {
        self.unpad(ow * self.stride + j, self.w)
    }
}

/// Whether a tile's unfolding and folding run on all threads: when its product does
/// (`par`: the tile runs alone, as the small planes' do) and it is large enough to
/// pay for waking them (64 Ki floats). On the 16² planes of a 64² fit they took one
/// thread as long as the products took two.
fn fold_in_parallel(par: gemm::Parallelism, k: usize, t: usize) -> bool {
    matches!(par, gemm::Parallelism::Rayon(_)) && k * t >= 1 << 16
}

/// Unfold output rows `r0..r1` of one image `x (Cin × H × W)` into `col (K × T)`,
/// `T = (r1 − r0)·Wo`: `col[(c, i, j)][(r, ow)] = x[c][r·s + i − p][ow·s + j − p]`
/// (zero outside the image, or the mirrored pixel with reflection padding); the
/// channels in parallel where [`fold_in_parallel`].
fn im2col(g: &Geom, x: &[f32], (r0, r1): (usize, usize), col: &mut [f32], par: gemm::Parallelism) {
    let t = (r1 - r0) * g.wo;
    let channel = |(c, rows): (usize, &mut [f32])| im2col_channel(g, x, (r0, r1), c, rows);
    let per_channel = col_stride(t) * g.kh * g.kw;
    if fold_in_parallel(par, g.k(), t) {
        col.par_chunks_mut(per_channel)
            .enumerate()
            .for_each(channel);
    } else {
        col.chunks_mut(per_channel).enumerate().for_each(channel);
    }
}

/// [`im2col`]'s rows of channel `c`.
fn im2col_channel(g: &Geom, x: &[f32], (r0, r1): (usize, usize), c: usize, rows: &mut [f32]) {
    let (wo, s) = (g.wo, g.stride);
    let t = (r1 - r0) * wo;
    for (ij, dst_row) in rows.chunks_exact_mut(col_stride(t)).enumerate() {
        let dst_row = &mut dst_row[..t];
        let (i, j) = (ij / g.kw, ij % g.kw);
        let (lo, hi) = g.valid_cols(j);
        let x_c = &x[c * g.in_pixels()..][..g.in_pixels()];
        for (r, dst) in (r0..r1).zip(dst_row.chunks_exact_mut(wo)) {
            let Some(ih) = g.in_row(r, i) else {
                dst.fill(0.0);
                continue;
            };
            let src = &x_c[ih * g.w..][..g.w];
            // The borders: zeros, or mirrored pixels.
            for ow in (0..lo).chain(hi..wo) {
                dst[ow] = g.in_col(ow, j).map_or(0.0, |iw| src[iw]);
            }
            // Input column of output column `lo`.
            let start = lo * s + j - g.pad;
            if s == 1 {
                dst[lo..hi].copy_from_slice(&src[start..start + (hi - lo)]);
            } else {
                for (d, v) in dst[lo..hi].iter_mut().zip(src[start..].iter().step_by(s)) {
                    *d = *v;
                }
            }
        }
    }
}

/// Fold `col (K × T)` of output rows `r0..r1` back onto the image `dx (Cin × H × W)`,
/// adding each entry to the pixel [`im2col`] copied it from; the channels in parallel
/// where [`fold_in_parallel`] (each channel's rows fold onto its own plane).
///
/// # Safety
/// `dx` must point at the image's `Cin·H·W` floats, and no other thread may touch
/// the input rows under output rows `r0..r1` meanwhile.
unsafe fn col2im(
    g: &Geom,
    col: &[f32],
    (r0, r1): (usize, usize),
    dx: SendPtr,
    par: gemm::Parallelism,
) {
    let t = (r1 - r0) * g.wo;
    // SAFETY: the caller's `dx`; each channel writes its own plane.
    let channel = |(c, rows): (usize, &[f32])| unsafe { col2im_channel(g, rows, (r0, r1), c, dx) };
    let per_channel = col_stride(t) * g.kh * g.kw;
    if fold_in_parallel(par, g.k(), t) {
        col.par_chunks(per_channel).enumerate().for_each(channel);
    } else {
        col.chunks(per_channel).enumerate().for_each(channel);
    }
}

/// [`col2im`]'s rows of channel `c`.
///
/// # Safety
/// As [`col2im`]'s, for channel `c`'s plane.
unsafe fn col2im_channel(g: &Geom, rows: &[f32], (r0, r1): (usize, usize), c: usize, dx: SendPtr) {
    let (wo, s) = (g.wo, g.stride);
    let t = (r1 - r0) * wo;
    for (ij, src_row) in rows.chunks_exact(col_stride(t)).enumerate() {
        let src_row = &src_row[..t];
        let (i, j) = (ij / g.kw, ij % g.kw);
        let (lo, hi) = g.valid_cols(j);
        for (r, src) in (r0..r1).zip(src_row.chunks_exact(wo)) {
            let Some(ih) = g.in_row(r, i) else { continue };
            let dst =
                std::slice::from_raw_parts_mut(dx.get().add(c * g.in_pixels() + ih * g.w), g.w);
            for ow in (0..lo).chain(hi..wo) {
                if let Some(iw) = g.in_col(ow, j) {
                    dst[iw] += src[ow];
                }
            }
            let start = lo * s + j - g.pad;
            if s == 1 {
                for (d, v) in dst[start..start + (hi - lo)].iter_mut().zip(&src[lo..hi]) {
                    *d += *v;
                }
            } else {
                for (d, v) in dst[start..].iter_mut().step_by(s).zip(&src[lo..hi]) {
                    *d += *v;
                }
            }
        }
    }
}

/// The distance between rows of the unfolded matrix of `t` pixels: `t` and a
/// cache line. Tiles are often 1024 pixels, and a row stride of exactly 4 KiB
/// sends every element of a column walk (gemm packing `colᵀ` for the weight
/// gradient) to the same cache set.
fn col_stride(t: usize) -> usize {
    t + 16
}

/// Split output rows `0..n` into pieces of `len` rows.
fn row_ranges(n: usize, len: usize) -> Vec<(usize, usize)> {
    (0..n).step_by(len).map(|r| (r, (r + len).min(n))).collect()
}

// ANCHOR: conv_forward
/// `y = W · col(x) + b`, tile by tile, the tiles in parallel.
pub(super) fn conv_forward(g: &Geom, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
    let pout = g.out_pixels();
    // SAFETY: every tile of every image writes its columns in full (bias, then the product).
    let (y, ()) = unsafe { write_new(g.n * g.cout * pout, |y| conv_forward_into(g, x, w, b, y)) };
    y
}

/// [`conv_forward`] into `y`, which it writes in full.
fn conv_forward_into(g: &Geom, x: &[f32], w: &[f32], b: &[f32], y_all: SendPtr) {
    if g.winograd() {
        let tiling = TileSize::for_pixels(g.out_pixels());
        let u = tiling.transform_weights(w, g.cout, g.cin);
        let (pin, pout) = (g.in_pixels(), g.out_pixels());
        for img in 0..g.n {
            let x = &x[img * g.cin * pin..][..g.cin * pin];
            // SAFETY: image `img`'s output lies inside `y_all`, written in full.
            unsafe {
                let y = SendPtr(y_all.get().add(img * g.cout * pout));
                tiling.forward(&g.winograd_shape(), x, &u, b, y);
            }
        }
        return;
    }
    let (k, pin, pout) = (g.k(), g.in_pixels(), g.out_pixels());
    let tiles = row_ranges(g.ho, g.tile_rows());
    let parallel_tiles = threads() > 1 && tiles.len() >= 2 * threads();
    for img in 0..g.n {
        let x = &x[img * g.cin * pin..][..g.cin * pin];
        // SAFETY: image `img`'s output lies inside `y_all`.
        let y = SendPtr(unsafe { y_all.get().add(img * g.cout * pout) });
        let tile = |&(r0, r1): &(usize, usize), par: gemm::Parallelism| {
            let t = (r1 - r0) * g.wo;
            // SAFETY: tiles write disjoint columns of `y (Cout × P)`.
            unsafe {
                let y_tile = y.get().add(r0 * g.wo);
                for (co, &bias) in b.iter().enumerate() {
                    let row = y_tile.add(co * pout).cast::<MaybeUninit<f32>>();
                    std::slice::from_raw_parts_mut(row, t).fill(MaybeUninit::new(bias));
                }
                if g.pointwise() {
                    let x_tile = x.as_ptr().add(r0 * g.wo);
                    matmul(
                        g.cout,
                        t,
                        k,
                        y_tile,
                        pout,
                        1,
                        true,
                        w.as_ptr(),
                        k,
                        1,
                        x_tile,
                        pin,
                        1,
                        par,
                    );
                } else {
                    with_scratch(k * col_stride(t), |col| {
                        im2col(g, x, (r0, r1), col, par);
                        matmul(
                            g.cout,
                            t,
                            k,
                            y_tile,
                            pout,
                            1,
                            true,
                            w.as_ptr(),
                            k,
                            1,
                            col.as_ptr(),
                            col_stride(t),
                            1,
                            par,
                        );
                    });
                }
            }
        };
        if parallel_tiles {
            tiles
                .par_iter()
                .for_each(|r| tile(r, gemm::Parallelism::None));
        } else {
            tiles.iter().for_each(|r| tile(r, gemm_parallelism()));
        }
    }
}
// ANCHOR_END: conv_forward

/// `dWᵀ += col · dyᵀ` over one tile of `t` output pixels (`=` for the first, `add`
/// false, which need not find `dWᵀ` written): `dw` points at `dWᵀ (K × Cout)`,
/// `col` is `K × t` with row stride `col_rs`, `dy_tile` is `Cout × t` with row stride `P`.
///
/// gemm reads both factors along the pixels, the contiguous direction of neither
/// `dy` nor `dWᵀ`; so `dy`'s tile is first transposed into scratch (`t × Cout`): gemm's
/// own packing of it, one float at a time down a column whose stride is a power of
/// two at the usual sizes, cost about 6 % of a 256² iteration.
///
/// # Safety
/// `dw`, `dy_tile` and `col` must point at matrices of those shapes.
unsafe fn weight_grad(
    g: &Geom,
    (dw, add): (*mut f32, bool),
    dy_tile: *const f32,
    t: usize,
    (col, col_rs): (*const f32, usize),
    par: gemm::Parallelism,
) {
    let k = g.k();
    with_second_scratch(t * g.cout, |dy_t| {
        transpose(dy_tile, g.cout, t, g.out_pixels(), dy_t.as_mut_ptr());
        matmul(
            g.cout,
            k,
            t,
            dw,
            1,
            g.cout,
            add,
            dy_t.as_ptr(),
            1,
            g.cout,
            col,
            1,
            col_rs,
            par,
        );
    });
}

/// `dst (cols × rows) = srcᵀ`, `src` being `rows × cols` with row stride `src_rs`: by
/// blocks of 8 rows × 64 columns, so that the source is read a row at a time and the
/// block's part of the destination stays in cache.
///
/// # Safety
/// `src` must point at such a matrix; `dst` at `rows · cols` writable floats.
unsafe fn transpose(src: *const f32, rows: usize, cols: usize, src_rs: usize, dst: *mut f32) {
    for r0 in (0..rows).step_by(8) {
        for c0 in (0..cols).step_by(64) {
            for r in r0..(r0 + 8).min(rows) {
                let row = std::slice::from_raw_parts(src.add(r * src_rs + c0), (cols - c0).min(64));
                for (c, &v) in (c0..).zip(row) {
                    dst.add(c * rows + r).write(v);
                }
            }
        }
    }
}

/// Which of Winograd's tilings ([`winograd::Tiling`]) a plane's output and input gradient
/// take: F(4 × 4, 3 × 3) ([`winograd4`]) on planes of at least [`WINOGRAD4_FROM_PIXELS`]
/// outputs, F(2 × 2, 3 × 3) ([`winograd`]) on smaller ones, where the larger tiles would
/// leave too few of them to a block for gemm.
#[derive(Clone, Copy)]
enum TileSize {
    F2,
    F4,
}

impl TileSize {
    fn for_pixels(pixels: usize) -> Self {
        if pixels >= WINOGRAD4_FROM_PIXELS {
            TileSize::F4
        } else {
            TileSize::F2
        }
    }

    fn transform_weights(self, w: &[f32], cout: usize, cin: usize) -> Vec<f32> {
        match self {
            TileSize::F2 => winograd::F2::transform_weights(w, cout, cin),
            TileSize::F4 => winograd4::F4::transform_weights(w, cout, cin),
        }
    }

    /// # Safety
    /// As [`winograd::forward`]: `y` must point at `Cout · Ho · Wo` writable floats.
    unsafe fn forward(self, s: &winograd::Shape3x3, x: &[f32], u: &[f32], b: &[f32], y: SendPtr) {
        match self {
            // SAFETY: the caller's `y`.
            TileSize::F2 => unsafe { winograd::forward::<winograd::F2>(s, x, u, b, y) },
            TileSize::F4 => unsafe { winograd::forward::<winograd4::F4>(s, x, u, b, y) },
        }
    }
}

/// The input gradient of a [`Geom::winograd`] convolution, by Winograd too: the
/// "full" correlation of `dy` (zero padding 2) with each kernel turned by 180° and
/// the channels swapped gives the gradient of the padded input, whose border is then
/// folded back by reflection ([`InputGrad::finish`]); with zero padding, padding 1
/// gives `dx` itself.
fn winograd_input_grad(g: &Geom, w: &[f32], dy: &[f32]) -> InputGrad {
    let mut turned = vec![0f32; w.len()];
    for co in 0..g.cout {
        for c in 0..g.cin {
            let (src, dst) = (&w[(co * g.cin + c) * 9..][..9], (c * g.cout + co) * 9);
            for (k, &v) in src.iter().enumerate() {
                turned[dst + 8 - k] = v;
            }
        }
    }
    let tiling = TileSize::for_pixels(g.out_pixels());
    let u = tiling.transform_weights(&turned, g.cin, g.cout);
    let shape = winograd::Shape3x3 {
        cin: g.cout,
        cout: g.cin,
        h: g.ho,
        w: g.wo,
        pad: if g.reflect { 2 } else { 1 },
        reflect: false,
    };
    let zeros = vec![0f32; g.cin];
    let pout = g.out_pixels();
    // Per image, `Cin` planes of `(H + 2) × (W + 2)` (reflection) or `H × W` (zeros).
    let plane = if g.reflect {
        (g.h + 2) * (g.w + 2)
    } else {
        g.in_pixels()
    };
    // SAFETY: Winograd writes all of each image's `Cin` planes.
    let (out, ()) = unsafe {
        write_new(g.n * g.cin * plane, |p| {
            for img in 0..g.n {
                let dy = &dy[img * g.cout * pout..][..g.cout * pout];
                let p = SendPtr(p.get().add(img * g.cin * plane));
                tiling.forward(&shape, dy, &u, &zeros, p);
            }
        })
    };
    if g.reflect {
        InputGrad::Padded(out)
    } else {
        InputGrad::Ready(out)
    }
}

/// A convolution's input gradient, or that of its reflection-padded input, whose
/// border is still to be folded back (then the output gradient may be freed first).
pub(super) enum InputGrad {
    Ready(Vec<f32>),
    Padded(Vec<f32>),
}

impl InputGrad {
    /// The input gradient `dx` itself.
    pub(super) fn finish(self, g: &Geom) -> Vec<f32> {
        match self {
            InputGrad::Ready(dx) => dx,
            InputGrad::Padded(dxp) => {
                let padded = (g.h + 2) * (g.w + 2);
                let pin = g.in_pixels();
                let mut dx = filled(g.n * g.cin * pin, 0f32);
                let fold = ReflectionPad2dAdjointOp { pad: 1 };
                dx.par_chunks_mut(pin)
                    .zip(dxp.par_chunks(padded))
                    .for_each(|(d, p)| fold.plane(p, d, g.h + 2, g.w + 2));
                dx
            }
        }
    }
}

/// The gradients of one convolution (each `None` when not asked for).
pub(super) struct ConvGrads {
    pub dx: Option<InputGrad>,
    pub dw: Option<Vec<f32>>,
    pub db: Option<Vec<f32>>,
}

/// The gradients `need`ed (`dx`, `dW`, `db`) of a convolution whose output gradient is `dy`:
/// the input and weight gradients by Winograd where the forward pass used it, the rest
/// by [`conv_backward`].
pub(super) fn conv_grads(
    g: &Geom,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    (need_dx, need_dw, need_db): (bool, bool, bool),
) -> ConvGrads {
    if !g.winograd() {
        return conv_backward(g, x, w, dy, (need_dx, need_dw, need_db));
    }
    let mut grads = conv_backward(g, x, w, dy, (false, false, need_db));
    if g.out_pixels() >= WINOGRAD_WEIGHT_GRAD_FROM_PIXELS {
        grads.dw = need_dw.then(|| winograd::weight_grad(&g.winograd_shape(), g.n, x, dy));
    } else if need_dw {
        grads.dw = conv_backward(g, x, w, dy, (false, true, false)).dw;
    }
    grads.dx = need_dx.then(|| winograd_input_grad(g, w, dy));
    grads
}

// ANCHOR: conv_backward
/// `dW = Σ dy · col(x)ᵀ`, `dx = fold(Wᵀ · dy)`, `db = Σ dy`, by groups of rows.
fn conv_backward(
    g: &Geom,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    (need_dx, need_dw, need_db): (bool, bool, bool),
) -> ConvGrads {
    let (k, pin, pout) = (g.k(), g.in_pixels(), g.out_pixels());

    let db = need_db.then(|| {
        (0..g.cout)
            .into_par_iter()
            .map(|co| {
                (0..g.n)
                    .map(|img| sum(&dy[(img * g.cout + co) * pout..][..pout]))
                    .sum::<f64>() as f32
            })
            .collect()
    });
    if !need_dx && !need_dw {
        return ConvGrads {
            dx: None,
            dw: None,
            db,
        };
    }

    // Groups of output rows. A group between two others must cover all the input
    // rows where they could meet: at least ⌈kh / s⌉ output rows.
    let min_rows = if g.pointwise() {
        1
    } else {
        g.kh.div_ceil(g.stride)
    };
    let groups = (g.out_pixels() / GROUP_PIXELS).clamp(1, MAX_GROUPS);
    let group_rows = g.ho.div_ceil(groups).max(min_rows);
    let groups = row_ranges(g.ho, group_rows);
    // Each group's `dWᵀ`, written (not added) by its first product: no pass to clear it
    // first, which on the smallest planes cost about as much as the products.
    let dw_len = if need_dw { g.cout * k } else { 0 };
    let mut partials: Vec<Vec<f32>> = groups.iter().map(|_| Vec::with_capacity(dw_len)).collect();
    let partial_ptrs: Vec<SendPtr> = partials
        .iter_mut()
        .map(|p| SendPtr(p.as_mut_ptr()))
        .collect();
    let mut dx = need_dx.then(|| filled(g.n * g.cin * pin, 0f32));
    // Overlapping input gradients: even groups, then odd groups.
    let phases = if need_dx && !g.pointwise() && groups.len() > 1 {
        2
    } else {
        1
    };
    let tile_rows = g.tile_rows();

    for img in 0..g.n {
        let x = &x[img * g.cin * pin..][..g.cin * pin];
        let dy = &dy[img * g.cout * pout..][..pout * g.cout];
        let dx = dx
            .as_mut()
            .map(|d| SendPtr(d[img * g.cin * pin..].as_mut_ptr()));
        let group = |(r0, r1): (usize, usize), dw: SendPtr, par: gemm::Parallelism| {
            for (t0, t1) in row_ranges(r1 - r0, tile_rows) {
                let (t0, t1) = (r0 + t0, r0 + t1);
                let t = (t1 - t0) * g.wo;
                let dw = (dw.get(), img > 0 || t0 > r0);
                // SAFETY: the matrices lie inside their buffers; the phases keep
                // threads off each other's input rows.
                unsafe {
                    let dy_tile = dy.as_ptr().add(t0 * g.wo);
                    if g.pointwise() {
                        let x_tile = x.as_ptr().add(t0 * g.wo);
                        if need_dw {
                            weight_grad(g, dw, dy_tile, t, (x_tile, pin), par);
                        }
                        if let Some(dx) = dx {
                            let dx_tile = dx.get().add(t0 * g.wo);
                            matmul(
                                k,
                                t,
                                g.cout,
                                dx_tile,
                                pin,
                                1,
                                false,
                                w.as_ptr(),
                                1,
                                k,
                                dy_tile,
                                pout,
                                1,
                                par,
                            );
                        }
                    } else {
                        with_scratch(k * col_stride(t), |col| {
                            if need_dw {
                                im2col(g, x, (t0, t1), col, par);
                                weight_grad(g, dw, dy_tile, t, (col.as_ptr(), col_stride(t)), par);
                            }
                            if let Some(dx) = dx {
                                matmul(
                                    k,
                                    t,
                                    g.cout,
                                    col.as_mut_ptr(),
                                    col_stride(t),
                                    1,
                                    false,
                                    w.as_ptr(),
                                    1,
                                    k,
                                    dy_tile,
                                    pout,
                                    1,
                                    par,
                                );
                                col2im(g, col, (t0, t1), dx, par);
                            }
                        });
                    }
                }
            }
        };
        if groups.len() == 1 || threads() == 1 {
            for (&r, &dw) in groups.iter().zip(&partial_ptrs) {
                group(r, dw, gemm_parallelism());
            }
        } else {
            for phase in 0..phases {
                groups
                    .par_iter()
                    .zip(partial_ptrs.par_iter())
                    .enumerate()
                    .filter(|(i, _)| i % phases == phase)
                    .for_each(|(_, (&r, &dw))| group(r, dw, gemm::Parallelism::None));
            }
        }
    }
    for p in &mut partials {
        // SAFETY: with `need_dw`, each group's first product wrote all of its `dWᵀ`.
        unsafe { p.set_len(dw_len) };
    }

    // The partial weight gradients, added in a fixed order.
    let dw = need_dw.then(|| {
        let mut parts = partials.into_iter();
        let mut total = parts.next().unwrap_or_default();
        for part in parts {
            for (t, p) in total.iter_mut().zip(&part) {
                *t += *p;
            }
        }
        // The partials hold `dWᵀ (K × Cout)`; the weight is `Cout × K`.
        // SAFETY: `total` is `K × Cout`, and its transpose fills `dw`.
        unsafe {
            write_new(g.cout * k, |dw| {
                transpose(total.as_ptr(), k, g.cout, g.cout, dw.get())
            })
            .0
        }
    });
    ConvGrads {
        dx: dx.map(InputGrad::Ready),
        dw,
        db,
    }
}
// ANCHOR_END: conv_backward

/// The convolution as a candle op with its own backward pass; its arguments
/// are `(x, weight, bias)`.
struct Conv2dOp {
    stride: usize,
    padding: usize,
    reflect: bool,
}

impl CustomOp3 for Conv2dOp {
    fn name(&self) -> &'static str {
        "dip-conv2d"
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
        let g = Geom::new(
            l1.dims(),
            l2.dims(),
            self.stride,
            self.padding,
            self.reflect,
        )?;
        if l3.dims() != [g.cout] {
            bail!(
                "conv2d: bias of shape {:?} for {} output channels",
                l3.dims(),
                g.cout
            )
        }
        let x = cpu_f32(s1, l1, "conv2d input")?;
        let w = cpu_f32(s2, l2, "conv2d weight")?;
        let b = cpu_f32(s3, l3, "conv2d bias")?;
        let y = conv_forward(&g, x, w, b);
        Ok((CpuStorage::F32(y), Shape::from((g.n, g.cout, g.ho, g.wo))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let g = Geom::new(
            x.dims(),
            weight.dims(),
            self.stride,
            self.padding,
            self.reflect,
        )?;
        // Only what something upstream needs: the network's input `z` (a plain
        // tensor) gets no gradient, which saves the first conv's input gradient.
        let need = (x.track_op(), weight.track_op(), bias.track_op());
        let grads = with_f32(x, "conv2d input", |xv| {
            with_f32(weight, "conv2d weight", |wv| {
                with_f32(grad, "conv2d gradient", |dy| {
                    Ok(conv_grads(&g, xv, wv, dy, need))
                })
            })
        })?;
        let dev = x.device();
        let dx = grads
            .dx
            .map(|d| Tensor::from_vec(d.finish(&g), x.shape(), dev))
            .transpose()?;
        let dw = grads
            .dw
            .map(|v| Tensor::from_vec(v, weight.shape(), dev))
            .transpose()?;
        let db = grads
            .db
            .map(|v| Tensor::from_vec(v, bias.shape(), dev))
            .transpose()?;
        Ok((dx, dw, db))
    }
}

/// The convolution by our CPU kernel (`f32` tensors on the CPU), padded as `shape`
/// says: with reflection, the padded input is never built.
pub fn conv2d_fast(x: &Tensor, weight: &Tensor, bias: &Tensor, shape: ConvShape) -> Result<Tensor> {
    let op = Conv2dOp {
        stride: shape.stride,
        padding: shape.padding,
        reflect: shape.reflect,
    };
    apply_conv_op(x, weight, bias, op)
}

/// Run the kernel on contiguous copies of its operands (it reads them as flat slices).
fn apply_conv_op(x: &Tensor, weight: &Tensor, bias: &Tensor, op: Conv2dOp) -> Result<Tensor> {
    x.contiguous()?
        .apply_op3(&weight.contiguous()?, &bias.contiguous()?, op)
}
