//! Adam (Kingma & Ba, 2015) with PyTorch's defaults: β₁ = 0.9, β₂ = 0.999, ε = 1e-8,
//! no weight decay — the optimiser of every experiment of the paper.
//!
//! Written out rather than taken from candle-nn so that its state (the moments
//! and the step count) can be saved in a checkpoint and a long run resumed.

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, DType, InplaceOp2, InplaceOp3, Layout, Result, Tensor, Var};
use rayon::prelude::*;

/// Adam's hyperparameters.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

impl AdamConfig {
    /// PyTorch's defaults with the given learning rate.
    pub fn with_lr(lr: f64) -> Self {
        Self {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

/// The optimiser: parameters, first and second moments, and the step count.
pub struct Adam {
    pub config: AdamConfig,
    /// Take the step in place where it can (float32 on the CPU; the default), or
    /// always with tensor ops (for comparison: the two agree bit for bit).
    pub in_place: bool,
    params: Vec<Var>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    step: usize,
}

// ANCHOR: adam_step
impl Adam {
    /// Adam over `params`, all moments zero.
    pub fn new(params: Vec<Var>, config: AdamConfig) -> Result<Self> {
        let m = params
            .iter()
            .map(|p| p.zeros_like())
            .collect::<Result<Vec<_>>>()?;
        // Not `m.clone()`: the moments change in place on the CPU; each needs its own storage.
        let v = params
            .iter()
            .map(|p| p.zeros_like())
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            config,
            in_place: true,
            params,
            m,
            v,
            step: 0,
        })
    }

    /// One update from the gradients of the last `backward()`. Parameters without
    /// a gradient are left alone (PyTorch skips them too).
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        let AdamConfig {
            lr,
            beta1,
            beta2,
            eps,
        } = self.config;
        self.step += 1;
        let t = self.step as i32;
        // Bias corrections of the moments, which start at zero.
        let step_size = lr / (1.0 - beta1.powi(t));
        let sqrt_c2 = (1.0 - beta2.powi(t)).sqrt();
        for ((p, m), v) in self.params.iter().zip(&mut self.m).zip(&mut self.v) {
            let Some(g) = grads.get(p) else { continue };
            // A gradient still records the op that made it (its inputs include the
            // forward pass's activations): detached, the moments do not chain every
            // iteration's graph together (~200 MB an iteration for the standard net at 64²).
            let g = &g.detach();
            // On the CPU the same arithmetic runs in place (`step_in_place`, below).
            if self.in_place && step_in_place(&self.config, (step_size, sqrt_c2), p, m, v, g)? {
                continue;
            }
            *m = ((&*m * beta1)? + (g * (1.0 - beta1))?)?;
            *v = ((&*v * beta2)? + (g.sqr()? * (1.0 - beta2))?)?;
            let denom = ((v.sqrt()? / sqrt_c2)? + eps)?;
            let update = ((&*m / denom)? * step_size)?;
            p.set(&p.as_tensor().sub(&update)?)?;
        }
        Ok(())
    }
}
// ANCHOR_END: adam_step

impl Adam {
    /// The number of steps taken so far.
    pub fn steps(&self) -> usize {
        self.step
    }

    /// The moments and step count, for a checkpoint (copies: the moments change in place).
    pub fn state(&self) -> (Vec<Tensor>, Vec<Tensor>, usize) {
        let copies = |ts: &[Tensor]| ts.iter().map(|t| t.copy()).collect::<Result<Vec<_>>>();
        match (copies(&self.m), copies(&self.v)) {
            (Ok(m), Ok(v)) => (m, v, self.step),
            // A copy fails only when memory does; the shared tensors are still right now.
            _ => (self.m.clone(), self.v.clone(), self.step),
        }
    }

