//! Quality gates: size, sharpness, exposure and glare, each a measured value against a
//! configurable threshold.
//!
//! Everything but the size is measured on small grey copies, never on the full photo: a
//! 12 MP upload is first averaged down to a long side of about 1000 px (one pass over the
//! pixels, see [`AnalysisImage`]), and when the document was found its outline is warped
//! out of that copy to a fixed 512 px wide upright grey image. Measuring on that normalised
//! document makes the numbers independent of the camera's resolution and of how much of the
//! frame the document fills, and costs a few milliseconds instead of a few hundred.

use image::{GrayImage, RgbImage};
use serde::{Deserialize, Serialize};

use super::error::Reason;
use super::geometry::{Homography, Quad, warp_grey};

/// Thresholds of the quality gates. Values are in the units of [`QualityMetrics`].
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QualityThresholds {
    /// The photo's longer side must be at least this many pixels.
    pub min_long_side: u32,
    /// The photo's shorter side must be at least this many pixels.
    pub min_short_side: u32,
    /// Minimum variance of the Laplacian of the contrast-normalised grey document.
    pub min_sharpness: f64,
    /// Mean luminance (0–255) of the document below this is too dark.
    pub min_mean_luminance: f64,
    /// Mean luminance above this is too bright (washed out).
    pub max_mean_luminance: f64,
    /// A pixel at or above this luminance counts as saturated.
    pub glare_luminance: u8,
    /// Largest share (0–1) of saturated pixels inside the document.
    pub max_glare_fraction: f64,
}

impl Default for QualityThresholds {
    fn default() -> Self {
        QualityThresholds {
            min_long_side: 800,
            min_short_side: 450,
            min_sharpness: 150.0,
            min_mean_luminance: 70.0,
            max_mean_luminance: 225.0,
            glare_luminance: 250,
            max_glare_fraction: 0.02,
        }
    }
}

/// Where the exposure and sharpness numbers were taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MeasuredOn {
    /// The straightened document: the normal case.
    Document,
    /// The whole frame, because no document was found.
    Frame,
}

/// What was measured, reported beside the verdict so thresholds can be tuned on real data.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct QualityMetrics {
    pub width: u32,
    pub height: u32,
    pub sharpness: f64,
    pub mean_luminance: f64,
    pub glare_fraction: f64,
    pub measured_on: MeasuredOn,
}

/// A grey copy of the photo, box-averaged down to a bounded size, with its scale.
#[derive(Debug, Clone)]
pub struct AnalysisImage {
    pub grey: GrayImage,
    /// Original x = analysis x × `scale_x` (and likewise for y).
    pub scale_x: f64,
    pub scale_y: f64,
}

/// The long side of the analysis copy: large enough to place corners within a pixel or two
/// of a 4000 px photo after line fitting, small enough that every later step is cheap.
pub const ANALYSIS_LONG_SIDE: u32 = 1000;

/// Width of the normalised grey document the metrics are measured on.
pub const NORMALISED_WIDTH: u32 = 512;

impl AnalysisImage {
    /// Average `rgb` down (never up) so its long side is at most `long_side`, converting to
    /// luminance (BT.601 weights) in the same pass.
    pub fn new(rgb: &RgbImage, long_side: u32) -> AnalysisImage {
        let (w, h) = (rgb.width(), rgb.height());
        let long = w.max(h).max(1);
        let long_side = long_side.max(1);
        let (ow, oh) = if long <= long_side {
            (w, h)
        } else {
            let s = f64::from(long) / f64::from(long_side);
            (
                ((f64::from(w) / s).round() as u32).clamp(1, w.max(1)),
                ((f64::from(h) / s).round() as u32).clamp(1, h.max(1)),
            )
        };
        let mut grey = GrayImage::new(ow, oh);
        if w == 0 || h == 0 {
            return AnalysisImage {
                grey,
                scale_x: 1.0,
                scale_y: 1.0,
            };
        }
        let (wu, hu, owu, ohu) = (w as usize, h as usize, ow as usize, oh as usize);
        let col: Vec<usize> = (0..wu).map(|i| i * owu / wu).collect();
        let mut col_count = vec![0u64; owu];
        for &c in &col {
            col_count[c] += 1;
        }
        let mut acc = vec![0u64; owu];
        let mut rows_in_cell = 0u64;
        let raw = rgb.as_raw();
        let out = grey.as_mut();
        for j in 0..hu {
            let line = &raw[j * wu * 3..(j + 1) * wu * 3];
            for (px, &c) in line.chunks_exact(3).zip(&col) {
                acc[c] += 77 * u64::from(px[0]) + 150 * u64::from(px[1]) + 29 * u64::from(px[2]);
            }
            rows_in_cell += 1;
            let oy = j * ohu / hu;
            let last_of_cell = j + 1 == hu || (j + 1) * ohu / hu != oy;
            if last_of_cell {
                let dst = &mut out[oy * owu..(oy + 1) * owu];
                for ((d, a), n) in dst.iter_mut().zip(acc.iter_mut()).zip(&col_count) {
                    let div = n * rows_in_cell * 256;
                    *d = ((*a + div / 2) / div).min(255) as u8;
                    *a = 0;
                }
                rows_in_cell = 0;
            }
        }
        AnalysisImage {
            grey,
            scale_x: f64::from(w) / f64::from(ow),
            scale_y: f64::from(h) / f64::from(oh),
        }
    }

