//! Seeded random numbers, drawn on the host.
//!
//! candle's CPU generator cannot be seeded, and a reproduction must repeat
//! exactly: every random draw of the method (the weights, the input `z`, the
//! per-iteration input noise, the corruption, the inpainting mask) comes from a
//! [`Rng`] seeded by the user, so a seeded CPU run repeats bit for bit, and the
//! same seed gives the same draws on every device.

use rand::{Rng as _, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

/// A seeded generator (ChaCha12, the same stream on every platform).
pub struct Rng(rand::rngs::StdRng);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(rand::rngs::StdRng::seed_from_u64(seed))
    }

    /// A new generator seeded from this one: separate streams for separate purposes.
    pub fn fork(&mut self) -> Self {
        Self::new(self.0.random())
    }

    /// `n` values uniform in `[low, high)`.
    pub fn uniform(&mut self, n: usize, low: f32, high: f32) -> Vec<f32> {
        (0..n).map(|_| self.0.random_range(low..high)).collect()
    }

    /// `n` values from `N(0, std²)`.
    pub fn normal(&mut self, n: usize, std: f32) -> Vec<f32> {
        (0..n)
            .map(|_| {
                let v: f32 = StandardNormal.sample(&mut self.0);
                v * std
            })
            .collect()
    }

    /// `n` values that are 1 with probability `p`, else 0.
    pub fn bernoulli(&mut self, n: usize, p: f64) -> Vec<f32> {
        (0..n)
            .map(|_| if self.0.random_bool(p) { 1.0 } else { 0.0 })
            .collect()
    }
}
