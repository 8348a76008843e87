//! The CPU kernels of `dip::ops` (reflection padding, bilinear and nearest ×2
//! upsampling, each a candle custom op with its own backward pass) against
//! - the composed forms built from candle's differentiable ops,
//! - central finite differences,
//! - numbers computed by PyTorch,
//! - and their own adjoints (the gradient of the backward op is the forward op).
//!
//! Run with `cargo test --test ops`.

use candle_core::{DType, Device, Result, Tensor, Var};
use dip::ops::reflection_pad::{
    reflection_pad2d_adjoint_cpu, reflection_pad2d_composed, reflection_pad2d_cpu,
    reflection_pad2d_with,
};
use dip::ops::upsample::{
    upsample_bilinear2x_adjoint_cpu, upsample_bilinear2x_composed, upsample_bilinear2x_cpu,
    upsample_bilinear2x_with, upsample_nearest2x_adjoint_cpu, upsample_nearest2x_composed,
    upsample_nearest2x_cpu, upsample_nearest2x_with,
};
use dip::ops::Kernels;
use dip::rng::Rng;

type Op = Box<dyn Fn(&Tensor) -> Result<Tensor>>;

/// A standard-normal f32 tensor from a seed.
fn randn(shape: &[usize], seed: u64) -> Tensor {
    let n = shape.iter().product();
    Tensor::from_vec(Rng::new(seed).normal(n, 1.0), shape, &Device::Cpu).unwrap()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.dims(), b.dims(), "shapes differ");
    let d = (a.to_dtype(DType::F64).unwrap() - b.to_dtype(DType::F64).unwrap()).unwrap();
    d.abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}

/// `op(x)` and the gradient of `Σ op(x) ⊙ g` with respect to `x`, for a random `g`.
/// With `transpose`, the op sees `x` with its last two axes swapped (a strided view).
fn forward_and_grad(op: &Op, x: &Tensor, g_seed: u64, transpose: bool) -> (Tensor, Tensor) {
    let var = Var::from_tensor(x).unwrap();
    let input = if transpose {
        var.as_tensor().transpose(2, 3).unwrap()
    } else {
        var.as_tensor().clone()
    };
    let y = op(&input).unwrap();
    let g = randn(y.dims(), g_seed).to_dtype(x.dtype()).unwrap();
    let grads = (&y * &g).unwrap().sum_all().unwrap().backward().unwrap();
    (y, grads.get(var.as_tensor()).expect("a gradient").clone())
}

/// The CPU op and the composed op agree, forward and backward, to `tol`.
fn assert_same(fast: &Op, composed: &Op, shape: &[usize], seed: u64, transpose: bool) {
    let x = randn(shape, seed);
    let (y_fast, g_fast) = forward_and_grad(fast, &x, seed + 1, transpose);
    let (y_ref, g_ref) = forward_and_grad(composed, &x, seed + 1, transpose);
    let (dy, dg) = (max_abs_diff(&y_fast, &y_ref), max_abs_diff(&g_fast, &g_ref));
    assert!(dy < 1e-5, "forward differs by {dy} for {shape:?}");
    assert!(dg < 1e-5, "gradient differs by {dg} for {shape:?}");
}

fn pad_ops(p: usize) -> (Op, Op) {
    (
        Box::new(move |x| reflection_pad2d_cpu(x, p)),
        Box::new(move |x| reflection_pad2d_composed(x, p)),
    )
}

fn bilinear_ops() -> (Op, Op) {
    (
        Box::new(upsample_bilinear2x_cpu),
        Box::new(upsample_bilinear2x_composed),
    )
}

fn nearest_ops() -> (Op, Op) {
    (
        Box::new(upsample_nearest2x_cpu),
        Box::new(upsample_nearest2x_composed),
    )
}

