//! Adam (Kingma & Ba, 2015) with PyTorch's defaults: β₁ = 0.9, β₂ = 0.999, ε = 1e-8,
//! no weight decay — the optimiser of every experiment of the paper.
//!
//! Written out rather than taken from candle-nn so that its state (the moments
//! and the step count) can be saved in a checkpoint and a long run resumed.

use candle_core::backprop::GradStore;
use std::sync::Mutex;

use candle_core::{CpuStorage, DType, InplaceOp2, Layout, Result, Tensor, Var};
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
    params: Vec<Var>,
    /// Each parameter's moments: on the host where the step runs in place (float32 on
    /// the CPU; [`Adam::new`]), else tensors, the step then tensor ops as on a GPU
    /// ([`Adam::with_tensor_ops`]; the two agree bit for bit).
    moments: Vec<Moments>,
    step: usize,
}

/// A parameter's first and second moments `(m, v)`: plain vectors where the step
/// can run in place (float32 parameters on the CPU), else tensors on its device.
enum Moments {
    Host(Vec<f32>, Vec<f32>),
    Device(Tensor, Tensor),
}

// ANCHOR: adam_step
impl Adam {
    /// Adam over `params`, all moments zero.
    pub fn new(params: Vec<Var>, config: AdamConfig) -> Result<Self> {
        Self::build(params, config, true)
    }

    /// Adam whose step is tensor ops on every device, the moments tensors: what runs on
    /// a GPU, on the CPU too.
    pub fn with_tensor_ops(params: Vec<Var>, config: AdamConfig) -> Result<Self> {
        Self::build(params, config, false)
    }

    fn build(params: Vec<Var>, config: AdamConfig, in_place: bool) -> Result<Self> {
        let moments = params
            .iter()
            .map(|p| {
                if in_place && on_host(p) {
                    let n = p.elem_count();
                    Ok(Moments::Host(vec![0.0; n], vec![0.0; n]))
                } else {
                    Ok(Moments::Device(p.zeros_like()?, p.zeros_like()?))
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            config,
            params,
            moments,
            step: 0,
        })
    }

    /// One update from the gradients of the last `backward()`. Parameters without
    /// a gradient are left alone (PyTorch skips them too).
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        let AdamConfig {
            lr, beta1, beta2, ..
        } = self.config;
        self.step += 1;
        let t = self.step as i32;
        // Bias corrections of the moments, which start at zero.
        let step_size = lr / (1.0 - beta1.powi(t));
        let sqrt_c2 = (1.0 - beta2.powi(t)).sqrt();
        for (p, moments) in self.params.iter().zip(&mut self.moments) {
            let Some(g) = grads.get(p) else { continue };
            // A gradient still records the op that made it (its inputs include the
            // forward pass's activations): detached, the moments do not chain every
            // iteration's graph together (~200 MB an iteration for the standard net at 64²).
            let g = &g.detach();
            // On the CPU the same arithmetic runs in place, in one pass (`HostStep`, below).
            if let (true, Moments::Host(m, v)) = (on_host(g), &mut *moments) {
                let host = HostStep::new(&self.config, (step_size, sqrt_c2), m, v);
                p.as_tensor().inplace_op2(g, &host)?;
                continue;
            }
            let (m, v) = moments.tensors(p)?;
            let (m, v, update) = self.config.update(g, &m, &v, (step_size, sqrt_c2))?;
            p.set(&p.as_tensor().sub(&update)?)?;
            moments.set(m, v)?;
        }
        Ok(())
    }
}

impl AdamConfig {
    /// One step's arithmetic in tensor ops: from the gradient `g` and the moments
    /// `(m, v)`, the new moments and the update to subtract from the parameter, given
    /// the bias corrections `(step size, √c₂)`.
    pub fn update(
        &self,
        g: &Tensor,
        m: &Tensor,
        v: &Tensor,
        (step_size, sqrt_c2): (f64, f64),
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let Self {
            beta1, beta2, eps, ..
        } = *self;
        let m = ((m * beta1)? + (g * (1.0 - beta1))?)?;
        let v = ((v * beta2)? + (g.sqr()? * (1.0 - beta2))?)?;
        let denom = ((v.sqrt()? / sqrt_c2)? + eps)?;
        let update = ((&m / denom)? * step_size)?;
        Ok((m, v, update))
    }
}
// ANCHOR_END: adam_step

/// Whether a tensor is float32 on the CPU, contiguous: what the step in place takes.
fn on_host(t: &Tensor) -> bool {
    t.device().is_cpu() && t.dtype() == DType::F32 && t.is_contiguous()
}

impl Moments {
    /// `(m, v)` as tensors of `p`'s shape (copies of the host's vectors).
    fn tensors(&self, p: &Tensor) -> Result<(Tensor, Tensor)> {
        match self {
            Moments::Host(m, v) => Ok((
                Tensor::from_slice(m, p.shape(), p.device())?,
                Tensor::from_slice(v, p.shape(), p.device())?,
            )),
            Moments::Device(m, v) => Ok((m.clone(), v.clone())),
        }
    }

