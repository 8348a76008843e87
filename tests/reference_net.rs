//! `dip::net::SkipNet` computes the same function as the authors' `skip()` network
//! (github.com/DmitryUlyanov/deep-image-prior, `models/skip.py` and `models/common.py`):
//! with the reference's parameters loaded into it, the same output, and the same
//! gradient of a loss with respect to every parameter.
//!
//! The fixture `tests/fixtures/reference_net.safetensors` was made once by PyTorch
//! with `tests/fixtures/make_reference_net.py` (its docstring says how it was run,
//! with which versions; `tests/fixtures/reference_net.json` is its manifest). It
//! holds a 5-scale net like the paper's, but narrow (4 → 3 channels, 8 channels down
//! and up, 4 skip channels, reflection padding, LeakyReLU, sigmoid, 10,943
//! parameters) built by the reference's `skip()` from `torch.manual_seed(0)` with
//! every BatchNorm's γ and β drawn at random; BatchNorm in training mode on a batch
//! of one, as the reference always runs. For bilinear and nearest upsampling and
//! inputs `z` of 64 × 64 and 66 × 70 (not a multiple of 32: the reference's
//! `Concat` then crops the upsampled deeper branch, one pixel larger than the skip
//! branch, and so must our `concat_cropped`), it stores `z`, a random `R`, the output
//! and `∂L/∂θ` for `L = Σ out ⊙ R`, computed in float64 and rounded to float32.
//!
//! Each case runs with our CPU kernels (the default `Kernels::Fast`) in float32,
//! with the matrix-product convolution (`Kernels::Gemm`, what runs on a GPU) in float32 and
//! float64, and with candle's own ops (`Kernels::Candle`) in float32 and in float64; in
//! float64 our net matches the reference to the fixture's own float32 rounding.
//! Neither Python nor the network is needed.
//!
//! What it pins: the order of the layers of each scale, the nesting of the scales,
//! the stride-2 downsampling, reflection padding (also of odd sizes), the
//! upsampling mode (bilinear with `align_corners = false`, PyTorch's default), the
//! centre crop of the skip concatenation, BatchNorm's batch statistics, biased
//! variance and ε, LeakyReLU's slope, the head and the sigmoid (with the reference,
//! setting ε to 1e-12, `align_corners = True`, a slope of 0.1 or cropping the
//! other side moves the output by 0.007 to 0.55, far beyond the tolerances;
//! `the_comparison_detects_a_wrong_net` checks the upsampling mode and changed
//! parameters on our side). It cannot pin the biases of the convolutions followed
//! by BatchNorm, which the function does not depend on (their gradients are
//! exactly zero; see [`compare_case`]).

use std::collections::{BTreeSet, HashMap};

use candle_core::{DType, Device, Module, Tensor, Var};
use dip::net::{BatchNorm, Conv, ConvBnAct, Padding, SkipConfig, SkipNet, Upsample};
use dip::ops::Kernels;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/reference_net.safetensors"
);
const MANIFEST: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/reference_net.json"
);

/// How close our net must come to the reference: max |Δ| of the output, and per
/// gradient tensor max |Δ| / max(1, max |reference|) over that tensor.
///
/// The gradients reach 190 (∂L sums over all pixels), and BatchNorm's backward pass
/// in training mode subtracts per-channel means of products, so the float32
/// rounding error of an element follows the size of its tensor, not its own size
/// (small elements are differences of large sums): an element-wise relative bound
/// would fail PyTorch's own float32 run, which differs from the float64 fixture by
/// up to 3e-4 absolute, 1.2e-5 of its tensor's largest element.
#[derive(Clone, Copy, Debug)]
struct Tolerance {
    out: f64,
    grad: f64,
}

impl Tolerance {
    fn of(kernels: Kernels, dtype: DType) -> Self {
        match (kernels, dtype) {
            // Measured: output 3e-6, gradients 2.3e-5.
            (Kernels::Fast, DType::F32) => Self {
                out: 1e-4,
                grad: 1e-4,
            },
            // candle's composed ops round more (e.g. BatchNorm's statistics are
            // plain float32 sums of H·W terms). Measured: output 1e-5, gradients
            // 7.1e-5; the float64 run of the same ops below shows that this is
            // rounding, not a different function.
            (Kernels::Candle | Kernels::Gemm, DType::F32) => Self {
                out: 1e-4,
                grad: 3e-4,
            },
            // In float64 what is left is the fixture's own rounding to float32
            // (3e-8 of the output, 6e-8 relative). Measured: output 3e-8, gradients 5.5e-8.
            _ => Self {
                out: 1e-6,
                grad: 1e-6,
            },
        }
    }
}