#[test]
fn reflection_pad_matches_composed() {
    for (shape, p) in [
        (&[2, 3, 7, 9][..], 1),
        (&[1, 4, 8, 5], 2),
        (&[1, 2, 6, 6], 3),
        (&[1, 2, 4, 6], 3), // p = H - 1
        (&[1, 1, 5, 2], 1), // p = W - 1
        (&[3, 2, 2, 2], 1),
    ] {
        let (fast, composed) = pad_ops(p);
        for transpose in [false, true] {
            assert_same(&fast, &composed, shape, 10 + p as u64, transpose);
        }
    }
}

#[test]
fn bilinear_matches_composed() {
    let (fast, composed) = bilinear_ops();
    for shape in [
        [2, 3, 7, 9],
        [1, 4, 8, 5],
        [1, 2, 1, 6],
        [1, 2, 5, 1],
        [2, 1, 1, 1],
        [1, 3, 2, 2],
    ] {
        for transpose in [false, true] {
            assert_same(&fast, &composed, &shape, 20, transpose);
        }
    }
}

#[test]
fn nearest_matches_composed() {
    let (fast, composed) = nearest_ops();
    for shape in [
        [2, 3, 7, 9],
        [1, 4, 8, 5],
        [1, 2, 1, 6],
        [1, 2, 5, 1],
        [2, 1, 1, 1],
    ] {
        for transpose in [false, true] {
            assert_same(&fast, &composed, &shape, 30, transpose);
        }
    }
}

/// The public `*_with` functions: `Kernels::Fast` (our kernels on the CPU) and
/// `Kernels::Candle` (the composed forms) give the same values and gradients.
#[test]
fn dispatch_fast_matches_candle() {
    let with = |k: Kernels| -> [Op; 3] {
        [
            Box::new(move |x| reflection_pad2d_with(x, 1, k)),
            Box::new(move |x| upsample_bilinear2x_with(x, k)),
            Box::new(move |x| upsample_nearest2x_with(x, k)),
        ]
    };
    for (fast, candle) in with(Kernels::Fast).iter().zip(with(Kernels::Candle).iter()) {
        assert_same(fast, candle, &[1, 5, 6, 7], 40, false);
    }
}

/// The gradient of `Σ sin(op(x)) ⊙ g` in f64 against central finite differences.
fn assert_finite_differences(op: &Op, shape: &[usize]) {
    let x = randn(shape, 50).to_dtype(DType::F64).unwrap();
    let y_dims = op(&x).unwrap().dims().to_vec();
    let g = randn(&y_dims, 51).to_dtype(DType::F64).unwrap();
    let loss = |x: &Tensor| -> f64 {
        let y = op(x).unwrap().sin().unwrap();
        (y * &g)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    };
    let var = Var::from_tensor(&x).unwrap();
    let y = op(var.as_tensor()).unwrap().sin().unwrap();
    let grads = (y * &g).unwrap().sum_all().unwrap().backward().unwrap();
    let grad: Vec<f64> = grads
        .get(var.as_tensor())
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let base: Vec<f64> = x.flatten_all().unwrap().to_vec1().unwrap();
    let eps = 1e-6;
    for i in 0..base.len() {
        let shifted = |d: f64| {
            let mut v = base.clone();
            v[i] += d;
            Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
        };
        let fd = (loss(&shifted(eps)) - loss(&shifted(-eps))) / (2.0 * eps);
        assert!(
            (fd - grad[i]).abs() < 1e-6 * (1.0 + fd.abs()),
            "element {i}: finite differences {fd}, backward {}",
            grad[i]
        );
    }
}

#[test]
fn gradients_match_finite_differences() {
    let ops: [(Op, &[usize]); 6] = [
        (pad_ops(2).0, &[1, 2, 3, 5]),
        (pad_ops(1).0, &[2, 1, 4, 2]),
        (bilinear_ops().0, &[1, 2, 3, 4]),
        (bilinear_ops().0, &[1, 1, 1, 3]),
        (nearest_ops().0, &[1, 2, 3, 4]),
        (nearest_ops().0, &[1, 1, 2, 1]),
    ];
    for (op, shape) in &ops {
        assert_finite_differences(op, shape);
    }
}

