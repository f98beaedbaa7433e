//! Faces: detection, the document-portrait and selfie checks, liveness, and face match.
//!
//! Everything here is pure, synchronous and CPU-bound: callers run it off the async
//! threads (`spawn_blocking` behind the backend's semaphore). Inputs are decoded images;
//! outputs are typed results carrying stable reason codes and the measured values that
//! led to them, so an attempt can record why it was accepted or rejected.
//!
//! - [`detect`]: [`detect_faces`] and the [`FaceDetector`] around the embedded SeetaFace
//!   model.
//! - [`checks`]: [`check_document_portrait`] and [`check_selfie`].
//! - [`liveness`]: the [`Challenge`] picked per verification and [`check_liveness`] over a
//!   burst of frames. What it can and cannot catch: `docs/liveness.md`.
//! - [`models`]: the ONNX model set ([`FaceModels`]), embedded or from a folder, loaded
//!   once per process.
//! - [`recognition`]: detection, landmarks, alignment and embedding with those models, and
//!   the spoof score.
//! - [`matching`]: [`compare`] a selfie with a document portrait under two [`Thresholds`].
//! - [`passive`]: the passive-liveness score of a burst's frames.

pub mod checks;
pub mod detect;
pub mod liveness;
pub mod matching;
pub mod models;
pub mod passive;
pub mod recognition;

pub use checks::{
    DocumentFaceConfig, FaceCheck, FaceReason, SelfieConfig, check_document_portrait, check_selfie,
};
pub use detect::{DetectionConfig, FaceDetector, detect_faces};
pub use liveness::{
    Challenge, FrameObservation, FrameReport, LIVENESS_FAILED, LivenessCheck, LivenessConfig,
    LivenessReason, UnknownChallenge, check_liveness, judge_burst, observe_frame,
    refuse_frame_count,
};
pub use matching::{FaceMatch, FaceMatchReason, MatchDecision, Thresholds, compare};
pub use models::{FaceModels, ModelInfo, ModelsConfig};
pub use passive::{
    LIVENESS_PASSIVE_NOT_PERFORMED, LIVENESS_SPOOF_SUSPECTED, PassiveLiveness,
    PassiveLivenessConfig,
};

use serde::{Deserialize, Serialize};

/// All face-related thresholds, as one configuration section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FacesConfig {
    pub detection: DetectionConfig,
    pub document: DocumentFaceConfig,
    pub selfie: SelfieConfig,
    pub liveness: LivenessConfig,
    /// The recognition and liveness models.
    pub models: ModelsConfig,
    /// Face-match thresholds (each API key may set its own).
    pub matching: Thresholds,
    pub passive_liveness: PassiveLivenessConfig,
}

/// A detected face: a box in the pixel coordinates of the image it was found in, always
/// inside that image and never empty, with the detector's confidence score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FaceBox {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    /// The detector's score; higher is more certain. Not a probability.
    pub score: f64,
}

impl FaceBox {
    /// The box `(x, y, w, h)` cut to the `img_w` × `img_h` image, rounded to whole pixels;
    /// `None` when nothing of it lies inside.
    pub(crate) fn clamped(
        x: f64,
        y: f64,
        w: f64,
        h: f64,
        img_w: u32,
        img_h: u32,
        score: f64,
    ) -> Option<FaceBox> {
        if ![x, y, w, h].iter().all(|v| v.is_finite()) {
            return None;
        }
        let (iw, ih) = (f64::from(img_w), f64::from(img_h));
        let x0 = x.round().clamp(0.0, iw);
        let y0 = y.round().clamp(0.0, ih);
        let x1 = (x + w).round().clamp(0.0, iw);
        let y1 = (y + h).round().clamp(0.0, ih);
        if x1 <= x0 || y1 <= y0 {
            return None;
        }
        // In range by the clamps above: whole numbers between 0 and a u32.
        Some(FaceBox {
            x: x0 as u32,
            y: y0 as u32,
            width: (x1 - x0) as u32,
            height: (y1 - y0) as u32,
            score,
        })
    }

    /// Area in pixels.
    pub fn area(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }
}

/// A face's size relative to its image: box width over the image's shorter side. It reads
/// the same for portrait and landscape shots of the same framing.
pub(crate) fn width_ratio(face: &FaceBox, img_w: u32, img_h: u32) -> f64 {
    let short = img_w.min(img_h).max(1);
    f64::from(face.width) / f64::from(short)
}

/// The largest face by area; on equal areas, the higher score.
pub(crate) fn largest(faces: &[FaceBox]) -> Option<FaceBox> {
    faces
        .iter()
        .copied()
        .max_by(|a, b| a.area().cmp(&b.area()).then(a.score.total_cmp(&b.score)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_are_cut_to_the_image() {
        let b = FaceBox::clamped(-10.0, -5.0, 50.0, 40.0, 30, 30, 1.0).unwrap();
        assert_eq!((b.x, b.y, b.width, b.height), (0, 0, 30, 30));
        assert!(FaceBox::clamped(40.0, 0.0, 10.0, 10.0, 30, 30, 1.0).is_none());
        assert!(FaceBox::clamped(f64::NAN, 0.0, 10.0, 10.0, 30, 30, 1.0).is_none());
    }

    #[test]
    fn config_reads_partial_toml_over_defaults() {
        let cfg: FacesConfig = toml::from_str("[selfie]\nmin_face_ratio = 0.3\n").unwrap();
        assert_eq!(cfg.selfie.min_face_ratio, 0.3);
        assert_eq!(cfg.liveness, LivenessConfig::default());
        assert!(toml::from_str::<FacesConfig>("[selfie]\nbogus = 1\n").is_err());
    }
}