/// The fixture: its tensors, and per reference parameter (in the reference's
/// order) our name for it and its shape.
struct Fixture {
    tensors: HashMap<String, Tensor>,
    params: Vec<(String, String, Vec<usize>)>,
}

fn fixture() -> Fixture {
    let tensors = candle_core::safetensors::load(FIXTURE, &Device::Cpu)
        .unwrap_or_else(|e| panic!("cannot read {FIXTURE}: {e}"));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(MANIFEST).unwrap()).unwrap();
    let params = manifest["params"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, p)| {
            assert_eq!(p["index"].as_u64(), Some(i as u64));
            let shape = p["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            (
                p["ours"].as_str().unwrap().to_string(),
                p["torch"].as_str().unwrap().to_string(),
                shape,
            )
        })
        .collect();
    Fixture { tensors, params }
}

impl Fixture {
    fn get(&self, name: &str) -> &Tensor {
        self.tensors
            .get(name)
            .unwrap_or_else(|| panic!("the fixture has no tensor {name}"))
    }
}

/// The reference's `skip(4, 3, [8]*5, [8]*5, [4]*5, filter_size_down=3,
/// filter_size_up=3, filter_skip_size=1, pad='reflection', need1x1_up=True,
/// need_sigmoid=True)`. Built by `SkipConfig::uniform` (so that new fields of
/// `SkipConfig` take their defaults), then checked field by field.
fn config(mode: Upsample) -> SkipConfig {
    let c = SkipConfig::uniform(4, 3, 8, 8, 4, 5).with_upsample(mode);
    assert_eq!((c.input_channels, c.output_channels), (4, 3));
    assert_eq!(c.channels_down, [8; 5]);
    assert_eq!(c.channels_up, [8; 5]);
    assert_eq!(c.channels_skip, [4; 5]);
    assert_eq!(
        (c.filter_down.as_slice(), c.filter_up.as_slice()),
        (&[3; 5][..], &[3; 5][..])
    );
    assert_eq!(c.filter_skip, 1);
    assert_eq!(c.upsample, [mode; 5]);
    assert_eq!(c.padding, Padding::Reflection);
    assert!(c.need_1x1_up && c.need_sigmoid);
    c
}

/// How our net runs: with which kernels, in which precision and, for the checks
/// that the comparison can fail, with a wrong upsampling or a parameter changed.
#[derive(Clone, Copy, Debug)]
struct Run<'a> {
    kernels: Kernels,
    dtype: DType,
    /// Our net's upsampling instead of the case's.
    upsample: Option<Upsample>,
    /// Add this to every element of the parameter of this name (ours) after loading.
    tweak: Option<(&'a str, f64)>,
}

impl Run<'static> {
    fn new(kernels: Kernels, dtype: DType) -> Self {
        Self {
            kernels,
            dtype,
            upsample: None,
            tweak: None,
        }
    }
}

/// Our net with the reference's parameters, and per reference parameter our `Var`.
fn net_with_reference_params(fx: &Fixture, mode: Upsample, run: Run) -> (SkipNet, Vec<Var>) {
    let dtype = run.dtype;
    let mut net = SkipNet::new(&config(mode), 0, &Device::Cpu).unwrap();
    net.kernels = run.kernels;
    if dtype != DType::F32 {
        convert(&mut net, dtype);
    }
    let ours: HashMap<String, Var> = net.named_parameters().into_iter().collect();
    // The mapping covers each of our parameters exactly once.
    let mapped: BTreeSet<&str> = fx.params.iter().map(|(o, _, _)| o.as_str()).collect();
    assert_eq!(
        mapped.len(),
        fx.params.len(),
        "a name of ours is mapped twice"
    );
    assert_eq!(
        mapped,
        ours.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        "the manifest's names are not those of SkipNet::named_parameters()"
    );
    let vars = fx
        .params
        .iter()
        .enumerate()
        .map(|(i, (name, torch_name, shape))| {
            let var = ours[name].clone();
            let value = fx.get(&format!("params/{i}"));
            assert_eq!(value.dims(), shape.as_slice(), "params/{i} ({torch_name})");
            assert_eq!(
                var.dims(),
                shape.as_slice(),
                "{name} (reference {torch_name})"
            );
            assert_eq!(var.dtype(), dtype, "{name} was not converted");
            let mut value = value.to_dtype(dtype).unwrap();
            if let Some((_, delta)) = run.tweak.filter(|(n, _)| n == name) {
                value = (value + delta).unwrap();
            }
            var.set(&value).unwrap();
            var
        })
        .collect();
    if let Some((name, _)) = run.tweak {
        assert!(ours.contains_key(name), "no parameter {name}");
    }
    (net, vars)
}