/// The adjoint ops are differentiable too: the gradient of `Σ Aᵀ(y) ⊙ h` with
/// respect to `y` is `A h`, the forward op.
#[test]
fn adjoint_gradient_is_the_forward_op() {
    let cases: [(Op, Op, &[usize]); 3] = [
        (
            Box::new(|g| reflection_pad2d_adjoint_cpu(g, 2)),
            pad_ops(2).1,
            &[2, 3, 5, 7],
        ),
        (
            Box::new(upsample_bilinear2x_adjoint_cpu),
            bilinear_ops().1,
            &[2, 3, 5, 7],
        ),
        (
            Box::new(upsample_nearest2x_adjoint_cpu),
            nearest_ops().1,
            &[2, 3, 5, 7],
        ),
    ];
    for (adjoint, forward, shape) in &cases {
        let h = randn(shape, 60);
        let y = Var::from_tensor(&randn(forward(&h).unwrap().dims(), 61)).unwrap();
        let a = adjoint(y.as_tensor()).unwrap();
        assert_eq!(a.dims(), *shape);
        let grads = (a * &h).unwrap().sum_all().unwrap().backward().unwrap();
        let d = max_abs_diff(grads.get(y.as_tensor()).unwrap(), &forward(&h).unwrap());
        assert!(d < 1e-5, "differs by {d}");
    }
}

/// ⟨A x, g⟩ = ⟨x, Aᵀ g⟩ for the kernels and their adjoints, in f64.
#[test]
fn adjoint_identity() {
    let cases: [(Op, Op); 4] = [
        (
            pad_ops(1).0,
            Box::new(|g| reflection_pad2d_adjoint_cpu(g, 1)),
        ),
        (
            pad_ops(3).0,
            Box::new(|g| reflection_pad2d_adjoint_cpu(g, 3)),
        ),
        (bilinear_ops().0, Box::new(upsample_bilinear2x_adjoint_cpu)),
        (nearest_ops().0, Box::new(upsample_nearest2x_adjoint_cpu)),
    ];
    let dot = |a: &Tensor, b: &Tensor| {
        (a * b)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    };
    for (forward, adjoint) in &cases {
        let x = randn(&[2, 3, 4, 6], 70).to_dtype(DType::F64).unwrap();
        let ax = forward(&x).unwrap();
        let g = randn(ax.dims(), 71).to_dtype(DType::F64).unwrap();
        let (lhs, rhs) = (dot(&ax, &g), dot(&x, &adjoint(&g).unwrap()));
        assert!(
            (lhs - rhs).abs() < 1e-10 * (1.0 + lhs.abs()),
            "{lhs} ≠ {rhs}"
        );
    }
}

#[test]
fn padding_too_large_is_an_error() {
    let x = randn(&[1, 2, 3, 5], 80);
    for kernels in [Kernels::Fast, Kernels::Candle] {
        assert!(reflection_pad2d_with(&x, 3, kernels).is_err());
        assert!(reflection_pad2d_with(&x, 2, kernels).is_ok()); // p = H - 1
    }
    assert!(reflection_pad2d_cpu(&x, 3).is_err());
    assert!(reflection_pad2d_cpu(&x.transpose(2, 3).unwrap(), 3).is_err());
    assert!(reflection_pad2d_adjoint_cpu(&x, 1).is_err()); // 3×5 cannot be a 1×3 padded by 1
    assert!(reflection_pad2d_cpu(&randn(&[2, 3, 4], 81), 1).is_err()); // not 4-d
    assert_eq!(max_abs_diff(&reflection_pad2d_cpu(&x, 0).unwrap(), &x), 0.0);
}

