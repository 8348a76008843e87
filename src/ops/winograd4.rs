//! The 3 × 3 convolution with stride 1 by Winograd's F(4 × 4, 3 × 3) (Lavin and Gray,
//! CVPR 2016): each 4 × 4 block of outputs comes from a 6 × 6 tile of the padded input,
//! `Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`, with 36 multiplications per channel pair where the
//! direct convolution takes 144: 4 times fewer, against 2.25 for F(2 × 2, 3 × 3)
//! ([`super::winograd`], whose tiles the weight gradient still uses). The price is
//! rounding: the transforms' coefficients (up to 8, and sixths in `G`) make its
//! results differ from the direct sum by about 10⁻⁶ of the values' size, where
//! F(2 × 2, 3 × 3)'s differ by less than 10⁻⁷.
//!
//! As in [`super::winograd`], each of the 36 positions `(ξ, ν)` of the transformed tile is
//! one matrix product over the tiles, `M_ξν (Cout × T) = U_ξν (Cout × Cin) · V_ξν (Cin × T)`.
//! The convolution uses it for its output and its input gradient.

use rayon::prelude::*;

use super::cpu_util::SendPtr;
use super::winograd::{PaddedRow, Shape3x3, Tiling};

// ANCHOR: winograd4_matrices
// The matrices as Lavin and Gray give them; the transforms below write their rows out
// (`bt`, `at`, `gk`), and a test checks that the two agree.
/// `Bᵀ`: the input tile's transform (interpolation points 0, 1, −1, 2, −2 and ∞).
#[cfg_attr(not(test), allow(dead_code))]
const BT: [[f32; 6]; 6] = [
    [4.0, 0.0, -5.0, 0.0, 1.0, 0.0],
    [0.0, -4.0, -4.0, 1.0, 1.0, 0.0],
    [0.0, 4.0, -4.0, -1.0, 1.0, 0.0],
    [0.0, -2.0, -1.0, 2.0, 1.0, 0.0],
    [0.0, 2.0, -1.0, -2.0, 1.0, 0.0],
    [0.0, 4.0, 0.0, -5.0, 0.0, 1.0],
];

