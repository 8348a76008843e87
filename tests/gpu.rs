//! The GPU path against the CPU kernels: each op, the whole network (output and every
//! gradient) and a seeded fit, on the first GPU `dip::device::auto` finds (CUDA, then
//! Metal), compared with the same computation by our CPU kernels.
//!
//! Without a GPU these tests say so and pass, unless `DIP_REQUIRE_GPU=1`: then the
//! absence of a GPU fails them. `scripts/gpu-check.sh` sets it on the GPU machine.
//! `DIP_GPU_TESTS_ON_CPU=1` runs them without a GPU, the GPU's code path (candle's
//! ops, the convolutions as matrix products: `Kernels::Gemm`) on the CPU: a check of
//! the tests themselves and of that path (`tests/reference_net.rs` checks it too).

mod common;

use candle_core::{DType, Device, Module, Tensor, Var};
use dip::fit::{fit, Control, FitConfig};
use dip::net::{SkipConfig, SkipNet, Upsample};
use dip::ops::conv::ConvShape;
use dip::ops::conv_bn_act::UnitParams;
use dip::ops::{self, Kernels};
use dip::rng::Rng;
use dip::tasks::denoising;
use dip::Image;

/// Where the GPU's side of a comparison runs: a device and the kernels it uses there.
struct Gpu {
    device: Device,
    kernels: Kernels,
}

/// The GPU, or `None` (after a note) where there is none and none is required.
fn gpu() -> Option<Gpu> {
    let flag = |name: &str| std::env::var(name).is_ok_and(|v| v == "1");
    let device = dip::device::auto();
    if !device.is_cpu() {
        let kernels = Kernels::Fast;
        return Some(Gpu { device, kernels });
    }
    if flag("DIP_GPU_TESTS_ON_CPU") {
        let kernels = Kernels::Gemm;
        return Some(Gpu { device, kernels });
    }
    assert!(
        !flag("DIP_REQUIRE_GPU"),
        "DIP_REQUIRE_GPU=1 but no GPU was found (is this a --features cuda build?)"
    );
    eprintln!("no GPU (a build without --features cuda or metal, or no device): skipped");
    None
}

/// Uniform values in `[lo, hi)` of `shape`, from `rng`.
fn random(rng: &mut Rng, shape: &[usize], (lo, hi): (f32, f32)) -> Tensor {
    let n = shape.iter().product();
    Tensor::from_vec(rng.uniform(n, lo, hi), shape, &Device::Cpu).unwrap()
}

