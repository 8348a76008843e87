//! The 3 × 3 convolution with stride 1 and padding 1 by Winograd's minimal filtering
//! F(2 × 2, 3 × 3) (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks",
//! CVPR 2016): each 2 × 2 block of outputs comes from a 4 × 4 tile of the padded input
//! with 16 multiplications per channel pair instead of 36,
//!
//! ```text
//! Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A
//! ```
//!
//! where `d` is the tile, `g` the kernel, `⊙` the element-wise product, summed over the
//! input channels. Summed over the channels, each of the 16 positions `(ξ, ν)` of the
//! transformed tile is a matrix product, `M_ξν (Cout × T) = U_ξν (Cout × Cin) · V_ξν (Cin × T)`
//! over `T` tiles: the multiplications go to gemm as in the im2col form, 2.25 times fewer.
//!
//! The convolution uses it for its output and its input gradient, and on large planes for
//! its weight gradient ([`weight_grad`]): the gradient of `U` is a sum over the tiles of
//! the transformed output gradient against the transformed input, 16 products again.

use rayon::prelude::*;

use super::cpu_util::{matmul, with_scratch, with_second_scratch, SendPtr};

/// Tiles per block: a block's transformed input `16 · Cin · T` floats stays near the L2 cache.
const TILES_PER_BLOCK: usize = 256;

/// At least this many blocks per image where it has the tile rows: one per thread of
/// this machine's two (at 32², 2 blocks of 128 tiles instead of 4 of 64 took 64²'s
/// iteration from 0.0251 to 0.0247 s; larger blocks keep gemm's products longer).
const MIN_BLOCKS: usize = 2;

/// The transformed kernels `U = G g Gᵀ`, laid out `u[co][ξν][c]` (so that each output
/// channel's are made in parallel), with `G = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]]`.
pub fn transform_weights(w: &[f32], cout: usize, cin: usize) -> Vec<f32> {
    let mut u = vec![0f32; 16 * cout * cin];
    let g_rows = |a: f32, b: f32, c: f32| [a, 0.5 * (a + b + c), 0.5 * (a - b + c), c];
    u.par_chunks_mut(16 * cin).enumerate().for_each(|(co, u)| {
        for c in 0..cin {
            let g = &w[(co * cin + c) * 9..][..9];
            // G g (4 × 3), column by column.
            let cols: [[f32; 4]; 3] = std::array::from_fn(|j| g_rows(g[j], g[3 + j], g[6 + j]));
            for i in 0..4 {
                // (G g) Gᵀ: row i of G g times Gᵀ.
                let row = g_rows(cols[0][i], cols[1][i], cols[2][i]);
                for (k, &v) in row.iter().enumerate() {
                    u[(i * 4 + k) * cin + c] = v;
                }
            }
        }
    });
    u
}

/// One image's geometry: `Cin × H × W` in, padded by `pad` on every side, `Cout × Ho × Wo`
/// out with `Ho = H + 2·pad − 2`: padding 1 keeps the size (the network's convolutions),
/// padding 2 with zeros gives the "full" correlation (their input gradient).
#[derive(Clone, Copy, Debug)]
pub struct Shape3x3 {
    pub cin: usize,
    pub cout: usize,
    pub h: usize,
    pub w: usize,
    pub pad: usize,
    /// Mirror the border (PyTorch's `ReflectionPad2d`, padding 1) instead of zeros.
    pub reflect: bool,
}

impl Shape3x3 {
    pub(super) fn out_hw(&self) -> (usize, usize) {
        (self.h + 2 * self.pad - 2, self.w + 2 * self.pad - 2)
    }

    /// Tile rows and columns: `⌈Ho/2⌉ × ⌈Wo/2⌉`.
    fn tiles(&self) -> (usize, usize) {
        let (ho, wo) = self.out_hw();
        (ho.div_ceil(2), wo.div_ceil(2))
    }

    /// The input index under padded index `q` of an axis of length `n` (`None`: a zero,
    /// also past the end, where the last tile of an odd size reaches).
    pub(super) fn unpad(&self, q: usize, n: usize) -> Option<usize> {
        super::reflection_pad::source_index(q, n, self.pad, self.reflect)
    }
}

/// One padded input row at a time, `width` floats (the image's row, its border, and
/// zeros past the end), for the input transforms of both tilings.
pub(super) struct PaddedRow {
    /// The padded columns outside the image: (padded index, input index or zero).
    borders: Vec<(usize, Option<usize>)>,
    row: Vec<f32>,
}

