//! Safe decoding: format by content, limits from the header before any pixel buffer exists,
//! EXIF orientation applied to the pixels. What comes out is bare pixels, so anything
//! encoded from it carries no EXIF, GPS, XMP or ICC data.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};

use image::codecs::jpeg::JpegDecoder;
use image::codecs::png::PngDecoder;
use image::codecs::webp::WebPDecoder;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, Limits, RgbImage};
use serde::Deserialize;

use super::error::ImagingError;

/// Ceilings checked before decoding. Defaults fit phone photos with room to spare while
/// keeping one decode under about 160 MB of pixels (40 MP × 4 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecodeLimits {
    pub max_bytes: usize,
    pub max_width: u32,
    pub max_height: u32,
    pub max_pixels: u64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_bytes: 15 * 1024 * 1024,
            max_width: 8000,
            max_height: 8000,
            max_pixels: 40_000_000,
        }
    }
}

impl DecodeLimits {
    /// A liveness frame. The portal sends frames of at most 1024 px a side; 4 MP leaves
    /// room for other capture UIs and keeps one decoded frame near 12 MB.
    pub const FRAME: DecodeLimits = DecodeLimits {
        max_bytes: 4 * 1024 * 1024,
        max_width: 4096,
        max_height: 4096,
        max_pixels: 4_000_000,
    };
}

/// The formats accepted for upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Jpeg,
    Png,
    WebP,
}

/// Recognise a format by its magic bytes; the client's `Content-Type` and file name are
/// never trusted.
pub fn sniff(bytes: &[u8]) -> Option<Format> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(Format::Jpeg)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(Format::Png)
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(Format::WebP)
    } else {
        None
    }
}

/// An upright image with nothing but pixels.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub image: RgbImage,
    pub format: Format,
    /// The EXIF orientation (1–8) that was applied; 1 when there was none.
    pub exif_orientation: u8,
}

/// What an image's header says, read without decoding any pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub format: Format,
    pub width: u32,
    pub height: u32,
}

/// Check `bytes` against `limits` from the header alone: format by content, size in
/// bytes, then width, height and area. What [`decode`] would refuse before allocating
/// pixels, this refuses too, so a caller can reserve memory for the decode first.
pub fn probe(bytes: &[u8], limits: &DecodeLimits) -> Result<Probe, ImagingError> {
    let format = check_bytes(bytes, limits)?;
    let dimensions = catch_unwind(AssertUnwindSafe(|| match format {
        Format::Jpeg => JpegDecoder::new(Cursor::new(bytes)).map(|d| d.dimensions()),
        Format::Png => PngDecoder::new(Cursor::new(bytes)).map(|d| d.dimensions()),
        Format::WebP => WebPDecoder::new(Cursor::new(bytes)).map(|d| d.dimensions()),
    }))
    .unwrap_or_else(|_| {
        Err(image::ImageError::IoError(std::io::Error::other(
            "decoder failed",
        )))
    });
    let (width, height) = dimensions.map_err(corrupt)?;
    check_dimensions(width, height, limits)?;
    Ok(Probe {
        format,
        width,
        height,
    })
}

fn check_bytes(bytes: &[u8], limits: &DecodeLimits) -> Result<Format, ImagingError> {
    let format = sniff(bytes).ok_or(ImagingError::UnsupportedFormat)?;
    if bytes.len() > limits.max_bytes {
        return Err(ImagingError::TooLarge(format!(
            "{} bytes, limit {}",
            bytes.len(),
            limits.max_bytes
        )));
    }
    Ok(format)
}

/// Decode `bytes` under `limits`, apply the EXIF orientation and return bare RGB pixels.
///
/// Dimensions come from the header and are checked before the pixel buffer is allocated, so
/// a small file declaring a huge image is refused at once. Alpha is flattened onto white
/// (transparent areas would otherwise be whatever colour the encoder left behind).
pub fn decode(bytes: &[u8], limits: &DecodeLimits) -> Result<Decoded, ImagingError> {
    let format = check_bytes(bytes, limits)?;
    // Decoders are third-party code fed hostile input: a panic in one must surface as a
    // corrupt image, not take the worker down.
    catch_unwind(AssertUnwindSafe(|| match format {
        Format::Jpeg => finish(JpegDecoder::new(Cursor::new(bytes)), format, limits),
        Format::Png => finish(PngDecoder::new(Cursor::new(bytes)), format, limits),
        Format::WebP => finish(WebPDecoder::new(Cursor::new(bytes)), format, limits),
    }))
    .unwrap_or_else(|_| Err(ImagingError::Corrupt("decoder failed".into())))
}

