//! How many operations one training iteration runs, counted on the CPU: on a GPU each
//! is a kernel launch, and their number is the part of an iteration's time that does
//! not grow with the image.
//!
//! The GPU path is the same program on every device ([`Kernels::Gemm`]: candle's ops,
//! the convolutions as matrix products, Adam's step as tensor ops), so it can be
//! counted where there is no GPU. Each of candle's ops that makes a new tensor
//! allocates one buffer for it (on a GPU: one launch, at least; a concatenation
//! launches a copy per piece), a view (a reshape, a narrowing, a transpose, a
//! broadcast) allocates none, and neither do the tensors' shapes. So the count is of
//! the float32 buffers allocated while a phase runs ([`crate::alloc::count_element_blocks`],
//! which needs [`crate::alloc::DipAllocator`] as the program's allocator), and their
//! bytes: what the phase writes.
//!
//! `benches/torch_reference.py --count-ops` counts PyTorch's ops for the same net.

use candle_core::{Device, Module, Tensor};

use crate::bench::{BenchOptions, Problem};
use crate::ops::Kernels;
use crate::optim::{Adam, AdamConfig};
use crate::Result;

/// The operations of one phase of an iteration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhaseOps {
    /// Buffers allocated: ops that write a new tensor, kernel launches on a GPU.
    pub launches: usize,
    /// Bytes of those buffers: what the phase writes.
    pub bytes: u64,
}

/// The operations of one training iteration, per phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IterationOps {
    pub forward: PhaseOps,
    pub backward: PhaseOps,
    pub adam: PhaseOps,
}

impl IterationOps {
    /// Launches of the whole iteration.
    pub fn launches(&self) -> usize {
        self.forward.launches + self.backward.launches + self.adam.launches
    }

    /// Bytes written by the whole iteration.
    pub fn bytes(&self) -> u64 {
        self.forward.bytes + self.backward.bytes + self.adam.bytes
    }
}

/// Run `f` and count the buffers it allocates.
pub fn counted<R>(f: impl FnOnce() -> Result<R>) -> Result<(R, PhaseOps)> {
    let (r, launches, bytes) = crate::alloc::count_element_blocks(f)
        .map_err(|why| candle_core::Error::Msg(why.to_string()))?;
    Ok((r?, PhaseOps { launches, bytes }))
}

/// Count the ops of one iteration of `options`' problem on the CPU, the second one
/// (the first makes what stays: Adam's moments). `options.kernels` should be
/// [`Kernels::Gemm`] for the GPU's program; with [`Kernels::Fast`] it counts our
/// fused CPU ops instead (and their step in place).
pub fn count_iteration(options: &BenchOptions) -> Result<IterationOps> {
    check_the_allocator_counts()?;
    let problem = Problem::new(options, &Device::Cpu)?;
    let params = problem.net.parameters();
    let config = AdamConfig::with_lr(0.01);
    let mut adam = if options.kernels == Kernels::Gemm {
        Adam::with_tensor_ops(params, config)?
    } else {
        Adam::new(params, config)?
    };
    let loss = || -> Result<Tensor> {
        let out = problem.net.forward(&problem.z)?;
        Ok((out - &problem.target)?.sqr()?.mean_all()?)
    };
    adam.step(&loss()?.backward()?)?;
    let (loss, forward) = counted(loss)?;
    let (grads, backward) = counted(|| Ok(loss.backward()?))?;
    let ((), adam) = counted(|| Ok(adam.step(&grads)?))?;
    Ok(IterationOps {
        forward,
        backward,
        adam,
    })
}

/// An error unless a tensor's buffer is counted: the program's allocator is not ours.
fn check_the_allocator_counts() -> Result<()> {
    let (_, ops) = counted(|| Ok(Tensor::zeros(4, candle_core::DType::F32, &Device::Cpu)?))?;
    if ops.launches == 0 {
        let why = "the op count needs dip::alloc::DipAllocator as the #[global_allocator]";
        return Err(candle_core::Error::Msg(why.into()).into());
    }
    Ok(())
}