    /// Restore the moments and step count of a checkpoint.
    pub fn set_state(&mut self, m: Vec<Tensor>, v: Vec<Tensor>, step: usize) -> Result<()> {
        if m.len() != self.params.len() || v.len() != self.params.len() {
            candle_core::bail!(
                "optimiser state has {} tensors, expected {}",
                m.len(),
                self.params.len()
            );
        }
        let copies = |ts: Vec<Tensor>| ts.iter().map(|t| t.copy()).collect::<Result<Vec<_>>>();
        self.m = copies(m)?;
        self.v = copies(v)?;
        self.step = step;
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// The step in place, on the CPU
// ---------------------------------------------------------------------------

/// Adam's step for one parameter in place, where it can be (float32 tensors on the
/// CPU, contiguous): the arithmetic of [`Adam::step`] in three passes over memory
/// instead of eleven new tensors (at 64 × 64 those element-wise steps were a large
/// part of an iteration; `dip bench` times the phases). Returns whether it ran.
fn step_in_place(
    config: &AdamConfig,
    (step_size, sqrt_c2): (f64, f64),
    p: &Var,
    m: &Tensor,
    v: &Tensor,
    g: &Tensor,
) -> Result<bool> {
    if !in_place(&[p.as_tensor(), m, v, g]) {
        return Ok(false);
    }
    let moment = |beta, squared| Moment { beta, squared };
    m.inplace_op2(g, &moment(config.beta1, false))?;
    v.inplace_op2(g, &moment(config.beta2, true))?;
    let descend = Descend {
        step_size,
        sqrt_c2,
        eps: config.eps,
    };
    p.as_tensor().inplace_op3(m, v, &descend)?;
    Ok(true)
}

/// Whether the step can run in place: float32 tensors on the CPU, contiguous, of one size.
fn in_place(tensors: &[&Tensor]) -> bool {
    let n = tensors[0].elem_count();
    tensors.iter().all(|t| {
        t.device().is_cpu() && t.dtype() == DType::F32 && t.is_contiguous() && t.elem_count() == n
    })
}

/// The float32 values of a contiguous CPU tensor's storage.
fn values<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((a, b))) => Ok(&v[a..b]),
        _ => candle_core::bail!("adam: expected contiguous f32 values"),
    }
}

fn values_mut<'a>(s: &'a mut CpuStorage, l: &Layout) -> Result<&'a mut [f32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((a, b))) => Ok(&mut v[a..b]),
        _ => candle_core::bail!("adam: expected contiguous f32 values"),
    }
}

/// Chunks of this many values go to one thread (small tensors stay on one).
const CHUNK: usize = 1 << 14;

/// A moment in place, rounded as the tensor ops above round it: the first,
/// `m ← m·β₁ + g·(1 − β₁)`, or with `squared` the second, `v ← v·β₂ + g²·(1 − β₂)`.
struct Moment {
    beta: f64,
    squared: bool,
}

impl InplaceOp2 for Moment {
    fn name(&self) -> &'static str {
        "adam-moment"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<()> {
        let (b, c, squared) = (self.beta as f32, (1.0 - self.beta) as f32, self.squared);
        let g = values(s2, l2)?;
        let m = values_mut(s1, l1)?;
        m.par_chunks_mut(CHUNK)
            .zip(g.par_chunks(CHUNK))
            .for_each(|(m, g)| {
                for (m, &g) in m.iter_mut().zip(g) {
                    let term = if squared { g * g } else { g };
                    *m = *m * b + term * c;
                }
            });
        Ok(())
    }
}

/// `p ← p − (m / (√v · (1/√c₂) + ε)) · step_size`.
struct Descend {
    step_size: f64,
    sqrt_c2: f64,
    eps: f64,
}

