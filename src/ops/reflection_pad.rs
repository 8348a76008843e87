//! Reflection padding, as PyTorch's `ReflectionPad2d`: the border is mirrored
//! without repeating the edge pixel (`[a b c d]` padded by 2 is `[c b a b c d c b]`).
//!
//! The reference pads by reflection before every convolution of its networks
//! ("reflection" padding), so this op runs 2 × 26 times per iteration of the
//! standard net: forward and backward.

use candle_core::{bail, CpuStorage, CustomOp1, Layout, Result, Shape, Tensor, WithDType};

use super::cpu::{self, PlaneKernel};
use super::{Accepts, Kernels};

/// The index on an axis of length `n` under index `q` of that axis padded by `pad`:
/// mirrored at the border for reflection padding (`−1 → 1`, `n → n − 2`), `None` (a
/// zero) for zero padding, and `None` past the mirrored border (where a convolution's
/// last tile of an odd size may reach).
pub fn source_index(q: usize, n: usize, pad: usize, mirrored: bool) -> Option<usize> {
    if mirrored {
        (q <= 2 * (n - 1) + pad).then(|| reflect(q, n, pad))
    } else {
        (q >= pad && q - pad < n).then(|| q - pad)
    }
}

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
///
/// With [`Kernels::Fast`], an f32 or f64 tensor on the CPU goes through our CPU
/// kernel ([`reflection_pad2d_cpu`]); everything else through the composed form.
pub fn reflection_pad2d_with(x: &Tensor, pad: usize, kernels: Kernels) -> Result<Tensor> {
    if pad == 0 {
        return Ok(x.clone());
    }
    let (_, _, h, w) = x.dims4()?;
    check_pad(pad, h, w)?;
    if kernels.ours(&[x], Accepts::Floats) {
        reflection_pad2d_cpu(x, pad)
    } else {
        reflection_pad2d_composed(x, pad)
    }
}

fn check_pad(pad: usize, h: usize, w: usize) -> Result<()> {
    if pad >= h || pad >= w {
        bail!("reflection padding of {pad} needs an input larger than {pad} pixels, got {h}×{w}");
    }
    Ok(())
}

/// Reflection padding from candle's differentiable ops (any device): along each
/// axis, the `pad` mirrored rows (columns) on either side are one-wide slices of the
/// input, concatenated around it ([`reflected_indices`] says which). Slices and
/// concatenation are copies of whole rows, and so is their backward pass; candle's
/// `index_select` would do the same, but its backward (`index_add`) is a serial loop
/// per row on CUDA.
pub fn reflection_pad2d_composed(x: &Tensor, pad: usize) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    if pad >= h || pad >= w {
        candle_core::bail!("reflection padding by {pad} needs a side above {pad}, got {h}×{w}");
    }
    reflect_along(&reflect_along(x, 2, pad)?, 3, pad)
}

/// Reflection padding by `pad` along one axis (2 or 3) of a 4-d tensor.
fn reflect_along(x: &Tensor, axis: usize, pad: usize) -> Result<Tensor> {
    if pad == 0 {
        return Ok(x.clone());
    }
    let n = x.dim(axis)?;
    let table = reflected_indices(n, pad);
    let slice = |i: u32| x.narrow(axis, i as usize, 1);
    let mut parts = Vec::with_capacity(2 * pad + 1);
    for &i in &table[..pad] {
        parts.push(slice(i)?);
    }
    parts.push(x.clone());
    for &i in &table[n + pad..] {
        parts.push(slice(i)?);
    }
    Tensor::cat(&parts, axis)
}

/// Reflection padding by our CPU kernel ([`ReflectionPad2dOp`]), with its own backward pass.
pub fn reflection_pad2d_cpu(x: &Tensor, pad: usize) -> Result<Tensor> {
    x.apply_op1(ReflectionPad2dOp { pad })
}

/// The adjoint (transpose) of [`reflection_pad2d`] by our CPU kernel
/// ([`ReflectionPad2dAdjointOp`]): `[N, C, H + 2p, W + 2p]` to `[N, C, H, W]`.
pub fn reflection_pad2d_adjoint_cpu(g: &Tensor, pad: usize) -> Result<Tensor> {
    g.apply_op1(ReflectionPad2dAdjointOp { pad })
}

/// Reflection padding as a candle custom op on the CPU (f32, f64).
///
/// Padding is linear, `y = P x`: every output pixel is a copy of one input pixel,
/// the one at the reflected position. Along an axis of length `n` padded by `p`,
/// output `i ∈ [0, n + 2p)` reads input `r(i − p)` with `r(j) = |j|` for `j < n`
/// and `r(j) = 2(n − 1) − j` beyond the end; the 2-d map reflects the rows and the
/// columns independently. Each output row is therefore one input row, copied
/// whole into the middle (a `memcpy`) and mirrored into the `p` pixels on either side.
///
/// Its gradient is the adjoint `Pᵀ g` ([`ReflectionPad2dAdjointOp`]).
#[derive(Clone, Copy, Debug)]
pub struct ReflectionPad2dOp {
    pub pad: usize,
}

/// The adjoint of reflection padding as a candle custom op on the CPU (f32, f64).
///
/// `Pᵀ g` sends every padded pixel back to the pixel it was copied from and adds
/// up what arrives: the interior of `g` is kept and its mirrored border is folded
/// back onto the pixels next to the edge. Input row `i` receives padded row
/// `p + i`, plus the top mirror row `p − i` when `1 ≤ i ≤ p`, plus the bottom mirror
/// row `p + 2(H − 1) − i` when `H − 1 − p ≤ i ≤ H − 2`; each of them is folded the
/// same way along the columns. The sums run in a fixed order (deterministic).
///
/// Its own gradient is the padding again, since `(Pᵀ)ᵀ = P`.
#[derive(Clone, Copy, Debug)]
pub struct ReflectionPad2dAdjointOp {
    pub pad: usize,
}

