//! The convolution's CPU kernel, forward pass: the shapes ([`Geom`]), the input
//! unfolded into columns (im2col) and folded back (col2im), the product by gemm over
//! tiles of output rows, and Winograd's minimal filtering for the 3×3 ones.

use std::mem::MaybeUninit;

use candle_core::{bail, Result};
use rayon::prelude::*;

use super::cpu_util::{gemm_parallelism, matmul, threads, with_scratch, write_new, SendPtr};
use super::reflection_pad::source_index;
use super::winograd::Tiling as _;
use super::{winograd, winograd4};

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
pub(super) const TILE_PIXELS: usize = 1024;

/// At most this many groups (partial weight gradients) per layer, and at least
/// [`GROUP_PIXELS`] output pixels in each: numbers of the shape alone, so that
/// results do not depend on the number of threads. A group of fewer pixels spent more
/// time clearing and adding its partial gradient (`Cout·K` floats, 590 kB for the
/// network's 3×3 convs) than multiplying: the stride-2 conv to 16² took 1.26 ms of
/// backward pass in 8 groups, 0.89 ms in one (whose products gemm splits between the threads).
pub(super) const MAX_GROUPS: usize = 8;
pub(super) const GROUP_PIXELS: usize = 256;

/// Winograd ([`Geom::winograd`]) from this many output pixels up (32², not 16²). Below,
/// transforming the kernels (16/9 of the weights' size, for the input gradient once
/// more) costs more than the multiplications it saves: the layers of 16² and less run
/// faster by im2col.
pub(super) const WINOGRAD_FROM_PIXELS: usize = 512;

/// Winograd's F(4 × 4, 3 × 3) ([`TileSize`]) from this many output pixels up (64²): on
/// a 132-to-128-channel layer its output and input gradient take 10 to 30 % less time
/// than F(2 × 2, 3 × 3)'s from 64², but at 32² its blocks have too few tiles and it is slower.
pub(super) const WINOGRAD4_FROM_PIXELS: usize = 4096;

