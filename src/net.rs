//! The "skip" network: an encoder-decoder with skip connections (a U-Net, after
//! Ronneberger et al. 2015), built exactly as the reference builds it.
//!
//! For each scale `i`, from the top:
//! - skip branch: conv 1×1 → BN → LeakyReLU, to `skip[i]` channels;
//! - deeper branch: conv 3×3 stride 2 → BN → act → conv 3×3 → BN → act →
//!   (the next scale) → upsample ×2;
//! - merge: concatenate the two → BN → conv 3×3 → BN → act → conv 1×1 → BN → act;
//!
//! and a head: conv 1×1 to the image's channels → sigmoid.

use candle_core::{DType, Device, Module, Result, Tensor, Var};

use crate::ops::{self, Kernels};
use crate::rng::Rng;

/// The slope of every LeakyReLU of the reference nets.
pub const LEAKY_SLOPE: f64 = 0.2;

/// How a convolution keeps its output the size of its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Padding {
    /// Mirror the border (PyTorch's `ReflectionPad2d`), then an unpadded conv.
    Reflection,
    /// Zeros, inside the conv.
    Zero,
}

pub use crate::ops::merge::Upsample;

/// Everything that defines a "skip" network (the arguments of the reference's `skip()`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SkipConfig {
    pub input_channels: usize,
    pub output_channels: usize,
    /// Channels of the encoder at each scale (its length is the depth).
    pub channels_down: Vec<usize>,
    /// Channels of the decoder at each scale.
    pub channels_up: Vec<usize>,
    /// Channels of the skip connection at each scale (0: no skip connection).
    pub channels_skip: Vec<usize>,
    /// Kernel size of the encoder's convs at each scale.
    pub filter_down: Vec<usize>,
    /// Kernel size of the decoder's convs at each scale.
    pub filter_up: Vec<usize>,
    /// Kernel size of the skip convs.
    pub filter_skip: usize,
    pub upsample: Vec<Upsample>,
    pub padding: Padding,
    /// Whether each decoder level ends with a 1×1 conv → BN → act.
    pub need_1x1_up: bool,
    /// Whether the head ends with a sigmoid.
    pub need_sigmoid: bool,
    /// How BatchNorm's scale γ starts.
    #[serde(default)]
    pub bn_init: BnInit,
}

/// The initial BatchNorm scale γ (β always starts at 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BnInit {
    /// γ = 1 (PyTorch ≥ 1.2).
    #[default]
    Ones,
    /// γ ~ U(0, 1): PyTorch 0.4's `BatchNorm2d.reset_parameters`, the version the
    /// reference code pins (`environment.yml`), so the paper's nets started this way.
    Uniform,
}

impl SkipConfig {
    /// The standard net of the paper: 5 scales of 128 channels down and up,
    /// 4 skip channels, bilinear upsampling, reflection padding.
    /// With 32 input and 3 output channels it has 2,217,831 parameters.
    pub fn standard(input_channels: usize, output_channels: usize) -> Self {
        Self::uniform(input_channels, output_channels, 128, 128, 4, 5)
    }

    /// A net with the same number of channels at every scale.
    pub fn uniform(
        input_channels: usize,
        output_channels: usize,
        down: usize,
        up: usize,
        skip: usize,
        depth: usize,
    ) -> Self {
        Self {
            input_channels,
            output_channels,
            channels_down: vec![down; depth],
            channels_up: vec![up; depth],
            channels_skip: vec![skip; depth],
            filter_down: vec![3; depth],
            filter_up: vec![3; depth],
            filter_skip: 1,
            upsample: vec![Upsample::Bilinear; depth],
            padding: Padding::Reflection,
            need_1x1_up: true,
            need_sigmoid: true,
            bn_init: BnInit::Ones,
        }
    }

    /// The same net with PyTorch 0.4's BatchNorm initialisation (γ ~ U(0, 1)), as the paper's runs.
    pub fn with_bn_init(mut self, init: BnInit) -> Self {
        self.bn_init = init;
        self
    }

    /// Set the upsampling of every scale.
    pub fn with_upsample(mut self, mode: Upsample) -> Self {
        self.upsample = vec![mode; self.depth()];
        self
    }

    /// The number of scales.
    pub fn depth(&self) -> usize {
        self.channels_down.len()
    }

    /// The factor the input's sides must be a multiple of: each scale halves them.
    pub fn size_multiple(&self) -> usize {
        1 << self.depth()
    }

