//! Images and figures shown inline in a Jupyter notebook run by the Rust kernel
//! (evcxr), as the notebooks in `code/` do.
//!
//! evcxr shows the value of a cell's last expression by calling its
//! `evcxr_display(&self)` method, which prints to stdout a *bundle*: for each
//! representation, `EVCXR_BEGIN_CONTENT <mime type>`, the content (binary data in
//! base64) and `EVCXR_END_CONTENT`. The kernel turns the bundle into the cell's
//! output; the notebook shows the richest representation it can.
//!
//! - an [`Image`] shows itself as a PNG (`image/png`);
//! - a [`Row`] of labelled images as one PNG, with the labels as its caption;
//! - a [`Chart`] (a line chart, drawn by [`crate::book::figures::line_chart`]) as SVG;
//! - a [`FitResult`] as its restored image (`image/png`) beside its PSNR curve
//!   (an HTML figure holding both);
//! - [`Markdown`] as markdown (the book's generated tables).
//!
//! Every one of them also has `show(&self)`, the same as a statement: in the kernel
//! (where evcxr sets `EVCXR_IS_RUNTIME`) it prints the bundle, anywhere else a
//! one-line description, so that the chapters' code runs as a plain program too.
//! A cell shows one bundle: evcxr keeps one content per mime type, so a cell
//! should show one thing, last.
//!
//! Small images are enlarged for display by repeating pixels (nearest neighbour),
//! so that the longer side is at least [`DISPLAY_MIN_SIDE`] pixels.

use std::fmt::Write as _;

use base64::Engine as _;

use crate::book::figures::{grid_png, line_chart, Series};
use crate::error::{DipError, Result};
use crate::fit::{FitResult, Step};
use crate::image_io::Image;

/// Images are enlarged (by a whole factor, nearest neighbour) until their longer
/// side is at least this many pixels.
pub const DISPLAY_MIN_SIDE: usize = 256;

/// The environment variable evcxr sets in the process that runs a notebook's code.
pub const EVCXR_ENV: &str = "EVCXR_IS_RUNTIME";

/// Whether this process runs the code of an evcxr kernel (a Jupyter notebook).
pub fn in_notebook() -> bool {
    std::env::var_os(EVCXR_ENV).is_some()
}

/// Representations of one value: `(mime type, content)`, binary content in base64.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bundle(pub Vec<(String, String)>);

impl Bundle {
    fn with(mut self, mime: &str, content: impl Into<String>) -> Self {
        self.0.push((mime.to_string(), content.into()));
        self
    }

    /// The content of a mime type, if the bundle has it.
    pub fn get(&self, mime: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(m, _)| m == mime)
            .map(|(_, c)| c.as_str())
    }

    /// The bundle as evcxr reads it from stdout.
    pub fn to_evcxr(&self) -> String {
        let mut out = String::new();
        for (mime, content) in &self.0 {
            let _ = write!(
                out,
                "EVCXR_BEGIN_CONTENT {mime}\n{}\nEVCXR_END_CONTENT\n",
                content.trim_end_matches('\n')
            );
        }
        out
    }

    /// Print it for evcxr (in a notebook), else print its `text/plain` line.
    pub fn show(&self) {
        if in_notebook() {
            print!("{}", self.to_evcxr());
        } else {
            println!("{}", self.get("text/plain").unwrap_or("(no text form)"));
        }
    }
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The whole factor that brings the longer side of an image to at least [`DISPLAY_MIN_SIDE`].
pub fn display_scale(height: usize, width: usize) -> usize {
    let side = height.max(width).max(1);
    DISPLAY_MIN_SIDE.div_ceil(side).max(1)
}

impl Image {
    /// The image as PNG bytes, 8 bits per channel (values clipped to `[0, 1]`).
    pub fn to_png(&self) -> Result<Vec<u8>> {
        let mut bytes = std::io::Cursor::new(Vec::new());
        self.to_dynamic()
            .write_to(&mut bytes, image::ImageFormat::Png)
            .map_err(|e| DipError::invalid(format!("cannot encode the image as PNG: {e}")))?;
        Ok(bytes.into_inner())
    }