impl PaddedRow {
    pub(super) fn new(s: &Shape3x3, width: usize) -> Self {
        let borders = (0..width)
            .filter(|&q| q < s.pad || q >= s.pad + s.w)
            .map(|q| (q, s.unpad(q, s.w)))
            .collect();
        Self {
            borders,
            row: vec![0f32; width],
        }
    }

    /// Row `ir` of `plane` (`H × W`), padded.
    pub(super) fn of(&mut self, s: &Shape3x3, plane: &[f32], ir: usize) -> &[f32] {
        let src = &plane[ir * s.w..][..s.w];
        self.row[s.pad..s.pad + s.w].copy_from_slice(src);
        for &(q, i) in &self.borders {
            self.row[q] = i.map_or(0.0, |i| src[i]);
        }
        &self.row
    }
}

/// `V_ξν` of tile rows `ty0..ty1` of one image: `v[ξν][c][t]`, `t = (ty − ty0)·tw + tx`.
/// Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]], on the rows of the
/// tile and then on its columns. The padded rows are split into even and odd columns,
/// so that every loop over the tiles of a row reads consecutive floats.
fn transform_input(s: &Shape3x3, x: &[f32], (ty0, ty1): (usize, usize), v: &mut [f32]) {
    let tw = s.tiles().1;
    let t_all = (ty1 - ty0) * tw;
    let n = tw + 1;
    let mut padded = PaddedRow::new(s, 2 * n);
    // Even and odd columns of the 4 padded rows, then of their 4 combinations.
    let mut rows = vec![0f32; 8 * n];
    let mut sums = vec![0f32; 8 * n];
    for c in 0..s.cin {
        let plane = &x[c * s.h * s.w..][..s.h * s.w];
        for ty in ty0..ty1 {
            for r in 0..4 {
                let (even, odd) = rows[2 * r * n..][..2 * n].split_at_mut(n);
                match s.unpad(2 * ty + r, s.h) {
                    Some(ir) => {
                        let padded = padded.of(s, plane, ir);
                        for ((e, o), pair) in even
                            .iter_mut()
                            .zip(odd.iter_mut())
                            .zip(padded.chunks_exact(2))
                        {
                            *e = pair[0];
                            *o = pair[1];
                        }
                    }
                    None => {
                        even.fill(0.0);
                        odd.fill(0.0);
                    }
                }
            }
            // Bᵀ d: row combinations, on even and odd columns alike.
            let row = |r: usize| &rows[r * n..][..n];
            for half in 0..2 {
                let (d0, d1, d2, d3) = (row(half), row(2 + half), row(4 + half), row(6 + half));
                for k in 0..n {
                    sums[half * n + k] = d0[k] - d2[k];
                    sums[(2 + half) * n + k] = d1[k] + d2[k];
                    sums[(4 + half) * n + k] = d2[k] - d1[k];
                    sums[(6 + half) * n + k] = d1[k] - d3[k];
                }
            }
            // (Bᵀ d) B: column combinations, tile by tile.
            let t0 = (ty - ty0) * tw;
            for i in 0..4 {
                let (e, o) = (&sums[2 * i * n..][..n], &sums[(2 * i + 1) * n..][..n]);
                let out = |j: usize| ((i * 4 + j) * s.cin + c) * t_all + t0;
                let (o0, o1, o2, o3) = (out(0), out(1), out(2), out(3));
                for tx in 0..tw {
                    v[o0 + tx] = e[tx] - e[tx + 1];
                    v[o1 + tx] = o[tx] + e[tx + 1];
                    v[o2 + tx] = e[tx + 1] - o[tx];
                    v[o3 + tx] = o[tx] - o[tx + 1];
                }
            }
        }
    }
}

