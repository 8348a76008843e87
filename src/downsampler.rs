//! The downsampler `d` of super-resolution: a fixed Lanczos-2 filter applied
//! with stride `f` (the reference's `Downsampler(kernel_type = 'lanczos2',
//! phase = 0.5, preserve_size = True)`).
//!
//! The super-resolution energy is `E(x; x0) = ‖d(x) − x0‖²`: the network's
//! high-resolution output, downsampled, must match the low-resolution image.

use candle_core::{Device, Result, Tensor};

// ANCHOR: lanczos
/// The Lanczos-2 window at distance `d` (in low-resolution pixels):
/// `2·sin(πd)·sin(πd/2) / (π²d²)`, and 1 at `d = 0`.
pub fn lanczos2(d: f64) -> f64 {
    if d == 0.0 {
        return 1.0;
    }
    let pi = std::f64::consts::PI;
    2.0 * (pi * d).sin() * (pi * d / 2.0).sin() / (pi * pi * d * d)
}

/// The 1-d taps for factor `f`: `4f` of them, phase 0.5 (the filter is centred
/// between two high-resolution pixels), at `d_i = |i + 0.5 − (4f + 2)/2| / f`.
pub fn lanczos2_taps(factor: usize) -> Vec<f64> {
    let size = 4 * factor;
    let centre = (size as f64 + 2.0) / 2.0;
    (1..=size)
        .map(|i| lanczos2((i as f64 + 0.5 - centre).abs() / factor as f64))
        .collect()
}

/// The 2-d kernel `w(d_i)·w(d_j)`, normalised to sum to 1, row-major `4f × 4f`.
pub fn lanczos2_kernel(factor: usize) -> Vec<f32> {
    let taps = lanczos2_taps(factor);
    let mut kernel: Vec<f64> = taps
        .iter()
        .flat_map(|a| taps.iter().map(move |b| a * b))
        .collect();
    let sum: f64 = kernel.iter().sum();
    kernel.iter_mut().for_each(|k| *k /= sum);
    kernel.into_iter().map(|k| k as f32).collect()
}
// ANCHOR_END: lanczos

/// The downsampler by an integer factor.
pub struct Downsampler {
    pub factor: usize,
    /// `[1, 1, 4f, 4f]`, applied to each channel alike.
    kernel: Tensor,
}

impl Downsampler {
    /// The Lanczos-2 downsampler by `factor` (2 or more).
    pub fn lanczos2(factor: usize, device: &Device) -> Result<Self> {
        if factor < 2 {
            candle_core::bail!("the downsampling factor must be at least 2, got {factor}");
        }
        let k = 4 * factor;
        let kernel = Tensor::from_vec(lanczos2_kernel(factor), (1, 1, k, k), device)?;
        Ok(Self { factor, kernel })
    }

    /// The replication padding that keeps the output at exactly `1/f` of the
    /// input: `(4f − f) / 2 = 1.5f` on each side.
    pub fn padding(&self) -> usize {
        3 * self.factor / 2
    }

    // ANCHOR: downsample
    /// `d(x)` for `x: [N, C, H, W]` with `H`, `W` multiples of `f`: `[N, C, H/f, W/f]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (n, c, h, w) = x.dims4()?;
        let p = self.padding();
        // Replicate the border, then filter each channel with stride f.
        let padded = x.pad_with_same(2, p, p)?.pad_with_same(3, p, p)?;
        let planes = padded.reshape((n * c, 1, h + 2 * p, w + 2 * p))?;
        let low = planes.conv2d(&self.kernel, 0, self.factor, 1, 1)?;
        let (_, _, lh, lw) = low.dims4()?;
        low.reshape((n, c, lh, lw))
    }
    // ANCHOR_END: downsample
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_sums_to_one_and_is_symmetric() {
        for f in [2, 4, 8] {
            let k = lanczos2_kernel(f);
            let n = 4 * f;
            assert_eq!(k.len(), n * n);
            assert!((k.iter().map(|&v| v as f64).sum::<f64>() - 1.0).abs() < 1e-6);
            for i in 0..n {
                for j in 0..n {
                    assert!((k[i * n + j] - k[(n - 1 - i) * n + (n - 1 - j)]).abs() < 1e-9);
                    assert!((k[i * n + j] - k[j * n + i]).abs() < 1e-9);
                }
            }
        }
    }

    /// The taps for ×4 by the formula of the reference, worked by hand:
    /// the centre is at 9, so the distances are |i − 8.5| / 4 for i = 1..16.
    #[test]
    fn taps_match_the_formula() {
        let taps = lanczos2_taps(4);
        let d0 = 7.5 / 4.0; // i = 1
        assert!((taps[0] - lanczos2(d0)).abs() < 1e-12);
        let d = 0.5 / 4.0; // i = 8 and 9, the two central taps
        assert!((taps[7] - lanczos2(d)).abs() < 1e-12 && (taps[8] - taps[7]).abs() < 1e-12);
        // The window vanishes at integer distances and has negative lobes in (1, 2).
        assert!(lanczos2(1.0).abs() < 1e-12 && lanczos2(2.0).abs() < 1e-12);
        assert!(lanczos2(1.5) < 0.0);
        // Known value: 2 sin(π/2) sin(π/4) / (π²/4) = 8·(√2/2)/π².
        let want = 8.0 * (2f64.sqrt() / 2.0) / (std::f64::consts::PI.powi(2));
        assert!((lanczos2(0.5) - want).abs() < 1e-12);
    }

    #[test]
    fn constant_image_stays_constant_and_size_divides() {
        let d = Downsampler::lanczos2(4, &Device::Cpu).unwrap();
        let x = Tensor::full(0.3f32, (1, 3, 32, 48), &Device::Cpu).unwrap();
        let y = d.forward(&x).unwrap();
        assert_eq!(y.dims(), &[1, 3, 8, 12]);
        let v = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!(v.iter().all(|&a| (a - 0.3).abs() < 1e-5));
    }
}
