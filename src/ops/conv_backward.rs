//! The convolution's CPU kernel, backward pass: the weight gradient `dW = Σ dy·colᵀ`,
//! the input gradient `dx = fold(Wᵀ·dy)` and the bias gradient `db = Σ dy`, by groups
//! of output rows whose partial sums are added in a fixed order; by Winograd where
//! the forward pass used it.

use rayon::prelude::*;

use super::cpu::PlaneKernel;
use super::cpu_util::{
    filled, gemm_parallelism, matmul, sum, threads, with_scratch, with_second_scratch, write_new,
    SendPtr,
};
use super::im2col::{
    col2im, col_stride, im2col, row_ranges, Geom, TileSize, GROUP_PIXELS, MAX_GROUPS,
    WINOGRAD_WEIGHT_GRAD_FROM_PIXELS,
};
use super::reflection_pad::ReflectionPad2dAdjointOp;
use super::winograd;

/// `dWᵀ += col · dyᵀ` over one tile of `t` output pixels (`=` for the first, `add`
/// false, which need not find `dWᵀ` written): `dw` points at `dWᵀ (K × Cout)`,
/// `col` is `K × t` with row stride `col_rs`, `dy_tile` is `Cout × t` with row stride `P`.
///
/// gemm reads both factors along the pixels, the contiguous direction of neither
/// `dy` nor `dWᵀ`; so `dy`'s tile is first transposed into scratch (`t × Cout`): gemm's
/// own packing of it, one float at a time down a column whose stride is a power of
/// two at the usual sizes, cost about 6 % of a 256² iteration.
///
/// # Safety
/// `dw`, `dy_tile` and `col` must point at matrices of those shapes.
unsafe fn weight_grad(
    g: &Geom,
    (dw, add): (*mut f32, bool),
    dy_tile: *const f32,
    t: usize,
    (col, col_rs): (*const f32, usize),
    par: gemm::Parallelism,
) {
    let k = g.k();
    with_second_scratch(t * g.cout, |dy_t| {
        transpose(dy_tile, g.cout, t, g.out_pixels(), dy_t.as_mut_ptr());
        matmul(
            g.cout,
            k,
            t,
            dw,
            1,
            g.cout,
            add,
            dy_t.as_ptr(),
            1,
            g.cout,
            col,
            1,
            col_rs,
            par,
        );
    });
}

/// `dst (cols × rows) = srcᵀ`, `src` being `rows × cols` with row stride `src_rs`: by
/// blocks of 8 rows × 64 columns, so that the source is read a row at a time and the
/// block's part of the destination stays in cache.
///
/// # Safety
/// `src` must point at such a matrix; `dst` at `rows · cols` writable floats.
unsafe fn transpose(src: *const f32, rows: usize, cols: usize, src_rs: usize, dst: *mut f32) {
    for r0 in (0..rows).step_by(8) {
        for c0 in (0..cols).step_by(64) {
            for r in r0..(r0 + 8).min(rows) {
                let row = std::slice::from_raw_parts(src.add(r * src_rs + c0), (cols - c0).min(64));
                for (c, &v) in (c0..).zip(row) {
                    dst.add(c * rows + r).write(v);
                }
            }
        }
    }
}

/// The input gradient of a [`Geom::winograd`] convolution, by Winograd too: the
/// "full" correlation of `dy` (zero padding 2) with each kernel turned by 180° and
/// the channels swapped gives the gradient of the padded input, whose border is then
/// folded back by reflection ([`InputGrad::finish`]); with zero padding, padding 1
/// gives `dx` itself.
fn winograd_input_grad(g: &Geom, w: &[f32], dy: &[f32]) -> InputGrad {
    let mut turned = vec![0f32; w.len()];
    for co in 0..g.cout {
        for c in 0..g.cin {
            let (src, dst) = (&w[(co * g.cin + c) * 9..][..9], (c * g.cout + co) * 9);
            for (k, &v) in src.iter().enumerate() {
                turned[dst + 8 - k] = v;
            }
        }
    }
    let tiling = TileSize::for_pixels(g.out_pixels());
    let u = tiling.transform_weights(&turned, g.cin, g.cout);
    let shape = winograd::Shape3x3 {
        cin: g.cout,
        cout: g.cin,
        h: g.ho,
        w: g.wo,
        pad: if g.reflect { 2 } else { 1 },
        reflect: false,
    };
    let zeros = vec![0f32; g.cin];
    let pout = g.out_pixels();
    // Per image, `Cin` planes of `(H + 2) × (W + 2)` (reflection) or `H × W` (zeros).
    let plane = if g.reflect {
        (g.h + 2) * (g.w + 2)
    } else {
        g.in_pixels()
    };
    // SAFETY: Winograd writes all of each image's `Cin` planes.
    let (out, ()) = unsafe {
        write_new(g.n * g.cin * plane, |p| {
            for img in 0..g.n {
                let dy = &dy[img * g.cout * pout..][..g.cout * pout];
                let p = SendPtr(p.get().add(img * g.cin * plane));
                tiling.forward(&shape, dy, &u, &zeros, p);
            }
        })
    };
    if g.reflect {
        InputGrad::Padded(out)
    } else {
        InputGrad::Ready(out)
    }
}