    /// The image enlarged `factor` times by repeating pixels.
    pub fn enlarged(&self, factor: usize) -> Self {
        if factor <= 1 {
            return self.clone();
        }
        let (h, w) = (self.height * factor, self.width * factor);
        let mut data = Vec::with_capacity(self.channels * h * w);
        for c in 0..self.channels {
            for y in 0..h {
                for x in 0..w {
                    data.push(self.at(c, y / factor, x / factor));
                }
            }
        }
        Self {
            channels: self.channels,
            height: h,
            width: w,
            data,
        }
    }

    /// How the image shows itself in a notebook: a PNG (small images enlarged).
    pub fn display_bundle(&self) -> Result<Bundle> {
        let scale = display_scale(self.height, self.width);
        let png = self.enlarged(scale).to_png()?;
        Ok(Bundle::default()
            .with("image/png", base64(&png))
            .with("text/plain", self.describe(scale)))
    }

    fn describe(&self, scale: usize) -> String {
        let kind = if self.channels == 1 { "grey" } else { "colour" };
        let mut s = format!("{kind} image, {}×{} pixels", self.width, self.height);
        if scale > 1 {
            let _ = write!(s, " (shown ×{scale})");
        }
        s
    }

    /// evcxr's display protocol: a cell whose last expression is an image shows it.
    pub fn evcxr_display(&self) {
        print_or_report(self.display_bundle());
    }

    /// Show the image (in a notebook; elsewhere print a line describing it).
    pub fn show(&self) {
        show_or_report(self.display_bundle());
    }
}

fn print_or_report(bundle: Result<Bundle>) {
    match bundle {
        Ok(b) => print!("{}", b.to_evcxr()),
        Err(e) => eprintln!("cannot show: {e}"),
    }
}

fn show_or_report(bundle: Result<Bundle>) {
    match bundle {
        Ok(b) => b.show(),
        Err(e) => eprintln!("cannot show: {e}"),
    }
}

/// Images side by side, each with a label, shown as one PNG (the labels are its caption).
#[derive(Clone, Debug, Default)]
pub struct Row {
    pub panels: Vec<(String, Image)>,
}

impl Row {
    /// An empty row.
    pub fn new() -> Self {
        Self::default()
    }

    /// The row with one more image and its label.
    pub fn with(mut self, label: impl Into<String>, image: &Image) -> Self {
        self.panels.push((label.into(), image.clone()));
        self
    }

    /// The labels, separated by `|`.
    pub fn caption(&self) -> String {
        self.panels
            .iter()
            .map(|(l, _)| l.as_str())
            .collect::<Vec<_>>()
            .join(" | ")
    }

    /// The row as one PNG (every panel enlarged by the same factor), with a caption.
    pub fn display_bundle(&self) -> Result<Bundle> {
        if self.panels.is_empty() {
            return Err(DipError::invalid(
                "a row of images needs at least one image",
            ));
        }
        let h = self.panels.iter().map(|(_, i)| i.height).max().unwrap_or(1);
        let w = self.panels.iter().map(|(_, i)| i.width).max().unwrap_or(1);
        let scale = display_scale(h, w);
        let enlarged: Vec<Image> = self.panels.iter().map(|(_, i)| i.enlarged(scale)).collect();
        let refs: Vec<&Image> = enlarged.iter().collect();
        let png = base64(&grid_png(&refs).map_err(|e| DipError::invalid(e.to_string()))?);
        let caption = self.caption();
        let html = format!(
            "<figure style=\"margin:0\"><img src=\"data:image/png;base64,{png}\" alt=\"{alt}\"/>\
             <figcaption>{alt}</figcaption></figure>",
            alt = html_escape(&caption)
        );
        Ok(Bundle::default()
            .with("text/html", html)
            .with("image/png", png)
            .with("text/plain", format!("images: {caption}")))
    }