    /// Replace `(m, v)` by these tensors (copied where the moments live on the host).
    fn set(&mut self, m: Tensor, v: Tensor) -> Result<()> {
        match self {
            Moments::Host(hm, hv) => {
                *hm = m.flatten_all()?.to_vec1()?;
                *hv = v.flatten_all()?.to_vec1()?;
            }
            Moments::Device(dm, dv) => (*dm, *dv) = (m, v),
        }
        Ok(())
    }
}

impl Adam {
    /// The number of steps taken so far.
    pub fn steps(&self) -> usize {
        self.step
    }

    /// The moments and step count, for a checkpoint (copies: the moments change in place).
    pub fn state(&self) -> Result<(Vec<Tensor>, Vec<Tensor>, usize)> {
        let mut ms = Vec::with_capacity(self.params.len());
        let mut vs = Vec::with_capacity(self.params.len());
        for (p, moments) in self.params.iter().zip(&self.moments) {
            let (m, v) = moments.tensors(p)?;
            ms.push(m.copy()?);
            vs.push(v.copy()?);
        }
        Ok((ms, vs, self.step))
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
        for (((p, moments), m), v) in self.params.iter().zip(&mut self.moments).zip(m).zip(v) {
            if m.dims() != p.dims() || v.dims() != p.dims() {
                candle_core::bail!(
                    "optimiser state of shape {:?} for a parameter of shape {:?}",
                    m.dims(),
                    p.dims()
                );
            }
            moments.set(m.copy()?, v.copy()?)?;
        }
        self.step = step;
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// The step in place, on the CPU
// ---------------------------------------------------------------------------

/// Adam's step for one parameter in place (a candle op on the parameter, its argument
/// the gradient), the moments being vectors of ours: the arithmetic of [`Adam::step`]
/// in one pass over memory instead of eleven new tensors (at 64 × 64 those
/// element-wise steps were a large part of an iteration; `dip bench` times the
/// phases), and rounded as the tensor ops round it.
struct HostStep<'a> {
    /// The moments, lent to the one call of `cpu_fwd` (taken out of the lock before the
    /// parallel loop, which must not run with a lock held).
    moments: Mutex<Option<(&'a mut [f32], &'a mut [f32])>>,
    /// `β₁, 1 − β₁, β₂, 1 − β₂` as the tensor ops have them (in `f32`).
    beta1: (f32, f32),
    beta2: (f32, f32),
    step_size: f32,
    /// candle divides a tensor by a number as a product with its inverse.
    inv_sqrt_c2: f32,
    eps: f32,
}

impl<'a> HostStep<'a> {
    fn new(
        config: &AdamConfig,
        (step_size, sqrt_c2): (f64, f64),
        m: &'a mut [f32],
        v: &'a mut [f32],
    ) -> Self {
        let pair = |beta: f64| (beta as f32, (1.0 - beta) as f32);
        Self {
            moments: Mutex::new(Some((m, v))),
            beta1: pair(config.beta1),
            beta2: pair(config.beta2),
            step_size: step_size as f32,
            inv_sqrt_c2: (1.0 / sqrt_c2) as f32,
            eps: config.eps as f32,
        }
    }
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

impl InplaceOp2 for HostStep<'_> {
    fn name(&self) -> &'static str {
        "adam-step"
    }

    /// `m ← m·β₁ + g·(1 − β₁)`, `v ← v·β₂ + g²·(1 − β₂)`,
    /// `p ← p − (m / (√v · (1/√c₂) + ε)) · step_size`.
    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<()> {
        let (p, g) = (values_mut(s1, l1)?, values(s2, l2)?);
        let moments = self
            .moments
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some((m, v)) = moments else {
            candle_core::bail!("adam: the step was applied twice")
        };
        if m.len() != p.len() || v.len() != p.len() || g.len() != p.len() {
            candle_core::bail!("adam: moments or gradient of another size than the parameter")
        }
        let ((b1, c1), (b2, c2)) = (self.beta1, self.beta2);
        let (inv_c2, eps, step) = (self.inv_sqrt_c2, self.eps, self.step_size);
        p.par_chunks_mut(CHUNK)
            .zip(g.par_chunks(CHUNK))
            .zip(m.par_chunks_mut(CHUNK).zip(v.par_chunks_mut(CHUNK)))
            .for_each(|((p, g), (m, v))| {
                for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
                    *m = *m * b1 + g * c1;
                    *v = *v * b2 + (g * g) * c2;
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
            let config = AdamConfig::with_lr(0.01);
            let build = if in_place {
                Adam::new
            } else {
                Adam::with_tensor_ops
            };
            let mut adam = build(vec![p.clone()], config).unwrap();
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
            let (m, v, _) = adam.state().unwrap();
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
