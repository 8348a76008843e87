//! Photos of any size in bounded memory: what a fit needs, and restoring a large
//! image as overlapping tiles, each fitted on its own, blended with a raised-cosine
//! window.
//!
//! The memory of a fit grows with the pixels of the network's output: every layer
//! keeps its activations for the backward pass. Measured with `dip bench` on this
//! project's CPU kernels (the standard net, 3 channels, peak resident memory, two
//! iterations): 363 MiB at 256², 1270 MiB at 512², 2774 MiB at 768², so about 4.7 KiB
//! per output pixel on top of ~60 MiB. Longer runs fragment the heap somewhat more (the
//! benchmark records, five iterations: 395 MiB at 256²), and small images have more
//! overhead, so the estimate takes 5.5 KiB on top of 75 MiB. A 12-megapixel photo would
//! need about 65 GB whole, which is why it is tiled. (A test holds the estimate between
//! the benchmark records' peaks and 1.4 times them.)

use crate::error::{DipError, Result};
use crate::image_io::Image;
use crate::net::SkipConfig;

/// Bytes per output pixel of the standard net (128 channels), measured (see above) and rounded up.
const BYTES_PER_PIXEL_AT_128: f64 = 5.5 * 1024.0;
/// What a fit needs besides its activations: the program, the weights, Adam's moments.
const BASE_BYTES: f64 = 75.0 * 1024.0 * 1024.0;
/// The largest image (or super-resolved output) restored, tiled or not, in megapixels.
pub const MAX_MEGAPIXELS: f64 = 100.0;

/// The estimated peak memory, in bytes, of fitting `net` with an output of `height × width`:
/// activations scale with the pixels and with the widest layer.
pub fn fit_bytes(net: &SkipConfig, height: usize, width: usize) -> f64 {
    BASE_BYTES + BYTES_PER_PIXEL_AT_128 * (net.width() as f64 / 128.0) * (height * width) as f64
}

/// The largest square tile side (a multiple of 32, at least 64) whose fit stays under
/// `budget` bytes; an error if not even the smallest fits.
pub fn tile_for_budget(net: &SkipConfig, budget: f64) -> Result<usize> {
    let fits = |side: usize| fit_bytes(net, side, side) <= budget;
    if !fits(64) {
        return Err(DipError::invalid(format!(
            "even a 64×64 tile needs about {} and --max-memory allows {}",
            human_bytes(fit_bytes(net, 64, 64)),
            human_bytes(budget)
        )));
    }
    let mut side = 64;
    while fits(side + 32) && side < 4096 {
        side += 32;
    }
    Ok(side)
}

/// `2.1 GiB`, `640 MiB`.
pub fn human_bytes(bytes: f64) -> String {
    let mib = bytes / (1024.0 * 1024.0);
    if mib >= 1024.0 {
        format!("{:.1} GiB", mib / 1024.0)
    } else {
        format!("{mib:.0} MiB")
    }
}

/// Refuse what cannot be done at all: an output of more than [`MAX_MEGAPIXELS`].
pub fn check_size(height: usize, width: usize, what: &str) -> Result<()> {
    let mp = height as f64 * width as f64 / 1e6;
    if mp > MAX_MEGAPIXELS {
        return Err(DipError::invalid(format!(
            "{what} would be {width}×{height} ({mp:.0} megapixels); dip restores at most {MAX_MEGAPIXELS:.0} megapixels"
        )));
    }
    Ok(())
}

/// A region of an image: `(top, left, height, width)`.
pub type Rect = (usize, usize, usize, usize);

/// How an image is cut into tiles: squares of `side` input pixels overlapping by
/// `overlap` (at least; the last tile of a row or column ends at the image's edge).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tiles {
    pub side: usize,
    pub overlap: usize,
}

impl Tiles {
    /// Tiles of `side` overlapping by an eighth of it, at least 8 pixels: enough for
    /// the raised cosine to hide the seams (what `--tile` uses).
    pub fn of_side(side: usize) -> Self {
        Tiles {
            side,
            overlap: (side / 8).max(8),
        }
    }

    /// The tiles of an `height × width` image.
    pub fn rects(self, height: usize, width: usize) -> Vec<Rect> {
        tiles(height, width, self.side, self.overlap)
    }
}

/// The starts of tiles of `tile` pixels covering `0..n`, overlapping by at least
/// `overlap`; the last tile ends at `n`.
pub fn starts(n: usize, tile: usize, overlap: usize) -> Vec<usize> {
    if n <= tile {
        return vec![0];
    }
    let step = tile.saturating_sub(overlap).max(1);
    let mut out: Vec<usize> = (0..)
        .map(|k| k * step)
        .take_while(|&s| s + tile < n)
        .collect();
    out.push(n - tile);
    out
}

/// The tiles of an `height × width` image.
pub fn tiles(height: usize, width: usize, tile: usize, overlap: usize) -> Vec<Rect> {
    let (ys, xs) = (starts(height, tile, overlap), starts(width, tile, overlap));
    let (th, tw) = (tile.min(height), tile.min(width));
    ys.iter()
        .flat_map(|&y| xs.iter().map(move |&x| (y, x, th, tw)))
        .collect()
}

/// The blending weight along one side of a tile of `len` pixels: a raised cosine
/// rising over the first `overlap` pixels (unless the tile starts at the image's
/// edge) and falling over the last `overlap` (unless it ends there), 1 between.
/// Two such ramps over the same pixels sum to 1.
pub fn ramp(len: usize, overlap: usize, at_start: bool, at_end: bool) -> Vec<f32> {
    let rise = |i: usize| {
        let a = std::f32::consts::PI * (i as f32 + 0.5) / overlap as f32;
        0.5 - 0.5 * a.cos()
    };
    (0..len)
        .map(|i| {
            let mut w = 1.0;
            if !at_start && i < overlap {
                w *= rise(i);
            }
            if !at_end && len - 1 - i < overlap {
                w *= rise(len - 1 - i);
            }
            w
        })
        .collect()
}

