//! The labelled placeholder a test verification's image routes serve in place of a photo:
//! a striped card saying what it stands for, so an operator's code that downloads images
//! gets a real JPEG and a person looking at it cannot mistake it for a document.

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use image::{Rgb, RgbImage};

use super::encode::encode_jpeg;
use super::error::ImagingError;

const WIDTH: u32 = 800;
const HEIGHT: u32 = 500;
const INK: Rgb<u8> = Rgb([40, 40, 40]);

/// A JPEG placeholder with `TEST` and `label` (ASCII; other characters are skipped).
pub fn placeholder(label: &str) -> Result<Vec<u8>, ImagingError> {
    let mut img = RgbImage::from_fn(WIDTH, HEIGHT, |x, y| {
        if (x + y) / 40 % 2 == 0 {
            Rgb([236, 236, 228])
        } else {
            Rgb([250, 214, 120])
        }
    });
    let font = FontRef::try_from_slice(crate::document::glyphs::OCR_B)
        .map_err(|e| ImagingError::Encode(format!("the embedded typeface: {e}")))?;
    // A plain band behind the words, so they read over the stripes.
    for y in 140..360 {
        for x in 40..WIDTH - 40 {
            img.put_pixel(x, y, Rgb([255, 255, 255]));
        }
    }
    write_centred(&mut img, &font, "TEST", 110.0, 250.0);
    write_centred(&mut img, &font, label, 40.0, 320.0);
    encode_jpeg(&img, 85)
}

/// `text` centred across the image on the baseline `baseline`, `size` pixels tall.
fn write_centred(img: &mut RgbImage, font: &FontRef<'_>, text: &str, size: f32, baseline: f32) {
    let scale = PxScale::from(size);
    let scaled = font.as_scaled(scale);
    let chars: Vec<char> = text
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .collect();
    let width: f32 = chars
        .iter()
        .map(|c| scaled.h_advance(font.glyph_id(*c)))
        .sum();
    let mut x = ((img.width() as f32 - width) / 2.0).max(0.0);
    for c in chars {
        let id = font.glyph_id(c);
        let glyph = id.with_scale_and_position(scale, point(x, baseline));
        x += scaled.h_advance(id);
        let Some(outlined) = font.outline_glyph(glyph) else {
            continue;
        };
        let bounds = outlined.px_bounds();
        outlined.draw(|gx, gy, coverage| {
            let px = bounds.min.x as i64 + i64::from(gx);
            let py = bounds.min.y as i64 + i64::from(gy);
            if px < 0 || py < 0 || px >= i64::from(img.width()) || py >= i64::from(img.height()) {
                return;
            }
            let p = img.get_pixel_mut(px as u32, py as u32);
            for (channel, ink) in p.0.iter_mut().zip(INK.0) {
                let mixed = f32::from(*channel) * (1.0 - coverage) + f32::from(ink) * coverage;
                *channel = mixed.round().clamp(0.0, 255.0) as u8;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_placeholder_is_a_jpeg_with_dark_writing_on_its_band() {
        let jpeg = placeholder("DOCUMENT FRONT").unwrap();
        assert_eq!(&jpeg[..3], &[0xFF, 0xD8, 0xFF]);
        let img = image::load_from_memory(&jpeg).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (WIDTH, HEIGHT));
        // The band holds writing: dark pixels among the white.
        let dark = (140..360)
            .flat_map(|y| (40..WIDTH - 40).map(move |x| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0[0] < 100)
            .count();
        assert!(dark > 2_000, "{dark} dark pixels");
        // Different labels, different pictures.
        assert_ne!(placeholder("SELFIE").unwrap(), jpeg);
    }
}