    /// The smallest side the network accepts: twice [`size_multiple`](Self::size_multiple),
    /// because the deepest scale must be at least 2 pixels wide for its 3×3
    /// convolutions to be reflection-padded (a 1-pixel image has nothing to reflect).
    pub fn min_side(&self) -> usize {
        2 * self.size_multiple()
    }

    /// The side of the deepest scale for an input side `n`: each stride-2 conv
    /// (reflection-padded by `(k − 1)/2`) turns `n` into `⌈n/2⌉`.
    pub fn deepest_side(&self, n: usize) -> usize {
        (0..self.depth()).fold(n, |s, _| s.div_ceil(2))
    }

    /// Whether the output has the input's size for an input side `n`. With sides
    /// that are not multiples of 2^depth, the upsampled deeper branch is one pixel
    /// larger than the skip branch and the reference's `Concat` centre-crops it, so
    /// the size survives only where every scale has a skip connection.
    pub fn keeps_side(&self, n: usize) -> bool {
        n.is_multiple_of(self.size_multiple()) || self.channels_skip.iter().all(|&s| s > 0)
    }

    /// Check that the per-scale lists agree and nothing is zero that must not be.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let d = self.depth();
        if d == 0 {
            return Err("the network needs at least one scale".into());
        }
        for (name, len) in [
            ("channels_up", self.channels_up.len()),
            ("channels_skip", self.channels_skip.len()),
            ("filter_down", self.filter_down.len()),
            ("filter_up", self.filter_up.len()),
            ("upsample", self.upsample.len()),
        ] {
            if len != d {
                return Err(format!("{name} has {len} entries, channels_down has {d}"));
            }
        }
        if self.input_channels == 0 || self.output_channels == 0 {
            return Err("input and output channels must be positive".into());
        }
        if self.channels_down.contains(&0) || self.channels_up.contains(&0) {
            return Err("channels_down and channels_up must be positive".into());
        }
        Ok(())
    }
}

/// A convolution with bias, and how it pads.
pub struct Conv {
    pub weight: Var,
    pub bias: Var,
    pub stride: usize,
    pub padding: Padding,
}

impl Conv {
    /// PyTorch's default initialisation (`kaiming_uniform_(a = √5)`): weights and
    /// biases uniform in `±1/√fan_in`.
    fn new(
        rng: &mut Rng,
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        padding: Padding,
        device: &Device,
    ) -> Result<Self> {
        let bound = 1.0 / ((cin * k * k) as f32).sqrt();
        let weight = Tensor::from_vec(
            rng.uniform(cout * cin * k * k, -bound, bound),
            (cout, cin, k, k),
            device,
        )?;
        let bias = Tensor::from_vec(rng.uniform(cout, -bound, bound), cout, device)?;
        Ok(Self {
            weight: Var::from_tensor(&weight)?,
            bias: Var::from_tensor(&bias)?,
            stride,
            padding,
        })
    }

    fn kernel_size(&self) -> usize {
        self.weight.dim(3).unwrap_or(1)
    }

    /// Its stride and padding: `(k − 1)/2` on each side, so that stride 1 keeps the size.
    fn shape(&self) -> ops::conv::ConvShape {
        ops::conv::ConvShape {
            stride: self.stride,
            padding: (self.kernel_size() - 1) / 2,
            reflect: self.padding == Padding::Reflection,
        }
    }

    /// Pad then convolve (one fused op with the CPU kernels when padding by reflection).
    fn forward(&self, x: &Tensor, kernels: Kernels) -> Result<Tensor> {
        ops::conv::conv2d_shaped_with(x, &self.weight, &self.bias, self.shape(), kernels)
    }
}

/// Batch normalisation's scale γ (initially 1, or U(0, 1): [`BnInit`]) and shift β (initially 0).
pub struct BatchNorm {
    pub gamma: Var,
    pub beta: Var,
}

impl BatchNorm {
    fn new(channels: usize, init: BnInit, rng: &mut Rng, device: &Device) -> Result<Self> {
        let gamma = match init {
            BnInit::Ones => Tensor::ones(channels, DType::F32, device)?,
            BnInit::Uniform => Tensor::from_vec(rng.uniform(channels, 0.0, 1.0), channels, device)?,
        };
        Ok(Self {
            gamma: Var::from_tensor(&gamma)?,
            beta: Var::zeros(channels, DType::F32, device)?,
        })
    }

    fn forward(&self, x: &Tensor, act: bool, kernels: Kernels) -> Result<Tensor> {
        let slope = act.then_some(LEAKY_SLOPE);
        ops::batch_norm::batch_norm_with(x, &self.gamma, &self.beta, slope, kernels)
    }
}

