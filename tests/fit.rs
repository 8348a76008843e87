//! Short fits on small crops: the method works, repeats exactly, and fails loudly.

use candle_core::Device;
use candle_core::Module;
use dip::fit::{fit, Control, FinalInput, FitConfig, Fitter, RollbackCheck};
use dip::input::InputKind;
use dip::metrics::psnr;
use dip::net::{SkipConfig, SkipNet};
use dip::rng::Rng;
use dip::tasks::{denoising, inpainting};
use dip::Image;

mod common;
use common::data_dir;

/// A small net (4 scales of 32 channels) so that a test fit takes seconds.
fn small_net(input: usize, output: usize, seed: u64) -> SkipNet {
    SkipNet::new(
        &SkipConfig::uniform(input, output, 32, 32, 4, 4),
        seed,
        &Device::Cpu,
    )
    .unwrap()
}

fn config(iterations: usize, seed: u64) -> FitConfig {
    FitConfig {
        iterations,
        lr: 0.01,
        reg_noise_std: 1.0 / 30.0,
        input: InputKind::Noise { channels: 8 },
        exp_weight: Some(0.99),
        rollback_drop_db: Some(5.0),
        rollback_every: 1,
        rollback_check: RollbackCheck::Multiples,
        final_input: FinalInput::Clean,
        seed,
    }
}

fn f16_crop() -> Image {
    Image::load(data_dir().join("denoising-cbm3d9/image_F16_512rgb.png"))
        .unwrap()
        .crop(200, 200, 64, 64)
        .unwrap()
}

#[test]
fn denoising_a_small_crop_raises_psnr_well_above_the_noisy_input() {
    let clean = f16_crop();
    let noisy = denoising::add_noise(&clean, 25.0 / 255.0, &mut Rng::new(1));
    let noisy_psnr = psnr(&clean, &noisy).unwrap();
    let problem = denoising::problem(&noisy, Some(&clean), 16, &Device::Cpu).unwrap();
    let result = fit(small_net(8, 3, 0), &problem, &config(300, 0), &mut |_| {
        Control::Continue
    })
    .unwrap();
    let restored = psnr(&clean, result.restored()).unwrap();
    eprintln!("noisy {noisy_psnr:.2} dB -> restored {restored:.2} dB");
    assert!(
        restored > noisy_psnr + 4.0,
        "noisy {noisy_psnr:.2} dB, restored {restored:.2} dB"
    );
    // The history has one entry per iteration, with PSNRs against the clean image.
    assert_eq!(result.history.len(), 300);
    assert!(result
        .history
        .iter()
        .all(|s| s.psnr_clean.is_some() || s.rolled_back));
}

#[test]
fn inpainting_a_small_crop_fills_the_holes() {
    let clean = Image::load(data_dir().join("inpainting-table1/house.png"))
        .unwrap()
        .crop(96, 96, 64, 64)
        .unwrap();
    let mask = inpainting::bernoulli_mask(64, 64, 0.5, &mut Rng::new(2));
    let masked = inpainting::apply_mask(&clean, &mask).unwrap();
    let masked_psnr = psnr(&clean, &masked).unwrap();
    let problem = inpainting::problem(&clean, &mask, Some(&clean), 16, &Device::Cpu).unwrap();
    let mut cfg = config(300, 0);
    cfg.exp_weight = None;
    let result = fit(small_net(8, 1, 0), &problem, &cfg, &mut |_| {
        Control::Continue
    })
    .unwrap();
    let restored = psnr(&clean, &result.output).unwrap();
    eprintln!("masked {masked_psnr:.2} dB -> restored {restored:.2} dB");
    assert!(
        restored > masked_psnr + 10.0,
        "masked {masked_psnr:.2} dB, restored {restored:.2} dB"
    );
    assert!(restored > 22.0, "restored {restored:.2} dB");
}

#[test]
fn a_seeded_cpu_run_repeats_exactly() {
    let clean = f16_crop().crop(0, 0, 32, 32).unwrap();
    let noisy = denoising::add_noise(&clean, 25.0 / 255.0, &mut Rng::new(1));
    let problem = denoising::problem(&noisy, Some(&clean), 16, &Device::Cpu).unwrap();
    let run = |seed| {
        fit(
            small_net(8, 3, seed),
            &problem,
            &config(20, seed),
            &mut |_| Control::Continue,
        )
        .unwrap()
    };
    let (a, b, c) = (run(5), run(5), run(6));
    let losses = |r: &dip::fit::FitResult| r.history.iter().map(|s| s.loss).collect::<Vec<_>>();
    assert_eq!(losses(&a), losses(&b));
    assert_eq!(a.output.data, b.output.data);
    assert_ne!(losses(&a), losses(&c));
}

