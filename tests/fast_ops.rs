//! The CPU kernels (`Kernels::Fast`) and the matrix-product convolution (`Kernels::Gemm`,
//! what runs on a GPU) against candle's composed ops (`Kernels::Candle`):
//! forward values and every gradient, op by op and for whole networks.

use candle_core::{Device, Module, Tensor, Var};
use dip::net::{Padding, SkipConfig, SkipNet, Upsample};
use dip::ops::batch_norm::{batch_norm_candle, batch_norm_fast};
use dip::ops::conv::{conv2d_candle, conv2d_fast, conv2d_gemm, ConvShape};
use dip::ops::reflection_pad::reflection_pad2d_composed;
use dip::ops::Kernels;
use dip::rng::Rng;

mod common;

fn random(rng: &mut Rng, dims: &[usize], scale: f32) -> Tensor {
    let n = dims.iter().product();
    Tensor::from_vec(rng.uniform(n, -scale, scale), dims, &Device::Cpu).unwrap()
}

fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

fn max_abs(t: &Tensor) -> f32 {
    values(t).iter().fold(0f32, |m, v| m.max(v.abs()))
}

/// `max |a − b| ≤ tol · max(max |b|, 1e-3)`: agreement relative to the size of the values.
fn assert_close(what: &str, a: &Tensor, b: &Tensor, tol: f32) {
    assert_close_to_scale(what, a, b, tol, max_abs(b).max(1e-3));
}

/// `max |a − b| ≤ tol · scale`.
fn assert_close_to_scale(what: &str, a: &Tensor, b: &Tensor, tol: f32, scale: f32) {
    assert_eq!(a.dims(), b.dims(), "{what}: shapes differ");
    let (a, b) = (values(a), values(b));
    let err = a
        .iter()
        .zip(&b)
        .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    assert!(
        err <= tol * scale,
        "{what}: max difference {err} against values up to {scale}"
    );
}

/// Forward value and gradients of `x`, `p`, `q` of `op(x, p, q)` under the loss `Σ op · r`.
fn value_and_grads(
    op: impl Fn(&Tensor, &Tensor, &Tensor) -> candle_core::Result<Tensor>,
    x: &Var,
    p: &Var,
    q: &Var,
    r: &Tensor,
) -> (Tensor, [Tensor; 3]) {
    let y = op(x, p, q).unwrap();
    let grads = (&y * r).unwrap().sum_all().unwrap().backward().unwrap();
    let g = |v: &Var| grads.get(v).expect("no gradient").clone();
    (y, [g(x), g(p), g(q)])
}

