//! Using `dip` as a library: denoise a crop of an image, as in the book's
//! "Running it yourself" chapter.
//!
//! ```sh
//! cargo run --release --example denoise -- ../shared/data/dip-repo/denoising/F16_GT.png 200
//! ```
//!
//! Arguments: the clean image, and the number of iterations (default 200). It adds
//! σ = 25 noise to the centre 128×128 crop, fits the standard network, and prints
//! the PSNR of the noisy and the restored crops; writes `denoised.png`.

use anyhow::Result;
use candle_core::Device;
use dip::fit::{fit, Control, FitConfig};
use dip::net::{SkipConfig, SkipNet};
use dip::rng::Rng;
use dip::tasks::denoising;
use dip::{metrics, Image};

// ANCHOR: example
fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: denoise IMAGE [ITERATIONS]");
    let iterations: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(200);

    // the clean image (its centre 128×128) and a noisy copy, σ = 25 on the 8-bit scale
    let image = Image::load(&path)?;
    let (side_h, side_w) = (image.height.min(128), image.width.min(128));
    let clean = image.crop(
        (image.height - side_h) / 2,
        (image.width - side_w) / 2,
        side_h,
        side_w,
    )?;
    let noisy = denoising::add_noise(&clean, 25.0 / 255.0, &mut Rng::new(0));

    // the problem: E(x; x0) = ‖x − x0‖², padded to a multiple of 32 for the 5-scale net
    let device = Device::Cpu;
    let problem = denoising::problem(&noisy, Some(&clean), 32, &device)?;

    // the paper's denoising settings, fewer iterations
    let config = FitConfig {
        iterations,
        ..FitConfig::paper_denoising()
    };
    let net = SkipNet::new(
        &SkipConfig::standard(32, clean.channels),
        config.seed,
        &device,
    )?;
    let result = fit(net, &problem, &config, &mut |step| {
        if step.iteration % 50 == 0 {
            println!("iteration {:5}  loss {:.5}", step.iteration, step.loss);
        }
        Control::Continue
    })?;

    let restored = result.restored();
    println!("noisy:    {:.2} dB", metrics::psnr(&clean, &noisy)?);
    println!("restored: {:.2} dB", metrics::psnr(&clean, restored)?);
    restored.save("denoised.png")?;
    Ok(())
}
// ANCHOR_END: example
