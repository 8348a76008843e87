//! Adam (Kingma & Ba, 2015) with PyTorch's defaults: β₁ = 0.9, β₂ = 0.999, ε = 1e-8,
//! no weight decay — the optimiser of every experiment of the paper.
//!
//! Written out rather than taken from candle-nn so that its state (the moments
//! and the step count) can be saved in a checkpoint and a long run resumed.

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};

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
        let v = m.clone();
        Ok(Self {
            config,
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

    /// The moments and step count, for a checkpoint.
    pub fn state(&self) -> (Vec<Tensor>, Vec<Tensor>, usize) {
        (self.m.clone(), self.v.clone(), self.step)
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
        self.m = m;
        self.v = v;
        self.step = step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

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