#[test]
fn conv_matches_candle_forward_and_gradients() {
    let mut rng = Rng::new(1);
    // (cin, cout, k, stride, padding, h, w)
    let cases = [
        (3, 5, 3, 1, 0, 9, 11),
        (3, 5, 3, 2, 0, 9, 11),
        (4, 6, 3, 2, 0, 16, 16),
        (2, 3, 1, 1, 0, 7, 5),
        (2, 3, 1, 2, 0, 7, 5),
        (3, 4, 5, 1, 0, 12, 9),
        (3, 4, 5, 2, 0, 13, 11),
        (3, 4, 5, 2, 0, 14, 12),
        // Unequal rows and columns left unread by the stride (candle's own backward
        // fails on these; conv2d_candle cuts them off).
        (3, 4, 3, 2, 0, 9, 10),
        (3, 4, 3, 2, 1, 17, 18),
        (3, 4, 3, 2, 1, 18, 17),
        (3, 4, 5, 2, 2, 10, 9),
        (3, 4, 3, 1, 1, 10, 7),
        (3, 4, 3, 2, 1, 11, 9),
        (3, 4, 3, 2, 1, 10, 8),
        (2, 3, 5, 1, 2, 9, 9),
        (2, 3, 5, 2, 2, 9, 11),
        (5, 7, 3, 1, 0, 70, 40), // several tiles and groups
        // Winograd's F(2×2, 3×3) from 512 output pixels, its weight gradient too from
        // 2048 (`conv.rs`): odd sizes, several blocks.
        // F(4×4, 3×3) from 4096 (odd sizes: tiles partly outside).
        (5, 7, 3, 1, 1, 25, 27),
        (5, 7, 3, 1, 1, 33, 65),
        (3, 4, 3, 1, 1, 67, 63),
        (5, 7, 3, 2, 1, 75, 33),
        (5, 7, 3, 2, 0, 64, 64),
        (6, 4, 1, 1, 0, 50, 47),
    ];
    for (cin, cout, k, stride, pad, h, w) in cases {
        let what = format!("conv {cin}→{cout} k{k} s{stride} p{pad} {h}×{w}");
        for n in [1, 2] {
            let x = Var::from_tensor(&random(&mut rng, &[n, cin, h, w], 1.0)).unwrap();
            let wt = Var::from_tensor(&random(&mut rng, &[cout, cin, k, k], 0.5)).unwrap();
            let b = Var::from_tensor(&random(&mut rng, &[cout], 0.5)).unwrap();
            let (ho, wo) = (
                (h + 2 * pad - k) / stride + 1,
                (w + 2 * pad - k) / stride + 1,
            );
            let r = random(&mut rng, &[n, cout, ho, wo], 1.0);
            let fast = value_and_grads(
                |x, w, b| conv2d_fast(x, w, b, shape(stride, pad, false)),
                &x,
                &wt,
                &b,
                &r,
            );
            let slow = value_and_grads(
                |x, w, b| conv2d_candle(x, w, b, stride, pad),
                &x,
                &wt,
                &b,
                &r,
            );
            // The GPU's form, run here on the CPU.
            let gemm =
                value_and_grads(|x, w, b| conv2d_gemm(x, w, b, stride, pad), &x, &wt, &b, &r);
            for (form, ours) in [("fast", &fast), ("gemm", &gemm)] {
                assert_close(
                    &format!("{what} n{n} {form} output"),
                    &ours.0,
                    &slow.0,
                    1e-5,
                );
                for (i, name) in ["dx", "dw", "db"].iter().enumerate() {
                    let what = format!("{what} n{n} {form} {name}");
                    assert_close(&what, &ours.1[i], &slow.1[i], 1e-5);
                }
            }
        }
    }
}

#[test]
fn reflection_padded_conv_matches_pad_then_candle_conv() {
    let mut rng = Rng::new(11);
    // (cin, cout, k, stride, padding, h, w)
    let cases = [
        (3, 5, 3, 1, 1, 9, 11),
        (3, 5, 3, 2, 1, 9, 11),
        (4, 6, 3, 2, 1, 16, 16),
        (2, 3, 5, 1, 2, 7, 6),
        (2, 3, 5, 2, 2, 8, 8),
        (3, 5, 3, 2, 1, 17, 18), // rows and columns left unread by the stride differ
        (2, 3, 5, 2, 2, 9, 8),
        (3, 2, 3, 1, 1, 2, 3), // tiny: both borders mirror the same pixels
        (5, 7, 3, 1, 1, 70, 40),
        (4, 3, 3, 1, 1, 9, 13),
        // Winograd (all three gradients), odd sizes: the folded border of a half-used tile.
        (4, 3, 3, 1, 1, 45, 51),
        (4, 3, 3, 1, 1, 65, 71), // by F(4×4, 3×3)
        (5, 7, 3, 2, 1, 64, 64),
    ];
    for (cin, cout, k, stride, pad, h, w) in cases {
        let what = format!("reflect conv {cin}→{cout} k{k} s{stride} p{pad} {h}×{w}");
        let x = Var::from_tensor(&random(&mut rng, &[1, cin, h, w], 1.0)).unwrap();
        let wt = Var::from_tensor(&random(&mut rng, &[cout, cin, k, k], 0.5)).unwrap();
        let b = Var::from_tensor(&random(&mut rng, &[cout], 0.5)).unwrap();
        let (ho, wo) = (
            (h + 2 * pad - k) / stride + 1,
            (w + 2 * pad - k) / stride + 1,
        );
        let r = random(&mut rng, &[1, cout, ho, wo], 1.0);
        let fast = value_and_grads(
            |x, w, b| conv2d_fast(x, w, b, shape(stride, pad, true)),
            &x,
            &wt,
            &b,
            &r,
        );
        let slow = value_and_grads(
            |x, w, b| conv2d_candle(&reflection_pad2d_composed(x, pad)?, w, b, stride, 0),
            &x,
            &wt,
            &b,
            &r,
        );
        assert_close(&format!("{what} output"), &fast.0, &slow.0, 1e-5);
        for (i, name) in ["dx", "dw", "db"].iter().enumerate() {
            assert_close(&format!("{what} {name}"), &fast.1[i], &slow.1[i], 1e-5);
        }
    }
}

