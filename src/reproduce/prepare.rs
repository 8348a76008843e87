//! A job made ready to fit: its images loaded from the data folder and cut down,
//! corrupted as its task says (`tasks::*`), and posed as a [`Problem`]; with what
//! its result is scored against.

use candle_core::Device;

use super::plan::{CurveTarget, Cut, Job, Task};
use crate::data::DataDir;
use crate::error::Result;
use crate::image_io::Image;
use crate::metrics;
use crate::rng::Rng;
use crate::tasks::{denoising, inpainting, super_resolution, Problem};

/// A job made ready to fit: the problem, and what its result is scored against.
pub struct Prepared {
    pub problem: Problem,
    /// The clean image the result is scored against (the HR crop for SR), if any.
    pub clean: Option<Image>,
    /// The PSNR of the corrupted input (or of bicubic upsampling), for the record.
    pub baseline: Option<Baseline>,
    /// The corrupted image at the restored image's size, for figures: the masked or
    /// noisy image, the low-resolution image enlarged by bicubic interpolation (SR),
    /// the JPEG image, a noise-impedance target.
    pub input: Image,
    /// For SR of a whole image: the ground truth cropped top-left to a multiple of
    /// the factor, for [`metrics::psnr_sr`].
    pub sr_ground_truth: Option<Image>,
    /// The authors' published output cut to exactly the pixels of `clean` (the same
    /// crop, the same region for SR), to be measured like ours; `None` where they
    /// published none or the data folder lacks it.
    pub authors_output: Option<Image>,
}

/// What the result is compared with: the masked or noisy input, or bicubic upsampling.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Baseline {
    pub name: String,
    pub psnr: Option<f64>,
}

impl Job {
    /// Load the images of the job from `data`, cut them down, corrupt them, and build its problem.
    pub fn prepare(&self, data: &DataDir, device: &Device) -> Result<Prepared> {
        let from = Source { job: self, data };
        match &self.task {
            Task::Inpainting {
                image,
                mask,
                clean,
                reference,
            } => from.inpainting(image, mask.as_deref(), clean, reference, device),
            Task::Denoising {
                clean,
                sigma,
                reference,
            } => from.denoising(clean, *sigma, reference, device),
            Task::SuperResolution {
                clean,
                factor,
                reference,
            } => from.super_resolution(clean, *factor, reference, device),
            Task::Jpeg { image } => {
                let img = from.cut(image)?;
                Ok(Prepared::unscored(
                    denoising::problem(&img, None, self.framing, device)?,
                    img,
                ))
            }
            Task::Curve { image, target } => {
                let mut rng = Rng::new(self.seed ^ 0xf162);
                let target_image = curve_target(&from.cut(image)?, *target, &mut rng);
                Ok(Prepared::unscored(
                    denoising::problem(&target_image, None, self.framing, device)?,
                    target_image,
                ))
            }
        }
    }
}

impl Prepared {
    /// A problem with nothing to score its result against (a JPEG photo, a curve's target).
    fn unscored(problem: Problem, input: Image) -> Self {
        Self {
            problem,
            input,
            clean: None,
            baseline: None,
            sr_ground_truth: None,
            authors_output: None,
        }
    }
}

/// A job's images: read from the data folder, in the net's channels, cut as the job says.
struct Source<'a> {
    job: &'a Job,
    data: &'a DataDir,
}

