//! JPEG artefact removal: the energy of denoising, `‖x − x0‖²`, on a
//! JPEG-compressed image; the network fits the image before the blocks.

use crate::error::{DipError, Result};
use crate::image_io::Image;

/// Compress an image to JPEG at `quality` (1–100) and decode it again.
pub fn compress(clean: &Image, quality: u8) -> Result<Image> {
    let mut bytes = Vec::new();
    let encoder =
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality.clamp(1, 100));
    clean
        .to_dynamic()
        .write_with_encoder(encoder)
        .map_err(|e| DipError::invalid(format!("JPEG encoding failed: {e}")))?;
    let decoded = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg)
        .map_err(|e| DipError::invalid(format!("JPEG decoding failed: {e}")))?;
    Ok(Image::from_dynamic(&decoded))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_quality_loses_more() {
        let mut img = Image::filled(3, 64, 64, 0.0);
        for (i, v) in img.data.iter_mut().enumerate() {
            *v = ((i * 37 % 101) as f32 / 100.0 + (i % 64) as f32 / 64.0) / 2.0;
        }
        let q90 = crate::metrics::psnr(&img, &compress(&img, 90).unwrap()).unwrap();
        let q10 = crate::metrics::psnr(&img, &compress(&img, 10).unwrap()).unwrap();
        assert!(q90 > q10 + 3.0, "q90 {q90} q10 {q10}");
    }
}