/// `G`: the kernel's transform.
#[cfg_attr(not(test), allow(dead_code))]
const G: [[f32; 3]; 6] = [
    [1.0 / 4.0, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];

/// `Aᵀ`: back from the 6 × 6 products to the 4 × 4 outputs.
#[cfg_attr(not(test), allow(dead_code))]
const AT: [[f32; 6]; 4] = [
    [1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
    [0.0, 1.0, -1.0, 2.0, -2.0, 0.0],
    [0.0, 1.0, 1.0, 4.0, 4.0, 0.0],
    [0.0, 1.0, -1.0, 8.0, -8.0, 1.0],
];
// ANCHOR_END: winograd4_matrices

/// Tiles per block: a block's transformed input `36 · Cin · T` floats stays near the L2 cache.
const TILES_PER_BLOCK: usize = 128;

/// At least this many blocks per image where it has the tile rows.
const MIN_BLOCKS: usize = 4;

/// Tile rows and columns: `⌈Ho/4⌉ × ⌈Wo/4⌉`.
fn tiles(s: &Shape3x3) -> (usize, usize) {
    let (ho, wo) = s.out_hw();
    (ho.div_ceil(4), wo.div_ceil(4))
}

/// `Bᵀ d` for one column `d` of 6 (the rows of [`BT`], written out).
#[inline(always)]
fn bt(d: [f32; 6]) -> [f32; 6] {
    [
        4.0 * d[0] - 5.0 * d[2] + d[4],
        -4.0 * (d[1] + d[2]) + d[3] + d[4],
        4.0 * (d[1] - d[2]) - d[3] + d[4],
        2.0 * (d[3] - d[1]) - d[2] + d[4],
        2.0 * (d[1] - d[3]) - d[2] + d[4],
        4.0 * d[1] - 5.0 * d[3] + d[5],
    ]
}

/// `Aᵀ m` for one column `m` of 6 (the rows of [`AT`], written out).
#[inline(always)]
fn at(m: [f32; 6]) -> [f32; 4] {
    let (sum13, diff13) = (m[1] + m[2], m[1] - m[2]);
    let (sum24, diff24) = (m[3] + m[4], m[3] - m[4]);
    [
        m[0] + sum13 + sum24,
        diff13 + 2.0 * diff24,
        sum13 + 4.0 * sum24,
        diff13 + 8.0 * diff24 + m[5],
    ]
}

/// `G g` for one column `g` of 3 (the rows of [`G`], written out).
#[inline(always)]
fn gk(g: [f32; 3]) -> [f32; 6] {
    let (outer, middle) = (g[0] + g[2], g[1]);
    [
        g[0] / 4.0,
        -(outer + middle) / 6.0,
        -(outer - middle) / 6.0,
        g[0] / 24.0 + g[1] / 12.0 + g[2] / 6.0,
        g[0] / 24.0 - g[1] / 12.0 + g[2] / 6.0,
        g[2],
    ]
}

/// The transformed kernels `U = G g Gᵀ`, laid out `u[co][ξν][c]`.
pub fn transform_weights(w: &[f32], cout: usize, cin: usize) -> Vec<f32> {
    let mut u = vec![0f32; 36 * cout * cin];
    u.par_chunks_mut(36 * cin).enumerate().for_each(|(co, u)| {
        for c in 0..cin {
            let g = &w[(co * cin + c) * 9..][..9];
            // G g (6 × 3), column by column.
            let cols: [[f32; 6]; 3] = std::array::from_fn(|j| gk([g[j], g[3 + j], g[6 + j]]));
            for i in 0..6 {
                // (G g) Gᵀ: row i of G g times Gᵀ.
                let row = gk([cols[0][i], cols[1][i], cols[2][i]]);
                for (l, &v) in row.iter().enumerate() {
                    u[(i * 6 + l) * cin + c] = v;
                }
            }
        }
    });
    u
}

/// `V_ξν` of tile rows `ty0..ty1` of one image: `v[ξν][c][t]`, `t = (ty − ty0)·tw + tx`.
/// Each padded row is split by column residue mod 4 (`res[r][k]` = column `4k + r`), so
/// that a tile's six columns are `res[0..4][tx]` and `res[0..2][tx + 1]` and every loop
/// over the tiles of a row reads consecutive floats.
fn transform_input(s: &Shape3x3, x: &[f32], (ty0, ty1): (usize, usize), v: &mut [f32]) {
    let tw = tiles(s).1;
    let t_all = (ty1 - ty0) * tw;
    let n = tw + 1;
    let width = 4 * n;
    let mut padded = PaddedRow::new(s, width);
    // The six padded rows by residue (`rows[r][res]`), then Bᵀ d by residue (`sums[i][res]`).
    let mut rows = vec![0f32; 6 * width];
    let mut sums = vec![0f32; 6 * width];
    for c in 0..s.cin {
        let plane = &x[c * s.h * s.w..][..s.h * s.w];
        for ty in ty0..ty1 {
            for (r, row) in rows.chunks_exact_mut(width).enumerate() {
                match s.unpad(4 * ty + r, s.h) {
                    Some(ir) => {
                        let padded = padded.of(s, plane, ir);
                        let (r0, rest) = row.split_at_mut(n);
                        let (r1, rest) = rest.split_at_mut(n);
                        let (r2, r3) = rest.split_at_mut(n);
                        for ((((four, a), b), c), d) in
                            padded.chunks_exact(4).zip(r0).zip(r1).zip(r2).zip(r3)
                        {
                            (*a, *b, *c, *d) = (four[0], four[1], four[2], four[3]);
                        }
                    }
                    None => row.fill(0.0),
                }
            }
            // Bᵀ d: row combinations, all residues at once.
            {
                let d: [&[f32]; 6] = std::array::from_fn(|r| &rows[r * width..][..width]);
                let mut outs = sums.chunks_exact_mut(width);
                let mut o: [&mut [f32]; 6] = std::array::from_fn(|_| outs.next().unwrap());
                for k in 0..width {
                    let t = bt(std::array::from_fn(|r| d[r][k]));
                    for (o, t) in o.iter_mut().zip(t) {
                        o[k] = t;
                    }
                }
            }
            // (Bᵀ d) B: column combinations, column r of tile tx being residue r % 4 at tx + r / 4.
            let t0 = (ty - ty0) * tw;
            for i in 0..6 {
                let col = |r: usize| &sums[i * width + (r % 4) * n + r / 4..][..tw];
                let cols: [&[f32]; 6] = std::array::from_fn(col);
                let base = (i * 6 * s.cin + c) * t_all + t0;
                let stride = s.cin * t_all;
                for tx in 0..tw {
                    let t = bt(std::array::from_fn(|r| cols[r][tx]));
                    for (j, t) in t.into_iter().enumerate() {
                        v[base + j * stride + tx] = t;
                    }
                }
            }
        }
    }
}

/// `Y = Aᵀ M A + b` for tile rows `ty0..ty1`, written into the image `y (Cout × Ho × Wo)`.
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
    let tw = tiles(s).1;
    let t_all = (ty1 - ty0) * tw;
    let (ho, wo) = s.out_hw();
    // Aᵀ M: output row i, column j of the tile (`up[i][j]`, a vector over the tiles).
    let mut up = vec![0f32; 4 * 6 * tw];
    let mut row = vec![0f32; 4 * tw];
    for co in 0..s.cout {
        for ty in ty0..ty1 {
            let t0 = (ty - ty0) * tw;
            for j in 0..6 {
                let ms: [&[f32]; 6] =
                    std::array::from_fn(|xi| &m[((xi * 6 + j) * s.cout + co) * t_all + t0..][..tw]);
                for tx in 0..tw {
                    let t = at(std::array::from_fn(|xi| ms[xi][tx]));
                    for (i, t) in t.into_iter().enumerate() {
                        up[(i * 6 + j) * tw + tx] = t;
                    }
                }
            }
            for i in 0..4 {
                let oy = 4 * ty + i;
                if oy >= ho {
                    break;
                }
                // (Aᵀ M) A: four outputs per tile, side by side, plus the bias.
                let ups: [&[f32]; 6] = std::array::from_fn(|j| &up[(i * 6 + j) * tw..][..tw]);
                for (tx, four) in row.chunks_exact_mut(4).enumerate() {
                    let t = at(std::array::from_fn(|j| ups[j][tx]));
                    for (o, t) in four.iter_mut().zip(t) {
                        *o = t + b[co];
                    }
                }
                // SAFETY: row `oy` of channel `co` lies inside `y`, and is this block's.
                let out =
                    unsafe { std::slice::from_raw_parts_mut(y.get().add((co * ho + oy) * wo), wo) };
                out.copy_from_slice(&row[..wo]);
            }
        }
    }
}

/// F(4 × 4, 3 × 3) for [`super::winograd::forward`].
pub struct F4;

super::winograd::tiling_of_this_module!(F4, 4);

#[cfg(test)]
mod tests {
    use super::*;

    /// The written-out transforms `bt`, `at` and `gk` are the matrices `Bᵀ`, `Aᵀ` and `G`.
    #[test]
    fn the_transforms_are_the_matrices() {
        let unit = |r: usize| std::array::from_fn(|k| if k == r { 1.0 } else { 0.0 });
        for r in 0..6 {
            let (b, a) = (bt(unit(r)), at(unit(r)));
            (0..6).for_each(|i| assert_eq!(b[i], BT[i][r], "Bᵀ[{i}][{r}]"));
            (0..4).for_each(|i| assert_eq!(a[i], AT[i][r], "Aᵀ[{i}][{r}]"));
        }
        for j in 0..3 {
            let g = gk(std::array::from_fn(|k| if k == j { 1.0 } else { 0.0 }));
            for (i, row) in G.iter().enumerate() {
                assert!((g[i] - row[j]).abs() < 1e-7, "G[{i}][{j}]");
            }
        }
    }
}