/// The largest absolute difference of two tensors, relative to the largest value of `a` (at least 1).
fn relative_difference(a: &Tensor, b: &Tensor) -> f32 {
    let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let b = b.to_device(&Device::Cpu).unwrap();
    let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(a.len(), b.len());
    let scale = a.iter().fold(1f32, |m, v| m.max(v.abs()));
    a.iter()
        .zip(&b)
        .fold(0f32, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

/// `f` of the inputs on the CPU (our kernels) and on the GPU: the outputs and the
/// gradients of `Σ f(x) ⊙ r` with respect to every input agree to `tol`, relative.
fn same_on_both(
    what: &str,
    gpu: &Gpu,
    inputs: &[Tensor],
    tol: f32,
    f: impl Fn(&[Tensor], Kernels) -> candle_core::Result<Tensor>,
) {
    let run = |device: &Device, kernels: Kernels| {
        let vars: Vec<Var> = inputs
            .iter()
            .map(|t| Var::from_tensor(&t.to_device(device).unwrap()).unwrap())
            .collect();
        let tensors: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let y = f(&tensors, kernels).unwrap();
        let r = random(&mut Rng::new(99), y.dims(), (-1.0, 1.0));
        let loss = (&y * r.to_device(device).unwrap())
            .unwrap()
            .sum_all()
            .unwrap();
        let grads = loss.backward().unwrap();
        let grads: Vec<Tensor> = vars
            .iter()
            .map(|v| grads.get(v).expect("a gradient").clone())
            .collect();
        (y, grads)
    };
    let (y_cpu, g_cpu) = run(&Device::Cpu, Kernels::Fast);
    let (y_gpu, g_gpu) = run(&gpu.device, gpu.kernels);
    let d = relative_difference(&y_cpu, &y_gpu);
    assert!(
        d <= tol,
        "{what}: outputs differ by {d:e} (tolerance {tol:e})"
    );
    for (i, (a, b)) in g_cpu.iter().zip(&g_gpu).enumerate() {
        let d = relative_difference(a, b);
        assert!(
            d <= tol,
            "{what}: the gradient of input {i} differs by {d:e} (tolerance {tol:e})"
        );
    }
}

/// Float32 sums in another order: the CPU kernels against candle's ops differ by about
/// 1e-5 of the largest value (`tests/reference_net.rs` measures the same on the CPU).
const OP_TOLERANCE: f32 = 1e-4;

#[test]
fn each_op_computes_on_the_gpu_what_the_cpu_kernels_compute() {
    let Some(gpu) = gpu() else {
        return;
    };
    let mut rng = Rng::new(1);
    let x = random(&mut rng, &[2, 6, 20, 18], (-1.0, 1.0));
    for (stride, padding, reflect, kernel) in [
        (1, 1, true, 3),
        (2, 1, true, 3),
        (1, 0, false, 1),
        (1, 1, false, 3),
    ] {
        let w = random(&mut rng, &[5, 6, kernel, kernel], (-0.3, 0.3));
        let b = random(&mut rng, &[5], (-0.1, 0.1));
        let shape = ConvShape {
            stride,
            padding,
            reflect,
        };
        same_on_both(
            &format!("conv {shape:?}"),
            &gpu,
            &[x.clone(), w, b],
            OP_TOLERANCE,
            |t, k| ops::conv::conv2d_shaped_with(&t[0], &t[1], &t[2], shape, k),
        );
    }
    let gamma = random(&mut rng, &[6], (0.2, 1.0));
    let beta = random(&mut rng, &[6], (-0.5, 0.5));
    for slope in [None, Some(0.2)] {
        same_on_both(
            &format!("batch norm, slope {slope:?}"),
            &gpu,
            &[x.clone(), gamma.clone(), beta.clone()],
            OP_TOLERANCE,
            |t, k| ops::batch_norm::batch_norm_with(&t[0], &t[1], &t[2], slope, k),
        );
    }
    same_on_both(
        "reflection padding",
        &gpu,
        std::slice::from_ref(&x),
        OP_TOLERANCE,
        |t, k| ops::reflection_pad::reflection_pad2d_with(&t[0], 2, k),
    );
    for mode in [Upsample::Bilinear, Upsample::Nearest] {
        same_on_both(
            &format!("upsampling {mode:?}"),
            &gpu,
            std::slice::from_ref(&x),
            OP_TOLERANCE,
            |t, k| ops::merge::upsample_with(&t[0], mode, k),
        );
        // The decoder's merge: the skip branch beside the deeper one upsampled (and cropped), batch-normalised.
        let skip = random(&mut rng, &[2, 3, 39, 35], (-1.0, 1.0));
        let g = random(&mut rng, &[9], (0.2, 1.0));
        let b = random(&mut rng, &[9], (-0.5, 0.5));
        same_on_both(
            &format!("merge {mode:?}"),
            &gpu,
            &[skip, x.clone(), g, b],
            OP_TOLERANCE,
            |t, k| ops::merge::upsample_concat_bn_with(&t[0], &t[1], mode, &t[2], &t[3], k),
        );
    }
    let w = random(&mut rng, &[4, 6, 3, 3], (-0.3, 0.3));
    let (bias, g, b) = (
        random(&mut rng, &[4], (-0.1, 0.1)),
        random(&mut rng, &[4], (0.2, 1.0)),
        random(&mut rng, &[4], (-0.5, 0.5)),
    );
    let shape = ConvShape {
        stride: 1,
        padding: 1,
        reflect: true,
    };
    same_on_both(
        "conv → batch norm → LeakyReLU",
        &gpu,
        &[x, w, bias, g, b],
        OP_TOLERANCE,
        |t, k| {
            let p = UnitParams {
                weight: &t[1],
                bias: &t[2],
                gamma: &t[3],
                beta: &t[4],
            };
            ops::conv_bn_act::conv_bn_act_with(&t[0], p, shape, Some(0.2), k)
        },
    );
}

#[test]
fn the_network_and_every_gradient_agree_on_the_gpu() {
    let Some(gpu) = gpu() else {
        return;
    };
    // Five scales as the paper's, narrower; an odd size crops the skip concatenation.
    let config = SkipConfig::uniform(8, 3, 16, 16, 4, 5);
    let z = random(&mut Rng::new(2), &[1, 8, 66, 70], (0.0, 0.1));
    let run = |device: &Device, kernels: Kernels| {
        let mut net = SkipNet::new(&config, 7, device).unwrap();
        net.kernels = kernels;
        let y = net.forward(&z.to_device(device).unwrap()).unwrap();
        let r = random(&mut Rng::new(3), y.dims(), (-1.0, 1.0));
        let loss = (&y * r.to_device(device).unwrap())
            .unwrap()
            .sum_all()
            .unwrap();
        let grads = loss.backward().unwrap();
        let named: Vec<(String, Tensor)> = net
            .named_parameters()
            .into_iter()
            .map(|(name, v)| (name, grads.get(&v).expect("a gradient").clone()))
            .collect();
        (y, named)
    };
    let (y_cpu, g_cpu) = run(&Device::Cpu, Kernels::Fast);
    let (y_gpu, g_gpu) = run(&gpu.device, gpu.kernels);
    let d = relative_difference(&y_cpu, &y_gpu);
    assert!(d <= 1e-4, "output differs by {d:e}");
    for ((name, a), (_, b)) in g_cpu.iter().zip(&g_gpu) {
        // A conv's bias before a batch norm does not change the output: its gradient is
        // zero, computed as sums that cancel, whose rounding is all that differs.
        if name.ends_with(".conv.bias") {
            continue;
        }
        let d = relative_difference(a, b);
        // As tests/reference_net.rs: float32 sums of H·W terms in other orders.
        assert!(d <= 3e-4, "the gradient of {name} differs by {d:e}");
    }
    assert_eq!(y_gpu.dtype(), DType::F32);
}

/// Seeded 200-iteration denoising fits on the GPU end where the same fits on the CPU
/// end: within 0.1 dB on average over three seeds (single seeds differ by rounding
/// that Adam amplifies, as the CPU kernels against candle's ops: `tests/fast_ops.rs`).
#[test]
fn a_seeded_fit_on_the_gpu_reaches_the_cpus_psnr() {
    let Some(gpu) = gpu() else {
        return;
    };
    let Some(path) = common::data_file("denoising-cbm3d9/image_F16_512rgb.png") else {
        return;
    };
    let clean = Image::load(&path).unwrap().crop(224, 224, 64, 64).unwrap();
    let noisy = denoising::add_noise(&clean, 25.0 / 255.0, &mut Rng::new(3));
    let net_config = SkipConfig::uniform(32, 3, 32, 32, 4, 4);
    let final_psnr = |device: &Device, kernels: Kernels, seed: u64| {
        let config = FitConfig {
            iterations: 200,
            seed,
            ..denoising::paper(3).fit
        };
        let mut net = SkipNet::new(&net_config, seed, device).unwrap();
        net.kernels = kernels;
        let problem = denoising::problem(&noisy, Some(&clean), 16, device).unwrap();
        let result = fit(net, &problem, &config, &mut |_| Control::Continue).unwrap();
        dip::metrics::psnr(&clean, result.restored()).unwrap()
    };
    let seeds = [5, 6, 7];
    let mut mean_gap = 0.0;
    for seed in seeds {
        let cpu = final_psnr(&Device::Cpu, Kernels::Fast, seed);
        let on_gpu = final_psnr(&gpu.device, gpu.kernels, seed);
        eprintln!("seed {seed}: cpu {cpu:.3} dB, gpu {on_gpu:.3} dB");
        assert!(
            (cpu - on_gpu).abs() <= 0.25,
            "seed {seed}: cpu {cpu:.3} dB, gpu {on_gpu:.3} dB"
        );
        mean_gap += (on_gpu - cpu) / seeds.len() as f64;
    }
    assert!(
        mean_gap.abs() <= 0.1,
        "mean over seeds: the GPU's fits end {mean_gap:+.3} dB from the CPU's"
    );
}