#[test]
fn other_errors_are_errors() {
    let odd = randn(&[1, 1, 3, 4], 90);
    assert!(upsample_bilinear2x_adjoint_cpu(&odd).is_err());
    assert!(upsample_nearest2x_adjoint_cpu(&odd.transpose(2, 3).unwrap()).is_err());
    let ints = Tensor::zeros((1, 1, 2, 2), DType::U32, &Device::Cpu).unwrap();
    assert!(upsample_bilinear2x_cpu(&ints).is_err());
    assert!(upsample_nearest2x_cpu(&randn(&[4, 4], 91)).is_err());
}

/// Bit-identical results whatever the number of threads.
#[test]
fn deterministic_across_thread_counts() {
    let x = randn(&[1, 16, 20, 24], 100);
    let run = || -> Vec<Vec<f32>> {
        let (p, b, n) = (pad_ops(2).0, bilinear_ops().0, nearest_ops().0);
        let mut out = Vec::new();
        for op in [&p, &b, &n] {
            let (y, g) = forward_and_grad(op, &x, 101, false);
            out.push(y.flatten_all().unwrap().to_vec1().unwrap());
            out.push(g.flatten_all().unwrap().to_vec1().unwrap());
        }
        out
    };
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(run);
    let three = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap()
        .install(run);
    assert_eq!(one, three);
}