/// conv → BN → LeakyReLU, the unit the network is made of.
pub struct ConvBnAct {
    pub conv: Conv,
    pub bn: BatchNorm,
}

impl ConvBnAct {
    fn params(&self) -> ops::conv_bn_act::UnitParams<'_> {
        ops::conv_bn_act::UnitParams {
            weight: &self.conv.weight,
            bias: &self.conv.bias,
            gamma: &self.bn.gamma,
            beta: &self.bn.beta,
        }
    }

    fn forward(&self, x: &Tensor, kernels: Kernels) -> Result<Tensor> {
        // One op on the CPU (`ops::conv_bn_act`): the conv's output is not kept.
        let (params, shape) = (self.params(), self.conv.shape());
        ops::conv_bn_act::conv_bn_act_with(x, params, shape, Some(LEAKY_SLOPE), kernels)
    }
}

/// One scale of the encoder-decoder, holding the next scale inside it.
pub struct Level {
    pub skip: Option<ConvBnAct>,
    pub down: ConvBnAct,
    pub down2: ConvBnAct,
    pub deeper: Option<Box<Level>>,
    pub upsample: Upsample,
    pub merge_bn: BatchNorm,
    pub up: ConvBnAct,
    pub up_1x1: Option<ConvBnAct>,
}

// ANCHOR: level_forward
impl Level {
    fn forward(&self, x: &Tensor, kernels: Kernels) -> Result<Tensor> {
        // The deeper branch: halve the resolution, two convs, the next scale, double it again.
        let mut deep = self.down.forward(x, kernels)?;
        deep = self.down2.forward(&deep, kernels)?;
        if let Some(deeper) = &self.deeper {
            deep = deeper.forward(&deep, kernels)?;
        }
        // Doubled again, concatenated behind the skip branch, batch-normalised, and
        // the decoder's first unit (one op on the CPU: `ops::decoder`).
        let y = match &self.skip {
            Some(skip) => {
                let skip = skip.forward(x, kernels)?;
                let merge_bn = (
                    self.merge_bn.gamma.as_tensor(),
                    self.merge_bn.beta.as_tensor(),
                );
                ops::decoder::merge_unit_with(
                    &skip,
                    &deep,
                    self.upsample,
                    merge_bn,
                    self.up.params(),
                    self.up.conv.shape(),
                    Some(LEAKY_SLOPE),
                    kernels,
                )?
            }
            None => {
                let up = ops::merge::upsample_with(&deep, self.upsample, kernels)?;
                let y = self.merge_bn.forward(&up, false, kernels)?;
                self.up.forward(&y, kernels)?
            }
        };
        match &self.up_1x1 {
            Some(unit) => unit.forward(&y, kernels),
            None => Ok(y),
        }
    }
}
// ANCHOR_END: level_forward

/// The network `f_θ`.
pub struct SkipNet {
    pub config: SkipConfig,
    pub top: Level,
    pub head: Conv,
    /// Which kernels the forward pass uses.
    pub kernels: Kernels,
}

// ANCHOR: build
impl SkipNet {
    /// Build the network with weights drawn from `seed` (PyTorch's default initialisation).
    pub fn new(config: &SkipConfig, seed: u64, device: &Device) -> crate::Result<Self> {
        config.validate().map_err(crate::DipError::InvalidInput)?;
        let mut rng = Rng::new(seed);
        let top = Self::level(config, 0, config.input_channels, &mut rng, device)?;
        let head = Conv::new(
            &mut rng,
            config.channels_up[0],
            config.output_channels,
            1,
            1,
            config.padding,
            device,
        )?;
        Ok(Self {
            config: config.clone(),
            top,
            head,
            kernels: Kernels::default(),
        })
    }

