//! The decoder's merge: the deeper branch upsampled ×2 and concatenated behind the
//! skip branch, `cat(skip, up(deep))` along the channels, both centre-cropped to the
//! smaller size where they differ (the reference's `Concat`: with sides that are
//! multiples of 2^depth they never do; Table 1's 514 × 514 images make the upsampled
//! branch one pixel larger at every scale).
//!
//! On the CPU this is one op ([`MergeOp`]): the upsampled branch is written straight
//! into its place in the concatenation and never exists on its own. At 512 × 512 that
//! is a full-resolution 128-channel tensor (128 MiB) less that the graph keeps for the
//! backward pass, and one less to write, copy and add up in each pass.
//!
//! The batch norm that follows the merge in the network joins it in one more op
//! ([`upsample_concat_bn_with`]): the concatenation is then overwritten by the batch
//! norm's output, and the graph keeps neither.

use candle_core::{
    bail, CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor, WithDType,
};
use rayon::prelude::*;

use super::batch_norm::{batch_norm_with, InPlace};
use super::cpu::{self, PlaneKernel};
use super::cpu_util::{cpu_f32, filled, Stash};
use super::upsample::{Bilinear2xAdjointOp, Bilinear2xOp, Nearest2xAdjointOp, Nearest2xOp};
use super::{Accepts, Kernels};

pub use crate::net::Upsample;

/// `cat(skip, up(deep))` along the channels, centre-cropped to the smaller size.
/// `skip: [N, Cs, Hs, Ws]`, `deep: [N, Cd, Hd, Wd]`; the result has `Cs + Cd` channels
/// and `min(Hs, 2·Hd) × min(Ws, 2·Wd)` pixels.
pub fn upsample_concat_with(
    skip: &Tensor,
    deep: &Tensor,
    mode: Upsample,
    kernels: Kernels,
) -> Result<Tensor> {
    if kernels.ours(&[skip, deep], Accepts::Floats) {
        skip.apply_op2(deep, MergeOp { mode })
    } else {
        upsample_concat_composed(skip, deep, mode, kernels)
    }
}

/// Batch norm (without activation) of [`upsample_concat_with`]: `γ, β: [Cs + Cd]`.
/// On the CPU one op, [`MergeBnOp`].
pub fn upsample_concat_bn_with(
    skip: &Tensor,
    deep: &Tensor,
    mode: Upsample,
    gamma: &Tensor,
    beta: &Tensor,
    kernels: Kernels,
) -> Result<Tensor> {
    if kernels.ours(&[skip, deep, gamma, beta], Accepts::F32) {
        let params = Tensor::cat(&[gamma, beta], 0)?;
        let op = MergeBnOp {
            mode,
            saved: Stash::new(),
        };
        skip.contiguous()?
            .apply_op3(&deep.contiguous()?, &params, op)
    } else {
        let merged = upsample_concat_with(skip, deep, mode, kernels)?;
        batch_norm_with(&merged, gamma, beta, None, kernels)
    }
}

/// [`upsample_concat_with`] as two ops: the upsampling, then the concatenation.
pub fn upsample_concat_composed(
    skip: &Tensor,
    deep: &Tensor,
    mode: Upsample,
    kernels: Kernels,
) -> Result<Tensor> {
    let up = upsample_with(deep, mode, kernels)?;
    concat_cropped(skip, &up)
}

/// ×2 upsampling by `mode`.
pub fn upsample_with(x: &Tensor, mode: Upsample, kernels: Kernels) -> Result<Tensor> {
    match mode {
        Upsample::Bilinear => super::upsample::upsample_bilinear2x_with(x, kernels),
        Upsample::Nearest => super::upsample::upsample_nearest2x_with(x, kernels),
    }
}

/// Concatenate along channels, centre-cropping both to the smaller size if they differ.
pub fn concat_cropped(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (_, _, ha, wa) = a.dims4()?;
    let (_, _, hb, wb) = b.dims4()?;
    let (h, w) = (ha.min(hb), wa.min(wb));
    let crop = |t: &Tensor, th: usize, tw: usize| -> Result<Tensor> {
        t.narrow(2, (th - h) / 2, h)?.narrow(3, (tw - w) / 2, w)
    };
    Tensor::cat(&[crop(a, ha, wa)?, crop(b, hb, wb)?], 1)
}

