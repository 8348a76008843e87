//! ×2 upsampling of the decoder: bilinear (PyTorch's `align_corners = false`) and nearest.
//!
//! With `align_corners = false` output pixel `o` samples the input at
//! `(o + 0.5) / 2 - 0.5`, so along each axis
//! `out[2i] = ¼·x[i-1] + ¾·x[i]` and `out[2i+1] = ¾·x[i] + ¼·x[i+1]`,
//! with the neighbour index clamped at the border.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor, WithDType};

use super::cpu::{self, PlaneKernel};
use super::{Accepts, Kernels};

/// Bilinear ×2 upsampling of the last two dimensions of `[N, C, H, W]`.
pub fn upsample_bilinear2x(x: &Tensor) -> Result<Tensor> {
    upsample_bilinear2x_with(x, Kernels::default())
}

/// [`upsample_bilinear2x`] with an explicit choice of implementation.
///
/// With [`Kernels::Fast`], an f32 or f64 tensor on the CPU goes through our CPU
/// kernel ([`upsample_bilinear2x_cpu`]); everything else through the composed form.
pub fn upsample_bilinear2x_with(x: &Tensor, kernels: Kernels) -> Result<Tensor> {
    if kernels.ours(&[x], Accepts::Floats) {
        upsample_bilinear2x_cpu(x)
    } else {
        upsample_bilinear2x_composed(x)
    }
}

/// Nearest-neighbour ×2 upsampling of the last two dimensions of `[N, C, H, W]`.
pub fn upsample_nearest2x(x: &Tensor) -> Result<Tensor> {
    upsample_nearest2x_with(x, Kernels::default())
}

/// [`upsample_nearest2x`] with an explicit choice of implementation.
///
/// With [`Kernels::Fast`], an f32 or f64 tensor on the CPU goes through our CPU
/// kernel ([`upsample_nearest2x_cpu`]); everything else through the composed form.
pub fn upsample_nearest2x_with(x: &Tensor, kernels: Kernels) -> Result<Tensor> {
    if kernels.ours(&[x], Accepts::Floats) {
        upsample_nearest2x_cpu(x)
    } else {
        upsample_nearest2x_composed(x)
    }
}

/// Bilinear ×2 from candle's differentiable ops (any device): the H axis, then the W axis.
pub fn upsample_bilinear2x_composed(x: &Tensor) -> Result<Tensor> {
    bilinear2x_along(&bilinear2x_along(x, 2)?, 3)
}

/// Nearest ×2 from candle's differentiable ops (any device): each row, then each
/// column, twice.
pub fn upsample_nearest2x_composed(x: &Tensor) -> Result<Tensor> {
    twice_along(&twice_along(x, 2)?, 3)
}

/// Each index of one axis (2 or 3) of a 4-d tensor twice: `[x, x]` stacked behind
/// the axis, the two dimensions merged.
fn twice_along(x: &Tensor, axis: usize) -> Result<Tensor> {
    interleave(x, x, axis)
}

/// `a₀ b₀ a₁ b₁ …` along `axis`: stacked behind the axis, then the two dimensions merged.
fn interleave(a: &Tensor, b: &Tensor, axis: usize) -> Result<Tensor> {
    let mut dims = a.dims().to_vec();
    dims[axis] *= 2;
    Tensor::stack(&[a, b], axis + 1)?.reshape(dims)
}

/// Linear ×2 interpolation along one axis (2 or 3) of a 4-d tensor: output `2i` is
/// `¾ x[i] + ¼ x[i−1]`, output `2i+1` is `¾ x[i] + ¼ x[i+1]`, the neighbours clamped
/// at the ends. The shifted copies are two slices concatenated (candle's
/// `index_select` would do it too, but its backward is a serial loop per row on CUDA).
fn bilinear2x_along(x: &Tensor, axis: usize) -> Result<Tensor> {
    let n = x.dim(axis)?;
    let (prev, next) = if n == 1 {
        (x.clone(), x.clone())
    } else {
        (
            Tensor::cat(&[x.narrow(axis, 0, 1)?, x.narrow(axis, 0, n - 1)?], axis)?,
            Tensor::cat(
                &[x.narrow(axis, 1, n - 1)?, x.narrow(axis, n - 1, 1)?],
                axis,
            )?,
        )
    };
    let even = ((prev * 0.25)? + (x * 0.75)?)?;
    let odd = ((x * 0.75)? + (next * 0.25)?)?;
    interleave(&even, &odd, axis)
}

