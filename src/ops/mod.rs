//! The operations the network needs, with gradients.
//!
//! candle has convolutions and batch statistics, but it lacks reflection padding,
//! and its bilinear upsampling has no backward pass. Each operation here comes in
//! two forms:
//! - a *composed* form, built from candle's own differentiable ops (index
//!   selection, weighted sums, matrix products), which runs on every device;
//! - a *CPU kernel*, a candle custom op with its own backward pass, used when the
//!   tensors live on the CPU: the convolution ([`conv`], by im2col and gemm, or by
//!   Winograd's minimal filtering: [`winograd`], [`winograd4`]), batch norm with
//!   LeakyReLU ([`mod@batch_norm`]), the network's unit conv → batch norm → LeakyReLU
//!   as one op ([`conv_bn_act`]), the decoder's merge ([`merge`]) and the merge with
//!   the unit after it ([`decoder`]), reflection padding and the ×2 upsamplings.
//!
//! [`Kernels::ours`] is the one place that picks the form; the tests check
//! the two forms against each other, against finite differences and against
//! values computed by PyTorch.

pub mod batch_norm;
pub mod conv;
mod conv_backward;
pub mod conv_bn_act;
mod cpu;
pub mod cpu_util;
pub mod decoder;
mod im2col;
pub mod merge;
pub mod reflection_pad;
pub mod upsample;
pub mod winograd;
pub mod winograd4;

pub use batch_norm::batch_norm;
pub use conv::conv2d;
pub use reflection_pad::{reflection_pad2d, reflection_pad2d_composed, reflection_pad2d_cpu};
pub use upsample::{
    upsample_bilinear2x, upsample_bilinear2x_composed, upsample_bilinear2x_cpu, upsample_nearest2x,
    upsample_nearest2x_composed, upsample_nearest2x_cpu,
};

/// Which implementation of the network's operations to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Kernels {
    /// Our own CPU kernels where the tensor is on the CPU (the default), candle's ops elsewhere.
    #[default]
    Fast,
    /// candle's own ops everywhere (the reference the fast kernels are tested against).
    Candle,
    /// The convolution as explicit matrix products ([`conv::conv2d_gemm`]), candle's
    /// ops for the rest, on every device: what `Fast` runs off the CPU, selectable
    /// on the CPU so that the tests can check it there.
    Gemm,
}

/// The element types a CPU kernel of ours is written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accepts {
    /// `f32`: the network's ops (convolutions, batch norm, the fused units).
    F32,
    /// `f32` or `f64` (one type for all the arguments): the plane kernels
    /// (padding, upsampling, the merge).
    Floats,
}

impl Kernels {
    /// Whether our CPU kernel runs on `tensors` rather than candle's ops: the one
    /// place that decides. Yes for [`Kernels::Fast`] when every tensor is on the CPU
    /// and of a type the kernel `accepts`.
    pub fn ours(self, tensors: &[&candle_core::Tensor], accepts: Accepts) -> bool {
        let Some(first) = tensors.first() else {
            return false;
        };
        let dtype = first.dtype();
        let typed = match accepts {
            Accepts::F32 => dtype == candle_core::DType::F32,
            Accepts::Floats => cpu::supported(dtype),
        };
        self == Kernels::Fast
            && typed
            && tensors
                .iter()
                .all(|t| t.device().is_cpu() && t.dtype() == dtype)
    }

    /// Whether a convolution on `device` should be [`conv::conv2d_gemm`].
    pub fn use_gemm_conv(self, device: &candle_core::Device) -> bool {
        match self {
            Kernels::Fast => !device.is_cpu(),
            Kernels::Gemm => true,
            Kernels::Candle => false,
        }
    }
}