#[test]
fn conv_skips_the_gradient_of_a_constant_input() {
    let mut rng = Rng::new(2);
    let x = random(&mut rng, &[1, 3, 8, 8], 1.0);
    let w = Var::from_tensor(&random(&mut rng, &[4, 3, 3, 3], 0.5)).unwrap();
    let b = Var::from_tensor(&random(&mut rng, &[4], 0.5)).unwrap();
    let y = conv2d_fast(&x, &w, &b, shape(1, 1, false)).unwrap();
    let grads = y.sum_all().unwrap().backward().unwrap();
    assert!(grads.get(&x).is_none());
    assert!(grads.get(&w).is_some() && grads.get(&b).is_some());
}

#[test]
fn batch_norm_matches_candle_forward_and_gradients() {
    let mut rng = Rng::new(3);
    for (n, c, h, w) in [(1, 3, 5, 7), (2, 4, 9, 6), (1, 6, 64, 48), (1, 2, 1, 3)] {
        for slope in [None, Some(0.2)] {
            let what = format!("batch norm {n}×{c}×{h}×{w} slope {slope:?}");
            // An offset mean and a spread that is not 1, as conv outputs have.
            let x = (random(&mut rng, &[n, c, h, w], 2.0) + 0.7).unwrap();
            let x = Var::from_tensor(&x).unwrap();
            let gamma = Var::from_tensor(&(random(&mut rng, &[c], 0.5) + 1.0).unwrap()).unwrap();
            let beta = Var::from_tensor(&random(&mut rng, &[c], 0.5)).unwrap();
            let r = random(&mut rng, &[n, c, h, w], 1.0);
            let fast = value_and_grads(
                |x, g, b| batch_norm_fast(x, g, b, slope),
                &x,
                &gamma,
                &beta,
                &r,
            );
            let slow = value_and_grads(
                |x, g, b| batch_norm_candle(x, g, b, slope),
                &x,
                &gamma,
                &beta,
                &r,
            );
            assert_close(&format!("{what} output"), &fast.0, &slow.0, 1e-5);
            for (i, name) in ["dx", "dgamma", "dbeta"].iter().enumerate() {
                assert_close(&format!("{what} {name}"), &fast.1[i], &slow.1[i], 1e-4);
            }
        }
    }
}

