//! Face detection with the SeetaFace frontal model (`rustface`).
//!
//! The model ships inside the binary (`assets/seeta_fd_frontal_v1.0.bin`), so nothing is
//! read from disk at run time. It is parsed once into a [`FaceDetector`]; every call
//! clones the parsed model into a fresh `rustface` detector, because that detector keeps
//! scratch buffers and needs `&mut self` (it is neither `Sync` nor reusable across threads).
//! The clone copies about 1.2 MB of weights: well under a millisecond, against some 0.2 s
//! for detecting on a 640×480 image.
//!
//! Caution for maintainers: `rustface` copies detection windows with unchecked pointer
//! arithmetic (`get_window_data`) and trusts the boxes its regression stage produces to
//! overlap the image. Panics are caught below, but an out-of-bounds copy would not be.
//! No input that triggers it is known; it is one more reason to run the engine as a
//! separate process where uploads are untrusted.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;

use image::{DynamicImage, GrayImage};
use rustface::{ImageData, Model};
use serde::{Deserialize, Serialize};

use super::FaceBox;

/// The SeetaFace frontal face model, embedded at build time.
static MODEL_BYTES: &[u8] = include_bytes!("../../assets/seeta_fd_frontal_v1.0.bin");

/// The detector's sliding window, in pixels of the detection image. `rustface` scans an
/// image pyramid down to this size, so a detection image smaller than this holds no face
/// it could find (and its window arithmetic would underflow).
const WINDOW: u32 = 40;

/// `rustface` refuses (panics on) a minimum face size below this.
const MIN_FACE_FLOOR: u32 = 20;

/// How faces are searched for. The defaults suit phone photos and document scans.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectionConfig {
    /// Detection runs on a grey copy whose longer side is at most this many pixels; boxes
    /// are mapped back to the original image. Larger finds smaller faces, at a cost that
    /// grows with the area. Faces narrower than about 30 pixels of the detection copy
    /// (1/20 of this side) are not found at all.
    pub max_side: u32,
    /// Smallest face, in pixels of the detection image (at least 20).
    pub min_face_px: u32,
    /// Detections scoring below this are dropped. The model's scores run from about 0 to
    /// 30 or more; lower finds more faces and more false ones.
    pub score_threshold: f64,
    /// Ratio between successive levels of the image pyramid, in (0.1, 0.99).
    pub pyramid_scale: f32,
    /// Sliding-window step in pixels (at least 1).
    pub window_step: u32,
}

impl Default for DetectionConfig {
    fn default() -> Self {
        DetectionConfig {
            max_side: 640,
            min_face_px: 20,
            score_threshold: 2.0,
            pyramid_scale: 0.8,
            window_step: 4,
        }
    }
}

impl DetectionConfig {
    /// The same settings pulled into the ranges `rustface` accepts: it panics outside them,
    /// and a configuration file must not be able to crash a request.
    fn sanitized(&self) -> DetectionConfig {
        let finite_or = |v: f64, d: f64| if v.is_finite() { v } else { d };
        let default = DetectionConfig::default();
        DetectionConfig {
            max_side: self.max_side.clamp(WINDOW, 4096),
            min_face_px: self.min_face_px.max(MIN_FACE_FLOOR),
            score_threshold: finite_or(self.score_threshold, default.score_threshold).max(1e-3),
            pyramid_scale: if self.pyramid_scale.is_finite() {
                self.pyramid_scale.clamp(0.1, 0.99)
            } else {
                default.pyramid_scale
            },
            window_step: self.window_step.clamp(1, 32),
        }
    }
}

/// Why the embedded model could not be loaded. Only a damaged build can cause this.
#[derive(Debug, thiserror::Error)]
#[error("the embedded face model could not be parsed: {0}")]
pub struct ModelError(#[from] std::io::Error);

/// A parsed face model, ready to detect. Cheap to share by reference across threads.
#[derive(Clone)]
pub struct FaceDetector {
    model: Model,
}

impl std::fmt::Debug for FaceDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceDetector").finish_non_exhaustive()
    }
}