/// `Y = Aᵀ M A + b` for tile rows `ty0..ty1`, with `Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]]`,
/// written into the image `y (Cout × Ho × Wo)`.
///
/// # Safety
/// `y` must point at the image's output; no other thread may write those rows.
unsafe fn transform_output(
    s: &Shape3x3,
    m: &[f32],
    b: &[f32],
    (ty0, ty1): (usize, usize),
    y: SendPtr,
) {
    let tw = s.tiles().1;
    let t_all = (ty1 - ty0) * tw;
    // Aᵀ m: the column sums of the top and bottom output rows, for each of the 4 columns.
    let mut top = vec![0f32; 4 * tw];
    let mut bottom = vec![0f32; 4 * tw];
    let mut rows = vec![0f32; 2 * 2 * tw];
    for co in 0..s.cout {
        for ty in ty0..ty1 {
            let t0 = (ty - ty0) * tw;
            let at = |i: usize, j: usize| &m[((i * 4 + j) * s.cout + co) * t_all + t0..][..tw];
            for j in 0..4 {
                let (m0, m1, m2, m3) = (at(0, j), at(1, j), at(2, j), at(3, j));
                let (up, down) = (&mut top[j * tw..][..tw], &mut bottom[j * tw..][..tw]);
                for tx in 0..tw {
                    up[tx] = m0[tx] + m1[tx] + m2[tx];
                    down[tx] = m1[tx] - m2[tx] - m3[tx];
                }
            }
            // (Aᵀ m) A: two outputs per tile and row, interleaved, plus the bias.
            let (row_top, row_bottom) = rows.split_at_mut(2 * tw);
            for (sums, row) in [(&top, row_top), (&bottom, row_bottom)] {
                let (c0, c1, c2, c3) = (
                    &sums[..tw],
                    &sums[tw..2 * tw],
                    &sums[2 * tw..3 * tw],
                    &sums[3 * tw..],
                );
                for (tx, pair) in row.chunks_exact_mut(2).enumerate() {
                    pair[0] = c0[tx] + c1[tx] + c2[tx] + b[co];
                    pair[1] = c1[tx] - c2[tx] - c3[tx] + b[co];
                }
            }
            let (top_row, bottom_row) = rows.split_at(2 * tw);
            let (ho, wo) = s.out_hw();
            for (dy, row) in [top_row, bottom_row].into_iter().enumerate() {
                let oy = 2 * ty + dy;
                if oy < ho {
                    // SAFETY: row `oy` of channel `co` lies inside `y`, and is this block's.
                    let out = unsafe {
                        std::slice::from_raw_parts_mut(y.get().add((co * ho + oy) * wo), wo)
                    };
                    out.copy_from_slice(&row[..wo]);
                }
            }
        }
    }
}

/// One of Winograd's tilings F(m × m, 3 × 3) of the 3 × 3 convolution: this module's
/// F(2 × 2, 3 × 3) ([`F2`]) or [`super::winograd4`]'s F(4 × 4, 3 × 3). [`forward`] runs either.
pub trait Tiling {
    /// Outputs per side of a tile, `m`; its transformed tile has `(m + 2)²` positions.
    const OUT: usize;
    const POSITIONS: usize = (Self::OUT + 2) * (Self::OUT + 2);
    /// Tiles per block: a block's transformed input, `POSITIONS · Cin · T` floats, stays
    /// near the L2 cache.
    const TILES_PER_BLOCK: usize;
    /// At least this many blocks per image where it has the tile rows.
    const MIN_BLOCKS: usize;
    /// The transformed kernels `U = G g Gᵀ`, laid out `u[co][ξν][c]`.
    fn transform_weights(w: &[f32], cout: usize, cin: usize) -> Vec<f32>;
    /// `V_ξν` of tile rows `ty0..ty1` of one image, laid out `v[ξν][c][t]`.
    fn transform_input(s: &Shape3x3, x: &[f32], rows: (usize, usize), v: &mut [f32]);
    /// `Y = Aᵀ M A + b` for tile rows `ty0..ty1`, from `m[ξν][co][t]`, written into `y`.
    ///
    /// # Safety
    /// `y` must point at the image's output; no other thread may write those rows.
    unsafe fn transform_output(
        s: &Shape3x3,
        m: &[f32],
        b: &[f32],
        rows: (usize, usize),
        y: SendPtr,
    );
}