/// A convolution's input gradient, or that of its reflection-padded input, whose
/// border is still to be folded back (then the output gradient may be freed first).
pub(super) enum InputGrad {
    Ready(Vec<f32>),
    Padded(Vec<f32>),
}

impl InputGrad {
    /// The input gradient `dx` itself.
    pub(super) fn finish(self, g: &Geom) -> Vec<f32> {
        match self {
            InputGrad::Ready(dx) => dx,
            InputGrad::Padded(dxp) => {
                let padded = (g.h + 2) * (g.w + 2);
                let pin = g.in_pixels();
                let mut dx = filled(g.n * g.cin * pin, 0f32);
                let fold = ReflectionPad2dAdjointOp { pad: 1 };
                dx.par_chunks_mut(pin)
                    .zip(dxp.par_chunks(padded))
                    .for_each(|(d, p)| fold.plane(p, d, g.h + 2, g.w + 2));
                dx
            }
        }
    }
}

/// The gradients of one convolution (each `None` when not asked for).
pub(super) struct ConvGrads {
    pub dx: Option<InputGrad>,
    pub dw: Option<Vec<f32>>,
    pub db: Option<Vec<f32>>,
}

/// The gradients `need`ed (`dx`, `dW`, `db`) of a convolution whose output gradient is `dy`:
/// the input and weight gradients by Winograd where the forward pass used it, the rest
/// by [`conv_backward`].
pub(super) fn conv_grads(
    g: &Geom,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    (need_dx, need_dw, need_db): (bool, bool, bool),
) -> ConvGrads {
    if !g.winograd() {
        return conv_backward(g, x, w, dy, (need_dx, need_dw, need_db));
    }
    let mut grads = conv_backward(g, x, w, dy, (false, false, need_db));
    if g.out_pixels() >= WINOGRAD_WEIGHT_GRAD_FROM_PIXELS {
        grads.dw = need_dw.then(|| winograd::weight_grad(&g.winograd_shape(), g.n, x, dy));
    } else if need_dw {
        grads.dw = conv_backward(g, x, w, dy, (false, true, false)).dw;
    }
    grads.dx = need_dx.then(|| winograd_input_grad(g, w, dy));
    grads
}

// ANCHOR: conv_backward
/// `dW = Σ dy · col(x)ᵀ`, `dx = fold(Wᵀ · dy)`, `db = Σ dy`, by groups of rows.
fn conv_backward(
    g: &Geom,
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    (need_dx, need_dw, need_db): (bool, bool, bool),
) -> ConvGrads {
    let db = need_db.then(|| bias_grad(g, dy));
    if !need_dx && !need_dw {
        return ConvGrads {
            dx: None,
            dw: None,
            db,
        };
    }
    let groups = Groups::of(g, need_dx);
    // Each group's `dWᵀ`, written (not added) by its first product: no pass to clear it
    // first, which on the smallest planes cost about as much as the products.
    let dw_len = if need_dw { g.cout * g.k() } else { 0 };
    let mut partials: Vec<Vec<f32>> = groups
        .rows
        .iter()
        .map(|_| Vec::with_capacity(dw_len))
        .collect();
    let partial_ptrs: Vec<SendPtr> = partials
        .iter_mut()
        .map(|p| SendPtr(p.as_mut_ptr()))
        .collect();
    let mut dx = need_dx.then(|| filled(g.n * g.cin * g.in_pixels(), 0f32));
    for img in 0..g.n {
        let image = OneImage {
            g,
            img,
            x: &x[img * g.cin * g.in_pixels()..][..g.cin * g.in_pixels()],
            w,
            dy: &dy[img * g.cout * g.out_pixels()..][..g.cout * g.out_pixels()],
            dx: dx
                .as_mut()
                .map(|d| SendPtr(d[img * g.cin * g.in_pixels()..].as_mut_ptr())),
            need_dw,
        };
        groups.run(&partial_ptrs, |rows, dw, par| image.group(rows, dw, par));
    }
    for p in &mut partials {
        // SAFETY: with `need_dw`, each group's first product wrote all of its `dWᵀ`.
        unsafe { p.set_len(dw_len) };
    }
    ConvGrads {
        dx: dx.map(InputGrad::Ready),
        dw: need_dw.then(|| weight_grad_of_partials(g, partials)),
        db,
    }
}
// ANCHOR_END: conv_backward

/// `db = Σ dy` over the images and pixels, per output channel.
fn bias_grad(g: &Geom, dy: &[f32]) -> Vec<f32> {
    let pout = g.out_pixels();
    (0..g.cout)
        .into_par_iter()
        .map(|co| {
            (0..g.n)
                .map(|img| sum(&dy[(img * g.cout + co) * pout..][..pout]))
                .sum::<f64>() as f32
        })
        .collect()
}

/// The groups of output rows of the backward pass, each with its partial weight gradient.
struct Groups {
    rows: Vec<(usize, usize)>,
    /// 2 where neighbouring groups' input gradients overlap: the even groups run
    /// first, then the odd ones, so that no two threads add to the same pixel.
    phases: usize,
}