/// Bilinear ×2 upsampling by our CPU kernel ([`Bilinear2xOp`]), with its own backward pass.
pub fn upsample_bilinear2x_cpu(x: &Tensor) -> Result<Tensor> {
    x.apply_op1(Bilinear2xOp)
}

/// The adjoint of [`upsample_bilinear2x`] by our CPU kernel ([`Bilinear2xAdjointOp`]):
/// `[N, C, 2H, 2W]` to `[N, C, H, W]`.
pub fn upsample_bilinear2x_adjoint_cpu(g: &Tensor) -> Result<Tensor> {
    g.apply_op1(Bilinear2xAdjointOp)
}

/// Nearest ×2 upsampling by our CPU kernel ([`Nearest2xOp`]), with its own backward pass.
pub fn upsample_nearest2x_cpu(x: &Tensor) -> Result<Tensor> {
    x.apply_op1(Nearest2xOp)
}

/// The adjoint of [`upsample_nearest2x`] by our CPU kernel ([`Nearest2xAdjointOp`]):
/// `[N, C, 2H, 2W]` to `[N, C, H, W]`.
pub fn upsample_nearest2x_adjoint_cpu(g: &Tensor) -> Result<Tensor> {
    g.apply_op1(Nearest2xAdjointOp)
}

/// Bilinear ×2 upsampling (`align_corners = false`) as a candle custom op on the CPU (f32, f64).
///
/// The map is separable, `Y = A_H X A_Wᵀ`, with the same 2n × n matrix `A` along
/// each axis. Output `o` samples the input at `(o + ½)/2 − ½`, which lands a quarter
/// of a pixel from an input pixel, so the rows of `A` are
///
/// ```text
/// out[0]      = x[0]                      (the clamped ¼·x[0] + ¾·x[0])
/// out[2i + 1] = ¾·x[i] + ¼·x[i + 1]       for 0 ≤ i < n − 1
/// out[2i + 2] = ¼·x[i] + ¾·x[i + 1]
/// out[2n − 1] = x[n − 1]
/// ```
///
/// The kernel blends two neighbouring input rows (the vertical pass) into a
/// scratch row of `W`, then widens it to `2W` (the horizontal pass): every input
/// pair `(a, b)` gives the two outputs between them. No index is clamped in the
/// inner loops: the borders are the first and last rows and columns, copied.
///
/// Its gradient is the adjoint `A_Hᵀ G A_W` ([`Bilinear2xAdjointOp`]).
#[derive(Clone, Copy, Debug)]
pub struct Bilinear2xOp;

/// The adjoint of bilinear ×2 upsampling as a candle custom op on the CPU (f32, f64).
///
/// Column `i` of `A` holds the weights with which `x[i]` enters the outputs, so
/// along one axis (a 2n-vector `g` to an n-vector)
///
/// ```text
/// (Aᵀg)[i] = ¼·g[2i − 1] + ¾·g[2i] + ¾·g[2i + 1] + ¼·g[2i + 2],
/// ```
///
/// with the indices clamped to `[0, 2n)`: at the borders the weight ¼ that points
/// outside falls back on the edge pixel, which is exactly how the forward clamps.
/// The kernel applies this to four rows of `g` (vertical, into a scratch row of
/// `2W`), then along that row (horizontal), always in the same order.
///
/// Its own gradient is the upsampling again, since `(Aᵀ)ᵀ = A`.
#[derive(Clone, Copy, Debug)]
pub struct Bilinear2xAdjointOp;

/// Nearest ×2 upsampling as a candle custom op on the CPU (f32, f64): every pixel
/// becomes a 2 × 2 block, `out[2i + a][2j + b] = x[i][j]` for `a, b ∈ {0, 1}`.
/// The kernel widens each input row once and copies it to the row below.
///
/// Its gradient is the adjoint ([`Nearest2xAdjointOp`]).
#[derive(Clone, Copy, Debug)]
pub struct Nearest2xOp;

/// The adjoint of nearest ×2 upsampling as a candle custom op on the CPU (f32, f64):
/// the sum of each 2 × 2 block, `(g[2i][2j] + g[2i][2j+1]) + (g[2i+1][2j] + g[2i+1][2j+1])`.
///
/// Its own gradient is the upsampling again.
#[derive(Clone, Copy, Debug)]
pub struct Nearest2xAdjointOp;