/// `impl Tiling for $tiling` by the functions of the module it is used in
/// (`transform_weights`, `transform_input`, `transform_output`, `TILES_PER_BLOCK`,
/// `MIN_BLOCKS`), for outputs of `$out × $out`.
macro_rules! tiling_of_this_module {
    ($tiling:ident, $out:literal) => {
        impl Tiling for $tiling {
            const OUT: usize = $out;
            const TILES_PER_BLOCK: usize = TILES_PER_BLOCK;
            const MIN_BLOCKS: usize = MIN_BLOCKS;
            fn transform_weights(w: &[f32], cout: usize, cin: usize) -> Vec<f32> {
                transform_weights(w, cout, cin)
            }
            fn transform_input(s: &Shape3x3, x: &[f32], rows: (usize, usize), v: &mut [f32]) {
                transform_input(s, x, rows, v)
            }
            unsafe fn transform_output(
                s: &Shape3x3,
                m: &[f32],
                b: &[f32],
                rows: (usize, usize),
                y: SendPtr,
            ) {
                // SAFETY: the caller's `y`.
                unsafe { transform_output(s, m, b, rows, y) }
            }
        }
    };
}
pub(super) use tiling_of_this_module;

/// F(2 × 2, 3 × 3), this module's tiling.
pub struct F2;

tiling_of_this_module!(F2, 2);

/// `y = conv3x3(pad(x)) + b` for one image by the tiling `T`, `u` being its
/// `transform_weights` of the kernel.
///
/// # Safety
/// `y` must point at `Cout · Ho · Wo` writable floats, which this writes in full.
pub unsafe fn forward<T: Tiling>(s: &Shape3x3, x: &[f32], u: &[f32], b: &[f32], y: SendPtr) {
    let (ho, wo) = s.out_hw();
    let (th, tw) = (ho.div_ceil(T::OUT), wo.div_ceil(T::OUT));
    let positions = T::POSITIONS;
    // Blocks of about TILES_PER_BLOCK tiles, and at least MIN_BLOCKS of them where the
    // image has the rows, so that small layers keep both threads busy (each tile's
    // outputs are the same whatever the blocks).
    let rows_per_block = (T::TILES_PER_BLOCK / tw).clamp(1, th.div_ceil(T::MIN_BLOCKS).max(1));
    let blocks: Vec<(usize, usize)> = (0..th)
        .step_by(rows_per_block)
        .map(|r| (r, (r + rows_per_block).min(th)))
        .collect();
    blocks.par_iter().for_each(|&(ty0, ty1)| {
        let t = (ty1 - ty0) * tw;
        with_scratch(positions * s.cin * t, |v| {
            T::transform_input(s, x, (ty0, ty1), v);
            with_second_scratch(positions * s.cout * t, |m| {
                for k in 0..positions {
                    // SAFETY: the three matrices lie inside `m`, `u` and `v`.
                    unsafe {
                        matmul(
                            s.cout,
                            t,
                            s.cin,
                            m[k * s.cout * t..].as_mut_ptr(),
                            t,
                            1,
                            false,
                            u[k * s.cin..].as_ptr(),
                            positions * s.cin,
                            1,
                            v[k * s.cin * t..].as_ptr(),
                            t,
                            1,
                            gemm::Parallelism::None,
                        );
                    }
                }
                // SAFETY: the caller's `y`; this block writes its own rows.
                unsafe { T::transform_output(s, m, b, (ty0, ty1), y) };
            });
        });
    });
}

// ANCHOR: winograd_weight_grad
/// Groups of tile rows for the weight gradient, each summing its own partial gradient
/// (a number of the shape alone, so that results do not depend on the threads): at most
/// this many, and at least [`GROUP_TILES`] tiles in each. A small layer is one group,
/// whose products gemm splits between the threads instead: with a partial sum per few
/// tiles, clearing and adding the partials (`16·Cin·Cout` floats each) took longer than
/// the products.
const MAX_GROUPS: usize = 8;
const GROUP_TILES: usize = 512;