/// conv → batch norm → LeakyReLU as one op, whose backward pass recovers the batch
/// norm's input from its output, against candle's conv then candle's batch norm:
/// output and all five gradients. γ takes signs, sizes near 1, and values too small
/// to divide by (0 and 10⁻⁶: those channels keep the conv's output; recovered from
/// the output instead, their `x̂` would be wrong by far more than the tolerance).
#[test]
fn conv_bn_act_matches_conv_then_batch_norm() {
    use dip::ops::conv_bn_act::{conv_bn_act_fast, UnitParams};
    let mut rng = Rng::new(11);
    // (n, cin, cout, k, stride, padding, reflect, h, w)
    let cases = [
        (1, 3, 6, 3, 1, 1, true, 10, 7),
        (1, 3, 6, 3, 1, 1, true, 47, 45), // by Winograd
        (1, 3, 6, 3, 1, 1, true, 66, 70), // by Winograd's F(4×4, 3×3)
        (2, 3, 6, 3, 2, 1, true, 11, 9),
        (1, 4, 6, 1, 1, 0, false, 6, 5),
        (1, 3, 6, 5, 1, 2, false, 9, 12),
    ];
    for (n, cin, cout, k, stride, padding, reflect, h, w) in cases {
        for slope in [None, Some(0.2)] {
            let what = format!(
                "conv_bn_act {n}×{cin}×{h}×{w} → {cout}, {k}×{k}/{stride}, slope {slope:?}"
            );
            let var = |t: Tensor| Var::from_tensor(&t).unwrap();
            let x = var(random(&mut rng, &[n, cin, h, w], 1.0));
            let weight = var(random(&mut rng, &[cout, cin, k, k], 0.5));
            let bias = var((random(&mut rng, &[cout], 0.5) + 0.3).unwrap());
            let mut g = rng.uniform(cout, 0.5, 1.5);
            // A negative γ, one of 0, one of 10⁻⁶ beside β = 2.
            (g[1], g[2], g[3]) = (-g[1], 0.0, 1e-6);
            let gamma = var(Tensor::new(g, &Device::Cpu).unwrap());
            let mut b = rng.uniform(cout, -0.5, 0.5);
            b[3] = 2.0;
            let beta = var(Tensor::new(b, &Device::Cpu).unwrap());
            let p = UnitParams {
                weight: &weight,
                bias: &bias,
                gamma: &gamma,
                beta: &beta,
            };
            let shape = ConvShape {
                stride,
                padding,
                reflect,
            };
            let fused = conv_bn_act_fast(&x, p, shape, slope).unwrap();
            let z = if reflect {
                let xp = reflection_pad2d_composed(&x, padding).unwrap();
                conv2d_candle(&xp, &weight, &bias, stride, 0).unwrap()
            } else {
                conv2d_candle(&x, &weight, &bias, stride, padding).unwrap()
            };
            let apart = batch_norm_candle(&z, &gamma, &beta, slope).unwrap();
            assert_close(&format!("{what} output"), &fused, &apart, 1e-5);
            let r = random(&mut rng, fused.dims(), 1.0);
            let grads = |y: &Tensor| (y * &r).unwrap().sum_all().unwrap().backward().unwrap();
            let (gf, ga) = (grads(&fused), grads(&apart));
            let grad = |s: &candle_core::backprop::GradStore, v: &Var| s.get(v).unwrap().clone();
            for (name, v) in [
                ("dx", &x),
                ("dweight", &weight),
                ("dgamma", &gamma),
                ("dbeta", &beta),
            ] {
                assert_close(
                    &format!("{what} {name}"),
                    &grad(&gf, v),
                    &grad(&ga, v),
                    1e-4,
                );
            }
            // The bias is undone by the batch norm: its gradient is 0 up to rounding.
            let scale = max_abs(&grad(&ga, &weight));
            let (db_f, db_a) = (grad(&gf, &bias), grad(&ga, &bias));
            assert_close_to_scale(&format!("{what} dbias"), &db_f, &db_a, 1e-4, scale);
        }
    }
}

