//! Encoding for storage: baseline JPEG from pixels only, so no metadata can survive.

use image::RgbImage;
use image::codecs::jpeg::JpegEncoder;

use super::error::ImagingError;

/// Default JPEG quality for stored images: text and MRZ characters stay crisp, files stay
/// around a tenth of the raw size.
pub const JPEG_QUALITY: u8 = 90;

/// Encode `img` as JPEG at `quality` (1–100). The encoder is given pixels and nothing else,
/// so the output has a JFIF header and no EXIF, XMP or ICC segment.
pub fn encode_jpeg(img: &RgbImage, quality: u8) -> Result<Vec<u8>, ImagingError> {
    let mut out = Vec::with_capacity(img.as_raw().len() / 8);
    JpegEncoder::new_with_quality(&mut out, quality.clamp(1, 100))
        .encode_image(img)
        .map_err(|e| ImagingError::Encode(e.to_string()))?;
    Ok(out)
}