/// `M̄ = A dY Aᵀ` for tile rows `ty0..ty1` of one image's output gradient `dy (Cout × Ho × Wo)`:
/// the gradient of the transformed products `M` of [`forward`], laid out like them,
/// `m̄[ξν][co][t]`. A tile's 2 × 2 gradient `[[a, b], [c, d]]` (zero past the output's
/// edge) becomes the rows `[a, b], [a + c, b + d], [a − c, b − d], [−c, −d]` (`A dY`),
/// each row `[p, q]` then `[p, p + q, p − q, −q]`. The output rows are split into even
/// and odd columns first, so that every loop over a row's tiles reads consecutive floats.
fn transform_output_grad(s: &Shape3x3, dy: &[f32], (ty0, ty1): (usize, usize), mbar: &mut [f32]) {
    let tw = s.tiles().1;
    let t_all = (ty1 - ty0) * tw;
    let (ho, wo) = s.out_hw();
    // The even and odd columns of a tile's top and bottom rows (a, b, c, d), then the
    // rows of `A dY` (p and q of each), every one a vector over the row's tiles.
    let mut cols = vec![0f32; 4 * tw];
    let mut pq = vec![0f32; 8 * tw];
    for co in 0..s.cout {
        let plane = &dy[co * ho * wo..][..ho * wo];
        for ty in ty0..ty1 {
            for (half, i) in [2 * ty, 2 * ty + 1].into_iter().enumerate() {
                let (even, odd) = cols[2 * half * tw..][..2 * tw].split_at_mut(tw);
                even.fill(0.0);
                odd.fill(0.0);
                if i < ho {
                    let row = &plane[i * wo..][..wo];
                    let pairs = row.chunks_exact(2);
                    if let [last] = pairs.remainder() {
                        even[wo / 2] = *last;
                    }
                    for ((e, o), pair) in even.iter_mut().zip(odd.iter_mut()).zip(pairs) {
                        *e = pair[0];
                        *o = pair[1];
                    }
                }
            }
            let (a, b, c, d) = (
                &cols[..tw],
                &cols[tw..2 * tw],
                &cols[2 * tw..3 * tw],
                &cols[3 * tw..],
            );
            // A dY: row r is (p_r, q_r) = pq[2r], pq[2r + 1].
            for tx in 0..tw {
                pq[tx] = a[tx];
                pq[tw + tx] = b[tx];
                pq[2 * tw + tx] = a[tx] + c[tx];
                pq[3 * tw + tx] = b[tx] + d[tx];
                pq[4 * tw + tx] = a[tx] - c[tx];
                pq[5 * tw + tx] = b[tx] - d[tx];
                pq[6 * tw + tx] = -c[tx];
                pq[7 * tw + tx] = -d[tx];
            }
            // (A dY) Aᵀ, row by row.
            let t0 = (ty - ty0) * tw;
            for r in 0..4 {
                let (p, q) = (&pq[2 * r * tw..][..tw], &pq[(2 * r + 1) * tw..][..tw]);
                let at = |k: usize| ((r * 4 + k) * s.cout + co) * t_all + t0;
                mbar[at(0)..][..tw].copy_from_slice(p);
                for (m, (p, q)) in mbar[at(1)..][..tw].iter_mut().zip(p.iter().zip(q)) {
                    *m = p + q;
                }
                for (m, (p, q)) in mbar[at(2)..][..tw].iter_mut().zip(p.iter().zip(q)) {
                    *m = p - q;
                }
                for (m, q) in mbar[at(3)..][..tw].iter_mut().zip(q) {
                    *m = -q;
                }
            }
        }
    }
}

