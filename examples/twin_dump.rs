//! What `benches/torch_twin_check.py` compares the PyTorch twin with: for our `cpu`
//! Table 1 run of house (seed 0), the initial weights, `z`, the first iteration's
//! perturbed input, and our output, loss and gradients at that iteration, written
//! to one safetensors file.
//!
//!     DIP_DATA=/path/to/data cargo run --release --example twin_dump -- /tmp/dump.safetensors
//!
//! Tensors: `p<k>.<name>` the initial parameters (in `named_parameters` order),
//! `g<k>.<name>` their gradients, `z`, `z0`, `out0` and `loss0`.

use std::collections::HashMap;

use anyhow::Context;
use candle_core::{Device, Module, Tensor};
use dip::fit::Fitter;
use dip::net::SkipNet;
use dip::reproduce::{plan, Experiment, Preset};

fn main() -> anyhow::Result<()> {
    let out = std::env::args()
        .nth(1)
        .context("usage: twin_dump OUT.safetensors")?;
    let images = ["house".to_string()];
    let job = plan::jobs(Preset::Cpu, &[Experiment::Table1], &images, None, 1).remove(0);
    let device = Device::Cpu;
    let prepared = job.prepare(&dip::data::DataDir::locate(None), &device)?;
    let net = SkipNet::new(&job.net, job.seed, &device)?;
    let fitter = Fitter::new(net, &prepared.problem, &job.fit)?;
    // The fit's own noise of iteration 0 (`Fitter::perturbed_input`).
    let mut rng = dip::rng::Rng::new(job.fit.seed.wrapping_mul(0x9e37_79b9).wrapping_add(1));
    let z0 = dip::input::perturbed(&fitter.z, job.fit.reg_noise_std, &mut rng)?;
    let out0 = fitter.net.forward(&z0)?;
    let loss0 = prepared.problem.energy(&out0)?;
    let grads = loss0.backward()?;
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    for (k, (name, var)) in fitter.net.named_parameters().into_iter().enumerate() {
        tensors.insert(format!("p{k:03}.{name}"), var.as_tensor().copy()?);
        let grad = grads.get(&var).context("a parameter without a gradient")?;
        tensors.insert(format!("g{k:03}.{name}"), grad.copy()?);
    }
    for (name, t) in [("z", &fitter.z), ("z0", &z0), ("out0", &out0)] {
        tensors.insert(name.into(), t.detach());
    }
    tensors.insert("loss0".into(), loss0.detach().reshape(1)?);
    candle_core::safetensors::save(&tensors, &out)?;
    println!(
        "loss at iteration 0: {:.9e}; written {out}",
        loss0.to_scalar::<f32>()?
    );
    Ok(())
}