impl InplaceOp3 for Descend {
    fn name(&self) -> &'static str {
        "adam-descend"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<()> {
        // candle divides a tensor by a number as a product with its inverse.
        let inv_c2 = (1.0 / self.sqrt_c2) as f32;
        let (eps, step) = (self.eps as f32, self.step_size as f32);
        let (m, v) = (values(s2, l2)?, values(s3, l3)?);
        let p = values_mut(s1, l1)?;
        p.par_chunks_mut(CHUNK)
            .zip(m.par_chunks(CHUNK).zip(v.par_chunks(CHUNK)))
            .for_each(|(p, (m, v))| {
                for ((p, m), v) in p.iter_mut().zip(m).zip(v) {
                    let denom = v.sqrt() * inv_c2 + eps;
                    *p -= (*m / denom) * step;
                }
            });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// The step in place and the step with tensor ops give the same parameters and
    /// moments, bit for bit, over several steps (and the checkpointed state is a copy).
    #[test]
    fn the_step_in_place_is_the_tensor_step() {
        let dev = Device::Cpu;
        let run = |in_place: bool| -> (Vec<f32>, Vec<f32>, Vec<f32>) {
            let p = Var::from_tensor(
                &Tensor::arange(0f32, 50_000., &dev)
                    .unwrap()
                    .affine(1e-4, -2.0)
                    .unwrap(),
            )
            .unwrap();
            let mut adam = Adam::new(vec![p.clone()], AdamConfig::with_lr(0.01)).unwrap();
            adam.in_place = in_place;
            for k in 0..5 {
                let w = (p.as_tensor().sin().unwrap() * (k as f64 + 1.0))
                    .unwrap()
                    .detach();
                let loss = (p.as_tensor().sqr().unwrap() * &w)
                    .unwrap()
                    .sum_all()
                    .unwrap();
                adam.step(&loss.backward().unwrap()).unwrap();
            }
            let (m, v, _) = adam.state();
            let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            (flat(p.as_tensor()), flat(&m[0]), flat(&v[0]))
        };
        let (a, b) = (run(true), run(false));
        assert!(
            a.0.iter()
                .zip(&b.0)
                .all(|(x, y)| x.to_bits() == y.to_bits()),
            "parameters differ"
        );
        assert!(
            a.1.iter()
                .zip(&b.1)
                .all(|(x, y)| x.to_bits() == y.to_bits()),
            "first moments differ"
        );
        assert!(
            a.2.iter()
                .zip(&b.2)
                .all(|(x, y)| x.to_bits() == y.to_bits()),
            "second moments differ"
        );
        assert_ne!(a.0[123], -2.0 + 123e-4, "the parameters moved");
    }

    /// One Adam step moves each parameter by almost exactly `lr` against the sign
    /// of its gradient (the bias-corrected ratio m̂/√v̂ is ±1 at the first step).
    #[test]
    fn first_step_moves_by_lr() {
        let p = Var::new(&[1.0f32, -2.0, 3.0], &Device::Cpu).unwrap();
        let loss = (p.as_tensor() * &Tensor::new(&[2.0f32, -1.0, 0.5], &Device::Cpu).unwrap())
            .unwrap()
            .sum_all()
            .unwrap();
        let grads = loss.backward().unwrap();
        let mut adam = Adam::new(vec![p.clone()], AdamConfig::with_lr(0.1)).unwrap();
        adam.step(&grads).unwrap();
        let got = p.as_tensor().to_vec1::<f32>().unwrap();
        for (g, want) in got.iter().zip([0.9f32, -1.9, 2.9]) {
            assert!((g - want).abs() < 1e-5, "{got:?}");
        }
    }

    /// Adam minimises a quadratic.
    #[test]
    fn minimises_a_quadratic() {
        let p = Var::new(&[5.0f32, -3.0], &Device::Cpu).unwrap();
        let mut adam = Adam::new(vec![p.clone()], AdamConfig::with_lr(0.1)).unwrap();
        for _ in 0..300 {
            let loss = p.as_tensor().sqr().unwrap().sum_all().unwrap();
            adam.step(&loss.backward().unwrap()).unwrap();
        }
        let got = p.as_tensor().to_vec1::<f32>().unwrap();
        assert!(got.iter().all(|x| x.abs() < 0.05), "{got:?}");
    }
}