impl FaceDetector {
    /// Parse the embedded SeetaFace frontal model.
    pub fn embedded() -> Result<FaceDetector, ModelError> {
        // `read_model` panics on an unknown classifier kind; the bytes are our own asset,
        // but a panic here must still not escape as anything but an error.
        let model = catch_unwind(|| rustface::read_model(MODEL_BYTES)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed model")
        })??;
        Ok(FaceDetector { model })
    }

    /// The process-wide detector, parsed on first use.
    ///
    /// The model is a compile-time constant, so this is shared immutable data rather than
    /// hidden state. A test parses it on every build; a failure here means a damaged
    /// binary, which is why this one place may panic.
    pub fn shared() -> &'static FaceDetector {
        static SHARED: OnceLock<FaceDetector> = OnceLock::new();
        SHARED.get_or_init(|| FaceDetector::embedded().expect("embedded face model parses"))
    }

    /// Faces in `image`, in its own pixel coordinates, highest score first.
    pub fn detect(&self, image: &DynamicImage, config: &DetectionConfig) -> Vec<FaceBox> {
        if let DynamicImage::ImageLuma8(grey) = image {
            return self.detect_gray(grey, config);
        }
        let config = config.sanitized();
        let (width, height) = (image.width(), image.height());
        if width == 0 || height == 0 {
            return Vec::new();
        }
        let grey = if width.max(height) > config.max_side {
            // `thumbnail` keeps the aspect ratio and averages pixels, which is what a
            // detector wants from a downscale.
            image.thumbnail(config.max_side, config.max_side).to_luma8()
        } else {
            image.to_luma8()
        };
        self.run(&grey, width, height, &config)
    }

    /// Faces in a grey image, in its own pixel coordinates, highest score first.
    pub fn detect_gray(&self, image: &GrayImage, config: &DetectionConfig) -> Vec<FaceBox> {
        let config = config.sanitized();
        let (width, height) = image.dimensions();
        if width == 0 || height == 0 {
            return Vec::new();
        }
        let long = width.max(height);
        if long <= config.max_side {
            return self.run(image, width, height, &config);
        }
        let fit = |side: u32| {
            let scaled = u64::from(side) * u64::from(config.max_side) / u64::from(long);
            u32::try_from(scaled).unwrap_or(config.max_side).max(1)
        };
        let small = image::imageops::thumbnail(image, fit(width), fit(height));
        self.run(&small, width, height, &config)
    }

    /// Detection on a grey image that is the original (`orig_w` × `orig_h`), possibly
    /// scaled down; boxes come back in original coordinates.
    fn run(
        &self,
        grey: &GrayImage,
        orig_w: u32,
        orig_h: u32,
        config: &DetectionConfig,
    ) -> Vec<FaceBox> {
        let (w, h) = grey.dimensions();
        if w < WINDOW || h < WINDOW {
            return Vec::new();
        }
        let run = AssertUnwindSafe(|| {
            let mut detector = rustface::create_detector_with_model(self.model.clone());
            detector.set_min_face_size(config.min_face_px);
            detector.set_score_thresh(config.score_threshold);
            detector.set_pyramid_scale_factor(config.pyramid_scale);
            detector.set_slide_window_step(config.window_step, config.window_step);
            detector.detect(&ImageData::new(grey.as_raw(), w, h))
        });
        let found = match catch_unwind(run) {
            Ok(found) => found,
            Err(_) => {
                // The settings and image size are checked above, so this is a defect in
                // the detector; treat the image as faceless rather than failing the request.
                tracing::error!(width = w, height = h, "face detector panicked");
                return Vec::new();
            }
        };
        let sx = f64::from(orig_w) / f64::from(w);
        let sy = f64::from(orig_h) / f64::from(h);
        let mut faces: Vec<FaceBox> = found
            .iter()
            .filter_map(|f| {
                let b = f.bbox();
                FaceBox::clamped(
                    f64::from(b.x()) * sx,
                    f64::from(b.y()) * sy,
                    f64::from(b.width()) * sx,
                    f64::from(b.height()) * sy,
                    orig_w,
                    orig_h,
                    f.score(),
                )
            })
            .collect();
        faces.sort_by(|a, b| b.score.total_cmp(&a.score));
        faces
    }
}

/// Faces in `image` with the default settings, highest score first, in the image's own
/// pixel coordinates. Uses the shared embedded model.
pub fn detect_faces(image: &DynamicImage) -> Vec<FaceBox> {
    FaceDetector::shared().detect(image, &DetectionConfig::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_model_parses() {
        FaceDetector::embedded().expect("model parses");
    }

    #[test]
    fn absurd_settings_are_pulled_into_range() {
        let wild = DetectionConfig {
            max_side: 0,
            min_face_px: 0,
            score_threshold: f64::NAN,
            pyramid_scale: 7.0,
            window_step: 0,
        }
        .sanitized();
        assert_eq!(wild.max_side, WINDOW);
        assert_eq!(wild.min_face_px, MIN_FACE_FLOOR);
        assert!(wild.score_threshold > 0.0);
        assert!((0.1..=0.99).contains(&wild.pyramid_scale));
        assert_eq!(wild.window_step, 1);
    }

    #[test]
    fn degenerate_images_have_no_faces() {
        let detector = FaceDetector::shared();
        let config = DetectionConfig::default();
        for (w, h) in [(0, 0), (1, 1), (39, 500), (500, 39), (3000, 2), (2, 3000)] {
            let grey = DynamicImage::new_luma8(w, h);
            assert!(detector.detect(&grey, &config).is_empty(), "grey {w}x{h}");
            let rgb = DynamicImage::new_rgb8(w, h);
            assert!(detector.detect(&rgb, &config).is_empty(), "rgb {w}x{h}");
        }
    }
}