/// The merge as a candle op on the CPU (f32, f64) with its own backward pass; its
/// arguments are `(skip, deep)`.
///
/// Forward, plane by plane in parallel: a skip channel is its plane's centre copied;
/// a deep channel is upsampled by the plane kernel of [`Bilinear2xOp`] or
/// [`Nearest2xOp`], into the output plane itself when no crop is needed.
///
/// Backward: the gradient's first `Cs` channels are the skip's (put back in the middle
/// of zeros if it was cropped); the others, put back likewise into the `2Hd × 2Wd`
/// of the upsampled branch, go through the upsampling's adjoint.
#[derive(Clone, Copy, Debug)]
pub struct MergeOp {
    pub mode: Upsample,
}

/// The shapes of one merge.
pub(super) struct MergeGeom {
    pub n: usize,
    skip: (usize, usize, usize),
    deep: (usize, usize, usize),
    /// The output plane.
    pub h: usize,
    pub w: usize,
}

impl MergeGeom {
    pub(super) fn new(skip: &[usize], deep: &[usize]) -> Result<Self> {
        let (&[n, cs, hs, ws], &[n2, cd, hd, wd]) = (skip, deep) else {
            bail!("merge: expected 4-d tensors, got {skip:?} and {deep:?}")
        };
        if n != n2 || hd == 0 || wd == 0 {
            bail!("merge: cannot concatenate {skip:?} with the upsampled {deep:?}")
        }
        Ok(Self {
            n,
            skip: (cs, hs, ws),
            deep: (cd, hd, wd),
            h: hs.min(2 * hd),
            w: ws.min(2 * wd),
        })
    }

    pub(super) fn channels(&self) -> usize {
        self.skip.0 + self.deep.0
    }

    /// The number of values of the merged tensor.
    pub(super) fn elem_count(&self) -> usize {
        self.n * self.channels() * self.h * self.w
    }
}

/// Copy the centre `h × w` of the `sh × sw` plane `src` into `dst`.
fn crop_plane<T: Copy>(src: &[T], (sh, sw): (usize, usize), dst: &mut [T], w: usize) {
    let h = dst.len() / w;
    let (top, left) = ((sh - h) / 2, (sw - w) / 2);
    for (r, row) in dst.chunks_exact_mut(w).enumerate() {
        row.copy_from_slice(&src[(top + r) * sw + left..][..w]);
    }
}

impl MergeOp {
    fn upsample_plane<T: WithDType>(&self, src: &[T], dst: &mut [T], h: usize, w: usize) {
        match self.mode {
            Upsample::Bilinear => Bilinear2xOp.plane(src, dst, h, w),
            Upsample::Nearest => Nearest2xOp.plane(src, dst, h, w),
        }
    }

    pub(super) fn forward<T: WithDType>(&self, g: &MergeGeom, skip: &[T], deep: &[T]) -> Vec<T> {
        let ((cs, hs, ws), (cd, hd, wd)) = (g.skip, g.deep);
        let (c, plane) = (g.channels(), g.h * g.w);
        // Every output element is written below (`filled`: see there why not `vec!`).
        let mut out = filled(g.n * c * plane, T::zero());
        out.par_chunks_mut(plane).enumerate().for_each(|(p, dst)| {
            let (img, ch) = (p / c, p % c);
            if ch < cs {
                let src = &skip[(img * cs + ch) * hs * ws..][..hs * ws];
                crop_plane(src, (hs, ws), dst, g.w);
            } else {
                let src = &deep[(img * cd + ch - cs) * hd * wd..][..hd * wd];
                if (g.h, g.w) == (2 * hd, 2 * wd) {
                    self.upsample_plane(src, dst, hd, wd);
                } else {
                    let mut up = vec![T::zero(); 4 * hd * wd];
                    self.upsample_plane(src, &mut up, hd, wd);
                    crop_plane(&up, (2 * hd, 2 * wd), dst, g.w);
                }
            }
        });
        out
    }
}

/// `t` (`[N, C, h, w]`) in the middle of zeros of `th × tw` (the adjoint of the centre crop).
fn uncrop(t: &Tensor, th: usize, tw: usize) -> Result<Tensor> {
    let (_, _, h, w) = t.dims4()?;
    if (h, w) == (th, tw) {
        return Ok(t.clone());
    }
    let (top, left) = ((th - h) / 2, (tw - w) / 2);
    t.pad_with_zeros(2, top, th - h - top)?
        .pad_with_zeros(3, left, tw - w - left)
}