fn finish<D: ImageDecoder>(
    decoder: image::ImageResult<D>,
    format: Format,
    limits: &DecodeLimits,
) -> Result<Decoded, ImagingError> {
    let mut decoder = decoder.map_err(corrupt)?;
    let (w, h) = decoder.dimensions();
    check_dimensions(w, h, limits)?;
    let mut lim = Limits::default();
    lim.max_image_width = Some(limits.max_width);
    lim.max_image_height = Some(limits.max_height);
    // Room for the output buffer (at most 4 bytes a pixel here) plus decoder working memory.
    lim.max_alloc = Some(limits.max_pixels.saturating_mul(4).saturating_add(64 << 20));
    decoder.set_limits(lim).map_err(limit_or_corrupt)?;
    // A broken EXIF block must not cost the user their photo: treat it as "no rotation".
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(limit_or_corrupt)?;
    image.apply_orientation(orientation);
    Ok(Decoded {
        image: flatten(image),
        format,
        exif_orientation: exif_code(orientation),
    })
}

/// Refuse a width, height or area above `limits`.
pub fn check_dimensions(w: u32, h: u32, limits: &DecodeLimits) -> Result<(), ImagingError> {
    if w == 0 || h == 0 {
        return Err(ImagingError::Corrupt("image has no pixels".into()));
    }
    if w > limits.max_width || h > limits.max_height {
        return Err(ImagingError::TooLarge(format!(
            "{w}×{h} px, limit {}×{}",
            limits.max_width, limits.max_height
        )));
    }
    let area = u64::from(w) * u64::from(h);
    if area > limits.max_pixels {
        return Err(ImagingError::TooLarge(format!(
            "{area} pixels, limit {}",
            limits.max_pixels
        )));
    }
    Ok(())
}

fn corrupt(e: image::ImageError) -> ImagingError {
    match e {
        image::ImageError::Unsupported(u) => ImagingError::Corrupt(format!("unsupported: {u}")),
        other => ImagingError::Corrupt(other.to_string()),
    }
}

fn limit_or_corrupt(e: image::ImageError) -> ImagingError {
    match e {
        image::ImageError::Limits(l) => ImagingError::TooLarge(l.to_string()),
        other => corrupt(other),
    }
}

fn flatten(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    let mut out = RgbImage::new(rgba.width(), rgba.height());
    for (o, p) in out.pixels_mut().zip(rgba.pixels()) {
        let a = u16::from(p[3]);
        for c in 0..3 {
            o[c] = ((u16::from(p[c]) * a + 255 * (255 - a) + 127) / 255) as u8;
        }
    }
    out
}

fn exif_code(o: Orientation) -> u8 {
    match o {
        Orientation::NoTransforms => 1,
        Orientation::FlipHorizontal => 2,
        Orientation::Rotate180 => 3,
        Orientation::FlipVertical => 4,
        Orientation::Rotate90FlipH => 5,
        Orientation::Rotate90 => 6,
        Orientation::Rotate270FlipH => 7,
        Orientation::Rotate270 => 8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_content_only() {
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0rest"), Some(Format::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Some(Format::Png));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(Format::WebP));
        assert_eq!(sniff(b"GIF89a\x01\x00\x01\x00"), None);
        assert_eq!(sniff(b"BM\x36\x00\x00\x00"), None);
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"RIFF\0\0\0\0WAVE"), None);
    }

    #[test]
    fn unsupported_and_corrupt_are_typed() {
        let l = DecodeLimits::default();
        for bytes in [
            &b"hello world"[..],
            b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
            b"BM\0\0",
        ] {
            assert_eq!(decode(bytes, &l).unwrap_err().code(), "UNSUPPORTED_FORMAT");
        }
        for bytes in [
            &b"\xFF\xD8\xFF\xE0\x00\x10JFIF"[..],
            b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR",
            b"RIFF\x10\0\0\0WEBPVP8 \x04\0\0\0",
        ] {
            assert_eq!(decode(bytes, &l).unwrap_err().code(), "IMAGE_CORRUPT");
        }
    }

    #[test]
    fn byte_and_dimension_limits() {
        let l = DecodeLimits {
            max_bytes: 10,
            ..DecodeLimits::default()
        };
        let bytes = b"\x89PNG\r\n\x1a\n plus more than ten";
        assert_eq!(decode(bytes, &l).unwrap_err().code(), "IMAGE_TOO_LARGE");
        let l = DecodeLimits::default();
        assert!(check_dimensions(8000, 5000, &l).is_ok());
        assert_eq!(
            check_dimensions(8001, 10, &l).unwrap_err().code(),
            "IMAGE_TOO_LARGE"
        );
        assert_eq!(
            check_dimensions(10, 8001, &l).unwrap_err().code(),
            "IMAGE_TOO_LARGE"
        );
        assert_eq!(
            check_dimensions(8000, 6000, &l).unwrap_err().code(),
            "IMAGE_TOO_LARGE"
        );
    }
}