/// The input sizes whose ×2 upsampling has `h × w` pixels, for the adjoints.
fn halve(name: &str, h: usize, w: usize) -> Result<(usize, usize)> {
    if !h.is_multiple_of(2) || !w.is_multiple_of(2) {
        candle_core::bail!("{name} needs an even height and width, got {h}×{w}");
    }
    Ok((h / 2, w / 2))
}

// ANCHOR: bilinear_kernel
/// One row of bilinear ×2 along the width: `src` (length `w`) into `dst` (length `2w`).
fn bilinear_row<T: WithDType>(src: &[T], dst: &mut [T]) {
    let (q, tq) = (T::from_f64(0.25), T::from_f64(0.75));
    let w = src.len();
    dst[0] = src[0];
    dst[2 * w - 1] = src[w - 1];
    for (d, s) in dst[1..2 * w - 1].chunks_exact_mut(2).zip(src.windows(2)) {
        d[0] = tq * s[0] + q * s[1];
        d[1] = q * s[0] + tq * s[1];
    }
}

impl PlaneKernel for Bilinear2xOp {
    fn name(&self) -> &'static str {
        "upsample-bilinear2x"
    }

    fn out_hw(&self, h: usize, w: usize) -> Result<(usize, usize)> {
        Ok((2 * h, 2 * w))
    }

    fn plane<T: WithDType>(&self, src: &[T], dst: &mut [T], h: usize, w: usize) {
        let (q, tq) = (T::from_f64(0.25), T::from_f64(0.75));
        let mut blend = vec![T::zero(); w];
        let mut out_rows = dst.chunks_exact_mut(2 * w);
        let mut next_row = || out_rows.next().expect("2h output rows");
        bilinear_row(&src[..w], next_row());
        for (a, b) in src.chunks_exact(w).zip(src.chunks_exact(w).skip(1)) {
            for ((v, &a), &b) in blend.iter_mut().zip(a).zip(b) {
                *v = tq * a + q * b;
            }
            bilinear_row(&blend, next_row());
            for ((v, &a), &b) in blend.iter_mut().zip(a).zip(b) {
                *v = q * a + tq * b;
            }
            bilinear_row(&blend, next_row());
        }
        bilinear_row(&src[(h - 1) * w..], next_row());
    }
}
// ANCHOR_END: bilinear_kernel

// ANCHOR: bilinear_adjoint_kernel
/// One row of the adjoint along the width: `src` (length `2w`) into `dst` (length `w`).
fn bilinear_row_adjoint<T: WithDType>(src: &[T], dst: &mut [T]) {
    let (q, tq) = (T::from_f64(0.25), T::from_f64(0.75));
    let w = dst.len();
    // The borders, with clamped indices.
    let at = |k: isize| src[k.clamp(0, 2 * w as isize - 1) as usize];
    let edge = |j: isize| q * (at(2 * j - 1) + at(2 * j + 2)) + tq * (at(2 * j) + at(2 * j + 1));
    dst[0] = edge(0);
    dst[w - 1] = edge(w as isize - 1);
    // The interior: output j reads src[2j - 1 ..= 2j + 2], the pairs j - 1, j and j + 1.
    if w > 2 {
        let pairs = src.chunks_exact(2);
        let inner = pairs.clone().zip(pairs.clone().skip(1)).zip(pairs.skip(2));
        for (d, ((l, m), r)) in dst[1..w - 1].iter_mut().zip(inner) {
            *d = q * (l[1] + r[0]) + tq * (m[0] + m[1]);
        }
    }
}

impl PlaneKernel for Bilinear2xAdjointOp {
    fn name(&self) -> &'static str {
        "upsample-bilinear2x-adjoint"
    }

    fn out_hw(&self, h: usize, w: usize) -> Result<(usize, usize)> {
        halve(PlaneKernel::name(self), h, w)
    }

    fn plane<T: WithDType>(&self, src: &[T], dst: &mut [T], h2: usize, w2: usize) {
        let (q, tq) = (T::from_f64(0.25), T::from_f64(0.75));
        let row = |r: isize| {
            let r = r.clamp(0, h2 as isize - 1) as usize;
            &src[r * w2..(r + 1) * w2]
        };
        let mut blend = vec![T::zero(); w2];
        for (i, dst_row) in dst.chunks_exact_mut(w2 / 2).enumerate() {
            let i = i as isize;
            let (a, b, c, d) = (row(2 * i - 1), row(2 * i), row(2 * i + 1), row(2 * i + 2));
            for ((((v, &a), &b), &c), &d) in blend.iter_mut().zip(a).zip(b).zip(c).zip(d) {
                *v = q * (a + d) + tq * (b + c);
            }
            bilinear_row_adjoint(&blend, dst_row);
        }
    }
}
// ANCHOR_END: bilinear_adjoint_kernel

