//! The figures of the book, drawn by our code when it is built: the network
//! diagram and the learning curves as plain SVG text, the image grids as PNG.

use std::fmt::Write;

use anyhow::Result;

use crate::image_io::Image;
use crate::net::{LevelLayout, SkipConfig, Upsample};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn rect(svg: &mut String, x: f64, y: f64, w: f64, h: f64, fill: &str, lines: &[String]) {
    let _ = write!(
        svg,
        r##"<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6" fill="{fill}" stroke="#333"/>"##
    );
    let n = lines.len() as f64;
    for (i, line) in lines.iter().enumerate() {
        let ty = y + h / 2.0 + (i as f64 - (n - 1.0) / 2.0) * 14.0 + 4.0;
        let _ = write!(
            svg,
            r#"<text x="{}" y="{ty}" text-anchor="middle">{}</text>"#,
            x + w / 2.0,
            esc(line)
        );
    }
}

fn arrow(svg: &mut String, x1: f64, y1: f64, x2: f64, y2: f64, label: &str) {
    let _ = write!(
        svg,
        r##"<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#333" marker-end="url(#arrow)"/>"##
    );
    if !label.is_empty() {
        let _ = write!(
            svg,
            r##"<text x="{}" y="{}" font-size="11" fill="#555">{}</text>"##,
            (x1 + x2) / 2.0 + 4.0,
            (y1 + y2) / 2.0 - 3.0,
            esc(label)
        );
    }
}

// ANCHOR: network_svg
/// The "skip" network of `config` as an SVG diagram: one row per scale, the
/// encoder on the left, the skip branch in the middle, the decoder on the right.
pub fn network_svg(config: &SkipConfig, parameters: usize) -> String {
    let depth = config.depth();
    let (row, top) = (78.0, 60.0);
    let height = top + row * depth as f64 + 50.0;
    let width = 740.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" font-family="sans-serif" font-size="12"><defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#333"/></marker></defs><rect width="100%" height="100%" fill="white"/>"##
    );
    rect(
        &mut svg,
        20.0,
        8.0,
        150.0,
        34.0,
        "#eee",
        &[format!("z: {} × H × W", config.input_channels)],
    );
    rect(
        &mut svg,
        580.0,
        8.0,
        150.0,
        34.0,
        "#eee",
        &[format!("x = f(z): {} × H × W", config.output_channels)],
    );
    // One row per scale of the network's layout, as the builder reads it.
    let layout = config.layout();
    for (i, level) in layout.iter().enumerate() {
        let last = i + 1 == layout.len();
        scale_row(&mut svg, level, (i, last), top + row * i as f64, row);
    }
    // The output layer, labelled on the arrow's left, inside the picture.
    arrow(&mut svg, 655.0, top, 655.0, 42.0, "");
    let _ = write!(
        svg,
        r##"<text x="649" y="55" font-size="11" fill="#555" text-anchor="end">conv 1×1, sigmoid</text>"##
    );
    let _ = write!(
        svg,
        r##"<text x="20" y="{}" fill="#333">{} scales · {} upsampling · {:?} padding · {} trainable parameters</text></svg>"##,
        height - 20.0,
        depth,
        match config.upsample[0] {
            Upsample::Bilinear => "bilinear",
            Upsample::Nearest => "nearest",
        },
        config.padding,
        thousands(parameters)
    );
    svg
}
// ANCHOR_END: network_svg

