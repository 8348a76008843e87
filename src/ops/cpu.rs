//! The plumbing shared by our CPU kernels: read a `[N, C, H, W]` tensor's storage
//! plane by plane, run a per-plane kernel on every `H × W` plane in parallel, and
//! hand the result back to candle.
//!
//! Every kernel here maps one input plane to one output plane, independently of
//! the others, so the `N · C` planes are distributed over rayon's threads. Within
//! a plane the work is sequential and in a fixed order: results do not depend on
//! the number of threads or on scheduling.

use std::borrow::Cow;

use candle_core::{bail, CpuStorage, DType, Layout, Result, Shape, WithDType};
use rayon::prelude::*;

/// A kernel that maps each `h × w` plane of a 4-d tensor to an `ho × wo` plane.
pub(crate) trait PlaneKernel {
    /// The op's name, for error messages.
    fn name(&self) -> &'static str;

    /// The output plane size for an input plane of `h × w`, or an error if the
    /// input is too small for the op.
    fn out_hw(&self, h: usize, w: usize) -> Result<(usize, usize)>;

    /// Fill `dst` (`ho × wo`, row-major) from `src` (`h × w`, row-major).
    fn plane<T: WithDType>(&self, src: &[T], dst: &mut [T], h: usize, w: usize);
}

/// The elements of a 4-d tensor in row-major order: borrowed when the layout is
/// contiguous, gathered through the strides otherwise.
pub(crate) fn row_major<'a, T: WithDType>(
    storage: &'a CpuStorage,
    layout: &Layout,
) -> Result<Cow<'a, [T]>> {
    let data = storage.as_slice::<T>()?;
    if let Some((start, end)) = layout.contiguous_offsets() {
        return Ok(Cow::Borrowed(&data[start..end]));
    }
    let (dims, stride) = (layout.dims(), layout.stride());
    let mut out = Vec::with_capacity(layout.shape().elem_count());
    for n in 0..dims[0] {
        for c in 0..dims[1] {
            for y in 0..dims[2] {
                let row = layout.start_offset() + n * stride[0] + c * stride[1] + y * stride[2];
                out.extend((0..dims[3]).map(|x| data[row + x * stride[3]]));
            }
        }
    }
    Ok(Cow::Owned(out))
}

/// Run `kernel` on every plane of a `[N, C, H, W]` tensor of element type `T`.
fn apply_typed<T: WithDType, K: PlaneKernel + Sync>(
    kernel: &K,
    storage: &CpuStorage,
    layout: &Layout,
) -> Result<(CpuStorage, Shape)> {
    let &[n, c, h, w] = layout.dims() else {
        bail!(
            "{} expects a [N, C, H, W] tensor, got shape {:?}",
            kernel.name(),
            layout.dims()
        )
    };
    let (ho, wo) = kernel.out_hw(h, w)?;
    let src = row_major::<T>(storage, layout)?;
    // Every output element is written by the kernel; starting from zeroed memory
    // costs nothing extra (fresh pages are zero) and keeps this safe Rust.
    let mut dst = super::cpu_util::filled(n * c * ho * wo, T::zero());
    if !dst.is_empty() {
        dst.par_chunks_mut(ho * wo)
            .zip(src.par_chunks(h * w))
            .for_each(|(dst, src)| kernel.plane(src, dst, h, w));
    }
    Ok((T::to_cpu_storage_owned(dst), Shape::from((n, c, ho, wo))))
}

/// `CustomOp1::cpu_fwd` for a plane kernel: f32 and f64 are supported.
pub(crate) fn apply<K: PlaneKernel + Sync>(
    kernel: &K,
    storage: &CpuStorage,
    layout: &Layout,
) -> Result<(CpuStorage, Shape)> {
    match storage {
        CpuStorage::F32(_) => apply_typed::<f32, K>(kernel, storage, layout),
        CpuStorage::F64(_) => apply_typed::<f64, K>(kernel, storage, layout),
        _ => bail!("{}: the CPU kernel takes f32 or f64 only", kernel.name()),
    }
}

/// Whether the CPU kernels handle this element type.
pub(crate) fn supported(dtype: DType) -> bool {
    matches!(dtype, DType::F32 | DType::F64)
}