impl CustomOp2 for MergeOp {
    fn name(&self) -> &'static str {
        "dip-merge"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = MergeGeom::new(l1.dims(), l2.dims())?;
        let shape = Shape::from((g.n, g.channels(), g.h, g.w));
        fn run<T: WithDType>(
            op: &MergeOp,
            g: &MergeGeom,
            (s1, l1): (&CpuStorage, &Layout),
            (s2, l2): (&CpuStorage, &Layout),
        ) -> Result<CpuStorage> {
            let skip = cpu::row_major::<T>(s1, l1)?;
            let deep = cpu::row_major::<T>(s2, l2)?;
            Ok(T::to_cpu_storage_owned(op.forward(g, &skip, &deep)))
        }
        let out = match (s1, s2) {
            (CpuStorage::F32(_), CpuStorage::F32(_)) => run::<f32>(self, &g, (s1, l1), (s2, l2))?,
            (CpuStorage::F64(_), CpuStorage::F64(_)) => run::<f64>(self, &g, (s1, l1), (s2, l2))?,
            _ => bail!("merge: the CPU kernel takes two f32 or two f64 tensors"),
        };
        Ok((out, shape))
    }

    fn bwd(
        &self,
        skip: &Tensor,
        deep: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (skip_grad, deep_grad) = merge_grads(self.mode, skip, deep, grad)?;
        Ok((Some(skip_grad), Some(deep_grad)))
    }
}

/// The gradients of `skip` and `deep` from the merge's output gradient `grad`.
pub(super) fn merge_grads(
    mode: Upsample,
    skip: &Tensor,
    deep: &Tensor,
    grad: &Tensor,
) -> Result<(Tensor, Tensor)> {
    let (_, cs, hs, ws) = skip.dims4()?;
    let (_, cd, hd, wd) = deep.dims4()?;
    let skip_grad = uncrop(&grad.narrow(1, 0, cs)?, hs, ws)?;
    let up_grad = uncrop(&grad.narrow(1, cs, cd)?, 2 * hd, 2 * wd)?;
    let deep_grad = match mode {
        Upsample::Bilinear => up_grad.apply_op1(Bilinear2xAdjointOp)?,
        Upsample::Nearest => up_grad.apply_op1(Nearest2xAdjointOp)?,
    };
    Ok((skip_grad, deep_grad))
}

/// The merge then batch norm as one candle op on the CPU (f32); its arguments are
/// `(skip, deep, [γ; β])`. Forward: [`MergeOp`]'s, then the batch norm over the
/// result in place; backward: the batch norm's from its output, then the merge's.
pub struct MergeBnOp {
    mode: Upsample,
    /// What the forward pass leaves for the batch norm's backward pass.
    saved: Stash<InPlace>,
}

impl CustomOp3 for MergeBnOp {
    fn name(&self) -> &'static str {
        "dip-merge-bn"
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
        let g = MergeGeom::new(l1.dims(), l2.dims())?;
        let c = g.channels();
        let skip = cpu_f32(s1, l1, "merge skip branch")?;
        let deep = cpu_f32(s2, l2, "merge deeper branch")?;
        let params = cpu_f32(s3, l3, "merge batch norm parameters")?;
        if params.len() != 2 * c {
            bail!(
                "merge: {} batch norm parameters for {c} channels",
                params.len()
            )
        }
        let (gamma, beta) = params.split_at(c);
        let mut y = MergeOp { mode: self.mode }.forward(&g, skip, deep);
        let saved = InPlace::forward(&mut y, gamma, beta, None, (g.n, c, g.h * g.w));
        self.saved.keep(saved, "merge")?;
        Ok((CpuStorage::F32(y), Shape::from((g.n, c, g.h, g.w))))
    }

    fn bwd(
        &self,
        skip: &Tensor,
        deep: &Tensor,
        params: &Tensor,
        y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let g = MergeGeom::new(skip.dims(), deep.dims())?;
        let dims = (g.n, g.channels(), g.h * g.w);
        let saved = self.saved.expect("merge")?;
        let (dm, dgamma, dbeta) = saved.backward_of_op(y, params, grad, dims)?;
        let dev = y.device();
        let dm = Tensor::from_vec(dm, y.shape(), dev)?;
        let (skip_grad, deep_grad) = merge_grads(self.mode, skip, deep, &dm)?;
        let dparams = Tensor::from_vec([dgamma, dbeta].concat(), params.shape(), dev)?;
        Ok((Some(skip_grad), Some(deep_grad), Some(dparams)))
    }
}