#[test]
fn a_nan_in_training_is_an_error_not_a_silent_end() {
    let mut noisy = f16_crop().crop(0, 0, 32, 32).unwrap();
    noisy.data[17] = f32::NAN;
    let problem = denoising::problem(&noisy, None, 16, &Device::Cpu).unwrap();
    let err = fit(small_net(8, 3, 0), &problem, &config(10, 0), &mut |_| {
        Control::Continue
    })
    .err()
    .unwrap();
    let msg = err.to_string();
    assert!(msg.contains("diverged") && msg.contains("NaN"), "{msg}");
}

#[test]
fn zero_iterations_are_refused() {
    let noisy = f16_crop().crop(0, 0, 32, 32).unwrap();
    let problem = denoising::problem(&noisy, None, 16, &Device::Cpu).unwrap();
    let err = fit(small_net(8, 3, 0), &problem, &config(0, 0), &mut |_| {
        Control::Continue
    })
    .err()
    .unwrap();
    assert!(err.to_string().contains("at least 1"), "{err}");
}

#[test]
fn the_rollback_check_runs_on_the_reference_notebooks_iterations() {
    // restoration.ipynb (Table 1): `if i % show_every == 0`, show_every = 50.
    assert!(RollbackCheck::Multiples.applies(0, 50));
    assert!(RollbackCheck::Multiples.applies(100, 50));
    assert!(!RollbackCheck::Multiples.applies(49, 50));
    // denoising.ipynb: `if i % show_every:`, show_every = 100.
    assert!(!RollbackCheck::AllButMultiples.applies(0, 100));
    assert!(!RollbackCheck::AllButMultiples.applies(200, 100));
    assert!(RollbackCheck::AllButMultiples.applies(1, 100));
}

fn values(net: &SkipNet) -> Vec<Vec<f32>> {
    net.parameters()
        .iter()
        .map(|p| {
            p.as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        })
        .collect()
}

/// Make the net's output collapse: the head's bias far negative, so the sigmoid gives ~0.
fn sabotage(net: &SkipNet) {
    let bias = net.head.bias.as_tensor();
    net.head
        .bias
        .set(&(bias.ones_like().unwrap() * -40.0).unwrap())
        .unwrap();
}

#[test]
fn a_triggered_rollback_restores_the_saved_parameters_then_still_steps_and_averages() {
    let clean = f16_crop().crop(0, 0, 32, 32).unwrap();
    let noisy = denoising::add_noise(&clean, 25.0 / 255.0, &mut Rng::new(1));
    let problem = denoising::problem(&noisy, Some(&clean), 16, &Device::Cpu).unwrap();
    let mut cfg = config(10, 3);
    cfg.rollback_every = 2;
    cfg.rollback_check = RollbackCheck::Multiples;
    cfg.lr = 0.001;
    let mut fitter = Fitter::new(small_net(8, 3, 3), &problem, &cfg).unwrap();
    let saved = values(&fitter.net); // the check at i = 0 saves these
    assert!(!fitter.step().unwrap().rolled_back); // i = 0: checked, saved
    assert!(!fitter.step().unwrap().rolled_back); // i = 1: not checked
    sabotage(&fitter.net);
    let average_before = fitter
        .average
        .as_ref()
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let step = fitter.step().unwrap(); // i = 2: checked, the PSNR fell by far more than 5 dB
    assert!(step.rolled_back, "{step:?}");
    assert_eq!(fitter.rollbacks, 1);
    let after = values(&fitter.net);
    let mut largest = 0f32;
    let mut moved = false;
    for (a, s) in after.iter().flatten().zip(saved.iter().flatten()) {
        largest = largest.max((a - s).abs());
        moved |= a != s;
    }
    // Back at the saved parameters, then one Adam step of about lr (the reference steps anyway).
    assert!(moved, "no optimiser step after the rollback");
    assert!(
        largest < 0.01,
        "parameters {largest} away from the saved ones"
    );
    // The average took this iteration's (collapsed) output, as in denoising.ipynb.
    let average_after = fitter
        .average
        .as_ref()
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert_ne!(average_before, average_after);
    // The reference's counter did not advance, so iteration 3 is checked again (i is still 2).
    sabotage(&fitter.net);
    assert!(
        fitter.step().unwrap().rolled_back,
        "iteration 3 was not checked"
    );
    assert_eq!(fitter.rollbacks, 2);
    // Healthy again: i = 2 saves, i = 3 is not checked.
    assert!(!fitter.step().unwrap().rolled_back);
    sabotage(&fitter.net);
    assert!(
        !fitter.step().unwrap().rolled_back,
        "i = 3 must not be checked"
    );
}

