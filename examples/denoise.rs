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

// ANCHOR: example
use dip::fit::{fit, Control, FitConfig, FitResult};
use dip::net::{SkipConfig, SkipNet};
use dip::rng::Rng;
use dip::tasks::denoising;
use dip::{metrics, Image};

/// Add σ = 25 noise (on the 8-bit scale) to the centre crop of `image`, at most
/// `side` × `side`, and fit the standard network to it for `iterations` with the
/// paper's denoising settings. Prints the PSNR of the noisy and the restored crops.
pub fn denoise_crop(image: &Image, side: usize, iterations: usize) -> dip::Result<FitResult> {
    // the clean crop and a noisy copy
    let (side_h, side_w) = (image.height.min(side), image.width.min(side));
    let clean = image.crop(
        (image.height - side_h) / 2,
        (image.width - side_w) / 2,
        side_h,
        side_w,
    )?;
    let noisy = denoising::add_noise(&clean, 25.0 / 255.0, &mut Rng::new(0));

    // the problem: E(x; x0) = ‖x − x0‖², padded to a multiple of 32 for the 5-scale net
    let device = dip::device::auto();
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

    println!("noisy:    {:.2} dB", metrics::psnr(&clean, &noisy)?);
    println!(
        "restored: {:.2} dB",
        metrics::psnr(&clean, result.restored())?
    );
    Ok(result)
}
// ANCHOR_END: example

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: denoise IMAGE [ITERATIONS]");
    let iterations: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(200);
    let result = denoise_crop(&Image::load(&path)?, 128, iterations)?;
    result.restored().save("denoised.png")?;
    Ok(())
}
