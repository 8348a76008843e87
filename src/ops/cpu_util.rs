//! Small helpers shared by the CPU kernels of the convolution and batch norm:
//! reading a tensor's `f32` data, per-thread scratch buffers, a pointer that may
//! cross threads, and sums that are both accurate and deterministic.

use std::cell::RefCell;
use std::sync::OnceLock;

use rayon::prelude::*;

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
    static SCRATCH: ScratchStack = const { ScratchStack::new() };
    static SECOND_SCRATCH: ScratchStack = const { ScratchStack::new() };
}

/// Run `f` with a scratch buffer of at least `len` floats from this thread's stack of
/// them (its contents are unspecified). The buffers live as long as the thread, so the
/// tiles of a convolution do not allocate (and page-fault) again and again.
///
/// Safe under re-entry: `f` may run rayon work, and while this thread waits for it
/// rayon may hand it another task that asks for scratch too; that task gets a buffer
/// of its own (the stack's next, or a new one), never the one `f` is using.
pub fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SCRATCH.with(|stack| stack.lend(len, f))
}

/// A second scratch buffer like [`with_scratch`]'s, for use inside it (kept apart so
/// that each call site's buffers keep the size it asks for).
pub fn with_second_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SECOND_SCRATCH.with(|stack| stack.lend(len, f))
}

/// A thread's idle scratch buffers. A buffer is taken off the stack for the length of
/// one borrower's closure and pushed back after it; the `RefCell` is borrowed only to
/// pop and to push, never while the closure runs, so a nested borrower on the same
/// thread finds it free.
pub struct ScratchStack(RefCell<Vec<Vec<f32>>>);

impl ScratchStack {
    pub const fn new() -> Self {
        Self(RefCell::new(Vec::new()))
    }

    /// Run `f` on a buffer of `len` floats taken from the stack (grown if it is too short).
    pub fn lend<R>(&self, len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
        let mut buf = self.0.borrow_mut().pop().unwrap_or_default();
        if buf.len() < len {
            buf.resize(len, 0.0);
        }
        let result = f(&mut buf[..len]);
        // A panic in `f` drops the buffer instead: the stack stays consistent.
        self.0.borrow_mut().push(buf);
        result
    }

    /// How many buffers are idle on the stack (for the tests).
    pub fn idle(&self) -> usize {
        self.0.borrow().len()
    }
}

impl Default for ScratchStack {
    fn default() -> Self {
        Self::new()
    }
}

/// What an op's forward pass leaves for its backward pass: written once, by the
/// forward pass, then read without a lock. (A lock held through the backward pass's
/// parallel work could be asked for again, on the same thread, by a task that rayon
/// runs there while the thread waits.)
pub struct Stash<T>(OnceLock<T>);

impl<T> Stash<T> {
    pub const fn new() -> Self {
        Self(OnceLock::new())
    }

    /// Keep `value` (an op instance runs its forward pass once).
    pub fn keep(&self, value: T, what: &str) -> Result<()> {
        self.0
            .set(value)
            .map_err(|_| candle_core::Error::Msg(format!("{what}: forward pass run twice")))
    }

    /// What the forward pass kept, if it ran (on the CPU).
    pub fn get(&self) -> Option<&T> {
        self.0.get()
    }

    /// What the forward pass kept, or an error naming the op.
    pub fn expect(&self, what: &str) -> Result<&T> {
        self.get()
            .ok_or_else(|| candle_core::Error::Msg(format!("{what}: no forward pass on the CPU")))
    }
}