    /// Map a quad found on this copy to original-image coordinates.
    pub fn to_original(&self, q: &Quad) -> Quad {
        Quad(q.0.map(|p| super::geometry::Point::new(p.x * self.scale_x, p.y * self.scale_y)))
    }

    /// Map a quad in original-image coordinates onto this copy.
    pub fn from_original(&self, q: &Quad) -> Quad {
        Quad(q.0.map(|p| super::geometry::Point::new(p.x / self.scale_x, p.y / self.scale_y)))
    }
}

/// Measure the photo. `document` is the document's outline on `analysis` (not in original
/// coordinates) and `aspect` its true width/height ratio; without a document the whole frame
/// is measured, so a dark or blurry photo is still named as such. `glare_luminance` is the
/// level from which a pixel counts as saturated.
pub fn measure(
    width: u32,
    height: u32,
    analysis: &AnalysisImage,
    document: Option<(&Quad, f64)>,
    glare_luminance: u8,
) -> QualityMetrics {
    let normalised = document.and_then(|(q, aspect)| {
        let nh = ((f64::from(NORMALISED_WIDTH) / aspect).round() as u32).max(8);
        let h = Homography::rect_to(f64::from(NORMALISED_WIDTH), f64::from(nh), q)?;
        let mut out = GrayImage::new(NORMALISED_WIDTH, nh);
        warp_grey(&analysis.grey, &h, &mut out);
        Some(out)
    });
    let (img, measured_on) = match &normalised {
        Some(g) => (g, MeasuredOn::Document),
        None => (&analysis.grey, MeasuredOn::Frame),
    };
    let (mean, glare) = exposure(img, glare_luminance);
    QualityMetrics {
        width,
        height,
        sharpness: sharpness(img),
        mean_luminance: mean,
        glare_fraction: glare,
        measured_on,
    }
}

/// Every gate that fails, in a fixed order.
pub fn evaluate(m: &QualityMetrics, t: &QualityThresholds) -> Vec<Reason> {
    let mut reasons = Vec::new();
    let (long, short) = (m.width.max(m.height), m.width.min(m.height));
    if long < t.min_long_side || short < t.min_short_side {
        reasons.push(Reason::ImageTooSmall);
    }
    // Sharpness and glare are properties of the document; a frame without one (measured
    // only so the numbers are on record) is not called blurry or glaring.
    let on_document = m.measured_on == MeasuredOn::Document;
    if on_document && m.sharpness < t.min_sharpness {
        reasons.push(Reason::ImageBlurry);
    }
    if m.mean_luminance < t.min_mean_luminance {
        reasons.push(Reason::ImageTooDark);
    }
    if m.mean_luminance > t.max_mean_luminance {
        reasons.push(Reason::ImageTooBright);
    }
    if on_document && m.glare_fraction > t.max_glare_fraction {
        reasons.push(Reason::ImageGlare);
    }
    reasons
}

/// Mean luminance and the share of pixels at or above `saturated`.
fn exposure(img: &GrayImage, saturated: u8) -> (f64, f64) {
    let n = img.as_raw().len().max(1) as f64;
    let (sum, sat) = img.as_raw().iter().fold((0u64, 0u64), |(s, k), &v| {
        (s + u64::from(v), k + u64::from(v >= saturated))
    });
    (sum as f64 / n, sat as f64 / n)
}