/// Replace every parameter of `net` by a `Var` of `dtype` (SkipNet makes f32 ones).
fn convert(net: &mut SkipNet, dtype: DType) {
    let var = |v: &mut Var| *v = Var::from_tensor(&v.to_dtype(dtype).unwrap()).unwrap();
    let conv = |c: &mut Conv| {
        var(&mut c.weight);
        var(&mut c.bias);
    };
    let bn = |b: &mut BatchNorm| {
        var(&mut b.gamma);
        var(&mut b.beta);
    };
    let unit = |u: &mut ConvBnAct| {
        conv(&mut u.conv);
        bn(&mut u.bn);
    };
    let mut level = Some(&mut net.top);
    while let Some(l) = level {
        if let Some(s) = &mut l.skip {
            unit(s);
        }
        unit(&mut l.down);
        unit(&mut l.down2);
        bn(&mut l.merge_bn);
        unit(&mut l.up);
        if let Some(u) = &mut l.up_1x1 {
            unit(u);
        }
        level = l.deeper.as_deref_mut();
    }
    conv(&mut net.head);
}

fn max_abs(t: &Tensor) -> f64 {
    t.to_dtype(DType::F64)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar()
        .unwrap()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.dims(), b.dims());
    max_abs(&(a.to_dtype(DType::F64).unwrap() - b.to_dtype(DType::F64).unwrap()).unwrap())
}

/// Whether reference parameter `name` (ours) is the bias of a convolution followed
/// by BatchNorm: all biases but the head's.
fn is_bias_before_bn(name: &str) -> bool {
    name.ends_with(".conv.bias")
}

/// How far our net is from the reference in one case.
#[derive(Debug)]
struct Distance {
    /// Max |Δ| of the output.
    out: f64,
    /// Max over the gradients compared of max |Δ| / max(1, max |reference|), and where.
    grad: f64,
    grad_at: String,
    /// Max over those gradients of max |Δ|.
    grad_abs: f64,
    /// Max |∂L/∂b| of the biases followed by BatchNorm (exactly zero in exact arithmetic).
    bias_before_bn: f64,
    /// The largest weight gradient of the case (the reference's).
    weight_grad_scale: f64,
}

impl Distance {
    fn ok(&self, tol: Tolerance) -> bool {
        self.out <= tol.out
            && self.grad <= tol.grad
            && self.bias_before_bn <= tol.grad * self.weight_grad_scale
    }
}

/// Run our net with the reference's parameters on the case of `mode` and `size`
/// (e.g. `64x64`) and measure the distance of its output and gradients to the
/// reference's.
///
/// The bias of a convolution followed by BatchNorm does not change the function:
/// BatchNorm subtracts the channel's mean, bias included. Its gradient is exactly
/// zero, which the float64 fixture has to 1e-11; in float32 it is the sum of
/// `H·W` terms that cancel, and PyTorch's float32 run leaves up to 1e-3 of it (ours
/// likewise). So it is compared with zero, to the gradients' relative tolerance
/// times the largest weight gradient of the case (a weight's gradient is a sum of
/// the same terms, each times an input). A wrong BatchNorm backward pass (say, one
/// that forgot to subtract the mean) leaves gradients of the size of the weights',
/// far above it.
fn compare_case(fx: &Fixture, mode: Upsample, size: &str, run: Run) -> Distance {
    let case = format!("{}_{size}", mode_name(mode));
    let (net, vars) = net_with_reference_params(fx, run.upsample.unwrap_or(mode), run);
    let z = &fx
        .get(&format!("size_{size}/z"))
        .to_dtype(run.dtype)
        .unwrap();
    let r = &fx
        .get(&format!("size_{size}/R"))
        .to_dtype(run.dtype)
        .unwrap();
    let out = net.forward(z).unwrap();
    let want = fx.get(&format!("{case}/out"));
    assert_eq!(out.dims(), want.dims(), "{case}: output shape");
    let loss = (&out * r).unwrap().sum_all().unwrap();
    let grads = loss.backward().unwrap();
    let mut d = Distance {
        out: max_abs_diff(&out, want),
        grad: 0.0,
        grad_at: String::new(),
        grad_abs: 0.0,
        bias_before_bn: 0.0,
        weight_grad_scale: 1.0,
    };
    for (i, ((name, _, _), var)) in fx.params.iter().zip(&vars).enumerate() {
        let ours = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("{case}: no gradient for {name}"));
        let theirs = fx.get(&format!("{case}/grad/{i}"));
        assert_eq!(ours.dims(), theirs.dims(), "{case}: gradient of {name}");
        if is_bias_before_bn(name) {
            assert!(
                max_abs(theirs) < 1e-6,
                "{case}: the reference's {name} has a gradient"
            );
            d.bias_before_bn = d.bias_before_bn.max(max_abs(ours));
            continue;
        }
        if name.ends_with(".conv.weight") {
            d.weight_grad_scale = d.weight_grad_scale.max(max_abs(theirs));
        }
        let abs = max_abs_diff(ours, theirs);
        let rel = abs / max_abs(theirs).max(1.0);
        d.grad_abs = d.grad_abs.max(abs);
        if rel > d.grad {
            d.grad = rel;
            d.grad_at = name.clone();
        }
    }
    d
}