/// The weight gradient of [`forward`] over `images` images: `dW = Gᵀ dU G` for each
/// channel pair, where `dU_ξν (Cout × Cin) = Σ_tiles M̄_ξν · V_ξνᵀ` sums the transformed
/// output gradient (`transform_output_grad`) against the transformed input (the
/// forward pass's `V`, made again). 16 products of `Cout × Cin × T` where im2col + gemm
/// takes one of `Cout × 9·Cin × 4·T`: 2.25 times fewer multiplications. Returns
/// `dW (Cout × Cin × 3 × 3)`.
pub fn weight_grad(s: &Shape3x3, images: usize, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let (th, tw) = s.tiles();
    let (ho, wo) = s.out_hw();
    let rows_per_block = (TILES_PER_BLOCK / tw).max(1);
    let group_rows = th.div_ceil((th * tw / GROUP_TILES).clamp(1, MAX_GROUPS));
    let groups: Vec<(usize, usize)> = (0..th)
        .step_by(group_rows)
        .map(|r| (r, (r + group_rows).min(th)))
        .collect();
    // One group: its 16 products in parallel instead.
    let one_group = groups.len() == 1;
    // Each group's partial `dUᵀ`, laid out `[ξν][c][co]`.
    let group = |&(g0, g1): &(usize, usize)| {
        let mut du = vec![0f32; 16 * s.cin * s.cout];
        for img in 0..images {
            let x = &x[img * s.cin * s.h * s.w..][..s.cin * s.h * s.w];
            let dy = &dy[img * s.cout * ho * wo..][..s.cout * ho * wo];
            for ty0 in (g0..g1).step_by(rows_per_block) {
                let block = (ty0, (ty0 + rows_per_block).min(g1));
                let t = (block.1 - block.0) * tw;
                with_scratch(16 * s.cin * t, |v| {
                    transform_input(s, x, block, v);
                    with_second_scratch(16 * s.cout * t, |mbar| {
                        transform_output_grad(s, dy, block, mbar);
                        let v: &[f32] = v;
                        let product = |(k, du): (usize, &mut [f32])| {
                            // dU_ξνᵀ (Cin × Cout) += V_ξν (Cin × T) · M̄_ξνᵀ (T × Cout).
                            // SAFETY: the three matrices lie inside `du`, `v` and `mbar`.
                            unsafe {
                                matmul(
                                    s.cin,
                                    s.cout,
                                    t,
                                    du.as_mut_ptr(),
                                    s.cout,
                                    1,
                                    true,
                                    v[k * s.cin * t..].as_ptr(),
                                    t,
                                    1,
                                    mbar[k * s.cout * t..].as_ptr(),
                                    1,
                                    t,
                                    gemm::Parallelism::None,
                                );
                            }
                        };
                        if one_group {
                            du.par_chunks_mut(s.cin * s.cout)
                                .enumerate()
                                .for_each(product);
                        } else {
                            du.chunks_mut(s.cin * s.cout).enumerate().for_each(product);
                        }
                    });
                });
            }
        }
        du
    };
    let partials: Vec<Vec<f32>> = if groups.len() == 1 {
        groups.iter().map(group).collect()
    } else {
        groups.par_iter().map(group).collect()
    };
    // The partial sums, added in a fixed order.
    let mut parts = partials.into_iter();
    let mut du = parts.next().unwrap_or_default();
    for part in parts {
        for (t, p) in du.iter_mut().zip(&part) {
            *t += *p;
        }
    }
    kernel_grad(&du, s.cout, s.cin)
}