impl Source<'_> {
    fn load(&self, relative: &str) -> Result<Image> {
        Ok(self.channels(Image::load(self.data.image(relative)?)?))
    }

    /// Grey for a one-channel net, else as it is.
    fn channels(&self, image: Image) -> Image {
        if self.job.net.output_channels == 1 {
            image.to_grey()
        } else {
            image
        }
    }

    /// The image `relative`, cut down (then in the net's channels).
    fn cut(&self, relative: &str) -> Result<Image> {
        let image = Image::load(self.data.image(relative)?)?;
        Ok(self.channels(self.job.cut.apply(&image)?))
    }

    /// The authors' output in the net's channels, cut like the clean image (if the
    /// data folder has it).
    fn authors(&self, reference: &Option<String>) -> Option<Image> {
        self.job
            .cut
            .apply(&self.load(reference.as_deref()?).ok()?)
            .ok()
    }

    /// Inpainting: the holes given by a mask image, or, without one, the zeros of the
    /// paper's masked input (SOURCES.md).
    fn inpainting(
        &self,
        image: &str,
        mask: Option<&str>,
        clean: &str,
        reference: &Option<String>,
        device: &Device,
    ) -> Result<Prepared> {
        let clean = self.cut(clean)?;
        let (input, mask) = match mask {
            Some(m) => {
                let mask = Image::load(self.data.image(m)?)?;
                let mask = inpainting::mask_from_image(&self.job.cut.apply_to_mask(&mask)?);
                (clean.clone(), mask)
            }
            None => {
                let masked = self.cut(image)?;
                let mask = inpainting::mask_of_masked_image(&masked);
                (masked, mask)
            }
        };
        let problem = inpainting::problem(&input, &mask, Some(&clean), self.job.framing, device)?;
        let masked = inpainting::apply_mask(&clean, &mask)?;
        Ok(Prepared {
            baseline: Baseline::of("masked input", metrics::psnr(&clean, &masked)?),
            input: masked,
            problem,
            clean: Some(clean),
            sr_ground_truth: None,
            authors_output: self.authors(reference),
        })
    }

    /// Denoising: noise of `sigma` (0–255 scale) added to the clean image, seeded by the run.
    fn denoising(
        &self,
        clean: &str,
        sigma: f32,
        reference: &Option<String>,
        device: &Device,
    ) -> Result<Prepared> {
        let clean = self.cut(clean)?;
        let mut rng = Rng::new(self.job.seed ^ 0x00c0_ffee);
        let noisy = denoising::add_noise(&clean, sigma / 255.0, &mut rng);
        let problem = denoising::problem(&noisy, Some(&clean), self.job.framing, device)?;
        Ok(Prepared {
            baseline: Baseline::of("noisy input", metrics::psnr(&clean, &noisy)?),
            input: noisy,
            problem,
            clean: Some(clean),
            sr_ground_truth: None,
            authors_output: self.authors(reference),
        })
    }

    /// Super-resolution by `factor` in the paper's protocol: the net restores the
    /// ground truth's centre crop divisible by 32 (then cut as the job says), and the
    /// authors' published canvas holds their output at the same place.
    fn super_resolution(
        &self,
        clean: &str,
        factor: usize,
        reference: &Option<String>,
        device: &Device,
    ) -> Result<Prepared> {
        let gt = sr_ground_truth(&self.load(clean)?, factor)?;
        let region_of = |full: &Image| -> Result<Image> {
            let region = self
                .job
                .cut
                .apply(&full.crop_to_multiple(metrics::SR_CROP_MULTIPLE)?)?;
            sr_ground_truth(&region, factor)
        };
        let region = region_of(&gt)?;
        let authors_output = reference
            .as_deref()
            .and_then(|rel| Image::load(self.data.image(rel).ok()?).ok())
            .filter(|canvas| (canvas.height, canvas.width) == (gt.height, gt.width))
            .and_then(|canvas| region_of(&self.channels(canvas)).ok());
        let low = super_resolution::low_resolution(&region, factor)?;
        let multiple = self.job.net.size_multiple();
        let problem = super_resolution::problem(&low, factor, Some(&region), multiple, device)?;
        let bicubic = super_resolution::bicubic(&low, factor);
        Ok(Prepared {
            baseline: Baseline::of("bicubic", problem.score.measure(&region, &bicubic)?),
            input: bicubic,
            problem,
            clean: Some(region),
            sr_ground_truth: (self.job.cut == Cut::Whole).then_some(gt),
            authors_output,
        })
    }
}

impl Baseline {
    /// The baseline `name` at `psnr` (none where the PSNR is infinite: JSON has no infinities).
    fn of(name: &str, psnr: f64) -> Option<Self> {
        Some(Self {
            name: name.into(),
            psnr: finite(psnr),
        })
    }
}

/// The ground truth of super-resolution in the paper's protocol: the HR image
/// cropped top-left to a multiple of the factor.
pub fn sr_ground_truth(hr: &Image, factor: usize) -> Result<Image> {
    hr.crop(
        0,
        0,
        hr.height - hr.height % factor,
        hr.width - hr.width % factor,
    )
}

/// The target of a noise-impedance run.
pub fn curve_target(image: &Image, target: CurveTarget, rng: &mut Rng) -> Image {
    match target {
        CurveTarget::Image => image.clone(),
        CurveTarget::ImageNoise => denoising::add_noise(image, 25.0 / 255.0, rng),
        CurveTarget::Shuffled => {
            let plane = image.height * image.width;
            // A seeded Fisher-Yates permutation of the pixel positions.
            let keys = rng.uniform(plane, 0.0, 1.0);
            let mut order: Vec<usize> = (0..plane).collect();
            for i in (1..plane).rev() {
                let j = ((keys[i] as f64) * (i + 1) as f64) as usize;
                order.swap(i, j.min(i));
            }
            let mut data = Vec::with_capacity(image.data.len());
            for c in 0..image.channels {
                data.extend(order.iter().map(|&p| image.data[c * plane + p]));
            }
            Image {
                data,
                ..image.clone()
            }
        }
        CurveTarget::Noise => Image {
            data: rng.uniform(image.data.len(), 0.0, 1.0),
            ..image.clone()
        },
    }
}

/// `Some(v)` if `v` is finite (JSON has no infinities or NaNs).
pub fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffled_target_is_a_permutation_of_the_pixels() {
        let img = Image::new(2, 3, 4, (0..24).map(|v| v as f32).collect()).unwrap();
        let s = curve_target(&img, CurveTarget::Shuffled, &mut Rng::new(1));
        assert_ne!(s.data, img.data);
        let mut first: Vec<f32> = s.data[..12].to_vec();
        first.sort_by(f32::total_cmp);
        assert_eq!(first, img.data[..12].to_vec());
        // The two channels of a pixel move together.
        for i in 0..12 {
            assert_eq!(s.data[12 + i], s.data[i] + 12.0);
        }
    }
}
