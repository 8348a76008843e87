//! The decoder's entry as one op: the merge (the deeper branch upsampled,
//! concatenated behind the skip branch, batch-normalised: [`super::merge`]) and the
//! unit after it (conv → batch norm → LeakyReLU: [`super::conv_bn_act`]).
//!
//! Why one op: memory. As two ops, the merge's output `m` (skip + deep channels at
//! the scale's full size: 132 × 512 × 512 floats, 132 MiB, at Table 1's top scale)
//! stays in candle's graph until the backward pass is over, as the conv's input;
//! and in the backward pass its gradient is one more such tensor, which candle adds
//! into zeros (one more again) while the conv's output gradient is still alive: the
//! widest moment of a 512² iteration. As one op, the op's inputs are the two
//! branches, whose gradients are small (4 channels, and 128 at a quarter of the
//! pixels), and `m` is made again from them in the backward pass (the merge costs a
//! few percent of the conv it feeds). Where `m` is small the two ops run instead
//! ([`FUSED_FROM`]): the one op copies the conv's weights into its parameter tensor
//! every pass, which costs more there than it saves.

use candle_core::{bail, CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

use super::batch_norm::{batch_norm_with, InPlace};
use super::conv::{conv_forward, conv_grads, ConvShape, Geom};
use super::conv_bn_act::{conv_bn_act_with, UnitParams};
use super::cpu_util::{cpu_f32, with_f32, Stash};
use super::merge::{
    merge_grads, upsample_concat_bn_with, upsample_with, MergeGeom, MergeOp, Upsample,
};
use super::{Accepts, Kernels};

/// The merge and the unit are one op where the merged tensor has this many bytes or
/// more (64 MiB: 132 channels of 360², so at 512² and more).
pub const FUSED_FROM: usize = 64 << 20;

/// `unit(BN(cat(skip, up(deep))))`: the merge with its batch norm `(γₘ, βₘ)`, then
/// conv → BN → LeakyReLU with `slope`; without a skip branch, `unit(BN(up(deep)))`.
/// Our fused CPU kernel where `kernels` says so and the merged tensor is large, else
/// the merge then the unit ([`upsample_concat_bn_with`], [`conv_bn_act_with`]).
#[allow(clippy::too_many_arguments)]
pub fn merge_unit_with(
    skip: Option<&Tensor>,
    deep: &Tensor,
    mode: Upsample,
    (merge_gamma, merge_beta): (&Tensor, &Tensor),
    unit: UnitParams,
    conv: ConvShape,
    slope: Option<f64>,
    kernels: Kernels,
) -> Result<Tensor> {
    let Some(skip) = skip else {
        let up = upsample_with(deep, mode, kernels)?;
        let merged = batch_norm_with(&up, merge_gamma, merge_beta, None, kernels)?;
        return conv_bn_act_with(&merged, unit, conv, slope, kernels);
    };
    let tensors = [skip, deep, merge_gamma, merge_beta];
    let all = [unit.weight, unit.bias, unit.gamma, unit.beta];
    let large = MergeGeom::new(skip.dims(), deep.dims())?.elem_count() * 4 >= FUSED_FROM;
    if large && kernels.ours(&[&tensors[..], &all[..]].concat(), Accepts::F32) {
        return merge_unit_fast(
            skip,
            deep,
            mode,
            (merge_gamma, merge_beta),
            unit,
            conv,
            slope,
        );
    }
    let merged = upsample_concat_bn_with(skip, deep, mode, merge_gamma, merge_beta, kernels)?;
    conv_bn_act_with(&merged, unit, conv, slope, kernels)
}

/// [`merge_unit_with`] as one op, by our CPU kernel (`f32` tensors on the CPU).
pub fn merge_unit_fast(
    skip: &Tensor,
    deep: &Tensor,
    mode: Upsample,
    (merge_gamma, merge_beta): (&Tensor, &Tensor),
    u: UnitParams,
    conv: ConvShape,
    slope: Option<f64>,
) -> Result<Tensor> {
    let op = MergeUnitOp::new(mode, conv, slope, u.weight.dims())?;
    let params = Tensor::cat(
        &[
            &u.weight.flatten_all()?,
            merge_gamma,
            merge_beta,
            u.bias,
            u.gamma,
            u.beta,
        ],
        0,
    )?;
    skip.contiguous()?
        .apply_op3(&deep.contiguous()?, &params, op)
}

/// The op; its arguments are `(skip, deep, params)`, the parameters in one tensor
/// (a candle op takes at most three): `[W; γₘ; βₘ; b; γ; β]`, `W` flattened.
struct MergeUnitOp {
    mode: Upsample,
    conv: ConvShape,
    slope: Option<f32>,
    /// The conv's weight `[Cout, Cin, k, k]`.
    weight: [usize; 4],
    saved: Stash<Saved>,
}

/// What the forward pass leaves for the backward pass: for the merge's batch norm
/// (which reads its output `m`, made again) and for the unit's (which reads the op's output).
#[derive(Default)]
struct Saved {
    merge: InPlace,
    unit: InPlace,
}

/// The parameters `[W; γₘ; βₘ; b; γ; β]` as slices.
struct Params<'a> {
    weight: &'a [f32],
    merge_gamma: &'a [f32],
    merge_beta: &'a [f32],
    bias: &'a [f32],
    gamma: &'a [f32],
    beta: &'a [f32],
}