impl<T> Default for Stash<T> {
    fn default() -> Self {
        Self::new()
    }
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
/// at 64 × 64 (a profile of `dip bench`: `BarrierGuard::drop`), and 15 to 60 % of one
/// at the other sizes.
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
/// running the iteration inside the pool instead cost 40 % at 512²). The wake-ups saved
/// are about a tenth of an iteration at 64²; at 512² they do not show.
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
    if m <= 1 || n <= 1 || (m * n <= GEMM_LANE_SUMS_UP_TO && lhs_cs == 1 && rhs_rs == 1) {
        let (dst, lhs, rhs) = (
            Strided::new(dst, dst_rs, dst_cs),
            Strided::new(lhs.cast_mut(), lhs_rs, lhs_cs),
            Strided::new(rhs.cast_mut(), rhs_rs, rhs_cs),
        );
        let parallel = !matches!(parallelism, gemm::Parallelism::None);
        return fixed_order_matmul((m, n, k), dst, accumulate, lhs, rhs, parallel);
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

/// gemm has kernels of its own for a single row or column of outputs, and for products
/// of at most this many outputs whose two factors both lie along the depth; some of them
/// sum with one accumulator per lane of the CPU's vectors (8 with AVX2, 16 with
/// AVX-512), so the last bits of their sums differ from one machine to another. Its
/// other kernels add along the depth in one order on every machine. Such products (a
/// grey image's one output channel and its gradients, mostly) go to
/// [`fixed_order_matmul`] instead, so that a run gives the same bits everywhere.
const GEMM_LANE_SUMS_UP_TO: usize = 16 * 16;

/// A matrix by its first element and its row and column strides (in elements).
#[derive(Clone, Copy)]
struct Strided {
    at: SendPtr,
    rs: usize,
    cs: usize,
}

impl Strided {
    fn new(at: *mut f32, rs: usize, cs: usize) -> Self {
        Self {
            at: SendPtr(at),
            rs,
            cs,
        }
    }

    /// The element `(i, j)`.
    ///
    /// # Safety
    /// `(i, j)` must lie inside the matrix.
    #[inline(always)]
    unsafe fn at(self, i: usize, j: usize) -> *mut f32 {
        self.at.get().add(i * self.rs + j * self.cs)
    }
}

/// `dst (m×n) (+)= lhs (m×k) · rhs (k×n)` with each output's sum over the depth in an
/// order fixed by the code alone, whatever the CPU: [`dot`]'s blocks where both factors
/// are contiguous along the depth, else one running sum (vectorised across outputs).
///
/// # Safety
/// As [`matmul`]'s.
unsafe fn fixed_order_matmul(
    (m, n, k): (usize, usize, usize),
    dst: Strided,
    accumulate: bool,
    lhs: Strided,
    rhs: Strided,
    parallel: bool,
) {
    let store = |i: usize, j: usize, value: f32| {
        // SAFETY: `(i, j)` is an output of the product; each is written by one task.
        let d = unsafe { dst.at(i, j) };
        unsafe { *d = if accumulate { *d + value } else { value } };
    };
    let parallel = parallel && m * n * k >= 1 << 18;
    if lhs.cs == 1 && rhs.rs == 1 {
        let output = |o: usize| {
            let (i, j) = (o / n, o % n);
            // SAFETY: row `i` of `lhs` and column `j` of `rhs` have `k` contiguous floats.
            let (a, b) = unsafe {
                (
                    std::slice::from_raw_parts(lhs.at(i, 0), k),
                    std::slice::from_raw_parts(rhs.at(0, j), k),
                )
            };
            store(i, j, dot(a, b) as f32);
        };
        if parallel {
            (0..m * n).into_par_iter().for_each(output);
        } else {
            (0..m * n).for_each(output);
        }
        return;
    }
    // Row `i` of the output, columns `j0..j1`: running sums over the depth.
    let row_part = |(i, j0, j1): (usize, usize, usize)| {
        let mut sums = vec![0f32; j1 - j0];
        for depth in 0..k {
            // SAFETY: inside `lhs` and `rhs`.
            let a = unsafe { *lhs.at(i, depth) };
            for (j, s) in (j0..j1).zip(sums.iter_mut()) {
                *s += a * unsafe { *rhs.at(depth, j) };
            }
        }
        for (j, s) in (j0..j1).zip(sums) {
            store(i, j, s);
        }
    };
    const COLUMNS: usize = 4096;
    let parts: Vec<(usize, usize, usize)> = (0..m)
        .flat_map(|i| {
            (0..n)
                .step_by(COLUMNS)
                .map(move |j0| (i, j0, (j0 + COLUMNS).min(n)))
        })
        .collect();
    if parallel {
        parts.into_par_iter().for_each(row_part);
    } else {
        parts.into_iter().for_each(row_part);
    }
}

simd_fn! {
    /// `Σ a·b` in blocks of [`BLOCK`] terms over [`LANES`] partial sums, the blocks added
    /// in `f64`: an order of additions that depends on the length alone.
    pub fn dot(a: &[f32], b: &[f32]) -> f64 {
        let mut total = 0f64;
        for (a, b) in a.chunks(BLOCK).zip(b.chunks(BLOCK)) {
            let mut acc = [0f32; LANES];
            let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
            let rest: f64 = ca
                .remainder()
                .iter()
                .zip(cb.remainder())
                .map(|(&x, &y)| (x * y) as f64)
                .sum();
            for (x, y) in ca.zip(cb) {
                for ((s, &x), &y) in acc.iter_mut().zip(x).zip(y) {
                    *s += x * y;
                }
            }
            total += lanes_total(&acc) + rest;
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pattern that crashed `--jobs`: a task holding the scratch buffer runs
    /// parallel work, and its thread, waiting, runs a task that takes scratch again.
    /// In a one-thread pool `join` runs both halves on the holder's thread, so the
    /// nesting happens on every run, not by chance. The nested borrower gets a buffer
    /// of its own and the holder's contents are untouched.
    #[test]
    fn scratch_is_safe_under_reentry_from_rayon_work() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        pool.install(|| {
            with_scratch(64, |outer| {
                outer.fill(1.0);
                let (a, b) = rayon::join(
                    || with_scratch(32, |inner| inner.fill(2.0)),
                    || {
                        with_scratch(128, |inner| {
                            inner.fill(3.0);
                            with_second_scratch(16, |second| second.fill(4.0));
                            inner.iter().sum::<f32>()
                        })
                    },
                );
                assert_eq!((a, b), ((), 384.0));
                assert!(
                    outer.iter().all(|&v| v == 1.0),
                    "the holder's buffer was lent again"
                );
            });
        });
    }

    /// After a nested borrow, both buffers are back on the thread's stack, to be reused.
    #[test]
    fn nested_borrowers_return_their_buffers() {
        let stack = ScratchStack::new();
        stack.lend(4, |_| stack.lend(4, |_| assert_eq!(stack.idle(), 0)));
        assert_eq!(stack.idle(), 2);
    }

    /// Without nesting, one buffer serves every call, grown to the longest length asked.
    #[test]
    fn one_buffer_serves_calls_in_turn() {
        let stack = ScratchStack::new();
        for len in [10, 1000, 10] {
            stack.lend(len, |b| assert_eq!(b.len(), len));
        }
        assert_eq!(stack.idle(), 1);
        stack.lend(1000, |b| b.fill(0.5));
        assert_eq!(stack.0.borrow()[0].len(), 1000);
    }

    /// A panic inside the closure leaves the stack usable (the buffer is dropped).
    #[test]
    fn a_panicking_borrower_leaves_the_stack_usable() {
        let stack = ScratchStack::new();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            stack.lend(8, |_| panic!("inside"));
        }));
        assert!(caught.is_err());
        assert_eq!(stack.idle(), 0);
        assert_eq!(stack.lend(8, |b| b.len()), 8);
    }