/// Restore an `height × width` image tile by tile: `restore(rect)` gives the result
/// of one input region, `scale` times larger (super-resolution), and the results are
/// blended where tiles overlap. Each tile is fitted on its own.
pub fn restore_tiled(
    (height, width): (usize, usize),
    tiles: Tiles,
    scale: usize,
    restore: &mut dyn FnMut(usize, Rect) -> Result<Image>,
) -> Result<Image> {
    let (oh, ow) = (height * scale, width * scale);
    let mut sum: Vec<f32> = Vec::new();
    let mut weight = vec![0f32; oh * ow];
    let mut channels = 0;
    for (index, rect) in tiles.rects(height, width).into_iter().enumerate() {
        let out = restore(index, rect)?;
        let (y0, x0, th, tw) = (
            rect.0 * scale,
            rect.1 * scale,
            rect.2 * scale,
            rect.3 * scale,
        );
        if (out.height, out.width) != (th, tw) {
            return Err(DipError::invalid(format!(
                "a tile's result is {}×{}, expected {tw}×{th}",
                out.width, out.height
            )));
        }
        if sum.is_empty() {
            channels = out.channels;
            sum = vec![0.0; channels * oh * ow];
        }
        let o = tiles.overlap * scale;
        let wy = ramp(th, o, y0 == 0, y0 + th == oh);
        let wx = ramp(tw, o, x0 == 0, x0 + tw == ow);
        for (y, wyv) in wy.iter().enumerate() {
            for (x, wxv) in wx.iter().enumerate() {
                let w = wyv * wxv;
                let at = (y0 + y) * ow + x0 + x;
                weight[at] += w;
                for c in 0..channels {
                    sum[c * oh * ow + at] += w * out.data[(c * th + y) * tw + x];
                }
            }
        }
    }
    let plane = oh * ow;
    let data = sum
        .iter()
        .enumerate()
        .map(|(i, v)| v / weight[i % plane].max(f32::MIN_POSITIVE))
        .collect();
    Image::new(channels, oh, ow, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_the_image_and_overlap() {
        assert_eq!(starts(100, 64, 16), vec![0, 36]);
        assert_eq!(starts(200, 64, 16), vec![0, 48, 96, 136]);
        assert_eq!(starts(50, 64, 16), vec![0]);
        for (n, tile, overlap) in [(1000, 256, 32), (257, 128, 16), (64, 64, 8)] {
            let s = starts(n, tile, overlap);
            assert_eq!(s[0], 0);
            assert_eq!(s.last().unwrap() + tile.min(n), n);
            for pair in s.windows(2) {
                assert!(pair[0] + tile - pair[1] >= overlap, "{s:?}");
            }
        }
    }

    #[test]
    fn two_ramps_over_an_overlap_sum_to_one() {
        let (a, b) = (ramp(64, 16, true, false), ramp(64, 16, false, true));
        for i in 0..16 {
            assert!((a[48 + i] + b[i] - 1.0).abs() < 1e-6);
        }
        assert!(a[..48].iter().all(|&w| w == 1.0));
    }

    #[test]
    fn tiling_an_identity_gives_the_image_back() {
        let data: Vec<f32> = (0..3 * 90 * 130).map(|i| (i % 97) as f32 / 97.0).collect();
        let image = Image::new(3, 90, 130, data).unwrap();
        let mut count = 0;
        let tiles = Tiles {
            side: 64,
            overlap: 16,
        };
        let out = restore_tiled((90, 130), tiles, 1, &mut |_, (y, x, h, w)| {
            count += 1;
            image.crop(y, x, h, w)
        })
        .unwrap();
        assert_eq!(count, 2 * 3);
        for (a, b) in out.data.iter().zip(&image.data) {
            assert!((a - b).abs() < 1e-5);
        }
    }

    #[test]
    fn the_budget_chooses_the_tile_and_refuses_the_impossible() {
        let net = SkipConfig::standard(32, 3);
        assert_eq!(
            tile_for_budget(&net, fit_bytes(&net, 512, 512)).unwrap(),
            512
        );
        assert!(tile_for_budget(&net, 50.0 * 1024.0 * 1024.0).is_err());
        assert!(check_size(4000, 3000, "the image").is_ok());
        let err = check_size(20000, 20000, "the image")
            .unwrap_err()
            .to_string();
        assert!(err.contains("400 megapixels"), "{err}");
    }

    /// The estimate is above the peak memory that `dip bench` recorded at each size
    /// (`results/bench/`), and not far above it: within 1.4 times (a stale constant fails).
    #[test]
    fn the_estimate_bounds_the_recorded_peaks() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
        let records = crate::reproduce::load_bench_records(&dir).unwrap();
        let ours: Vec<_> = records
            .iter()
            .filter(|r| r.version.contains("fast kernels") && r.device == "cpu")
            .collect();
        assert!(ours.len() >= 4, "{} records of our CPU kernels", ours.len());
        for r in ours {
            let net = SkipConfig::standard(32, r.channels);
            let estimate = fit_bytes(&net, r.size, r.size) / (1024.0 * 1024.0);
            let peak = r.peak_rss_mib.expect("a CPU record has its peak memory");
            assert!(
                (peak..1.4 * peak).contains(&estimate),
                "{}² × {}: estimate {estimate:.0} MiB, recorded peak {peak:.0} MiB",
                r.size,
                r.channels
            );
        }
    }
}