/// The merge as one op (the upsampled branch written straight into the concatenation)
/// against the upsampling then candle's `cat`: output and both gradients, with and
/// without the centre crop (the skip branch one pixel smaller, as Table 1's 514² gives,
/// and one pixel larger), both upsampling modes, two images.
#[test]
fn merge_matches_upsample_then_concat() {
    use dip::ops::merge::{upsample_concat_composed, upsample_concat_with};
    let mut rng = Rng::new(11);
    for mode in [Upsample::Bilinear, Upsample::Nearest] {
        for (n, (hs, ws), (hd, wd)) in [
            (1, (8, 12), (4, 6)),
            (2, (9, 11), (5, 6)),
            (1, (7, 13), (3, 6)),
            (1, (2, 2), (1, 1)),
        ] {
            let what = format!("merge {mode:?} skip {hs}×{ws} deep {hd}×{wd}");
            let skip = Var::from_tensor(&random(&mut rng, &[n, 2, hs, ws], 1.0)).unwrap();
            let deep = Var::from_tensor(&random(&mut rng, &[n, 3, hd, wd], 1.0)).unwrap();
            let r = random(&mut rng, &[n, 5, hs.min(2 * hd), ws.min(2 * wd)], 1.0);
            let run = |kernels: Kernels| {
                let merge = |s: &Tensor, d: &Tensor| match kernels {
                    Kernels::Fast => upsample_concat_with(s, d, mode, kernels),
                    _ => upsample_concat_composed(s, d, mode, kernels),
                };
                let y = merge(&skip, &deep).unwrap();
                let grads = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
                (y, [&skip, &deep].map(|v| grads.get(v).unwrap().clone()))
            };
            let (fast, slow) = (run(Kernels::Fast), run(Kernels::Candle));
            assert_close(&format!("{what} output"), &fast.0, &slow.0, 1e-6);
            for (i, name) in ["d skip", "d deep"].iter().enumerate() {
                assert_close(&format!("{what} {name}"), &fast.1[i], &slow.1[i], 1e-6);
            }
        }
    }
}

/// The merge and its batch norm as one op (the concatenation overwritten by the
/// batch norm's output, which the backward pass reads instead) against the merge
/// then candle's batch norm: output and the four gradients, γ of both signs, 0 and 10⁻⁶.
#[test]
fn merge_bn_matches_merge_then_batch_norm() {
    use dip::ops::merge::upsample_concat_bn_with;
    let mut rng = Rng::new(12);
    for mode in [Upsample::Bilinear, Upsample::Nearest] {
        for (n, (hs, ws), (hd, wd)) in [(1, (8, 12), (4, 6)), (2, (9, 11), (5, 6))] {
            let what = format!("merge + BN {mode:?} skip {hs}×{ws} deep {hd}×{wd}");
            let var = |t: Tensor| Var::from_tensor(&t).unwrap();
            let skip = var(random(&mut rng, &[n, 2, hs, ws], 1.0));
            let deep = var(random(&mut rng, &[n, 4, hd, wd], 1.0));
            let mut g = rng.uniform(6, 0.5, 1.5);
            (g[0], g[2], g[4]) = (1e-6, -g[2], 0.0);
            let gamma = var(Tensor::new(g, &Device::Cpu).unwrap());
            let beta = var(random(&mut rng, &[6], 1.0));
            let r = random(&mut rng, &[n, 6, hs.min(2 * hd), ws.min(2 * wd)], 1.0);
            let run = |kernels: Kernels| {
                let y =
                    upsample_concat_bn_with(&skip, &deep, mode, &gamma, &beta, kernels).unwrap();
                let grads = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
                (
                    y,
                    [&skip, &deep, &gamma, &beta].map(|v| grads.get(v).unwrap().clone()),
                )
            };
            let (fast, slow) = (run(Kernels::Fast), run(Kernels::Candle));
            assert_close(&format!("{what} output"), &fast.0, &slow.0, 1e-5);
            for (i, name) in ["d skip", "d deep", "d gamma", "d beta"].iter().enumerate() {
                assert_close(&format!("{what} {name}"), &fast.1[i], &slow.1[i], 1e-4);
            }
        }
    }
}

