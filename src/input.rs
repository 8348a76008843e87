//! The network input `z`.
//!
//! The paper feeds the network a fixed random tensor of the image's size:
//! uniform noise in `[0, 0.1)` with 32 channels for most tasks, or a
//! 2-channel "meshgrid" (the pixel coordinates) for region inpainting. Each
//! iteration perturbs it with fresh Gaussian noise of standard deviation
//! `reg_noise_std`, a regulariser; the final image is read off the clean `z`.

use candle_core::{Device, Result, Tensor};

use crate::rng::Rng;

/// What the network is fed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum InputKind {
    /// Uniform noise in `[0, 0.1)` with the given number of channels.
    Noise { channels: usize },
    /// Two channels: the column and the row, each scaled to `[0, 1]`.
    Meshgrid,
}

impl InputKind {
    /// The number of channels of the input.
    pub fn channels(self) -> usize {
        match self {
            InputKind::Noise { channels } => channels,
            InputKind::Meshgrid => 2,
        }
    }
}

// ANCHOR: input
/// The input `z` of shape `[1, C, H, W]`.
pub fn network_input(
    kind: InputKind,
    height: usize,
    width: usize,
    rng: &mut Rng,
    device: &Device,
) -> Result<Tensor> {
    match kind {
        InputKind::Noise { channels } => noise(channels, height, width, rng, device),
        InputKind::Meshgrid => meshgrid(height, width, device),
    }
}

/// Uniform noise in `[0, 0.1)` (the reference scales `U[0, 1)` by 1/10).
pub fn noise(
    channels: usize,
    height: usize,
    width: usize,
    rng: &mut Rng,
    device: &Device,
) -> Result<Tensor> {
    let values = rng.uniform(channels * height * width, 0.0, 0.1);
    Tensor::from_vec(values, (1, channels, height, width), device)
}

/// The pixel coordinates: channel 0 is `x / (W − 1)`, channel 1 is `y / (H − 1)`.
pub fn meshgrid(height: usize, width: usize, device: &Device) -> Result<Tensor> {
    let scale = |n: usize| if n > 1 { 1.0 / (n - 1) as f32 } else { 0.0 };
    let (sx, sy) = (scale(width), scale(height));
    let mut values = Vec::with_capacity(2 * height * width);
    values.extend((0..height).flat_map(|_| (0..width).map(move |x| x as f32 * sx)));
    values.extend((0..height).flat_map(|y| std::iter::repeat_n(y as f32 * sy, width)));
    Tensor::from_vec(values, (1, 2, height, width), device)
}

/// `z + N(0, 1)·std`, the input of one iteration (fresh noise every time).
pub fn perturbed(z: &Tensor, std: f64, rng: &mut Rng) -> Result<Tensor> {
    if std == 0.0 {
        return Ok(z.clone());
    }
    let noise = Tensor::from_vec(
        rng.normal(z.elem_count(), std as f32),
        z.shape(),
        z.device(),
    )?;
    z + noise
}
// ANCHOR_END: input

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_in_range_and_seeded() {
        let a = noise(32, 8, 8, &mut Rng::new(1), &Device::Cpu).unwrap();
        let b = noise(32, 8, 8, &mut Rng::new(1), &Device::Cpu).unwrap();
        let va = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(va, b.flatten_all().unwrap().to_vec1::<f32>().unwrap());
        assert!(va.iter().all(|v| (0.0..0.1).contains(v)));
        let mean = va.iter().sum::<f32>() / va.len() as f32;
        assert!((mean - 0.05).abs() < 0.005, "mean {mean}");
    }

    #[test]
    fn meshgrid_spans_zero_to_one() {
        let m = meshgrid(3, 5, &Device::Cpu).unwrap();
        let v = m.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(&v[0..5], &[0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(&v[15..20], &[0.0; 5]);
        assert_eq!(&v[25..30], &[1.0; 5]);
    }

    #[test]
    fn perturbation_has_the_asked_spread() {
        let z = Tensor::zeros((1, 4, 64, 64), candle_core::DType::F32, &Device::Cpu).unwrap();
        let p = perturbed(&z, 0.5, &mut Rng::new(3)).unwrap();
        let v = p.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let var = v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32;
        assert!((var.sqrt() - 0.5).abs() < 0.02, "std {}", var.sqrt());
    }
}
