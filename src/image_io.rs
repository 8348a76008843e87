//! Images in and out.
//!
//! An [`Image`] is a plain `channels × height × width` array of `f32` in `[0, 1]`
//! (the layout of a network tensor without its batch dimension). Loading accepts
//! any 8- or 16-bit PNG or JPEG (grey, grey + alpha, RGB, RGBA: alpha is dropped);
//! saving writes to a temporary file beside the target and renames it, so a
//! crash never leaves a half-written image behind.

use std::path::Path;

use candle_core::{Device, Tensor};

use crate::error::{DipError, Result};

/// A `C × H × W` image with values in `[0, 1]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// Channel-major (planar) pixel values.
    pub data: Vec<f32>,
}

impl Image {
    /// A new image from planar data; fails if the length does not match.
    pub fn new(channels: usize, height: usize, width: usize, data: Vec<f32>) -> Result<Self> {
        if data.len() != channels * height * width {
            return Err(DipError::invalid(format!(
                "image data has {} values, expected {channels}×{height}×{width}",
                data.len()
            )));
        }
        Ok(Self {
            channels,
            height,
            width,
            data,
        })
    }

    /// An image of one constant value.
    pub fn filled(channels: usize, height: usize, width: usize, value: f32) -> Self {
        Self {
            channels,
            height,
            width,
            data: vec![value; channels * height * width],
        }
    }

    /// The value at channel `c`, row `y`, column `x`.
    pub fn at(&self, c: usize, y: usize, x: usize) -> f32 {
        self.data[(c * self.height + y) * self.width + x]
    }