/// One scale of the diagram at height `y`: the encoder's block, the skip branch, the
/// decoder's block and their arrows (`row`: the distance between scales), for scale
/// `i` of the layout (`last`: the deepest).
fn scale_row(svg: &mut String, l: &LevelLayout, (i, last): (usize, bool), y: f64, row: f64) {
    let scale = 1usize << (i + 1);
    let (down, in_ch, d) = (l.down.kernel, l.down.cin, l.down.cout);
    rect(
        svg,
        20.0,
        y,
        190.0,
        52.0,
        "#dbe9f6",
        &[
            format!("d{}: conv {down}×{down} /2, {in_ch}→{d}", i + 1),
            format!("conv {0}×{0}, {d}→{d}  (BN, LReLU)", l.down2.kernel),
            format!("H/{scale} × W/{scale}"),
        ],
    );
    let s = l.skip.map_or(0, |skip| skip.cout);
    if let Some(skip) = l.skip {
        rect(
            svg,
            285.0,
            y + 8.0,
            170.0,
            36.0,
            "#fde9c9",
            &[format!(
                "s{}: conv {k}×{k}, {in_ch}→{s}",
                i + 1,
                k = skip.kernel
            )],
        );
    }
    let up = match l.upsample {
        Upsample::Bilinear => "bilinear ×2",
        Upsample::Nearest => "nearest ×2",
    };
    let (deeper, u) = (l.merge_bn - s, l.up.cout);
    rect(
        svg,
        520.0,
        y,
        210.0,
        52.0,
        "#d9f0d3",
        &[
            format!("u{}: {up} of {deeper} ch, concat {s}", i + 1),
            format!("BN, conv {0}×{0} →{u}, BN, LReLU", l.up.kernel),
            match l.up_1x1 {
                Some(_) => format!("conv 1×1 {u}→{u}, BN, LReLU"),
                None => String::new(),
            },
        ],
    );
    // encoder input, skip input, merge
    let from_y = if i == 0 { 42.0 } else { y - row + 52.0 };
    arrow(svg, 115.0, from_y, 115.0, y, "");
    if s > 0 {
        // the skip branch takes the scale's input, like the encoder
        let _ = write!(
            svg,
            r##"<polyline fill="none" stroke="#333" points="115,{0} 250,{0} 250,{1} 283,{1}" marker-end="url(#arrow)"/>"##,
            y - 12.0,
            y + 26.0
        );
        arrow(svg, 455.0, y + 26.0, 520.0, y + 26.0, "");
    }
    // decoder: from the deeper level up
    if !last {
        arrow(svg, 625.0, y + row, 625.0, y + 52.0, "");
    } else {
        arrow(svg, 210.0, y + 48.0, 520.0, y + 48.0, "");
        let _ = write!(
            svg,
            r##"<text x="260" y="{}" font-size="11" fill="#555">deepest scale: d{} feeds u{} directly</text>"##,
            y + 64.0,
            i + 1,
            i + 1
        );
    }
}

/// `2217831` as `2,217,831`.
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One line of a chart.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// Twelve colours a reader tells apart (Tableau's ten, black and a light blue):
/// a chart of Table 1's eleven images gives each its own.
pub const COLOURS: [&str; 12] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#000000", "#aec7e8",
];

fn nice_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let span = (hi - lo).max(1e-9);
    let raw = span / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| span / s <= n as f64)
        .unwrap_or(10.0 * mag);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + 1e-9 {
        out.push(t);
        t += step;
    }
    out
}

/// Below the plot's frame: the baseline of the x axis' title, and of the legend's
/// first row (12 px text: the title's descenders and the legend's capitals stay apart).
const X_LABEL_BELOW: f64 = 34.0;
const LEGEND_TOP: f64 = 58.0;