impl MergeUnitOp {
    fn new(mode: Upsample, conv: ConvShape, slope: Option<f64>, weight: &[usize]) -> Result<Self> {
        let &[cout, cin, kh, kw] = weight else {
            bail!("merge_unit: expected a weight [Cout, Cin, k, k], got {weight:?}")
        };
        Ok(Self {
            mode,
            conv,
            slope: slope.map(|s| s as f32),
            weight: [cout, cin, kh, kw],
            saved: Stash::new(),
        })
    }

    /// The merge's and the conv's shapes, checked against each other.
    fn geoms(&self, skip: &[usize], deep: &[usize]) -> Result<(MergeGeom, Geom)> {
        let m = MergeGeom::new(skip, deep)?;
        let x = [m.n, m.channels(), m.h, m.w];
        let c = self.conv;
        let g = Geom::new(&x, &self.weight, c.stride, c.padding, c.reflect)?;
        Ok((m, g))
    }

    fn split<'a>(&self, params: &'a [f32], merged: usize) -> Result<Params<'a>> {
        let [cout, cin, kh, kw] = self.weight;
        let len = cout * cin * kh * kw;
        if params.len() != len + 2 * merged + 3 * cout {
            bail!(
                "merge_unit: {} parameters for a weight of {len}, {merged} merged and {cout} output channels",
                params.len()
            )
        }
        let (weight, rest) = params.split_at(len);
        let (merge_gamma, rest) = rest.split_at(merged);
        let (merge_beta, rest) = rest.split_at(merged);
        let (bias, rest) = rest.split_at(cout);
        let (gamma, beta) = rest.split_at(cout);
        Ok(Params {
            weight,
            merge_gamma,
            merge_beta,
            bias,
            gamma,
            beta,
        })
    }

    /// `m = BN(cat(skip, up(deep)))` and what its batch norm's backward pass needs.
    fn merged(&self, m: &MergeGeom, skip: &[f32], deep: &[f32], p: &Params) -> (Vec<f32>, InPlace) {
        let mut merged = MergeOp { mode: self.mode }.forward(m, skip, deep);
        let dims = (m.n, m.channels(), m.h * m.w);
        let saved = InPlace::forward(&mut merged, p.merge_gamma, p.merge_beta, None, dims);
        (merged, saved)
    }

    /// [`Self::merged`] again in the backward pass, bit for bit, with the batch norm's
    /// statistics of the forward pass (`saved`).
    fn merged_again(
        &self,
        m: &MergeGeom,
        (skip, deep): (&[f32], &[f32]),
        p: &Params,
        saved: &InPlace,
    ) -> Result<Vec<f32>> {
        let mut merged = MergeOp { mode: self.mode }.forward(m, skip, deep);
        let dims = (m.n, m.channels(), m.h * m.w);
        saved.forward_again(&mut merged, p.merge_gamma, p.merge_beta, dims)?;
        Ok(merged)
    }
}