    /// Load a PNG or JPEG file. Alpha channels are dropped; a grey image stays one channel.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if !path.exists() {
            return Err(DipError::ImageNotFound {
                path: path.to_path_buf(),
            });
        }
        let reader = image::ImageReader::open(path)
            .and_then(|r| r.with_guessed_format())
            .map_err(|e| DipError::ImageUnreadable {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        let decoded = reader.decode().map_err(|e| DipError::ImageUnreadable {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok(Self::from_dynamic(&decoded))
    }

    /// The bits per channel of an image file (8 or 16), from its header.
    pub fn bit_depth(path: impl AsRef<Path>) -> Result<u8> {
        let path = path.as_ref();
        let unreadable = |e: String| DipError::ImageUnreadable {
            path: path.to_path_buf(),
            reason: e,
        };
        let decoder = image::ImageReader::open(path)
            .and_then(|r| r.with_guessed_format())
            .map_err(|e| unreadable(e.to_string()))?
            .into_decoder()
            .map_err(|e| unreadable(e.to_string()))?;
        use image::ImageDecoder;
        let color = decoder.color_type();
        Ok(if color.bytes_per_pixel() / color.channel_count() >= 2 {
            16
        } else {
            8
        })
    }

    /// Convert from the `image` crate's type (alpha dropped, 16-bit kept precise).
    pub fn from_dynamic(img: &image::DynamicImage) -> Self {
        let grey = !img.color().has_color();
        let (width, height) = (img.width() as usize, img.height() as usize);
        if grey {
            let luma = img.to_luma32f();
            Self {
                channels: 1,
                height,
                width,
                data: luma.into_raw(),
            }
        } else {
            let rgb = img.to_rgb32f();
            let mut data = vec![0f32; 3 * height * width];
            for (i, px) in rgb.pixels().enumerate() {
                for c in 0..3 {
                    data[c * height * width + i] = px.0[c];
                }
            }
            Self {
                channels: 3,
                height,
                width,
                data,
            }
        }
    }

    /// Convert to the `image` crate's 8-bit type (values clipped to `[0, 1]` and rounded).
    pub fn to_dynamic(&self) -> image::DynamicImage {
        let to_u8 = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
        let (w, h) = (self.width as u32, self.height as u32);
        let plane = self.height * self.width;
        match self.channels {
            1 => image::DynamicImage::ImageLuma8(
                image::GrayImage::from_raw(w, h, self.data.iter().map(|&v| to_u8(v)).collect())
                    .expect("size checked"),
            ),
            _ => {
                let mut raw = Vec::with_capacity(plane * 3);
                for i in 0..plane {
                    for c in 0..3 {
                        let c = c.min(self.channels - 1);
                        raw.push(to_u8(self.data[c * plane + i]));
                    }
                }
                image::DynamicImage::ImageRgb8(
                    image::RgbImage::from_raw(w, h, raw).expect("size checked"),
                )
            }
        }
    }

    /// Convert to the `image` crate's 16-bit type (values clipped to `[0, 1]` and rounded).
    pub fn to_dynamic16(&self) -> image::DynamicImage {
        let to_u16 = |v: f32| (v.clamp(0.0, 1.0) * 65535.0).round() as u16;
        let (w, h) = (self.width as u32, self.height as u32);
        let plane = self.height * self.width;
        if self.channels == 1 {
            let raw = self.data.iter().map(|&v| to_u16(v)).collect();
            return image::DynamicImage::ImageLuma16(
                image::ImageBuffer::from_raw(w, h, raw).expect("size checked"),
            );
        }
        let raw = (0..plane)
            .flat_map(|i| (0..3).map(move |c| (c.min(self.channels - 1), i)))
            .map(|(c, i)| to_u16(self.data[c * plane + i]))
            .collect();
        image::DynamicImage::ImageRgb16(
            image::ImageBuffer::from_raw(w, h, raw).expect("size checked"),
        )
    }

    /// Save as PNG (or JPEG, by extension), atomically: written to a temporary
    /// file in the same folder, then renamed over the target. 8 bits per channel.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        self.save_with_depth(path, 8)
    }

    /// [`save`](Self::save) with 8 or 16 bits per channel (16 for PNG only; JPEG is 8).
    pub fn save_with_depth(&self, path: impl AsRef<Path>, bits: u8) -> Result<()> {
        let path = path.as_ref();
        let format = image::ImageFormat::from_path(path).unwrap_or(image::ImageFormat::Png);
        let mut bytes = std::io::Cursor::new(Vec::new());
        let image = if bits == 16 && format == image::ImageFormat::Png {
            self.to_dynamic16()
        } else {
            self.to_dynamic()
        };
        image
            .write_to(&mut bytes, format)
            .map_err(|e| DipError::Unwritable {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        write_atomically(path, bytes.get_ref())
    }

    /// The image as a `[1, C, H, W]` tensor on `device`.
    pub fn to_tensor(&self, device: &Device) -> Result<Tensor> {
        Ok(Tensor::from_slice(
            &self.data,
            (1, self.channels, self.height, self.width),
            device,
        )?)
    }

    /// An image from a `[1, C, H, W]` or `[C, H, W]` tensor (any device, any float dtype).
    pub fn from_tensor(tensor: &Tensor) -> Result<Self> {
        let t = match tensor.rank() {
            4 => tensor.squeeze(0)?,
            3 => tensor.clone(),
            r => {
                return Err(DipError::invalid(format!(
                    "expected a tensor of rank 3 or 4, got rank {r}"
                )))
            }
        };
        let (channels, height, width) = t.dims3()?;
        let data = t
            .to_dtype(candle_core::DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        Ok(Self {
            channels,
            height,
            width,
            data,
        })
    }

    /// Values clipped to `[0, 1]`.
    pub fn clipped(&self) -> Self {
        Self {
            data: self.data.iter().map(|v| v.clamp(0.0, 1.0)).collect(),
            ..self.clone()
        }
    }

    /// The rectangle of `height × width` pixels whose top-left corner is `(top, left)`.
    pub fn crop(&self, top: usize, left: usize, height: usize, width: usize) -> Result<Self> {
        if top + height > self.height || left + width > self.width {
            return Err(DipError::invalid(format!(
                "crop {height}×{width} at ({top}, {left}) does not fit in a {}×{} image",
                self.height, self.width
            )));
        }
        let mut data = Vec::with_capacity(self.channels * height * width);
        for c in 0..self.channels {
            for y in top..top + height {
                let start = (c * self.height + y) * self.width + left;
                data.extend_from_slice(&self.data[start..start + width]);
            }
        }
        Ok(Self {
            channels: self.channels,
            height,
            width,
            data,
        })
    }

    /// The centred crop whose sides are the largest multiples of `d` (the reference's `crop_image`).
    pub fn crop_to_multiple(&self, d: usize) -> Result<Self> {
        let (h, w) = (self.height - self.height % d, self.width - self.width % d);
        if h == 0 || w == 0 {
            return Err(DipError::invalid(format!(
                "image {}×{} is smaller than {d} pixels on a side",
                self.height, self.width
            )));
        }
        self.crop((self.height - h) / 2, (self.width - w) / 2, h, w)
    }

    /// Pad by reflection (without repeating the edge, like PyTorch's `ReflectionPad2d`)
    /// to `height × width`, the extra split between the two sides (the larger half
    /// at the bottom and right). Returns the padded image and the `(top, left)` offset of the original.
    pub fn reflect_pad_to(&self, height: usize, width: usize) -> Result<(Self, (usize, usize))> {
        if height < self.height || width < self.width {
            return Err(DipError::invalid(
                "reflect_pad_to: target smaller than the image",
            ));
        }
        let (top, left) = ((height - self.height) / 2, (width - self.width) / 2);
        if top >= self.height.max(2)
            || left >= self.width.max(2)
            || height - self.height - top >= self.height.max(2)
        {
            return Err(DipError::invalid(format!(
                "image {}×{} is too small to be reflection-padded to {height}×{width}",
                self.height, self.width
            )));
        }
        let reflect = |i: isize, n: usize| -> usize {
            let n = n as isize;
            let mut i = i;
            if n == 1 {
                return 0;
            }
            while i < 0 || i >= n {
                if i < 0 {
                    i = -i;
                }
                if i >= n {
                    i = 2 * (n - 1) - i;
                }
            }
            i as usize
        };
        let mut data = Vec::with_capacity(self.channels * height * width);
        for c in 0..self.channels {
            for y in 0..height {
                let sy = reflect(y as isize - top as isize, self.height);
                for x in 0..width {
                    let sx = reflect(x as isize - left as isize, self.width);
                    data.push(self.at(c, sy, sx));
                }
            }
        }
        Ok((
            Self {
                channels: self.channels,
                height,
                width,
                data,
            },
            (top, left),
        ))
    }

    /// The image with one channel: grey images as they are, colour images by the
    /// ITU-R 601 luma weights.
    pub fn to_grey(&self) -> Self {
        if self.channels == 1 {
            return self.clone();
        }
        let plane = self.height * self.width;
        let data = (0..plane)
            .map(|i| {
                0.299 * self.data[i]
                    + 0.587 * self.data[plane + i]
                    + 0.114 * self.data[2 * plane + i]
            })
            .collect();
        Self {
            channels: 1,
            height: self.height,
            width: self.width,
            data,
        }
    }

    /// Resize with the `image` crate (used to make low-resolution inputs and the bicubic baseline).
    pub fn resize(&self, height: usize, width: usize, filter: image::imageops::FilterType) -> Self {
        let plane = self.height * self.width;
        let mut data = Vec::with_capacity(self.channels * height * width);
        for c in 0..self.channels {
            let src = image::ImageBuffer::<image::Luma<f32>, Vec<f32>>::from_raw(
                self.width as u32,
                self.height as u32,
                self.data[c * plane..(c + 1) * plane].to_vec(),
            )
            .expect("size checked");
            let dst = image::imageops::resize(&src, width as u32, height as u32, filter);
            data.extend(dst.into_raw());
        }
        Self {
            channels: self.channels,
            height,
            width,
            data,
        }
    }

    /// Quantise to 8 bits and back, as saving to PNG and loading again would.
    pub fn quantised(&self) -> Self {
        Self {
            data: self
                .data
                .iter()
                .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() / 255.0)
                .collect(),
            ..self.clone()
        }
    }
}

/// Write `bytes` to `path` atomically: a temporary file in the same folder, synced, then
/// renamed. The file gets the usual mode of a new file (0666 less the umask: 0644 under
/// the usual umask 022), not the 0600 of a temporary file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let unwritable = |e: std::io::Error| DipError::Unwritable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder.tempfile_in(dir).map_err(unwritable)?;
    tmp.write_all(bytes).map_err(unwritable)?;
    tmp.as_file().sync_all().map_err(unwritable)?;
    tmp.persist(path).map_err(|e| unwritable(e.error))?;
    Ok(())
}