    /// evcxr's display protocol.
    pub fn evcxr_display(&self) {
        print_or_report(self.display_bundle());
    }

    /// Show the row (in a notebook; elsewhere print its caption).
    pub fn show(&self) {
        show_or_report(self.display_bundle());
    }
}

/// A line chart: several series against a shared x axis, drawn as SVG.
#[derive(Default)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
}

impl Chart {
    /// An empty chart with its title and axis labels.
    pub fn new(title: &str, x_label: &str, y_label: &str) -> Self {
        Self {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            series: Vec::new(),
        }
    }

    /// The chart with one more line.
    pub fn line(mut self, name: &str, points: impl IntoIterator<Item = (f64, f64)>) -> Self {
        self.series.push(Series {
            name: name.into(),
            points: points.into_iter().collect(),
        });
        self
    }

    /// The chart as SVG text.
    pub fn to_svg(&self) -> String {
        line_chart(&self.title, &self.x_label, &self.y_label, &self.series)
    }

    /// How the chart shows itself in a notebook: SVG.
    pub fn display_bundle(&self) -> Bundle {
        let names: Vec<&str> = self.series.iter().map(|s| s.name.as_str()).collect();
        Bundle::default().with("image/svg+xml", self.to_svg()).with(
            "text/plain",
            format!("chart \"{}\": {}", self.title, names.join(", ")),
        )
    }

    /// evcxr's display protocol.
    pub fn evcxr_display(&self) {
        print!("{}", self.display_bundle().to_evcxr());
    }

    /// Show the chart (in a notebook; elsewhere print its title and series).
    pub fn show(&self) {
        self.display_bundle().show();
    }
}

/// The PSNR curves of a fit's history: against the corrupted image, and against
/// the clean one (of each output, and of the averaged output) where it was known.
pub fn psnr_chart(title: &str, history: &[Step]) -> Chart {
    let at = |f: fn(&Step) -> Option<f64>| -> Vec<(f64, f64)> {
        history
            .iter()
            .filter_map(|s| {
                f(s).filter(|p| p.is_finite())
                    .map(|p| (s.iteration as f64, p))
            })
            .collect()
    };
    let mut chart = Chart::new(title, "iteration", "PSNR (dB)")
        .line("output vs corrupted", at(|s| Some(s.psnr_corrupted)));
    let clean = at(|s| s.psnr_clean);
    if !clean.is_empty() {
        chart = chart.line("output vs clean", clean);
    }
    let average = at(|s| s.psnr_clean_average);
    if !average.is_empty() {
        chart = chart.line("averaged output vs clean", average);
    }
    chart
}

impl FitResult {
    /// The PSNR curves of the fit (see [`psnr_chart`]).
    pub fn psnr_chart(&self) -> Chart {
        psnr_chart("PSNR during the fit", &self.history)
    }

    /// How a fit shows itself in a notebook: the restored image beside its PSNR
    /// curves (HTML), and the restored image alone (`image/png`).
    pub fn display_bundle(&self) -> Result<Bundle> {
        let restored = self.restored();
        let scale = display_scale(restored.height, restored.width);
        let png = base64(&restored.enlarged(scale).to_png()?);
        let svg = base64(self.psnr_chart().to_svg().as_bytes());
        let last = self.history.last();
        let mut caption = format!(
            "restored, after {} iterations ({:.1} s)",
            self.history.len(),
            self.seconds
        );
        if let Some(p) = last.and_then(|s| s.psnr_clean_average.or(s.psnr_clean)) {
            let _ = write!(caption, ": {p:.2} dB against the clean image");
        }
        if self.rollbacks > 0 {
            let _ = write!(caption, "; {} rollback(s)", self.rollbacks);
        }
        let html = format!(
            "<div style=\"display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start\">\
             <figure style=\"margin:0\"><img src=\"data:image/png;base64,{png}\" alt=\"the restored image\"/>\
             <figcaption>{}</figcaption></figure>\
             <figure style=\"margin:0\"><img src=\"data:image/svg+xml;base64,{svg}\" width=\"520\" alt=\"PSNR against iteration\"/>\
             <figcaption>PSNR against iteration</figcaption></figure></div>",
            html_escape(&caption)
        );
        Ok(Bundle::default()
            .with("text/html", html)
            .with("image/png", png)
            .with("text/plain", caption))
    }

