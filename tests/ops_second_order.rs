//! Second-order gradients through the CPU kernels of `dip::ops`: the backward
//! pass of each op is its adjoint op, itself differentiable, so a gradient can be
//! differentiated again.
//!
//! candle detaches gradients during `backward()` unless the environment variable
//! `CANDLE_GRAD_DO_NOT_DETACH` is set when a thread first runs a backward pass.
//! This file is its own test binary with a single test, which sets the variable
//! and then runs on a fresh thread, so no other test sees the setting.
//!
//! Run with `cargo test --test ops_second_order`.

use candle_core::{Device, Result, Tensor, Var};
use dip::ops::reflection_pad::{reflection_pad2d_composed, reflection_pad2d_cpu};
use dip::ops::upsample::{
    upsample_bilinear2x_composed, upsample_bilinear2x_cpu, upsample_nearest2x_composed,
    upsample_nearest2x_cpu,
};
use dip::rng::Rng;

type Op = Box<dyn Fn(&Tensor) -> Result<Tensor> + Send>;

fn randn(shape: &[usize], seed: u64) -> Tensor {
    let n = shape.iter().product();
    Tensor::from_vec(Rng::new(seed).normal(n, 1.0), shape, &Device::Cpu).unwrap()
}

/// For a linear op `A`: `∇ₓ Σ A(x) ⊙ g = Aᵀ g`, built by the adjoint op with `g`
/// tracked; then `∇_g Σ (Aᵀ g) ⊙ h = A h`, which runs the adjoint op's backward.
fn assert_grad_of_grad(op: &Op, reference: &Op, shape: &[usize]) {
    let x = Var::from_tensor(&randn(shape, 1)).unwrap();
    let y = op(x.as_tensor()).unwrap();
    let g = Var::from_tensor(&randn(y.dims(), 2)).unwrap();
    let loss = (&y * g.as_tensor()).unwrap().sum_all().unwrap();
    let grad_x = loss.backward().unwrap().get(x.as_tensor()).unwrap().clone();
    let h = randn(shape, 3);
    let loss2 = (&grad_x * &h).unwrap().sum_all().unwrap();
    let grads = loss2.backward().unwrap();
    let grad_g = grads
        .get(g.as_tensor())
        .expect("the gradient is differentiable");
    let expected = reference(&h).unwrap();
    let d = (grad_g - expected)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(d < 1e-5, "grad of grad differs by {d}");
}

#[test]
fn gradient_of_gradient() {
    std::env::set_var("CANDLE_GRAD_DO_NOT_DETACH", "1");
    std::thread::spawn(|| {
        let cases: [(Op, Op, &[usize]); 5] = [
            (
                Box::new(|x| reflection_pad2d_cpu(x, 1)),
                Box::new(|x| reflection_pad2d_composed(x, 1)),
                &[1, 2, 3, 4],
            ),
            (
                Box::new(|x| reflection_pad2d_cpu(x, 2)),
                Box::new(|x| reflection_pad2d_composed(x, 2)),
                &[2, 1, 3, 5],
            ),
            (
                Box::new(upsample_bilinear2x_cpu),
                Box::new(upsample_bilinear2x_composed),
                &[1, 2, 3, 4],
            ),
            (
                Box::new(upsample_bilinear2x_cpu),
                Box::new(upsample_bilinear2x_composed),
                &[1, 1, 1, 3],
            ),
            (
                Box::new(upsample_nearest2x_cpu),
                Box::new(upsample_nearest2x_composed),
                &[1, 2, 3, 4],
            ),
        ];
        for (op, reference, shape) in &cases {
            assert_grad_of_grad(op, reference, shape);
        }
    })
    .join()
    .expect("second-order gradients");
}