// Reference values from PyTorch 2.15 (float64), produced once with:
//
//     x = (torch.arange(n, dtype=torch.float64) * 7 % 10).reshape(shape).requires_grad_(True)
//     y = op(x)
//     g = (torch.arange(y.numel(), dtype=torch.float64) * 3 % 7 - 3).reshape(y.shape)
//     (y * g).sum().backward()        # _OUT = y.flatten(), _GRAD = x.grad.flatten()
//
// with op = torch.nn.ReflectionPad2d(2), F.interpolate(x, scale_factor=2,
// mode='bilinear', align_corners=False) and F.interpolate(x, scale_factor=2,
// mode='nearest'), for x of shape 1×2×3×4 (and 1×1×1×3 for the last case).
// PAD2: output shape (1, 2, 7, 8)
const PAD2_OUT: [f64; 112] = [
    0.0, 3.0, 6.0, 3.0, 0.0, 7.0, 0.0, 3.0, 2.0, 5.0, 8.0, 5.0, 2.0, 9.0, 2.0, 5.0, 4.0, 7.0, 0.0,
    7.0, 4.0, 1.0, 4.0, 7.0, 2.0, 5.0, 8.0, 5.0, 2.0, 9.0, 2.0, 5.0, 0.0, 3.0, 6.0, 3.0, 0.0, 7.0,
    0.0, 3.0, 2.0, 5.0, 8.0, 5.0, 2.0, 9.0, 2.0, 5.0, 4.0, 7.0, 0.0, 7.0, 4.0, 1.0, 4.0, 7.0, 4.0,
    7.0, 0.0, 7.0, 4.0, 1.0, 4.0, 7.0, 6.0, 9.0, 2.0, 9.0, 6.0, 3.0, 6.0, 9.0, 8.0, 1.0, 4.0, 1.0,
    8.0, 5.0, 8.0, 1.0, 6.0, 9.0, 2.0, 9.0, 6.0, 3.0, 6.0, 9.0, 4.0, 7.0, 0.0, 7.0, 4.0, 1.0, 4.0,
    7.0, 6.0, 9.0, 2.0, 9.0, 6.0, 3.0, 6.0, 9.0, 8.0, 1.0, 4.0, 1.0, 8.0, 5.0, 8.0, 1.0,
];
const PAD2_GRAD: [f64; 24] = [
    2.0, 1.0, 2.0, -1.0, -6.0, 6.0, -3.0, 0.0, 4.0, -7.0, 1.0, 1.0, 2.0, 1.0, 2.0, -1.0, -6.0, 6.0,
    -3.0, 0.0, 4.0, -7.0, 1.0, 1.0,
];
// BILINEAR: output shape (1, 2, 6, 8)
const BILINEAR_OUT: [f64; 96] = [
    0.0, 1.75, 5.25, 6.25, 4.75, 3.25, 1.75, 1.0, 2.0, 3.125, 5.375, 5.75, 4.25, 3.375, 3.125, 3.0,
    6.0, 5.875, 5.625, 4.75, 3.25, 3.625, 5.875, 7.0, 7.5, 6.75, 5.25, 3.75, 2.25, 3.25, 6.75, 8.5,
    6.5, 5.75, 4.25, 2.75, 1.25, 2.25, 5.75, 7.5, 6.0, 5.25, 3.75, 2.25, 0.75, 1.75, 5.25, 7.0,
    4.0, 3.25, 1.75, 2.75, 6.25, 7.25, 5.75, 5.0, 3.5, 3.375, 3.125, 4.125, 6.375, 6.75, 5.25, 4.5,
    2.5, 3.625, 5.875, 6.875, 6.625, 5.75, 4.25, 3.5, 1.5, 3.25, 6.75, 7.75, 6.25, 4.75, 3.25, 2.5,
    0.5, 2.25, 5.75, 6.75, 5.25, 3.75, 2.25, 1.5, 0.0, 1.75, 5.25, 6.25, 4.75, 3.25, 1.75, 1.0,
];
const BILINEAR_GRAD: [f64; 24] = [
    -0.0625, 2.75, -1.25, -3.6875, 2.75, -1.0, -2.375, 2.625, -1.4375, -3.0, 2.625, 1.0625,
    -2.4375, 3.0, 0.75, -2.5625, 3.0, 1.0, -2.5625, -0.1875, 1.4375, -2.75, -0.1875, 3.5,
];
// NEAREST: output shape (1, 2, 6, 8)
const NEAREST_OUT: [f64; 96] = [
    0.0, 0.0, 7.0, 7.0, 4.0, 4.0, 1.0, 1.0, 0.0, 0.0, 7.0, 7.0, 4.0, 4.0, 1.0, 1.0, 8.0, 8.0, 5.0,
    5.0, 2.0, 2.0, 9.0, 9.0, 8.0, 8.0, 5.0, 5.0, 2.0, 2.0, 9.0, 9.0, 6.0, 6.0, 3.0, 3.0, 0.0, 0.0,
    7.0, 7.0, 6.0, 6.0, 3.0, 3.0, 0.0, 0.0, 7.0, 7.0, 4.0, 4.0, 1.0, 1.0, 8.0, 8.0, 5.0, 5.0, 4.0,
    4.0, 1.0, 1.0, 8.0, 8.0, 5.0, 5.0, 2.0, 2.0, 9.0, 9.0, 6.0, 6.0, 3.0, 3.0, 2.0, 2.0, 9.0, 9.0,
    6.0, 6.0, 3.0, 3.0, 0.0, 0.0, 7.0, 7.0, 4.0, 4.0, 1.0, 1.0, 0.0, 0.0, 7.0, 7.0, 4.0, 4.0, 1.0,
    1.0,
];
const NEAREST_GRAD: [f64; 24] = [
    0.0, 3.0, -1.0, -5.0, 3.0, -1.0, -5.0, 5.0, -1.0, -5.0, 5.0, 1.0, -5.0, 5.0, 1.0, -3.0, 5.0,
    1.0, -3.0, 0.0, 1.0, -3.0, 0.0, 3.0,
];
// BILINEAR_1X3: output shape (1, 1, 2, 6)
const BILINEAR_1X3_OUT: [f64; 12] = [
    0.0, 1.75, 5.25, 6.25, 4.75, 4.0, 0.0, 1.75, 5.25, 6.25, 4.75, 4.0,
];
const BILINEAR_1X3_GRAD: [f64; 3] = [-3.5, 3.25, 1.25];