    fn level(
        c: &SkipConfig,
        i: usize,
        input_depth: usize,
        rng: &mut Rng,
        device: &Device,
    ) -> Result<Level> {
        let last = i + 1 == c.depth();
        let pad = c.padding;
        let unit = |rng: &mut Rng,
                    cin: usize,
                    cout: usize,
                    k: usize,
                    stride: usize|
         -> Result<ConvBnAct> {
            Ok(ConvBnAct {
                conv: Conv::new(rng, cin, cout, k, stride, pad, device)?,
                bn: BatchNorm::new(cout, c.bn_init, rng, device)?,
            })
        };
        let skip = match c.channels_skip[i] {
            0 => None,
            s => Some(unit(rng, input_depth, s, c.filter_skip, 1)?),
        };
        let down = unit(rng, input_depth, c.channels_down[i], c.filter_down[i], 2)?;
        let down2 = unit(
            rng,
            c.channels_down[i],
            c.channels_down[i],
            c.filter_down[i],
            1,
        )?;
        let deeper = if last {
            None
        } else {
            Some(Box::new(Self::level(
                c,
                i + 1,
                c.channels_down[i],
                rng,
                device,
            )?))
        };
        // From below: the next scale's decoder, or at the bottom this scale's encoder.
        let k = if last {
            c.channels_down[i]
        } else {
            c.channels_up[i + 1]
        };
        let merged = c.channels_skip[i] + k;
        let merge_bn = BatchNorm::new(merged, c.bn_init, rng, device)?;
        let up = unit(rng, merged, c.channels_up[i], c.filter_up[i], 1)?;
        let up_1x1 = if c.need_1x1_up {
            Some(unit(rng, c.channels_up[i], c.channels_up[i], 1, 1)?)
        } else {
            None
        };
        Ok(Level {
            skip,
            down,
            down2,
            deeper,
            upsample: c.upsample[i],
            merge_bn,
            up,
            up_1x1,
        })
    }
}
// ANCHOR_END: build

impl SkipNet {
    /// Every trainable parameter, in a fixed order (the order they were created in).
    pub fn parameters(&self) -> Vec<Var> {
        self.named_parameters()
            .into_iter()
            .map(|(_, v)| v)
            .collect()
    }

    /// Every trainable parameter with a readable name such as `level2.down.conv.weight`.
    pub fn named_parameters(&self) -> Vec<(String, Var)> {
        fn unit(out: &mut Vec<(String, Var)>, name: &str, u: &ConvBnAct) {
            conv(out, &format!("{name}.conv"), &u.conv);
            bn(out, &format!("{name}.bn"), &u.bn);
        }
        fn conv(out: &mut Vec<(String, Var)>, name: &str, c: &Conv) {
            out.push((format!("{name}.weight"), c.weight.clone()));
            out.push((format!("{name}.bias"), c.bias.clone()));
        }
        fn bn(out: &mut Vec<(String, Var)>, name: &str, b: &BatchNorm) {
            out.push((format!("{name}.gamma"), b.gamma.clone()));
            out.push((format!("{name}.beta"), b.beta.clone()));
        }
        let mut out = Vec::new();
        let mut level = Some(&self.top);
        let mut i = 0;
        while let Some(l) = level {
            let p = format!("level{i}");
            if let Some(s) = &l.skip {
                unit(&mut out, &format!("{p}.skip"), s);
            }
            unit(&mut out, &format!("{p}.down"), &l.down);
            unit(&mut out, &format!("{p}.down2"), &l.down2);
            bn(&mut out, &format!("{p}.merge_bn"), &l.merge_bn);
            unit(&mut out, &format!("{p}.up"), &l.up);
            if let Some(u) = &l.up_1x1 {
                unit(&mut out, &format!("{p}.up_1x1"), u);
            }
            level = l.deeper.as_deref();
            i += 1;
        }
        conv(&mut out, "head", &self.head);
        out
    }

    /// The number of trainable parameters.
    pub fn parameter_count(&self) -> usize {
        self.parameters().iter().map(|v| v.elem_count()).sum()
    }

    /// Check that an input of `height × width` fits the network: the deepest scale
    /// must be at least 2 pixels wide (reflection padding needs something to
    /// reflect), and the output must come out at the input's size.
    pub fn check_input_size(&self, height: usize, width: usize) -> crate::Result<()> {
        let c = &self.config;
        let deepest = c.deepest_side(height).min(c.deepest_side(width));
        if deepest < 2 {
            return Err(crate::DipError::invalid(format!(
                "the network needs sides of at least {} pixels, got {height}×{width}",
                c.min_side()
            )));
        }
        if !c.keeps_side(height) || !c.keeps_side(width) {
            let m = c.size_multiple();
            return Err(crate::DipError::invalid(format!(
                "a network without a skip connection at every scale needs sides that are multiples of {m} (2^depth), got {height}×{width}"
            )));
        }
        Ok(())
    }

    /// A layer-by-layer description (what `dip net` prints).
    pub fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for (name, var) in self.named_parameters() {
            lines.push(format!("{name:<28} {:?}", var.dims()));
        }
        lines
    }
}