fn mode_name(mode: Upsample) -> &'static str {
    match mode {
        Upsample::Bilinear => "bilinear",
        Upsample::Nearest => "nearest",
    }
}

/// The case of `mode` and `size` with our CPU kernels in float32 (what the
/// reproduction runs), with candle's ops in float32, with the matrix-product
/// convolution and candle's other ops (what runs on a GPU) in float32 and float64, and with
/// candle's ops in float64 (where rounding no longer hides a small difference).
fn check(mode: Upsample, size: &str) {
    let fx = fixture();
    for (kernels, dtype) in [
        (Kernels::Fast, DType::F32),
        (Kernels::Candle, DType::F32),
        (Kernels::Gemm, DType::F32),
        (Kernels::Gemm, DType::F64),
        (Kernels::Candle, DType::F64),
    ] {
        let tol = Tolerance::of(kernels, dtype);
        let d = compare_case(&fx, mode, size, Run::new(kernels, dtype));
        println!("{}_{size} {kernels:?} {dtype:?}: {d:?}", mode_name(mode));
        assert!(
            d.ok(tol),
            "{}_{size} with {kernels:?} kernels in {dtype:?} differs from the reference: \
             {d:?}, tolerance {tol:?}",
            mode_name(mode)
        );
    }
}

#[test]
fn bilinear_64x64_matches_the_reference() {
    check(Upsample::Bilinear, "64x64");
}

#[test]
fn nearest_64x64_matches_the_reference() {
    check(Upsample::Nearest, "64x64");
}

#[test]
fn bilinear_66x70_matches_the_reference() {
    check(Upsample::Bilinear, "66x70");
}

#[test]
fn nearest_66x70_matches_the_reference() {
    check(Upsample::Nearest, "66x70");
}

/// The comparison can fail: the other upsampling mode, or one parameter changed a
/// little, is far outside the tolerances; only the biases before BatchNorm change nothing.
#[test]
fn the_comparison_detects_a_wrong_net() {
    let fx = fixture();
    for (kernels, dtype) in [(Kernels::Fast, DType::F32), (Kernels::Candle, DType::F64)] {
        let tol = Tolerance::of(kernels, dtype);
        let run = Run::new(kernels, dtype);
        for (mode, other) in [
            (Upsample::Bilinear, Upsample::Nearest),
            (Upsample::Nearest, Upsample::Bilinear),
        ] {
            for size in ["64x64", "66x70"] {
                let wrong = Run {
                    upsample: Some(other),
                    ..run
                };
                let d = compare_case(&fx, mode, size, wrong);
                println!("{mode:?} {size} as {other:?}, {kernels:?} {dtype:?}: {d:?}");
                assert!(
                    d.out > 100.0 * tol.out && d.grad > 100.0 * tol.grad,
                    "{d:?}"
                );
            }
        }
        for (name, delta) in [
            ("level4.down2.conv.weight", 1e-3),
            ("level2.merge_bn.gamma", 1e-3),
            ("level0.up_1x1.bn.beta", 1e-3),
            ("head.bias", 1e-3),
        ] {
            let tweaked = Run {
                tweak: Some((name, delta)),
                ..run
            };
            let d = compare_case(&fx, Upsample::Bilinear, "66x70", tweaked);
            println!("{name} + {delta}, {kernels:?} {dtype:?}: {d:?}");
            assert!(
                !d.ok(tol),
                "changing {name} by {delta} went unnoticed: {d:?}"
            );
        }
        // The biases of the convolutions followed by BatchNorm do not matter.
        let tweaked = Run {
            tweak: Some(("level1.down.conv.bias", 0.5)),
            ..run
        };
        let d = compare_case(&fx, Upsample::Bilinear, "66x70", tweaked);
        assert!(d.ok(tol), "{d:?}");
    }
}