impl Groups {
    fn of(g: &Geom, need_dx: bool) -> Self {
        // A group between two others must cover all the input rows where they could
        // meet: at least ⌈kh / s⌉ output rows.
        let min_rows = if g.pointwise() {
            1
        } else {
            g.kh.div_ceil(g.stride)
        };
        let count = (g.out_pixels() / GROUP_PIXELS).clamp(1, MAX_GROUPS);
        let rows = row_ranges(g.ho, g.ho.div_ceil(count).max(min_rows));
        let overlap = need_dx && !g.pointwise() && rows.len() > 1;
        Self {
            phases: if overlap { 2 } else { 1 },
            rows,
        }
    }

    /// `group(rows, its partial dWᵀ, gemm's parallelism)` for every group: in parallel
    /// (phase by phase) where there are several and threads, else one after the other
    /// with gemm's own threads.
    fn run(
        &self,
        partials: &[SendPtr],
        group: impl Fn((usize, usize), SendPtr, gemm::Parallelism) + Sync,
    ) {
        if self.rows.len() == 1 || threads() == 1 {
            for (&r, &dw) in self.rows.iter().zip(partials) {
                group(r, dw, gemm_parallelism());
            }
            return;
        }
        for phase in 0..self.phases {
            self.rows
                .par_iter()
                .zip(partials.par_iter())
                .enumerate()
                .filter(|(i, _)| i % self.phases == phase)
                .for_each(|(_, (&r, &dw))| group(r, dw, gemm::Parallelism::None));
        }
    }
}

/// One image of the backward pass: its input, output gradient and input gradient.
struct OneImage<'a> {
    g: &'a Geom,
    img: usize,
    x: &'a [f32],
    w: &'a [f32],
    dy: &'a [f32],
    dx: Option<SendPtr>,
    need_dw: bool,
}

impl OneImage<'_> {
    /// The output rows `r0..r1`, tile by tile: their share of `dWᵀ` into the group's
    /// partial `dw` (written by the group's first product), and their input gradient.
    fn group(&self, (r0, r1): (usize, usize), dw: SendPtr, par: gemm::Parallelism) {
        for (t0, t1) in row_ranges(r1 - r0, self.g.tile_rows()) {
            let tile = (r0 + t0, r0 + t1);
            let first = self.img == 0 && tile.0 == r0;
            // SAFETY: the matrices lie inside their buffers; the phases keep threads
            // off each other's input rows.
            unsafe { self.tile(tile, (dw.get(), !first), par) };
        }
    }

    /// One tile of output rows `t0..t1`.
    ///
    /// # Safety
    /// `dw` points at the group's `dWᵀ`; no other thread writes this tile's input rows.
    unsafe fn tile(&self, (t0, t1): (usize, usize), dw: (*mut f32, bool), par: gemm::Parallelism) {
        let g = self.g;
        let (k, pin, pout) = (g.k(), g.in_pixels(), g.out_pixels());
        let t = (t1 - t0) * g.wo;
        let dy_tile = self.dy.as_ptr().add(t0 * g.wo);
        // dcol (K × t) = Wᵀ · dy_tile, into `dst` with row stride `rs`.
        let input_grad = |dst: *mut f32, rs: usize| {
            matmul(
                k,
                t,
                g.cout,
                dst,
                rs,
                1,
                false,
                self.w.as_ptr(),
                1,
                k,
                dy_tile,
                pout,
                1,
                par,
            )
        };
        if g.pointwise() {
            // `col` is the input itself, and `dcol` the input gradient.
            let x_tile = self.x.as_ptr().add(t0 * g.wo);
            if self.need_dw {
                weight_grad(g, dw, dy_tile, t, (x_tile, pin), par);
            }
            if let Some(dx) = self.dx {
                input_grad(dx.get().add(t0 * g.wo), pin);
            }
            return;
        }
        with_scratch(k * col_stride(t), |col| {
            if self.need_dw {
                im2col(g, self.x, (t0, t1), col, par);
                weight_grad(g, dw, dy_tile, t, (col.as_ptr(), col_stride(t)), par);
            }
            if let Some(dx) = self.dx {
                input_grad(col.as_mut_ptr(), col_stride(t));
                col2im(g, col, (t0, t1), dx, par);
            }
        });
    }
}

/// `dW (Cout × K)` from the groups' partial `dWᵀ (K × Cout)`, added in a fixed order.
fn weight_grad_of_partials(g: &Geom, partials: Vec<Vec<f32>>) -> Vec<f32> {
    let k = g.k();
    let mut parts = partials.into_iter();
    let mut total = parts.next().unwrap_or_default();
    for part in parts {
        for (t, p) in total.iter_mut().zip(&part) {
            *t += *p;
        }
    }
    // SAFETY: `total` is `K × Cout`, and its transpose fills `dw`.
    unsafe {
        write_new(g.cout * k, |dw| {
            transpose(total.as_ptr(), k, g.cout, g.cout, dw.get())
        })
        .0
    }
}