// ANCHOR: forward
impl Module for SkipNet {
    /// `f_θ(z)`: the encoder-decoder, then a 1×1 conv to the image's channels and a sigmoid.
    fn forward(&self, z: &Tensor) -> Result<Tensor> {
        let y = self.top.forward(z, self.kernels)?;
        let y = self.head.forward(&y, self.kernels)?;
        if self.config.need_sigmoid {
            candle_nn::ops::sigmoid(&y)
        } else {
            Ok(y)
        }
    }
}
// ANCHOR_END: forward

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_net_has_the_reference_parameter_count() {
        let net = SkipNet::new(&SkipConfig::standard(32, 3), 0, &Device::Cpu).unwrap();
        assert_eq!(net.parameter_count(), 2_217_831);
        let net = SkipNet::new(&SkipConfig::standard(32, 1), 0, &Device::Cpu).unwrap();
        assert_eq!(net.parameter_count(), 2_217_573);
    }

    #[test]
    fn output_has_the_input_size_and_image_channels() {
        let cfg = SkipConfig::uniform(3, 1, 8, 8, 2, 3);
        let net = SkipNet::new(&cfg, 0, &Device::Cpu).unwrap();
        let z = Tensor::zeros((1, 3, 16, 24), DType::F32, &Device::Cpu).unwrap();
        let y = net.forward(&z).unwrap();
        assert_eq!(y.dims(), &[1, 1, 16, 24]);
        let v = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!(
            v.iter().all(|x| (0.0..=1.0).contains(x)),
            "sigmoid output leaves [0, 1]"
        );
    }

    #[test]
    fn odd_sides_come_out_at_the_input_size() {
        // 66 → 33 → 17 → 9: the upsampled branch is one pixel too large and is centre-cropped.
        let cfg = SkipConfig::uniform(3, 1, 4, 4, 2, 3);
        let net = SkipNet::new(&cfg, 0, &Device::Cpu).unwrap();
        let z = Tensor::zeros((1, 3, 66, 70), DType::F32, &Device::Cpu).unwrap();
        assert_eq!(net.forward(&z).unwrap().dims(), &[1, 1, 66, 70]);
    }

    #[test]
    fn pytorch_0_4_batch_norm_starts_with_gamma_uniform_in_0_1() {
        let cfg = SkipConfig::uniform(2, 3, 16, 16, 4, 2).with_bn_init(BnInit::Uniform);
        let net = SkipNet::new(&cfg, 3, &Device::Cpu).unwrap();
        let gammas: Vec<f32> = net
            .named_parameters()
            .into_iter()
            .filter(|(n, _)| n.ends_with("gamma"))
            .flat_map(|(_, v)| v.as_tensor().to_vec1::<f32>().unwrap())
            .collect();
        assert!(gammas.iter().all(|g| (0.0..1.0).contains(g)));
        let mean = gammas.iter().sum::<f32>() / gammas.len() as f32;
        assert!((mean - 0.5).abs() < 0.1, "mean γ {mean}");
        let ones = SkipNet::new(&cfg.clone().with_bn_init(BnInit::Ones), 3, &Device::Cpu).unwrap();
        assert!(ones
            .top
            .down
            .bn
            .gamma
            .as_tensor()
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .all(|&g| g == 1.0));
    }

    #[test]
    fn the_same_seed_builds_the_same_weights() {
        let cfg = SkipConfig::uniform(2, 3, 4, 4, 1, 2);
        let a = SkipNet::new(&cfg, 7, &Device::Cpu).unwrap();
        let b = SkipNet::new(&cfg, 7, &Device::Cpu).unwrap();
        let c = SkipNet::new(&cfg, 8, &Device::Cpu).unwrap();
        let w = |n: &SkipNet| {
            n.head
                .weight
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        assert_eq!(w(&a), w(&b));
        assert_ne!(w(&a), w(&c));
    }

    #[test]
    fn inputs_that_do_not_fit_are_refused() {
        let net = SkipNet::new(&SkipConfig::standard(32, 3), 0, &Device::Cpu).unwrap();
        assert!(net.check_input_size(256, 256).is_ok());
        // Table 1's reflection-padded 514×514 (the skip at every scale crops the deeper branch).
        assert!(net.check_input_size(514, 514).is_ok());
        assert!(net.check_input_size(64, 64).is_ok());
        let err = net.check_input_size(32, 64).unwrap_err().to_string();
        assert!(err.contains("at least 64"), "{err}");
        let no_skip =
            SkipNet::new(&SkipConfig::uniform(2, 3, 8, 8, 0, 5), 0, &Device::Cpu).unwrap();
        let err = no_skip.check_input_size(100, 256).unwrap_err().to_string();
        assert!(err.contains("multiples of 32"), "{err}");
    }
}