/// `dg = Gᵀ dU G` for every channel pair, from `dUᵀ` laid out `[ξν][c][co]`: the adjoint
/// of [`transform_weights`]. Returns `dW (Cout × Cin × 3 × 3)`.
fn kernel_grad(du: &[f32], cout: usize, cin: usize) -> Vec<f32> {
    // Gᵀ applied to a column `[u0, u1, u2, u3]`: `[u0 + ½(u1 + u2), ½(u1 − u2), ½(u1 + u2) + u3]`.
    let g_t = |u: [f32; 4]| {
        let (plus, minus) = (0.5 * (u[1] + u[2]), 0.5 * (u[1] - u[2]));
        [u[0] + plus, minus, plus + u[3]]
    };
    let mut dw = vec![0f32; cout * cin * 9];
    dw.par_chunks_mut(cin * 9).enumerate().for_each(|(co, dw)| {
        for c in 0..cin {
            let at = |i: usize, k: usize| du[((i * 4 + k) * cin + c) * cout + co];
            // Gᵀ dU: (3 × 4), column by column.
            let cols: [[f32; 3]; 4] =
                std::array::from_fn(|k| g_t([at(0, k), at(1, k), at(2, k), at(3, k)]));
            for a in 0..3 {
                // (Gᵀ dU) G: row a times G.
                let row = g_t([cols[0][a], cols[1][a], cols[2][a], cols[3][a]]);
                dw[c * 9 + a * 3..][..3].copy_from_slice(&row);
            }
        }
    });
    dw
}
// ANCHOR_END: winograd_weight_grad

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::winograd4::F4;
    use crate::rng::Rng;

    fn run<T: Tiling>(s: &Shape3x3, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
        let u = T::transform_weights(w, s.cout, s.cin);
        let (ho, wo) = s.out_hw();
        let mut y = vec![f32::NAN; s.cout * ho * wo];
        unsafe { forward::<T>(s, x, &u, b, SendPtr(y.as_mut_ptr())) };
        y
    }

    /// The definition, loop by loop: `y[co][i][j] = b[co] + Σ x_pad[c][i + a][j + d] · w[co][c][a][d]`.
    fn direct(s: &Shape3x3, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
        let (ho, wo) = s.out_hw();
        let mut y = vec![0f32; s.cout * ho * wo];
        for co in 0..s.cout {
            for i in 0..ho {
                for j in 0..wo {
                    let mut acc = b[co] as f64;
                    for c in 0..s.cin {
                        for a in 0..3 {
                            for d in 0..3 {
                                let (Some(r), Some(q)) = (s.unpad(i + a, s.h), s.unpad(j + d, s.w))
                                else {
                                    continue;
                                };
                                acc += (x[(c * s.h + r) * s.w + q]
                                    * w[((co * s.cin + c) * 3 + a) * 3 + d])
                                    as f64;
                            }
                        }
                    }
                    y[(co * ho + i) * wo + j] = acc as f32;
                }
            }
        }
        y
    }

    /// The weight gradient by its definition: `dW[co][c][a][d] = Σ_ij dy[co][i][j] · x_pad[c][i + a][j + d]`.
    fn direct_weight_grad(s: &Shape3x3, n: usize, x: &[f32], dy: &[f32]) -> Vec<f32> {
        let (ho, wo) = s.out_hw();
        let mut dw = vec![0f64; s.cout * s.cin * 9];
        for img in 0..n {
            for co in 0..s.cout {
                for c in 0..s.cin {
                    for a in 0..3 {
                        for d in 0..3 {
                            let mut acc = 0f64;
                            for i in 0..ho {
                                for j in 0..wo {
                                    let (Some(r), Some(q)) =
                                        (s.unpad(i + a, s.h), s.unpad(j + d, s.w))
                                    else {
                                        continue;
                                    };
                                    acc += (dy[((img * s.cout + co) * ho + i) * wo + j]
                                        * x[((img * s.cin + c) * s.h + r) * s.w + q])
                                        as f64;
                                }
                            }
                            dw[((co * s.cin + c) * 3 + a) * 3 + d] += acc;
                        }
                    }
                }
            }
        }
        dw.into_iter().map(|v| v as f32).collect()
    }

    #[test]
    fn winograd_weight_grad_matches_its_definition() {
        let mut rng = Rng::new(5);
        // Odd sizes (a last tile half outside), more tile rows than groups, two images.
        for (n, cin, cout, h, w) in [(1, 3, 5, 8, 8), (2, 4, 2, 7, 9), (1, 2, 3, 33, 65)] {
            for reflect in [false, true] {
                let s = Shape3x3 {
                    cin,
                    cout,
                    h,
                    w,
                    pad: 1,
                    reflect,
                };
                let x = rng.uniform(n * cin * h * w, -1.0, 1.0);
                let dy = rng.uniform(n * cout * h * w, -1.0, 1.0);
                let (a, e) = (
                    weight_grad(&s, n, &x, &dy),
                    direct_weight_grad(&s, n, &x, &dy),
                );
                let err = a
                    .iter()
                    .zip(&e)
                    .fold(0f32, |m, (a, e)| m.max((a - e).abs() / (1.0 + e.abs())));
                assert!(
                    err < 1e-4,
                    "{s:?}, {n} images: largest relative error {err}"
                );
            }
        }
    }

    #[test]
    fn winograd_matches_the_direct_convolution() {
        check_against_direct::<F2>();
        check_against_direct::<F4>();
    }

    /// Both tilings against the definition: zero and reflection padding 1, zero padding 2
    /// (the input gradient's), odd sizes (tiles partly outside). Within 10⁻⁵ of the
    /// largest output.
    fn check_against_direct<T: Tiling>() {
        let mut rng = Rng::new(4);
        let shapes = [
            (3, 5, 8, 8),
            (4, 2, 7, 9),
            (6, 7, 5, 3),
            (2, 3, 33, 65),
            (40, 3, 21, 19),
        ];
        for (cin, cout, h, w) in shapes {
            for (pad, reflect) in [(1, false), (1, true), (2, false)] {
                let s = Shape3x3 {
                    cin,
                    cout,
                    h,
                    w,
                    pad,
                    reflect,
                };
                let x = rng.uniform(cin * h * w, -1.0, 1.0);
                let wt = rng.uniform(cout * cin * 9, -1.0, 1.0);
                let b = rng.uniform(cout, -1.0, 1.0);
                let (a, e) = (run::<T>(&s, &x, &wt, &b), direct(&s, &x, &wt, &b));
                let scale = e.iter().fold(0f32, |m, v| m.max(v.abs()));
                let err = a
                    .iter()
                    .zip(&e)
                    .fold(0f32, |m, (a, e)| m.max((a - e).abs()));
                assert!(
                    err < 1e-5 * scale,
                    "F({0}×{0}, 3×3) {s:?}: max difference {err}, values up to {scale}",
                    T::OUT
                );
            }
        }
    }
}