/// The merge, its batch norm and the decoder's first unit as one op (the merged
/// tensor made again in the backward pass, twice where the conv's input gradient is
/// Winograd's) against the two ops by candle's kernels: output and all nine gradients.
/// Sizes with and without Winograd, a crop (a skip branch one pixel smaller), both
/// upsamplings, two images, γ of both signs, 0 and 10⁻⁶ in both batch norms.
#[test]
fn merge_unit_matches_merge_then_unit() {
    use dip::ops::conv_bn_act::UnitParams;
    use dip::ops::decoder::{merge_unit_fast, merge_unit_with};
    let mut rng = Rng::new(13);
    // (n, skip side, deep side, k, reflect, upsampling)
    let cases = [
        (1, (34, 36), (17, 18), 3, true, Upsample::Bilinear), // Winograd, F(2×2, 3×3)
        (1, (65, 66), (33, 33), 3, true, Upsample::Nearest),  // F(4×4, 3×3), cropped
        (2, (9, 11), (5, 6), 3, false, Upsample::Bilinear),   // im2col, cropped
        (1, (10, 8), (5, 4), 5, true, Upsample::Nearest),
    ];
    for (n, (hs, ws), (hd, wd), k, reflect, mode) in cases {
        let what = format!("merge + unit {mode:?} skip {hs}×{ws} deep {hd}×{wd} {k}×{k}");
        let var = |t: Tensor| Var::from_tensor(&t).unwrap();
        let (cs, cd, cout) = (2, 4, 5);
        let skip = var(random(&mut rng, &[n, cs, hs, ws], 1.0));
        let deep = var(random(&mut rng, &[n, cd, hd, wd], 1.0));
        let gamma_beta = |rng: &mut Rng, c: usize| {
            let mut g = rng.uniform(c, 0.5, 1.5);
            (g[0], g[2], g[3]) = (1e-6, -g[2], 0.0);
            let gamma = var(Tensor::new(g, &Device::Cpu).unwrap());
            (gamma, var(random(rng, &[c], 1.0)))
        };
        let (merge_gamma, merge_beta) = gamma_beta(&mut rng, cs + cd);
        let weight = var(random(&mut rng, &[cout, cs + cd, k, k], 0.5));
        let bias = var(random(&mut rng, &[cout], 0.5));
        let (gamma, beta) = gamma_beta(&mut rng, cout);
        let unit = UnitParams {
            weight: &weight,
            bias: &bias,
            gamma: &gamma,
            beta: &beta,
        };
        let conv = ConvShape {
            stride: 1,
            padding: (k - 1) / 2,
            reflect,
        };
        let merge_bn = (merge_gamma.as_tensor(), merge_beta.as_tensor());
        let slope = Some(0.2);
        let fused = merge_unit_fast(&skip, &deep, mode, merge_bn, unit, conv, slope).unwrap();
        let apart = merge_unit_with(
            Some(&skip),
            &deep,
            mode,
            merge_bn,
            unit,
            conv,
            slope,
            Kernels::Candle,
        )
        .unwrap();
        assert_close(&format!("{what} output"), &fused, &apart, 1e-4);
        let r = random(&mut rng, fused.dims(), 1.0);
        let grads = |y: &Tensor| (y * &r).unwrap().sum_all().unwrap().backward().unwrap();
        let (gf, ga) = (grads(&fused), grads(&apart));
        let vars = [
            ("d skip", &skip),
            ("d deep", &deep),
            ("d merge gamma", &merge_gamma),
            ("d weight", &weight),
            ("d gamma", &gamma),
            ("d beta", &beta),
        ];
        for (name, v) in vars {
            let (a, b) = (gf.get(v).unwrap(), ga.get(v).unwrap());
            assert_close(&format!("{what} {name}"), a, b, 1e-3);
        }
        // A shift before the conv (the merge's β; with reflection, a constant in, a
        // constant out) or after it (the bias) is undone by the batch norm: their
        // gradients are 0 up to rounding, compared on the scale of their neighbours'.
        let grad_pair = |v: &Var| (gf.get(v).unwrap(), ga.get(v).unwrap());
        for (name, v, beside) in [
            ("d merge beta", &merge_beta, &merge_gamma),
            ("d bias", &bias, &weight),
        ] {
            let ((a, b), scale) = (grad_pair(v), max_abs(grad_pair(beside).1));
            assert_close_to_scale(&format!("{what} {name}"), a, b, 1e-4, scale.max(max_abs(b)));
        }
    }
}

