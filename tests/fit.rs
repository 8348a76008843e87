//! Short fits on small crops: the method works, repeats exactly, and fails loudly.

use candle_core::Device;
use dip::fit::{fit, Control, FitConfig};
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
