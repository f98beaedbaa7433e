//! Straightening the document: a perspective warp of its four corners onto an upright
//! rectangle with the document's true aspect ratio.

use image::RgbImage;

use super::geometry::{Homography, Quad, warp_rgb};

/// Warp the region inside `corners` (original-image coordinates, TL, TR, BR, BL) of `img` to
/// an upright `aspect` (width/height) rectangle.
///
/// The crop keeps about the resolution the document has in the photo (the longer of its
/// measured width and its height times the aspect), capped at `max_long_side` so stored
/// crops stay a predictable size. `None` if the corners are degenerate.
pub fn crop_document(
    img: &RgbImage,
    corners: &Quad,
    aspect: f64,
    max_long_side: u32,
) -> Option<RgbImage> {
    let (w, h) = crop_size(corners, aspect, max_long_side)?;
    let hom = Homography::rect_to(f64::from(w), f64::from(h), corners)?;
    let mut out = RgbImage::new(w, h);
    warp_rgb(img, &hom, &mut out);
    Some(out)
}

/// The crop's pixel size for `corners` (see [`crop_document`]).
pub fn crop_size(corners: &Quad, aspect: f64, max_long_side: u32) -> Option<(u32, u32)> {
    if !(aspect.is_finite() && aspect > 0.0) {
        return None;
    }
    let (mw, mh) = corners.mean_sides();
    let natural = mw.max(mh * aspect);
    if !natural.is_finite() || natural < 2.0 {
        return None;
    }
    let (w, h) = if aspect >= 1.0 {
        let w = natural.min(f64::from(max_long_side.max(2)));
        (w, w / aspect)
    } else {
        let h = (natural / aspect).min(f64::from(max_long_side.max(2)));
        (h * aspect, h)
    };
    Some(((w.round() as u32).max(1), (h.round() as u32).max(1)))
}
