//! The "skip" network: an encoder-decoder with skip connections (a U-Net, after
//! Ronneberger et al. 2015), built exactly as the reference builds it.
//!
//! The layer order is stated once, in [`SkipConfig::layout`]: the builder, the
//! parameter walk, `dip bench`'s count of the convolutions' work and the book's
//! diagram of the network all read it.

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

/// How the decoder doubles the resolution (the reference's `upsample_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Upsample {
    Bilinear,
    Nearest,
}

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

/// The width of the narrow net ([`SkipConfig::narrowed`]) of the quick preset and of
/// `dip denoise --fast`: half the standard net's 128 channels, so about a quarter of
/// its convolutions' work (their cost grows with the square of the width).
pub const NARROW_WIDTH: usize = 64;

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

    /// The same net with every channel count above `max` lowered to `max` (depth,
    /// kernels, skips, upsampling and padding unchanged).
    pub fn narrowed(mut self, max: usize) -> Self {
        for list in [
            &mut self.channels_down,
            &mut self.channels_up,
            &mut self.channels_skip,
        ] {
            for c in list.iter_mut() {
                *c = (*c).min(max);
            }
        }
        self
    }

    /// The widest layer of the net (the standard net's 128).
    pub fn width(&self) -> usize {
        let all = [&self.channels_down, &self.channels_up, &self.channels_skip];
        all.into_iter().flatten().copied().max().unwrap_or(0)
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
    fn new(rng: &mut Rng, u: &UnitLayout, padding: Padding, device: &Device) -> Result<Self> {
        let (cin, cout, k, stride) = (u.cin, u.cout, u.kernel, u.stride);
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
}

/// conv → BN → LeakyReLU, the unit the network is made of.
pub struct ConvBnAct {
    pub conv: Conv,
    pub bn: BatchNorm,
}

impl ConvBnAct {
    /// The unit `u` of the network `c`, its conv's weights drawn first, then γ.
    fn new(u: &UnitLayout, c: &SkipConfig, rng: &mut Rng, device: &Device) -> Result<Self> {
        Ok(Self {
            conv: Conv::new(rng, u, c.padding, device)?,
            bn: BatchNorm::new(u.cout, c.bn_init, rng, device)?,
        })
    }

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

/// One scale of the network, by the names of its parts; the same shape serves the
/// layout (`Parts<UnitLayout, usize>`: what each part is) and the built network
/// (`Parts<ConvBnAct, BatchNorm>`: its parameters).
#[derive(Clone, Debug, PartialEq)]
pub struct Parts<U, N> {
    /// The skip branch: conv → BN → act to `skip[i]` channels (none where that is 0).
    pub skip: Option<U>,
    /// The deeper branch: a stride-2 unit that halves the sides, then a unit.
    pub down: U,
    pub down2: U,
    /// The merge's batch norm over the concatenated branches.
    pub merge_bn: N,
    /// The decoder: a unit, then a 1×1 unit where `need_1x1_up`.
    pub up: U,
    pub up_1x1: Option<U>,
}

/// A part of a scale: a unit (conv → BN → act) or the merge's batch norm.
pub enum Part<'a, U, N> {
    Unit(&'a U),
    Norm(&'a N),
}

impl<U, N> Parts<U, N> {
    /// The parts by name, in the order of the network's parameters (the reference's
    /// `named_parameters()` order, and the order of a checkpoint's tensors).
    pub fn named(&self) -> Vec<(&'static str, Part<'_, U, N>)> {
        let mut out = Vec::new();
        if let Some(skip) = &self.skip {
            out.push(("skip", Part::Unit(skip)));
        }
        out.push(("down", Part::Unit(&self.down)));
        out.push(("down2", Part::Unit(&self.down2)));
        out.push(("merge_bn", Part::Norm(&self.merge_bn)));
        out.push(("up", Part::Unit(&self.up)));
        if let Some(unit) = &self.up_1x1 {
            out.push(("up_1x1", Part::Unit(unit)));
        }
        out
    }
}

/// What a unit is: its conv's channels, kernel and stride, and the scale of its
/// input (the image's sides divided by `2^scale`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnitLayout {
    pub cin: usize,
    pub cout: usize,
    pub kernel: usize,
    pub stride: usize,
    pub scale: usize,
    /// Whether its input is the network's input `z` (which needs no gradient).
    pub reads_z: bool,
}

/// What scale `i` of the network is: its parts' shapes, and how it upsamples the
/// deeper branch. `merge_bn` is the number of merged channels (skip + deeper).
#[derive(Clone, Debug, PartialEq)]
pub struct LevelLayout {
    pub parts: Parts<UnitLayout, usize>,
    pub upsample: Upsample,
}

impl std::ops::Deref for LevelLayout {
    type Target = Parts<UnitLayout, usize>;
    fn deref(&self) -> &Self::Target {
        &self.parts
    }
}

// ANCHOR: layout
impl SkipConfig {
    /// The network's layout, stated once (the reference's `models/skip.py`): for each
    /// scale `i` from the top, with `x` its input,
    /// - skip branch: `skip(x)`, a unit of kernel `filter_skip` to `skip[i]` channels;
    /// - deeper branch: `down(x)` with stride 2, `down2`, the next scale, ×2 upsampling;
    /// - merge: the two concatenated, `merge_bn`; then the decoder `up` and `up_1x1`;
    ///
    /// and a head: a 1×1 conv to the image's channels, then a sigmoid ([`Self::head`]).
    pub fn layout(&self) -> Vec<LevelLayout> {
        let mut input = self.input_channels;
        (0..self.depth())
            .map(|i| {
                let (down, up, skip) = (
                    self.channels_down[i],
                    self.channels_up[i],
                    self.channels_skip[i],
                );
                // The deeper branch brings the next scale's decoder, or at the bottom this encoder.
                let below = match self.channels_up.get(i + 1) {
                    Some(&next_up) => next_up,
                    None => down,
                };
                // The top scale's skip and down units read `z` itself.
                let unit = |cin, cout, kernel, stride, scale, reads_z| UnitLayout {
                    cin,
                    cout,
                    kernel,
                    stride,
                    scale,
                    reads_z,
                };
                let (k, top) = (self.filter_down[i], i == 0);
                let parts = Parts {
                    skip: (skip > 0).then(|| unit(input, skip, self.filter_skip, 1, i, top)),
                    down: unit(input, down, k, 2, i, top),
                    down2: unit(down, down, k, 1, i + 1, false),
                    merge_bn: skip + below,
                    up: unit(skip + below, up, self.filter_up[i], 1, i, false),
                    up_1x1: self.need_1x1_up.then(|| unit(up, up, 1, 1, i, false)),
                };
                input = down;
                LevelLayout {
                    parts,
                    upsample: self.upsample[i],
                }
            })
            .collect()
    }

    /// The head: a 1×1 conv from the top decoder's channels to the image's.
    pub fn head(&self) -> UnitLayout {
        UnitLayout {
            cin: self.channels_up[0],
            cout: self.output_channels,
            kernel: 1,
            stride: 1,
            scale: 0,
            reads_z: false,
        }
    }
}
// ANCHOR_END: layout

/// One scale of the encoder-decoder, holding the next scale inside it.
pub struct Level {
    pub parts: Parts<ConvBnAct, BatchNorm>,
    pub deeper: Option<Box<Level>>,
    pub upsample: Upsample,
}

impl std::ops::Deref for Level {
    type Target = Parts<ConvBnAct, BatchNorm>;
    fn deref(&self) -> &Self::Target {
        &self.parts
    }
}

impl std::ops::DerefMut for Level {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.parts
    }
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
        // the decoder's first unit (one op where it pays: `ops::decoder`).
        let skip = match &self.skip {
            Some(unit) => Some(unit.forward(x, kernels)?),
            None => None,
        };
        let merge_bn = (
            self.merge_bn.gamma.as_tensor(),
            self.merge_bn.beta.as_tensor(),
        );
        let y = ops::decoder::merge_unit_with(
            skip.as_ref(),
            &deep,
            self.upsample,
            merge_bn,
            self.up.params(),
            self.up.conv.shape(),
            Some(LEAKY_SLOPE),
            kernels,
        )?;
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
        let top = Self::level(config, &config.layout(), &mut rng, device)?;
        let head = Conv::new(&mut rng, &config.head(), config.padding, device)?;
        Ok(Self {
            config: config.clone(),
            top,
            head,
            kernels: Kernels::default(),
        })
    }

    /// The first of `layouts` and, inside it, the others. The weights are drawn in the
    /// reference's order: this scale's encoder, the deeper scales, then its decoder.
    fn level(
        c: &SkipConfig,
        layouts: &[LevelLayout],
        rng: &mut Rng,
        device: &Device,
    ) -> Result<Level> {
        let (l, below) = layouts.split_first().expect("a network has a scale");
        let unit = |u: &UnitLayout, rng: &mut Rng| ConvBnAct::new(u, c, rng, device);
        let skip = l.skip.as_ref().map(|u| unit(u, rng)).transpose()?;
        let down = unit(&l.down, rng)?;
        let down2 = unit(&l.down2, rng)?;
        let deeper = match below {
            [] => None,
            _ => Some(Box::new(Self::level(c, below, rng, device)?)),
        };
        let merge_bn = BatchNorm::new(l.merge_bn, c.bn_init, rng, device)?;
        let up = unit(&l.up, rng)?;
        let up_1x1 = l.up_1x1.as_ref().map(|u| unit(u, rng)).transpose()?;
        Ok(Level {
            parts: Parts {
                skip,
                down,
                down2,
                merge_bn,
                up,
                up_1x1,
            },
            deeper,
            upsample: l.upsample,
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

    /// Every trainable parameter with a readable name such as `level2.down.conv.weight`,
    /// scale by scale from the top, each scale's parts in [`Parts::named`]'s order.
    pub fn named_parameters(&self) -> Vec<(String, Var)> {
        let mut out = Vec::new();
        let mut add = |name: String, vars: [&Var; 2], fields: [&str; 2]| {
            for (var, field) in vars.into_iter().zip(fields) {
                out.push((format!("{name}.{field}"), var.clone()));
            }
        };
        let conv = ["weight", "bias"];
        let bn = ["gamma", "beta"];
        let mut level = Some(&self.top);
        let mut i = 0;
        while let Some(l) = level {
            for (part, layer) in l.named() {
                let name = format!("level{i}.{part}");
                match layer {
                    Part::Unit(u) => {
                        add(format!("{name}.conv"), [&u.conv.weight, &u.conv.bias], conv);
                        add(format!("{name}.bn"), [&u.bn.gamma, &u.bn.beta], bn);
                    }
                    Part::Norm(b) => add(name, [&b.gamma, &b.beta], bn),
                }
            }
            level = l.deeper.as_deref();
            i += 1;
        }
        add("head".into(), [&self.head.weight, &self.head.bias], conv);
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