// ANCHOR: reflection_pad_kernel
/// The input row read by output row `i` of an axis of length `n` padded by `p`.
fn reflect(i: usize, n: usize, p: usize) -> usize {
    if i < p {
        p - i
    } else if i < p + n {
        i - p
    } else {
        2 * (n - 1) + p - i
    }
}

/// One row: `src` (length `w`) into `dst` (length `w + 2p`).
fn pad_row<T: Copy>(src: &[T], dst: &mut [T], p: usize) {
    let w = src.len();
    dst[p..p + w].copy_from_slice(src);
    for k in 0..p {
        dst[p - 1 - k] = src[k + 1]; // left border: [.. c b | a b c ..]
        dst[p + w + k] = src[w - 2 - k]; // right border: [.. x y z | y x ..]
    }
}

impl PlaneKernel for ReflectionPad2dOp {
    fn name(&self) -> &'static str {
        "reflection-pad2d"
    }

    fn out_hw(&self, h: usize, w: usize) -> Result<(usize, usize)> {
        check_pad(self.pad, h, w)?;
        Ok((h + 2 * self.pad, w + 2 * self.pad))
    }

    fn plane<T: WithDType>(&self, src: &[T], dst: &mut [T], h: usize, w: usize) {
        let p = self.pad;
        for (i, dst_row) in dst.chunks_exact_mut(w + 2 * p).enumerate() {
            let r = reflect(i, h, p);
            pad_row(&src[r * w..(r + 1) * w], dst_row, p);
        }
    }
}
// ANCHOR_END: reflection_pad_kernel

// ANCHOR: reflection_pad_adjoint_kernel
/// One row of the adjoint: `src` (length `w + 2p`) folded onto `dst` (length `w`),
/// overwriting `dst` (`add = false`) or adding to it (`add = true`).
fn fold_row<T: WithDType>(src: &[T], dst: &mut [T], p: usize, add: bool) {
    let w = dst.len();
    let centre = &src[p..p + w];
    if add {
        for (d, &s) in dst.iter_mut().zip(centre) {
            *d += s;
        }
    } else {
        dst.copy_from_slice(centre);
    }
    for k in 0..p {
        dst[k + 1] += src[p - 1 - k]; // the left border goes back where it came from
        dst[w - 2 - k] += src[p + w + k]; // and so does the right one
    }
}

impl PlaneKernel for ReflectionPad2dAdjointOp {
    fn name(&self) -> &'static str {
        "reflection-pad2d-adjoint"
    }

    fn out_hw(&self, hp: usize, wp: usize) -> Result<(usize, usize)> {
        let p = self.pad;
        match (hp.checked_sub(2 * p), wp.checked_sub(2 * p)) {
            (Some(h), Some(w)) if p == 0 || (p < h && p < w) => Ok((h, w)),
            _ => bail!(
                "the adjoint of reflection padding by {p} needs more than {} pixels, got {hp}×{wp}",
                3 * p
            ),
        }
    }

    fn plane<T: WithDType>(&self, src: &[T], dst: &mut [T], hp: usize, wp: usize) {
        let p = self.pad;
        let h = hp - 2 * p;
        let row = |r: usize| &src[r * wp..(r + 1) * wp];
        for (i, dst_row) in dst.chunks_exact_mut(wp - 2 * p).enumerate() {
            fold_row(row(p + i), dst_row, p, false); // the row itself
            if (1..=p).contains(&i) {
                fold_row(row(p - i), dst_row, p, true); // its mirror image above
            }
            if i + 1 + p >= h && i + 2 <= h {
                fold_row(row(p + 2 * (h - 1) - i), dst_row, p, true); // and below
            }
        }
    }
}
// ANCHOR_END: reflection_pad_adjoint_kernel

impl CustomOp1 for ReflectionPad2dOp {
    fn name(&self) -> &'static str {
        PlaneKernel::name(self)
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        cpu::apply(self, storage, layout)
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(reflection_pad2d_adjoint_cpu(grad, self.pad)?))
    }
}

impl CustomOp1 for ReflectionPad2dAdjointOp {
    fn name(&self) -> &'static str {
        PlaneKernel::name(self)
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        cpu::apply(self, storage, layout)
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(reflection_pad2d_cpu(grad, self.pad)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect_matches_the_index_table() {
        for n in 1..8 {
            for p in 0..n {
                let table = reflected_indices(n, p);
                for (i, &j) in table.iter().enumerate() {
                    assert_eq!(reflect(i, n, p), j as usize, "n = {n}, p = {p}, i = {i}");
                }
            }
        }
    }

    #[test]
    fn pad_row_example() {
        let mut dst = [0; 8];
        pad_row(&[1, 2, 3, 4], &mut dst, 2);
        assert_eq!(dst, [3, 2, 1, 2, 3, 4, 3, 2]);
    }

    #[test]
    fn fold_row_is_the_adjoint_of_pad_row() {
        // ⟨pad(e_j), e_k⟩ = ⟨e_j, fold(e_k)⟩ for all basis vectors.
        let (w, p) = (5, 3);
        for j in 0..w {
            let mut x = vec![0.0f64; w];
            x[j] = 1.0;
            let mut padded = vec![0.0; w + 2 * p];
            pad_row(&x, &mut padded, p);
            for (k, &pk) in padded.iter().enumerate() {
                let mut e = vec![0.0; w + 2 * p];
                e[k] = 1.0;
                let mut folded = vec![0.0; w];
                fold_row(&e, &mut folded, p, true);
                assert_eq!(pk, folded[j]);
            }
        }
    }
}