// ANCHOR: nearest_kernel
impl PlaneKernel for Nearest2xOp {
    fn name(&self) -> &'static str {
        "upsample-nearest2x"
    }

    fn out_hw(&self, h: usize, w: usize) -> Result<(usize, usize)> {
        Ok((2 * h, 2 * w))
    }

    fn plane<T: WithDType>(&self, src: &[T], dst: &mut [T], _h: usize, w: usize) {
        for (src_row, dst_rows) in src.chunks_exact(w).zip(dst.chunks_exact_mut(4 * w)) {
            let (top, bottom) = dst_rows.split_at_mut(2 * w);
            for (d, &s) in top.chunks_exact_mut(2).zip(src_row) {
                d[0] = s;
                d[1] = s;
            }
            bottom.copy_from_slice(top);
        }
    }
}
// ANCHOR_END: nearest_kernel

// ANCHOR: nearest_adjoint_kernel
impl PlaneKernel for Nearest2xAdjointOp {
    fn name(&self) -> &'static str {
        "upsample-nearest2x-adjoint"
    }

    fn out_hw(&self, h: usize, w: usize) -> Result<(usize, usize)> {
        halve(PlaneKernel::name(self), h, w)
    }

    fn plane<T: WithDType>(&self, src: &[T], dst: &mut [T], _h2: usize, w2: usize) {
        for (dst_row, src_rows) in dst.chunks_exact_mut(w2 / 2).zip(src.chunks_exact(2 * w2)) {
            let (top, bottom) = src_rows.split_at(w2);
            let blocks = top.chunks_exact(2).zip(bottom.chunks_exact(2));
            for (d, (t, b)) in dst_row.iter_mut().zip(blocks) {
                *d = (t[0] + t[1]) + (b[0] + b[1]);
            }
        }
    }
}
// ANCHOR_END: nearest_adjoint_kernel

/// The `CustomOp1` of a plane kernel whose gradient is another plane kernel.
macro_rules! custom_op {
    ($op:ty, $grad:expr) => {
        impl CustomOp1 for $op {
            fn name(&self) -> &'static str {
                PlaneKernel::name(self)
            }

            fn cpu_fwd(
                &self,
                storage: &CpuStorage,
                layout: &Layout,
            ) -> Result<(CpuStorage, Shape)> {
                cpu::apply(self, storage, layout)
            }

            fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
                Ok(Some(grad.apply_op1($grad)?))
            }
        }
    };
}

custom_op!(Bilinear2xOp, Bilinear2xAdjointOp);
custom_op!(Bilinear2xAdjointOp, Bilinear2xOp);
custom_op!(Nearest2xOp, Nearest2xAdjointOp);
custom_op!(Nearest2xAdjointOp, Nearest2xOp);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bilinear_row_example() {
        let mut dst = [0.0f32; 6];
        bilinear_row(&[0.0, 4.0, 8.0], &mut dst);
        assert_eq!(dst, [0.0, 1.0, 3.0, 5.0, 7.0, 8.0]);
    }

    #[test]
    fn bilinear_row_adjoint_is_the_transpose() {
        // ⟨A e_j, e_k⟩ = ⟨e_j, Aᵀ e_k⟩ for all basis vectors, widths 1 to 5.
        for w in 1..6 {
            for j in 0..w {
                let mut x = vec![0.0f64; w];
                x[j] = 1.0;
                let mut up = vec![0.0; 2 * w];
                bilinear_row(&x, &mut up);
                for (k, &uk) in up.iter().enumerate() {
                    let mut e = vec![0.0; 2 * w];
                    e[k] = 1.0;
                    let mut down = vec![0.0; w];
                    bilinear_row_adjoint(&e, &mut down);
                    assert_eq!(uk, down[j], "w = {w}, j = {j}, k = {k}");
                }
            }
        }
    }
}