/// Variance of the 4-neighbour Laplacian over the inner part of `img`, after stretching the
/// 2nd–98th percentile of its grey levels to 0–255. The stretch keeps a dim but sharp photo
/// from reading as blurry (that is the exposure gate's job); the inner margin keeps the
/// document's own outline, which is sharp even in a blurred photo, out of the number.
pub fn sharpness(img: &GrayImage) -> f64 {
    let (w, h) = (img.width() as usize, img.height() as usize);
    if w < 8 || h < 8 {
        return 0.0;
    }
    let (mx, my) = ((w / 16).max(1), (h / 16).max(1));
    let raw = img.as_raw();
    let mut hist = [0u64; 256];
    for y in my..h - my {
        for &v in &raw[y * w + mx..y * w + w - mx] {
            hist[v as usize] += 1;
        }
    }
    let total: u64 = hist.iter().sum();
    let lo = percentile(&hist, total, 0.02);
    let hi = percentile(&hist, total, 0.98);
    // A floor on the range keeps a flat (featureless) image from being stretched into noise.
    let k = 255.0 / f64::from(hi.saturating_sub(lo).max(24));
    let (mut s, mut s2, mut n) = (0.0f64, 0.0f64, 0.0f64);
    for y in my..h - my {
        for x in mx..w - mx {
            let c = i32::from(raw[y * w + x]);
            let l = i32::from(raw[y * w + x - 1])
                + i32::from(raw[y * w + x + 1])
                + i32::from(raw[(y - 1) * w + x])
                + i32::from(raw[(y + 1) * w + x])
                - 4 * c;
            let l = f64::from(l);
            s += l;
            s2 += l * l;
            n += 1.0;
        }
    }
    if n == 0.0 {
        return 0.0;
    }
    let mean = s / n;
    (s2 / n - mean * mean).max(0.0) * k * k
}

fn percentile(hist: &[u64; 256], total: u64, q: f64) -> u8 {
    let target = (total as f64 * q) as u64;
    let mut acc = 0;
    for (v, &c) in hist.iter().enumerate() {
        acc += c;
        if acc > target {
            return v as u8;
        }
    }
    255
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analysis_copy_averages_and_scales() {
        let mut rgb = RgbImage::new(4000, 3000);
        for (x, _, p) in rgb.enumerate_pixels_mut() {
            *p = if x < 2000 {
                image::Rgb([0, 0, 0])
            } else {
                image::Rgb([255, 255, 255])
            };
        }
        let a = AnalysisImage::new(&rgb, 1000);
        assert_eq!(a.grey.dimensions(), (1000, 750));
        assert!((a.scale_x - 4.0).abs() < 1e-9 && (a.scale_y - 4.0).abs() < 1e-9);
        assert_eq!(a.grey.get_pixel(10, 10)[0], 0);
        assert_eq!(a.grey.get_pixel(990, 700)[0], 255);
        let small = AnalysisImage::new(&RgbImage::new(300, 200), 1000);
        assert_eq!(small.grey.dimensions(), (300, 200));
    }

    #[test]
    fn flat_image_is_not_sharp_and_checkerboard_is() {
        let flat = GrayImage::from_pixel(100, 100, image::Luma([128]));
        assert_eq!(sharpness(&flat), 0.0);
        let checker = GrayImage::from_fn(100, 100, |x, y| {
            image::Luma([if (x / 2 + y / 2) % 2 == 0 { 40 } else { 200 }])
        });
        assert!(sharpness(&checker) > 1000.0);
    }

    #[test]
    fn evaluate_lists_every_failure() {
        let m = QualityMetrics {
            width: 300,
            height: 200,
            sharpness: 1.0,
            mean_luminance: 20.0,
            glare_fraction: 0.5,
            measured_on: MeasuredOn::Document,
        };
        assert_eq!(
            evaluate(&m, &QualityThresholds::default()),
            vec![
                Reason::ImageTooSmall,
                Reason::ImageBlurry,
                Reason::ImageTooDark,
                Reason::ImageGlare
            ]
        );
        let frame = QualityMetrics {
            measured_on: MeasuredOn::Frame,
            ..m
        };
        assert_eq!(
            evaluate(&frame, &QualityThresholds::default()),
            vec![Reason::ImageTooSmall, Reason::ImageTooDark]
        );
    }
}