    /// The products gemm would sum lane by lane: against a sum in `f64`, for both of
    /// `fixed_order_matmul`'s forms, with and without accumulating, in parallel or not
    /// (the same bits either way).
    #[test]
    fn small_products_match_their_definition() {
        let value = |i: usize| ((i * 7919 % 1000) as f32 - 500.0) / 300.0;
        // (m, n, k, lhs contiguous along the depth, rhs contiguous along the depth)
        for (m, n, k, lhs_along, rhs_along) in [
            (1, 128, 4100, true, true),
            (1, 5000, 128, true, false),
            (7, 1, 300, false, true),
            (12, 20, 700, true, true),
            (3, 9, 1000, false, false),
        ] {
            let a: Vec<f32> = (0..m * k).map(value).collect();
            let b: Vec<f32> = (0..k * n).map(|i| value(i + 13)).collect();
            // Row-major unless contiguous along the depth is asked for.
            let (a_rs, a_cs) = if lhs_along { (k, 1) } else { (1, m) };
            let (b_rs, b_cs) = if rhs_along { (1, k) } else { (n, 1) };
            let want = |i: usize, j: usize| -> f64 {
                (0..k)
                    .map(|d| a[i * a_rs + d * a_cs] as f64 * b[d * b_rs + j * b_cs] as f64)
                    .sum()
            };
            let mut runs = Vec::new();
            for parallel in [false, true] {
                for accumulate in [false, true] {
                    let mut c = vec![1f32; m * n];
                    let par = if parallel {
                        gemm::Parallelism::Rayon(2)
                    } else {
                        gemm::Parallelism::None
                    };
                    // SAFETY: the three matrices as described.
                    unsafe {
                        matmul(
                            m,
                            n,
                            k,
                            c.as_mut_ptr(),
                            n,
                            1,
                            accumulate,
                            a.as_ptr(),
                            a_rs,
                            a_cs,
                            b.as_ptr(),
                            b_rs,
                            b_cs,
                            par,
                        )
                    };
                    for i in 0..m {
                        for j in 0..n {
                            let w = want(i, j) + if accumulate { 1.0 } else { 0.0 };
                            let got = c[i * n + j] as f64;
                            assert!(
                                (got - w).abs() <= 1e-4 * (1.0 + w.abs()),
                                "{m}×{n}×{k}: {got} vs {w}"
                            );
                        }
                    }
                    runs.push(c);
                }
            }
            assert_eq!(
                runs[0], runs[2],
                "{m}×{n}×{k}: parallel or not, the same bits"
            );
            assert_eq!(runs[1], runs[3]);
        }
    }
}