impl CustomOp3 for MergeUnitOp {
    fn name(&self) -> &'static str {
        "dip-merge-unit"
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
        let (m, g) = self.geoms(l1.dims(), l2.dims())?;
        let skip = cpu_f32(s1, l1, "merge_unit skip branch")?;
        let deep = cpu_f32(s2, l2, "merge_unit deeper branch")?;
        let p = self.split(cpu_f32(s3, l3, "merge_unit parameters")?, m.channels())?;
        let (merged, merge) = self.merged(&m, skip, deep, &p);
        let mut y = conv_forward(&g, &merged, p.weight, p.bias);
        let dims = (g.n, g.cout, g.ho * g.wo);
        drop(merged);
        let unit = InPlace::forward(&mut y, p.gamma, p.beta, self.slope, dims);
        self.saved.keep(Saved { merge, unit }, "merge_unit")?;
        Ok((CpuStorage::F32(y), Shape::from((g.n, g.cout, g.ho, g.wo))))
    }

    fn bwd(
        &self,
        skip: &Tensor,
        deep: &Tensor,
        params: &Tensor,
        y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (m, g) = self.geoms(skip.dims(), deep.dims())?;
        let saved = self.saved.expect("merge_unit")?;
        // The unit's batch norm: `dz`, `dγ`, `dβ` from the output (its γ, β end `params`).
        let dims = (g.n, g.cout, g.ho * g.wo);
        let (dz, dgamma, dbeta) = saved.unit.backward_of_op(y, params, grad, dims)?;
        let (dm, dparams) = with_f32(skip, "merge_unit skip branch", |s| {
            with_f32(deep, "merge_unit deeper branch", |d| {
                with_f32(params, "merge_unit parameters", |pv| {
                    let p = self.split(pv, m.channels())?;
                    let branches = (s, d);
                    let (dm, conv) = self.conv_and_merge_grads(saved, &m, &g, branches, &p, dz)?;
                    let dparams = [conv.0, conv.1, conv.2, conv.3, dgamma, dbeta].concat();
                    Ok((dm, dparams))
                })
            })
        })?;
        let dev = skip.device();
        let dm = Tensor::from_vec(dm, (m.n, m.channels(), m.h, m.w), dev)?;
        let (skip_grad, deep_grad) = merge_grads(self.mode, skip, deep, &dm)?;
        let dparams = Tensor::from_vec(dparams, params.shape(), dev)?;
        Ok((Some(skip_grad), Some(deep_grad), Some(dparams)))
    }
}

/// The conv's and the merge's batch norm's gradients: `(dW, dγₘ, dβₘ, db)`.
type ParamGrads = (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>);

impl MergeUnitOp {
    /// From the conv's output gradient `dz`: the merge's output gradient `dm` (before
    /// the upsampling's adjoint) and the parameters' gradients. `m` is made again;
    /// where the conv's input gradient needs no input (by Winograd), twice, so that
    /// no more than two tensors of its size are alive at once: for the weight
    /// gradient, then, with `dz` gone, for the batch norm's.
    fn conv_and_merge_grads(
        &self,
        saved: &Saved,
        m: &MergeGeom,
        g: &Geom,
        branches: (&[f32], &[f32]),
        p: &Params,
        dz: Vec<f32>,
    ) -> Result<(Vec<f32>, ParamGrads)> {
        let mut merged = self.merged_again(m, branches, p, &saved.merge)?;
        let (dx, dw, db) = if g.input_grad_without_input() {
            let grads = conv_grads(g, &merged, p.weight, &dz, (false, true, true));
            drop(merged);
            let dx = conv_grads(g, &[], p.weight, &dz, (true, false, false)).dx;
            drop(dz);
            let dx = dx.map(|d| d.finish(g));
            merged = self.merged_again(m, branches, p, &saved.merge)?;
            (dx, grads.dw, grads.db)
        } else {
            let grads = conv_grads(g, &merged, p.weight, &dz, (true, true, true));
            drop(dz);
            (grads.dx.map(|d| d.finish(g)), grads.dw, grads.db)
        };
        let (Some(mut dm), Some(dw), Some(db)) = (dx, dw, db) else {
            bail!("merge_unit: the conv's gradients are missing")
        };
        let dims = (m.n, m.channels(), m.h * m.w);
        let (dgm, dbm) =
            saved
                .merge
                .backward_over(&merged, p.merge_gamma, p.merge_beta, &mut dm, dims)?;
        Ok((dm, (dw, dgm, dbm, db)))
    }
}