/// Output and every parameter gradient of `net` on `z` under the loss `Σ f(z) · r`.
fn net_value_and_grads(net: &SkipNet, z: &Tensor, r: &Tensor) -> (Tensor, Vec<(String, Tensor)>) {
    let y = net.forward(z).unwrap();
    let grads = (&y * r).unwrap().sum_all().unwrap().backward().unwrap();
    let g = net
        .named_parameters()
        .into_iter()
        .map(|(name, v)| {
            let g = grads
                .get(&v)
                .unwrap_or_else(|| panic!("no gradient for {name}"));
            (name, g.clone())
        })
        .collect();
    (y, g)
}

fn check_net(config: &SkipConfig, (h, w): (usize, usize)) {
    let mut net = SkipNet::new(config, 5, &Device::Cpu).unwrap();
    let mut rng = Rng::new(6);
    let z = (random(&mut rng, &[1, config.input_channels, h, w], 0.05) + 0.05).unwrap();
    let r = random(&mut rng, &[1, config.output_channels, h, w], 1.0);
    net.kernels = Kernels::Fast;
    let (y_fast, g_fast) = net_value_and_grads(&net, &z, &r);
    net.kernels = Kernels::Candle;
    let (y_slow, g_slow) = net_value_and_grads(&net, &z, &r);
    assert_close("net output", &y_fast, &y_slow, 1e-4);
    let largest = g_slow.iter().fold(0f32, |m, (_, g)| m.max(max_abs(g)));
    for (i, ((name, a), (_, b))) in g_fast.iter().zip(&g_slow).enumerate() {
        if name.ends_with(".conv.bias") && !name.starts_with("head") {
            // A bias just before a batch norm has no effect: its gradient is 0 up to
            // rounding, so compare it on the scale of its conv's weight gradient.
            let scale = max_abs(&g_slow[i - 1].1);
            assert_close_to_scale(&format!("gradient of {name}"), a, b, 1e-3, scale);
        } else {
            // Relative to the parameter's own gradient, or to 1 % of the largest
            // gradient of the net where the parameter's own is tiny.
            let scale = max_abs(b).max(0.01 * largest);
            assert_close_to_scale(&format!("gradient of {name}"), a, b, 2e-3, scale);
        }
    }
}

#[test]
fn skip_net_is_the_same_with_fast_and_candle_kernels() {
    check_net(&SkipConfig::uniform(8, 3, 16, 16, 4, 3), (32, 40));
}

#[test]
fn skip_net_with_zero_padding_nearest_and_5x5_is_the_same() {
    let mut cfg = SkipConfig::uniform(4, 1, 8, 12, 2, 3).with_upsample(Upsample::Nearest);
    cfg.padding = Padding::Zero;
    cfg.filter_down = vec![5, 3, 5];
    cfg.channels_skip = vec![0, 2, 3];
    check_net(&cfg, (24, 16));
}

#[test]
fn fast_kernels_repeat_bit_for_bit() {
    let cfg = SkipConfig::uniform(8, 3, 16, 16, 4, 3);
    let net = SkipNet::new(&cfg, 9, &Device::Cpu).unwrap();
    let mut rng = Rng::new(10);
    let z = random(&mut rng, &[1, 8, 64, 64], 0.1);
    let r = random(&mut rng, &[1, 3, 64, 64], 1.0);
    let (y1, g1) = net_value_and_grads(&net, &z, &r);
    let (y2, g2) = net_value_and_grads(&net, &z, &r);
    assert_eq!(values(&y1), values(&y2));
    for ((name, a), (_, b)) in g1.iter().zip(&g2) {
        assert_eq!(
            values(a),
            values(b),
            "gradient of {name} differs between runs"
        );
    }
}

