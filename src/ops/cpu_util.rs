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

/// A new vector of `len` floats written by `fill` through the pointer it gets, without
/// zeroing the memory first (a full pass over a large result saved).
///
/// # Safety
/// `fill` must write every one of the `len` elements, and read none before writing it.
pub unsafe fn write_new<R>(len: usize, fill: impl FnOnce(SendPtr) -> R) -> (Vec<f32>, R) {
    let mut v = Vec::<f32>::with_capacity(len);
    let r = fill(SendPtr(v.as_mut_ptr()));
    v.set_len(len);
    (v, r)
}

/// `n` copies of `value` (zeros, mostly), written by this thread into memory from the
/// heap. `vec![0.0; n]` asks the allocator for zeroed memory instead, which `dip`'s
/// allocator maps afresh from 16 MiB up (`crate::alloc`): right for zeros that are only
/// read, slower for a buffer then written all over (each page faults in, cleared by the kernel).
pub fn filled<T: Clone>(n: usize, value: T) -> Vec<T> {
    let mut v = Vec::with_capacity(n);
    v.resize(n, value);
    v
}

thread_local! {
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    static SECOND_SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Run `f` with this thread's scratch buffer of at least `len` floats (its
/// contents are unspecified). The buffer lives as long as the thread, so the
/// tiles of a convolution do not allocate (and page-fault) again and again.
pub fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    scratch(&SCRATCH, len, f)
}

/// A second scratch buffer like [`with_scratch`]'s, for use inside it.
pub fn with_second_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    scratch(&SECOND_SCRATCH, len, f)
}

fn scratch<R>(
    key: &'static std::thread::LocalKey<RefCell<Vec<f32>>>,
    len: usize,
    f: impl FnOnce(&mut [f32]) -> R,
) -> R {
    key.with(|cell| {
        let mut buf = cell.borrow_mut();
        if buf.len() < len {
            buf.resize(len, 0.0);
        }
        f(&mut buf[..len])
    })
}

/// Define a function whose body is compiled twice, for the baseline CPU and with
/// AVX2 + FMA, the version being picked at run time: plain loops over `f32` then
/// vectorise 8 wide where the CPU can. Rust never fuses `a·b + c` on its own, so
/// both versions give the same bits. One type parameter is allowed (`fn f<R: Trait>(…)`),
/// whose methods should be `#[inline(always)]`.
macro_rules! simd_fn {
    ($(#[$meta:meta])* $vis:vis fn $name:ident $(<$gen:ident : $bound:path>)? ($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name $(<$gen: $bound>)? ($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn body $(<$gen: $bound>)? ($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2 $(<$gen: $bound>)? ($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU has the features `avx2` was compiled for.
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}
pub(crate) use simd_fn;

/// Partial sums in `f32` never cover more than this many terms: the sums below
/// keep [`LANES`] `f32` accumulators within a block, and add the blocks in `f64`.
pub const BLOCK: usize = 256;
/// The `f32` accumulators of a block (a multiple of any vector width).
pub const LANES: usize = 16;

/// Add the lanes of a block in a fixed order.
#[inline(always)]
pub fn lanes_total(acc: &[f32; LANES]) -> f64 {
    acc.iter().map(|&a| a as f64).sum()
}

simd_fn! {
    /// `Σ x`, accurate and deterministic (the order of the additions depends only on the length).
    pub fn sum(x: &[f32]) -> f64 {
        let mut total = 0f64;
        for block in x.chunks(BLOCK) {
            let mut acc = [0f32; LANES];
            let chunks = block.chunks_exact(LANES);
            let rest = chunks.remainder();
            for c in chunks {
                for (a, v) in acc.iter_mut().zip(c) {
                    *a += *v;
                }
            }
            total += lanes_total(&acc) + rest.iter().map(|&v| v as f64).sum::<f64>();
        }
        total
    }
}

/// The number of threads of the kernels' parallel loops.
pub fn threads() -> usize {
    rayon::current_num_threads()
}

/// Let candle's own CPU element-wise ops run on the calling thread
/// (`CANDLE_NUM_THREADS=1`, unless set already). Call it first thing, before any tensor.
///
/// The network's heavy ops are our kernels, parallel on rayon's pool. candle splits
/// its element-wise ops (the loss, the input's perturbation, the averaging, gradient
/// sums) above 64 K elements over a pool of its own whose threads spin while they wait;
/// beside rayon's threads on a 2-core machine those spins took over half of an iteration
/// at 64 × 64 (a profile of `dip bench`: `BarrierGuard::drop`). Measured side by side,
/// interleaved, with one other fit running: 0.146 → 0.061 s per iteration at 64², 0.370 →
/// 0.245 at 128², 1.18 → 0.99 at 256².
pub fn keep_candle_single_threaded() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
}

/// Make the calling thread worker 0 of rayon's global pool (which then starts one
/// thread fewer). The kernels' parallel loops, called from this thread, then run in
/// the pool as any worker's would, instead of being handed to the pool while this thread
/// sleeps until they are done: one sleep and wake-up less per loop, hundreds of them per
/// iteration. The tensors are still allocated on this thread, in glibc's main arena (the
/// other threads' arenas `mmap` every block over 64 MiB afresh, and page-fault it in:
/// running the iteration inside the pool instead cost 40 % at 512²). Measured side by
/// side, interleaved (`dip bench`, 4 × 60 iterations each): 0.0335 → 0.0296 s per
/// iteration at 64²; at 512² the same speed (1.21 and 1.19 s).
/// Call it first thing, on the main thread; an error if the pool exists already.
pub fn join_the_thread_pool() -> std::result::Result<(), rayon::ThreadPoolBuildError> {
    rayon::ThreadPoolBuilder::new()
        .use_current_thread()
        .build_global()
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