/// The op on the PyTorch input, its output and input gradient, in f32 and f64.
fn assert_pytorch(op: &Op, shape: &[usize], out: &[f64], grad: &[f64]) {
    let n: usize = shape.iter().product();
    for dtype in [DType::F32, DType::F64] {
        let x: Vec<f64> = (0..n).map(|k| (k * 7 % 10) as f64).collect();
        let x = Var::from_tensor(
            &Tensor::from_vec(x, shape, &Device::Cpu)
                .unwrap()
                .to_dtype(dtype)
                .unwrap(),
        )
        .unwrap();
        let y = op(x.as_tensor()).unwrap();
        let m = y.elem_count();
        let g: Vec<f64> = (0..m).map(|k| (k * 3 % 7) as f64 - 3.0).collect();
        let g = Tensor::from_vec(g, y.dims(), &Device::Cpu)
            .unwrap()
            .to_dtype(dtype)
            .unwrap();
        let grads = (&y * &g).unwrap().sum_all().unwrap().backward().unwrap();
        let got_out = y
            .to_dtype(DType::F64)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let got_grad = grads
            .get(x.as_tensor())
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        assert_eq!(got_out.len(), out.len());
        for (a, b) in got_out.iter().zip(out).chain(got_grad.iter().zip(grad)) {
            assert!((a - b).abs() < 1e-5, "{a} vs PyTorch's {b} ({dtype:?})");
        }
    }
}

#[test]
fn matches_pytorch() {
    for (fast, composed) in [pad_ops(2)] {
        for op in [&fast, &composed] {
            assert_pytorch(op, &[1, 2, 3, 4], &PAD2_OUT, &PAD2_GRAD);
        }
    }
    for (fast, composed) in [bilinear_ops()] {
        for op in [&fast, &composed] {
            assert_pytorch(op, &[1, 2, 3, 4], &BILINEAR_OUT, &BILINEAR_GRAD);
            assert_pytorch(op, &[1, 1, 1, 3], &BILINEAR_1X3_OUT, &BILINEAR_1X3_GRAD);
        }
    }
    for (fast, composed) in [nearest_ops()] {
        for op in [&fast, &composed] {
            assert_pytorch(op, &[1, 2, 3, 4], &NEAREST_OUT, &NEAREST_GRAD);
        }
    }
}

/// A whole (small) skip network, bilinear and nearest: the forward pass and the
/// gradient of every parameter agree between `Kernels::Fast` and `Kernels::Candle`.
#[test]
fn skip_net_fast_matches_candle() {
    use candle_core::Module;
    use dip::net::{SkipConfig, SkipNet, Upsample};
    for mode in [Upsample::Bilinear, Upsample::Nearest] {
        let config = SkipConfig::uniform(4, 3, 8, 8, 2, 3).with_upsample(mode);
        let z = randn(&[1, 4, 16, 16], 110);
        let run = |kernels: Kernels| -> (Tensor, Vec<Tensor>) {
            let mut net = SkipNet::new(&config, 7, &Device::Cpu).unwrap();
            net.kernels = kernels;
            let y = net.forward(&z).unwrap();
            let g = randn(y.dims(), 111);
            let grads = (&y * &g).unwrap().sum_all().unwrap().backward().unwrap();
            let params = net.parameters();
            let grads = params
                .iter()
                .map(|p| grads.get(p.as_tensor()).unwrap().clone());
            (y, grads.collect())
        };
        let (y_fast, g_fast) = run(Kernels::Fast);
        let (y_ref, g_ref) = run(Kernels::Candle);
        assert!(max_abs_diff(&y_fast, &y_ref) < 1e-5);
        for (a, b) in g_fast.iter().zip(&g_ref) {
            let scale = 1.0
                + b.abs()
                    .unwrap()
                    .max_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap() as f64;
            assert!(
                max_abs_diff(a, b) < 1e-4 * scale,
                "{mode:?}: parameter gradients differ"
            );
        }
    }
}