/// A line chart as SVG: `series` against a shared x axis, with axes, ticks and a
/// legend below the plot (where it hides no curve).
pub fn line_chart(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> String {
    line_chart_within(title, x_label, y_label, series, None)
}

// ANCHOR: line_chart
/// [`line_chart`] with the y axis over `y_range` where it is given (a value beyond it
/// drawn at the frame's edge), else over the data.
pub fn line_chart_within(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    y_range: Option<(f64, f64)>,
) -> String {
    let w = 680.0;
    let (l, r, t) = (64.0, 16.0, 34.0);
    let legend = legend_layout(series, l, w - r);
    let legend_rows = legend.iter().map(|e| e.2).max().map_or(0, |r| r + 1);
    // The plot's bottom margin holds the tick labels, the axis label and, below it
    // and clear of it, the legend.
    let b = if legend_rows == 0 {
        48.0
    } else {
        LEGEND_TOP + 8.0 + 18.0 * (legend_rows - 1) as f64
    };
    let h = 332.0 + b;
    let (x0, x1, y0, y1) = data_range(series, y_range);
    let px = |x: f64| l + (x - x0) / (x1 - x0).max(1e-9) * (w - l - r);
    let py = |y: f64| h - b - (y.clamp(y0, y1) - y0) / (y1 - y0) * (h - t - b);
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/><text x="{}" y="20" text-anchor="middle" font-size="14">{}</text>"##,
        w / 2.0,
        esc(title)
    );
    for tx in nice_ticks(x0, x1, 6) {
        let _ = write!(
            svg,
            r##"<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="#ddd"/><text x="{0}" y="{3}" text-anchor="middle">{4}</text>"##,
            px(tx),
            t,
            h - b,
            h - b + 16.0,
            tx
        );
    }
    for ty in nice_ticks(y0, y1, 6) {
        let _ = write!(
            svg,
            r##"<line x1="{l}" y1="{0}" x2="{1}" y2="{0}" stroke="#ddd"/><text x="{2}" y="{3}" text-anchor="end">{4}</text>"##,
            py(ty),
            w - r,
            l - 6.0,
            py(ty) + 4.0,
            (ty * 1000.0).round() / 1000.0
        );
    }
    let _ = write!(
        svg,
        r##"<rect x="{l}" y="{t}" width="{}" height="{}" fill="none" stroke="#333"/><text x="{}" y="{}" text-anchor="middle">{}</text><text transform="translate(16,{}) rotate(-90)" text-anchor="middle">{}</text>"##,
        w - l - r,
        h - t - b,
        (l + w - r) / 2.0,
        h - b + X_LABEL_BELOW,
        esc(x_label),
        (t + h - b) / 2.0,
        esc(y_label)
    );
    for (i, s) in series.iter().enumerate() {
        let c = COLOURS[i % COLOURS.len()];
        let d: Vec<String> = s
            .points
            .iter()
            .filter(|p| p.1.is_finite())
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        let (x, _, row) = legend[i];
        let y = h - b + LEGEND_TOP + 18.0 * row as f64;
        let _ = write!(
            svg,
            r##"<polyline fill="none" stroke="{c}" stroke-width="1.6" points="{}"/><rect x="{x}" y="{}" width="14" height="4" fill="{c}"/><text x="{}" y="{}">{}</text>"##,
            d.join(" "),
            y - 4.0,
            x + 18.0,
            y,
            esc(&s.name)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The ranges of the axes: the data's (`y_range` instead where it is given), never empty.
fn data_range(series: &[Series], y_range: Option<(f64, f64)>) -> (f64, f64, f64, f64) {
    let pts = series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|p| p.1.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if let Some((lo, hi)) = y_range {
        (y0, y1) = (lo, hi);
    }
    if y1 - y0 < 1e-9 {
        y1 = y0 + 1.0;
    }
    (x0, x1, y0, y1)
}

/// Where each series' legend entry goes: `(x, width, row)`, entries left to right,
/// wrapping to a new row at `right`.
fn legend_layout(series: &[Series], left: f64, right: f64) -> Vec<(f64, f64, usize)> {
    let mut out = Vec::with_capacity(series.len());
    let (mut x, mut row) = (left, 0);
    for s in series {
        // About 7 pixels a character at 12 px, the colour swatch and a gap.
        let width = 18.0 + 7.0 * s.name.chars().count() as f64 + 18.0;
        if x + width > right && x > left {
            (x, row) = (left, row + 1);
        }
        out.push((x, width, row));
        x += width;
    }
    out
}
// ANCHOR_END: line_chart

/// Images side by side, separated by white gaps, as PNG bytes (grey images are shown as RGB).
pub fn grid_png(panels: &[&Image]) -> Result<Vec<u8>> {
    let gap = 8;
    let h = panels.iter().map(|p| p.height).max().unwrap_or(1);
    let w: usize =
        panels.iter().map(|p| p.width).sum::<usize>() + gap * panels.len().saturating_sub(1);
    let mut canvas = image::RgbImage::from_pixel(w as u32, h as u32, image::Rgb([255, 255, 255]));
    let mut left = 0;
    for p in panels {
        for y in 0..p.height {
            for x in 0..p.width {
                let v = |c: usize| {
                    (p.at(c.min(p.channels - 1), y, x).clamp(0.0, 1.0) * 255.0).round() as u8
                };
                canvas.put_pixel((left + x) as u32, y as u32, image::Rgb([v(0), v(1), v(2)]));
            }
        }
        left += p.width + gap;
    }
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(canvas).write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str) -> Series {
        Series {
            name: name.into(),
            points: vec![(0.0, 1.0), (10.0, 2.0)],
        }
    }

    #[test]
    fn the_legend_wraps_without_overlaps_below_the_plot() {
        let all: Vec<Series> = [
            "output vs corrupted",
            "output vs clean",
            "averaged output vs clean",
            "a fourth long series name",
            "fifth",
        ]
        .into_iter()
        .map(series)
        .collect();
        let layout = legend_layout(&all, 64.0, 664.0);
        for pair in layout.windows(2) {
            let ((x0, w0, r0), (x1, _, r1)) = (pair[0], pair[1]);
            assert!(r1 > r0 || x1 >= x0 + w0, "entries overlap: {layout:?}");
        }
        assert!(
            layout.iter().all(|&(x, w, _)| x + w <= 664.0 || x == 64.0),
            "{layout:?}"
        );
        assert!(
            layout.last().unwrap().2 >= 1,
            "five long names take two rows: {layout:?}"
        );
        // Every legend text sits below the plot's frame (the frame ends at h − b).
        let svg = line_chart("t", "x", "y", &all);
        let frame_bottom = 34.0 + 332.0 - 34.0; // t + (h − b − t) with h − b = 332
        for part in svg.split("<text x=").skip(1) {
            let y: f64 = part
                .split("y=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            if all.iter().any(|s| part.contains(&format!(">{}<", s.name))) {
                assert!(
                    y > frame_bottom + 30.0,
                    "a legend entry at y = {y} is inside the plot"
                );
            }
        }
    }
}
