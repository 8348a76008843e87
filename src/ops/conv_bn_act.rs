//! conv → batch norm → LeakyReLU, the unit the network is made of, as one op.
//!
//! As three ops, the unit leaves two tensors of its output's size in candle's graph
//! until the backward pass is over: the conv's output `z` (the batch norm's input)
//! and the unit's output `y` (the next layer's input). As one op it leaves `y`
//! alone: `z` is overwritten by `y` as soon as its statistics are known, and the
//! backward pass recovers what it needs of `z` from `y` itself (`x̂ = (act⁻¹(y) − β)/γ`,
//! "in-place activated batch norm", Rota Bulò et al. 2018). At 512² that is about a
//! third of what the graph holds. A channel whose γ is too small to divide by keeps
//! its `z` (`batch_norm::InPlace`). The gradient `dz` never
//! leaves the op either.

use candle_core::{bail, CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

use super::batch_norm::{batch_norm_with, InPlace};
use super::conv::{conv2d_shaped_with, conv_forward, conv_grads, ConvShape, Geom};
use super::cpu_util::{cpu_f32, with_f32, Stash};
use super::{Accepts, Kernels};

/// The parameters of one unit: the conv's `weight [Cout, Cin, k, k]` and `bias [Cout]`,
/// the batch norm's `gamma` and `beta` (`[Cout]`).
#[derive(Clone, Copy)]
pub struct UnitParams<'a> {
    pub weight: &'a Tensor,
    pub bias: &'a Tensor,
    pub gamma: &'a Tensor,
    pub beta: &'a Tensor,
}

/// `act(BN(conv(x)))`, LeakyReLU with `slope` (or none): our fused CPU kernel where
/// `kernels` says so, else the conv and the batch norm one after the other.
pub fn conv_bn_act_with(
    x: &Tensor,
    p: UnitParams,
    conv: ConvShape,
    slope: Option<f64>,
    kernels: Kernels,
) -> Result<Tensor> {
    if kernels.ours(&[x, p.weight, p.bias, p.gamma, p.beta], Accepts::F32) {
        return conv_bn_act_fast(x, p, conv, slope);
    }
    let z = conv2d_shaped_with(x, p.weight, p.bias, conv, kernels)?;
    batch_norm_with(&z, p.gamma, p.beta, slope, kernels)
}

/// The fused unit by our CPU kernel (`f32` tensors on the CPU). Its third argument
/// is `[bias; γ; β]` in one tensor (a candle op takes at most three).
pub fn conv_bn_act_fast(
    x: &Tensor,
    p: UnitParams,
    conv: ConvShape,
    slope: Option<f64>,
) -> Result<Tensor> {
    let params = Tensor::cat(&[p.bias, p.gamma, p.beta], 0)?;
    let op = ConvBnActOp {
        conv,
        slope: slope.map(|s| s as f32),
        saved: Stash::new(),
    };
    x.contiguous()?
        .apply_op3(&p.weight.contiguous()?, &params, op)
}

struct ConvBnActOp {
    conv: ConvShape,
    slope: Option<f32>,
    /// What the forward pass leaves for the batch norm's backward pass.
    saved: Stash<InPlace>,
}

impl ConvBnActOp {
    fn geom(&self, x: &[usize], w: &[usize]) -> Result<Geom> {
        let c = self.conv;
        Geom::new(x, w, c.stride, c.padding, c.reflect)
    }
}

/// `[bias; γ; β]` as three slices of `cout`.
fn split(params: &[f32], cout: usize) -> Result<(&[f32], &[f32], &[f32])> {
    if params.len() != 3 * cout {
        bail!(
            "conv_bn_act: {} parameters for {cout} output channels (bias, gamma, beta)",
            params.len()
        )
    }
    let (bias, rest) = params.split_at(cout);
    let (gamma, beta) = rest.split_at(cout);
    Ok((bias, gamma, beta))
}

impl CustomOp3 for ConvBnActOp {
    fn name(&self) -> &'static str {
        "dip-conv-bn-act"
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
        let g = self.geom(l1.dims(), l2.dims())?;
        let x = cpu_f32(s1, l1, "conv_bn_act input")?;
        let w = cpu_f32(s2, l2, "conv_bn_act weight")?;
        let (bias, gamma, beta) = split(cpu_f32(s3, l3, "conv_bn_act parameters")?, g.cout)?;
        let dims = (g.n, g.cout, g.ho * g.wo);
        let mut y = conv_forward(&g, x, w, bias);
        let saved = InPlace::forward(&mut y, gamma, beta, self.slope, dims);
        self.saved.keep(saved, "conv_bn_act")?;
        Ok((CpuStorage::F32(y), Shape::from((g.n, g.cout, g.ho, g.wo))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        params: &Tensor,
        y: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let g = self.geom(x.dims(), weight.dims())?;
        let dims = (g.n, g.cout, g.ho * g.wo);
        let saved = self.saved.expect("conv_bn_act")?;
        // The batch norm's gradients, `dz` included, from `y`.
        let (dz, dgamma, dbeta) = saved.backward_of_op(y, params, grad, dims)?;
        // Then the conv's, from `dz`.
        let need = (x.track_op(), weight.track_op(), params.track_op());
        let grads = with_f32(x, "conv_bn_act input", |xv| {
            with_f32(weight, "conv_bn_act weight", |wv| {
                Ok(conv_grads(&g, xv, wv, &dz, need))
            })
        })?;
        // `dz` is done with: free it before a padded input gradient is folded into `dx`.
        drop(dz);
        let dev = x.device();
        let dx = grads
            .dx
            .map(|d| Tensor::from_vec(d.finish(&g), x.shape(), dev));
        let dw = grads.dw.map(|v| Tensor::from_vec(v, weight.shape(), dev));
        let dparams = grads.db.map(|mut v| {
            v.extend(dgamma);
            v.extend(dbeta);
            Tensor::from_vec(v, params.shape(), dev)
        });
        Ok((dx.transpose()?, dw.transpose()?, dparams.transpose()?))
    }
}