/// No loss of accuracy: seeded 200-iteration denoising fits on a small crop follow
/// the same fits with candle's own ops. The two differ only in rounding (sums in
/// another order): before the first step they agree to 10⁻⁴ dB, after it to 0.002 dB.
/// Adam then amplifies the difference (its update divides by the root of tiny
/// second moments; by iteration 10 it is up to 0.06 dB), so at the end single seeds
/// differ by up to 0.12 dB either way, and the mean of three by up to 0.06 dB
/// (measured on two machines, with and without AVX-512, whose candle ops round
/// differently). Each seed is held to 0.25 dB, the mean to 0.1 dB.
#[test]
fn a_seeded_fit_reaches_the_same_psnr_with_fast_and_candle_kernels() {
    use dip::fit::{fit, Control, FitConfig};
    use dip::input::InputKind;
    use dip::metrics::psnr;
    use dip::tasks::denoising;
    use dip::Image;

    let Some(path) = common::data_file("denoising-cbm3d9/image_F16_512rgb.png") else {
        return;
    };
    let clean = Image::load(&path).unwrap().crop(224, 224, 64, 64).unwrap();
    let noisy = denoising::add_noise(&clean, 25.0 / 255.0, &mut Rng::new(3));
    let config = FitConfig {
        iterations: 200,
        lr: 0.001,
        input: InputKind::Noise { channels: 32 },
        ..FitConfig::paper_denoising()
    };
    // A 4-scale net of 32 channels: candle's ops take half a minute for this fit.
    let net_config = SkipConfig::uniform(32, 3, 32, 32, 4, 4);
    let final_psnr = |kernels: Kernels, seed: u64| {
        let config = FitConfig {
            seed,
            ..config.clone()
        };
        let mut net = SkipNet::new(&net_config, config.seed, &Device::Cpu).unwrap();
        net.kernels = kernels;
        let problem = denoising::problem(&noisy, Some(&clean), 16, &Device::Cpu).unwrap();
        let result = fit(net, &problem, &config, &mut |_| Control::Continue).unwrap();
        let early: Vec<f64> = result.history[..2]
            .iter()
            .map(|step| step.psnr_clean.unwrap())
            .collect();
        (psnr(&clean, result.restored()).unwrap(), early)
    };
    let noisy_psnr = psnr(&clean, &noisy).unwrap();
    let (mut fast_sum, mut candle_sum) = (0.0, 0.0);
    let seeds = [5, 6, 7];
    for seed in seeds {
        let (fast, fast_early) = final_psnr(Kernels::Fast, seed);
        let (candle, candle_early) = final_psnr(Kernels::Candle, seed);
        eprintln!("seed {seed}: noisy {noisy_psnr:.3} dB; fast kernels {fast:.3} dB, candle's ops {candle:.3} dB");
        // Before any step the two are one forward pass; after one step, still close.
        for (i, bound) in [(0, 0.001), (1, 0.01)] {
            let (a, b) = (fast_early[i], candle_early[i]);
            assert!(
                (a - b).abs() <= bound,
                "seed {seed}, iteration {i}: {a:.4} vs {b:.4} dB"
            );
        }
        assert!(
            fast > noisy_psnr + 1.5,
            "the fit did not denoise: {fast:.2} dB"
        );
        assert!(
            (fast - candle).abs() <= 0.25,
            "seed {seed}: fast {fast:.3} dB vs candle {candle:.3} dB"
        );
        (fast_sum, candle_sum) = (fast_sum + fast, candle_sum + candle);
    }
    let n = seeds.len() as f64;
    let (fast, candle) = (fast_sum / n, candle_sum / n);
    assert!(
        (fast - candle).abs() <= 0.1,
        "mean over seeds {seeds:?}: fast {fast:.3} dB vs candle {candle:.3} dB"
    );
}

/// A convolution's stride and padding, by zeros or by reflection.
fn shape(stride: usize, padding: usize, reflect: bool) -> ConvShape {
    ConvShape {
        stride,
        padding,
        reflect,
    }
}
