//! 2-d convolution with a bias, as the network uses it, padded with zeros or by
//! reflection: candle's own op, the same as explicit matrix products (the GPU path),
//! and our CPU kernel (im2col + gemm, Winograd for the 3×3 ones: [`super::winograd`]).

use candle_core::{bail, CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

use super::cpu_util::{cpu_f32, with_f32};
use super::{Accepts, Kernels};

// The CPU kernel: the forward pass by im2col + gemm (or Winograd), and the gradients.
pub(super) use super::conv_backward::conv_grads;
pub(super) use super::im2col::{conv_forward, Geom};

/// `x ⋆ weight + bias` with the given stride and zero padding.
/// `x: [N, Cin, H, W]`, `weight: [Cout, Cin, k, k]`, `bias: [Cout]`.
pub fn conv2d(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    conv2d_with(x, weight, bias, stride, padding, Kernels::default())
}

/// [`conv2d`] with an explicit choice of implementation.
pub fn conv2d_with(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    stride: usize,
    padding: usize,
    kernels: Kernels,
) -> Result<Tensor> {
    let shape = ConvShape {
        stride,
        padding,
        reflect: false,
    };
    conv2d_shaped_with(x, weight, bias, shape, kernels)
}

/// How a convolution strides and pads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    pub stride: usize,
    pub padding: usize,
    /// Pad by reflection (else with zeros).
    pub reflect: bool,
}

/// The convolution `shape` says, by the implementation `kernels` picks: our CPU
/// kernel (padding included, by reflection too), else the padding by reflection first
/// ([`reflection_pad2d_with`](super::reflection_pad::reflection_pad2d_with), PyTorch's
/// `ReflectionPad2d`), then explicit matrix products (the GPU path) or candle's `conv2d`.
pub fn conv2d_shaped_with(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    shape: ConvShape,
    kernels: Kernels,
) -> Result<Tensor> {
    let ConvShape {
        stride,
        padding,
        reflect,
    } = shape;
    if kernels.ours(&[x, weight, bias], Accepts::F32) {
        conv2d_fast(x, weight, bias, shape)
    } else if reflect {
        let x = super::reflection_pad::reflection_pad2d_with(x, padding, kernels)?;
        conv2d_with(&x, weight, bias, stride, 0, kernels)
    } else if kernels.use_gemm_conv(x.device()) {
        conv2d_gemm(x, weight, bias, stride, padding)
    } else {
        conv2d_candle(x, weight, bias, stride, padding)
    }
}

/// The convolution by candle's own `conv2d` (any device).
///
/// candle's backward pass of a strided `conv2d` (0.11) recovers the input's size
/// with a transposed convolution whose output padding it derives from the height
/// alone and uses for the width too. When the numbers of trailing rows and columns
/// that no output reads (`(H + 2·padding − k) mod stride`, likewise for W) differ,
/// as for a 17 × 18 input with stride 2, the input gradient comes out with the
/// wrong width and `backward` fails. Those rows and columns change nothing and get
/// a zero gradient, so in that case they are cut off first (after the zero padding,
/// made explicit then); the output is the same.
pub fn conv2d_candle(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let (_, _, kh, kw) = weight.dims4()?;
    let unread = |n: usize, k: usize| (n + 2 * padding).saturating_sub(k) % stride;
    let (unread_h, unread_w) = (unread(h, kh), unread(w, kw));
    let y = if unread_h != unread_w {
        let x = if padding > 0 {
            x.pad_with_zeros(2, padding, padding)?
                .pad_with_zeros(3, padding, padding)?
        } else {
            x.clone()
        };
        let x =
            x.narrow(2, 0, h + 2 * padding - unread_h)?
                .narrow(3, 0, w + 2 * padding - unread_w)?;
        x.conv2d(weight, 0, stride, 1, 1)?
    } else {
        x.conv2d(weight, padding, stride, 1, 1)?
    };
    y.broadcast_add(&bias.reshape((1, bias.dim(0)?, 1, 1))?)
}

/// The convolution as one matrix product of candle tensors: what runs on a GPU.
///
/// The input is unfolded into the column matrix of the CPU kernel below
/// (`col`, `Cin·k·k × Ho·Wo`, one row per input channel and kernel offset) by
/// `k·k` shifted, strided views of it, and `y = W · col + b`. Every step is one of
/// candle's differentiable ops, so the backward pass is matrix products as well,
/// `dW = dy · colᵀ` and `dcol = Wᵀ · dy`, folded back onto the input by the views'
/// own gradients.
///
/// Why not candle's `conv2d`: its forward is this same product, but its backward
/// (0.11) takes the input gradient with a transposed convolution that on CUDA is a
/// direct loop, one thread per output value, not a matrix product: most of an
/// iteration's time at 512 × 512. The price here is memory: `col`, `k²` times the
/// input, is kept for the backward pass.
pub fn conv2d_gemm(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    let x = if padding > 0 {
        x.pad_with_zeros(2, padding, padding)?
            .pad_with_zeros(3, padding, padding)?
    } else {
        x.clone()
    };
    let (n, cin, h, w) = x.dims4()?;
    let (cout, wcin, kh, kw) = weight.dims4()?;
    if wcin != cin || h < kh || w < kw || stride == 0 {
        bail!(
            "conv2d_gemm: input {:?} does not fit kernel {:?}, stride {stride}",
            x.dims(),
            weight.dims()
        );
    }
    let (ho, wo) = ((h - kh) / stride + 1, (w - kw) / stride + 1);
    let col = unfold(&x, (kh, kw), stride, (ho, wo))?;
    let y = weight
        .reshape((cout, cin * kh * kw))?
        .broadcast_matmul(&col)?
        .reshape((n, cout, ho, wo))?;
    y.broadcast_add(&bias.reshape((1, cout, 1, 1))?)
}