#[test]
fn the_final_image_can_be_read_off_the_last_perturbed_input() {
    let clean = f16_crop().crop(0, 0, 32, 32).unwrap();
    let noisy = denoising::add_noise(&clean, 25.0 / 255.0, &mut Rng::new(1));
    let problem = denoising::problem(&noisy, None, 16, &Device::Cpu).unwrap();
    let mut cfg = config(3, 0);
    cfg.final_input = FinalInput::LastPerturbed;
    let mut fitter = Fitter::new(small_net(8, 3, 0), &problem, &cfg).unwrap();
    let flat = |t: &candle_core::Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    // Before any iteration there is no perturbation to read it off: the clean z.
    assert_eq!(flat(&fitter.final_input().unwrap()), flat(&fitter.z));
    while !fitter.finished() {
        fitter.step().unwrap();
    }
    let last = fitter.final_input().unwrap();
    let diff = (&last - &fitter.z)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(diff > 0.01, "the last input is not perturbed ({diff})");
    let result = fitter.result().unwrap();
    let expected = dip::Image::from_tensor(&fitter.net.forward(&last).unwrap()).unwrap();
    let expected = problem.crop_result(&expected).unwrap();
    assert_eq!(result.output.data, expected.data);
    fitter.config.final_input = FinalInput::Clean;
    assert_ne!(fitter.result().unwrap().output.data, expected.data);
}

/// A small net denoising F16's 64×64 crop (σ = 25) for at most 1500 iterations, stopped
/// by `rule` scaled to it (a window of 50, a patience of 250); the clean crop beside it.
fn stopped_on_f16(rule: dip::stopping::StopRule) -> (dip::Image, dip::stopping::AutoStopped) {
    let clean = f16_crop();
    let noisy = denoising::add_noise(&clean, 25.0 / 255.0, &mut Rng::new(1));
    let problem = denoising::problem(&noisy, Some(&clean), 16, &Device::Cpu).unwrap();
    let mut cfg = config(1500, 0);
    cfg.exp_weight = None;
    let rule = dip::stopping::StopRule {
        window: 50,
        patience: 250,
        ..rule
    };
    let stopped = dip::stopping::fit_auto(small_net(8, 3, 0), &problem, &cfg, rule, &mut |_, _| {
        Control::Continue
    })
    .unwrap();
    (clean, stopped)
}

/// ES-WMV on a real fit: a small net denoising a 64×64 crop stops on its own, and the
/// output it keeps is close to the best one over the iterations (which peeks at the
/// clean image, so the rule cannot).
#[test]
fn automatic_stopping_keeps_an_output_near_the_best_iteration() {
    use dip::stopping::StopRule;
    let (clean, stopped) = stopped_on_f16(StopRule::WMV);
    let detected = stopped.detected.expect("a detection");
    let history = &stopped.result.history;
    assert_eq!(
        history.len(),
        detected + 250 + 1,
        "it stops `patience` after the detected iteration"
    );
    assert!(history[detected].variance.is_some());
    let best = history
        .iter()
        .filter_map(|s| s.psnr_clean)
        .fold(f64::MIN, f64::max);
    let kept = psnr(&clean, &stopped.result.output).unwrap();
    assert!(
        (kept - history[detected].psnr_clean.unwrap()).abs() < 1e-3,
        "the kept output is the detected one"
    );
    eprintln!("detected {detected}: {kept:.2} dB; best {best:.2} dB");
    assert!(kept > best - 2.0, "kept {kept:.2} dB, best {best:.2} dB");
}

/// The default rule on a real fit: it counts no low before the loss is down to the
/// estimated noise level, and keeps the mean of its window there, which is a better
/// image than the output of the detected iteration on its own.
#[test]
fn the_default_rule_keeps_the_window_mean_once_the_fit_is_down_to_the_noise() {
    use dip::stopping::{StopRule, NOISE_MULTIPLE};
    let (clean, stopped) = stopped_on_f16(StopRule::DEFAULT);
    let sigma = stopped
        .noise_sigma
        .expect("the default estimates the noise");
    assert!(
        (sigma * 255.0 - 25.0).abs() < 2.5,
        "σ̂ = {:.2}",
        sigma * 255.0
    );
    let detected = stopped.detected.expect("a detection");
    let history = &stopped.result.history;
    let first_at_noise = history
        .iter()
        .position(|s| s.loss <= NOISE_MULTIPLE * sigma * sigma)
        .expect("the loss reaches the noise level");
    assert!(
        detected >= first_at_noise,
        "detected {detected}, at the noise level from {first_at_noise}"
    );
    let kept = psnr(&clean, &stopped.result.output).unwrap();
    let at_detection = history[detected].psnr_clean.unwrap();
    let best = history
        .iter()
        .filter_map(|s| s.psnr_clean)
        .fold(f64::MIN, f64::max);
    eprintln!(
        "σ̂ {:.2}; detected {detected}, stopped {}: kept {kept:.2} dB, that output {at_detection:.2}, best output {best:.2}",
        sigma * 255.0,
        history.len() - 1
    );
    assert!(
        kept > at_detection,
        "the window's mean {kept:.2} dB, the output {at_detection:.2}"
    );
    assert!(kept > best - 1.0, "kept {kept:.2} dB, best {best:.2} dB");
}