/// The weight gradient by Winograd's F(2×2, 3×3) too from this many output pixels up
/// (64²): its products over the tiles are 2.25 times fewer, but it transforms the input
/// again and the output gradient, which pays only on large planes (on a
/// 132-to-128-channel layer, a fifth to a quarter less time than im2col's from 64²; at
/// 32², none).
pub(super) const WINOGRAD_WEIGHT_GRAD_FROM_PIXELS: usize = 2048;

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
    pub(super) fn k(&self) -> usize {
        self.cin * self.kh * self.kw
    }

    pub(super) fn in_pixels(&self) -> usize {
        self.h * self.w
    }

    pub(super) fn out_pixels(&self) -> usize {
        self.ho * self.wo
    }

    /// A 1×1 conv with stride 1 and no padding: `col` is the input itself.
    pub(super) fn pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == 1 && self.pad == 0
    }

    /// Index `q` of the padded axis of length `n` in the unpadded one: mirrored at
    /// the border (`−1 → 1`, `n → n − 2`) for reflection padding, `None` (a zero) otherwise.
    pub(super) fn unpad(&self, q: usize, n: usize) -> Option<usize> {
        source_index(q, n, self.pad, self.reflect)
    }

    /// The output rows of each tile.
    pub(super) fn tile_rows(&self) -> usize {
        (TILE_PIXELS / self.wo).max(1)
    }

    /// The output columns `ow` whose input column `ow·stride + j − pad` lies inside the image.
    pub(super) fn valid_cols(&self, j: usize) -> (usize, usize) {
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
    pub(super) fn in_row(&self, r: usize, i: usize) -> Option<usize> {
        self.unpad(r * self.stride + i, self.h)
    }

    /// A 3×3 conv with stride 1 and padding 1 of at least [`WINOGRAD_FROM_PIXELS`]
    /// outputs, which runs by Winograd's minimal filtering (its tiles: [`TileSize`]): the
    /// network's convolutions but the strided, the 1×1 and the smallest ones.
    pub(super) fn winograd(&self) -> bool {
        (self.kh, self.kw, self.stride, self.pad) == (3, 3, 1, 1)
            && self.out_pixels() >= WINOGRAD_FROM_PIXELS
    }

    /// Whether [`conv_grads`] computes the input gradient from the weights and the
    /// output gradient alone (by Winograd), so that the input may be passed empty.
    pub(super) fn input_grad_without_input(&self) -> bool {
        self.winograd()
    }

    /// One image of the forward pass, for [`winograd`].
    pub(super) fn winograd_shape(&self) -> winograd::Shape3x3 {
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
    pub(super) fn in_col(&self, ow: usize, j: usize) -> Option<usize> {
        self.unpad(ow * self.stride + j, self.w)
    }
}

/// Whether a tile's unfolding and folding run on all threads: when its product does
/// (`par`: the tile runs alone, as the small planes' do) and it is large enough to
/// pay for waking them (64 Ki floats). On the 16² planes of a 64² fit they took one
/// thread as long as the products took two.
pub(super) fn fold_in_parallel(par: gemm::Parallelism, k: usize, t: usize) -> bool {
    matches!(par, gemm::Parallelism::Rayon(_)) && k * t >= 1 << 16
}

/// Unfold output rows `r0..r1` of one image `x (Cin × H × W)` into `col (K × T)`,
/// `T = (r1 − r0)·Wo`: `col[(c, i, j)][(r, ow)] = x[c][r·s + i − p][ow·s + j − p]`
/// (zero outside the image, or the mirrored pixel with reflection padding); the
/// channels in parallel where [`fold_in_parallel`].
pub(super) fn im2col(
    g: &Geom,
    x: &[f32],
    (r0, r1): (usize, usize),
    col: &mut [f32],
    par: gemm::Parallelism,
) {
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
pub(super) fn im2col_channel(
    g: &Geom,
    x: &[f32],
    (r0, r1): (usize, usize),
    c: usize,
    rows: &mut [f32],
) {
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
pub(super) unsafe fn col2im(
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
pub(super) fn col_stride(t: usize) -> usize {
    t + 16
}

/// Split output rows `0..n` into pieces of `len` rows.
pub(super) fn row_ranges(n: usize, len: usize) -> Vec<(usize, usize)> {
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

/// Which of Winograd's tilings ([`winograd::Tiling`]) a plane's output and input gradient
/// take: F(4 × 4, 3 × 3) ([`winograd4`]) on planes of at least [`WINOGRAD4_FROM_PIXELS`]
/// outputs, F(2 × 2, 3 × 3) ([`winograd`]) on smaller ones, where the larger tiles would
/// leave too few of them to a block for gemm.
#[derive(Clone, Copy)]
pub(super) enum TileSize {
    F2,
    F4,
}

impl TileSize {
    pub(super) fn for_pixels(pixels: usize) -> Self {
        if pixels >= WINOGRAD4_FROM_PIXELS {
            TileSize::F4
        } else {
            TileSize::F2
        }
    }

    pub(super) fn transform_weights(self, w: &[f32], cout: usize, cin: usize) -> Vec<f32> {
        match self {
            TileSize::F2 => winograd::F2::transform_weights(w, cout, cin),
            TileSize::F4 => winograd4::F4::transform_weights(w, cout, cin),
        }
    }

    /// # Safety
    /// As [`winograd::forward`]: `y` must point at `Cout · Ho · Wo` writable floats.
    pub(super) unsafe fn forward(
        self,
        s: &winograd::Shape3x3,
        x: &[f32],
        u: &[f32],
        b: &[f32],
        y: SendPtr,
    ) {
        match self {
            // SAFETY: the caller's `y`.
            TileSize::F2 => unsafe { winograd::forward::<winograd::F2>(s, x, u, b, y) },
            TileSize::F4 => unsafe { winograd::forward::<winograd4::F4>(s, x, u, b, y) },
        }
    }
}