    /// evcxr's display protocol: a cell whose last expression is a fit result shows
    /// the restored image and its PSNR curves.
    pub fn evcxr_display(&self) {
        print_or_report(self.display_bundle());
    }

    /// Show the restored image and the PSNR curves (in a notebook; elsewhere print a summary).
    pub fn show(&self) {
        show_or_report(self.display_bundle());
    }
}

/// Markdown text (a table of the book, for instance), with images inline as data URIs.
#[derive(Clone, Debug, PartialEq)]
pub struct Markdown {
    pub text: String,
    /// Images of the text, also given alone so that a notebook without markdown
    /// output can show them: `(mime type, base64)`.
    pub images: Vec<(String, String)>,
}

impl Markdown {
    /// Plain markdown, without images.
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            images: Vec::new(),
        }
    }

    /// How it shows itself in a notebook: markdown, plus its one image (if it has
    /// exactly one) as an image of its own.
    pub fn display_bundle(&self) -> Bundle {
        let mut b = Bundle::default().with("text/markdown", self.text.clone());
        if let [(mime, data)] = self.images.as_slice() {
            b = b.with(mime, data.clone());
        }
        b.with("text/plain", self.text.clone())
    }

    /// evcxr's display protocol.
    pub fn evcxr_display(&self) {
        print!("{}", self.display_bundle().to_evcxr());
    }

    /// Show it (in a notebook; elsewhere print the markdown).
    pub fn show(&self) {
        self.display_bundle().show();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_bundle_is_a_png_evcxr_can_read() {
        let img = Image::filled(3, 64, 32, 0.5);
        let b = img.display_bundle().unwrap();
        let png = base64::engine::general_purpose::STANDARD
            .decode(b.get("image/png").unwrap())
            .unwrap();
        let back = image::load_from_memory(&png).unwrap();
        assert_eq!((back.width(), back.height()), (128, 256));
        let text = b.to_evcxr();
        assert!(text.starts_with("EVCXR_BEGIN_CONTENT image/png\n"));
        assert_eq!(text.matches("EVCXR_END_CONTENT\n").count(), 2);
        // Every content is one block of lines, none of them a marker.
        assert!(!b.get("image/png").unwrap().contains('\n'));
    }

    #[test]
    fn enlarging_repeats_pixels() {
        let img = Image::new(1, 1, 2, vec![0.0, 1.0]).unwrap();
        let big = img.enlarged(2);
        assert_eq!((big.height, big.width), (2, 4));
        assert_eq!(big.data, vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0]);
        assert_eq!(display_scale(64, 64), 4);
        assert_eq!(display_scale(512, 300), 1);
    }

    #[test]
    fn a_chart_is_svg_and_a_row_needs_images() {
        let c = Chart::new("t", "x", "y").line("a", [(0.0, 1.0), (1.0, 2.0)]);
        assert!(c
            .display_bundle()
            .get("image/svg+xml")
            .unwrap()
            .starts_with("<svg"));
        assert!(Row::new().display_bundle().is_err());
        let row = Row::new()
            .with("a <b>", &Image::filled(1, 8, 8, 0.0))
            .with("c", &Image::filled(3, 8, 8, 1.0));
        let b = row.display_bundle().unwrap();
        assert!(b.get("image/png").is_some());
        assert!(b.get("text/html").unwrap().contains("a &lt;b&gt; | c"));
    }
}
