//! Small helpers shared by the CPU kernels of the convolution and batch norm:
//! reading a tensor's `f32` data, per-thread scratch buffers, a pointer that may
//! cross threads, and sums that are both accurate and deterministic.

use std::cell::RefCell;

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, Layout, Result, Storage, Tensor};

/// The contiguous `f32` data of a CPU storage seen through `layout`.
pub fn cpu_f32<'a>(storage: &'a CpuStorage, layout: &Layout, what: &str) -> Result<&'a [f32]> {
    let data = match storage {
        CpuStorage::F32(v) => v.as_slice(),
        _ => bail!("{what}: expected f32 data, got {:?}", storage.dtype()),
    };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => bail!("{what}: expected a contiguous tensor"),
    }
}

/// Run `f` on the contiguous `f32` data of `t` (copying it first if it is not contiguous).
pub fn with_f32<R>(t: &Tensor, what: &str, f: impl FnOnce(&[f32]) -> Result<R>) -> Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(s) => f(cpu_f32(s, layout, what)?),
        _ => bail!("{what}: expected a CPU tensor"),
    }
}

/// A raw pointer that may be shared between the threads of a parallel loop,
/// each of which writes a part no other thread touches.
#[derive(Clone, Copy)]
pub struct SendPtr(pub *mut f32);
// SAFETY: the kernels only hand it to threads that write disjoint elements.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

impl SendPtr {
    /// The pointer (a method, so that closures capture the whole `SendPtr`).
    #[inline(always)]
    pub fn get(self) -> *mut f32 {
        self.0
    }
}

thread_local! {
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Run `f` with this thread's scratch buffer of at least `len` floats (its
/// contents are unspecified). The buffer lives as long as the thread, so the
/// tiles of a convolution do not allocate (and page-fault) again and again.
pub fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SCRATCH.with(|cell| {
        let mut buf = cell.borrow_mut();
        if buf.len() < len {
            buf.resize(len, 0.0);
        }
        f(&mut buf[..len])
    })
}

/// Block length of [`sum`]: partial sums in `f32` never cover more than this many terms.
const BLOCK: usize = 256;

/// `Σ f(i)` for `i` in `0..len`, accurate and deterministic: 8 `f32` lanes
/// within blocks of 256 terms (which vectorises), the blocks added in `f64`.
/// The order of the additions depends only on `len`.
#[inline(always)]
pub fn sum(len: usize, f: impl Fn(usize) -> f32) -> f64 {
    let mut total = 0f64;
    let mut start = 0;
    while start < len {
        let end = (start + BLOCK).min(len);
        let mut acc = [0f32; 8];
        let mut i = start;
        while i + 8 <= end {
            for (l, a) in acc.iter_mut().enumerate() {
                *a += f(i + l);
            }
            i += 8;
        }
        let mut block = 0f64;
        for a in acc {
            block += a as f64;
        }
        while i < end {
            block += f(i) as f64;
            i += 1;
        }
        total += block;
        start = end;
    }
    total
}

/// The number of threads of the kernels' parallel loops.
pub fn threads() -> usize {
    rayon::current_num_threads()
}

/// `gemm`'s own parallelism for a product that runs alone (not inside a parallel loop).
pub fn gemm_parallelism() -> gemm::Parallelism {
    match threads() {
        0 | 1 => gemm::Parallelism::None,
        n => gemm::Parallelism::Rayon(n),
    }
}

/// `dst (m×n) = alpha·dst + beta·lhs (m×k) · rhs (k×n)` for `f32`, with explicit row and
/// column strides (in elements) of every matrix; `read_dst = false` ignores `dst`'s contents.
///
/// # Safety
/// The pointers and strides must describe valid matrices; `dst` must not alias the others.
#[allow(clippy::too_many_arguments)]
#[inline]
pub unsafe fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: usize,
    dst_cs: usize,
    accumulate: bool,
    lhs: *const f32,
    lhs_rs: usize,
    lhs_cs: usize,
    rhs: *const f32,
    rhs_rs: usize,
    rhs_cs: usize,
    parallelism: gemm::Parallelism,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                for j in 0..n {
                    *dst.add(i * dst_rs + j * dst_cs) = 0.0;
                }
            }
        }
        return;
    }
    gemm::gemm(
        m,
        n,
        k,
        dst,
        dst_cs as isize,
        dst_rs as isize,
        accumulate,
        lhs,
        lhs_cs as isize,
        lhs_rs as isize,
        rhs,
        rhs_cs as isize,
        rhs_rs as isize,
        1.0,
        1.0,
        false,
        false,
        false,
        parallelism,
    )
}