/// The column matrix of `x` (`[N, Cin, H, W]`, already padded) for a `kh × kw`
/// kernel with `stride` and output size `(ho, wo)`: `[N, Cin·kh·kw, ho·wo]`, rows in
/// the order of the weight's `(Cin, kh, kw)`. Row `(c, a, b)` is the view
/// `x[c, a + stride·i, b + stride·j]` over the output pixels `(i, j)`.
fn unfold(
    x: &Tensor,
    (kh, kw): (usize, usize),
    stride: usize,
    (ho, wo): (usize, usize),
) -> Result<Tensor> {
    let (n, cin, _, _) = x.dims4()?;
    if (kh, kw, stride) == (1, 1, 1) {
        return x.reshape((n, cin, ho * wo));
    }
    let mut views = Vec::with_capacity(kh * kw);
    for a in 0..kh {
        let rows = every_stride(x, 2, a, ho, stride)?;
        for b in 0..kw {
            views.push(every_stride(&rows, 3, b, wo, stride)?);
        }
    }
    Tensor::stack(&views, 2)?.reshape((n, cin * kh * kw, ho * wo))
}

/// Indices `start, start + stride, …` (`count` of them) of dimension `dim` of `x`:
/// a narrow, and for a stride above 1 a reshape that puts each kept index first in a
/// group of `stride` (zeros pad the last group where the input ends inside it).
fn every_stride(
    x: &Tensor,
    dim: usize,
    start: usize,
    count: usize,
    stride: usize,
) -> Result<Tensor> {
    if stride == 1 {
        return x.narrow(dim, start, count);
    }
    let available = x.dim(dim)? - start;
    let span = count * stride;
    let x = if available < span {
        x.pad_with_zeros(dim, 0, span - available)?
    } else {
        x.clone()
    };
    let mut grouped = x.narrow(dim, start, span)?.dims().to_vec();
    grouped[dim] = count;
    grouped.insert(dim + 1, stride);
    x.narrow(dim, start, span)?
        .reshape(grouped)?
        .narrow(dim + 1, 0, 1)?
        .squeeze(dim + 1)
}

/// The convolution as a candle op with its own backward pass; its arguments
/// are `(x, weight, bias)`.
struct Conv2dOp {
    stride: usize,
    padding: usize,
    reflect: bool,
}

impl CustomOp3 for Conv2dOp {
    fn name(&self) -> &'static str {
        "dip-conv2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = Geom::new(
            l1.dims(),
            l2.dims(),
            self.stride,
            self.padding,
            self.reflect,
        )?;
        if l3.dims() != [g.cout] {
            bail!(
                "conv2d: bias of shape {:?} for {} output channels",
                l3.dims(),
                g.cout
            )
        }
        let x = cpu_f32(s1, l1, "conv2d input")?;
        let w = cpu_f32(s2, l2, "conv2d weight")?;
        let b = cpu_f32(s3, l3, "conv2d bias")?;
        let y = conv_forward(&g, x, w, b);
        Ok((CpuStorage::F32(y), Shape::from((g.n, g.cout, g.ho, g.wo))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let g = Geom::new(
            x.dims(),
            weight.dims(),
            self.stride,
            self.padding,
            self.reflect,
        )?;
        // Only what something upstream needs: the network's input `z` (a plain
        // tensor) gets no gradient, which saves the first conv's input gradient.
        let need = (x.track_op(), weight.track_op(), bias.track_op());
        let grads = with_f32(x, "conv2d input", |xv| {
            with_f32(weight, "conv2d weight", |wv| {
                with_f32(grad, "conv2d gradient", |dy| {
                    Ok(conv_grads(&g, xv, wv, dy, need))
                })
            })
        })?;
        let dev = x.device();
        let dx = grads
            .dx
            .map(|d| Tensor::from_vec(d.finish(&g), x.shape(), dev))
            .transpose()?;
        let dw = grads
            .dw
            .map(|v| Tensor::from_vec(v, weight.shape(), dev))
            .transpose()?;
        let db = grads
            .db
            .map(|v| Tensor::from_vec(v, bias.shape(), dev))
            .transpose()?;
        Ok((dx, dw, db))
    }
}

/// The convolution by our CPU kernel (`f32` tensors on the CPU), padded as `shape`
/// says: with reflection, the padded input is never built.
pub fn conv2d_fast(x: &Tensor, weight: &Tensor, bias: &Tensor, shape: ConvShape) -> Result<Tensor> {
    let op = Conv2dOp {
        stride: shape.stride,
        padding: shape.padding,
        reflect: shape.reflect,
    };
    apply_conv_op(x, weight, bias, op)
}

/// Run the kernel on contiguous copies of its operands (it reads them as flat slices).
fn apply_conv_op(x: &Tensor, weight: &Tensor, bias: &Tensor, op: Conv2dOp) -> Result<Tensor> {
    x.contiguous()?
        .apply_op3(&weight.contiguous()?, &bias.contiguous()?, op)
}
