//! Passive liveness: does a selfie frame show a live person, or a photo, a screen or a
//! mask held to the camera? One look at single frames by the liveness model; it complements
//! the active challenge (move closer or farther), it does not replace it. What it catches
//! and misses: `docs/liveness.md`.

use image::RgbImage;
use serde::{Deserialize, Serialize};

use super::models::{FaceModels, ModelInfo};
use super::recognition;

/// A liveness burst whose frames look like a presentation attack.
pub const LIVENESS_SPOOF_SUSPECTED: &str = "LIVENESS_SPOOF_SUSPECTED";
/// The liveness model found no face to score, so the burst was not judged for spoofing.
pub const LIVENESS_PASSIVE_NOT_PERFORMED: &str = "LIVENESS_PASSIVE_NOT_PERFORMED";

/// Settings `[faces.passive_liveness]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PassiveLivenessConfig {
    /// A spoof score above this flags the verification (`LIVENESS_SPOOF_SUSPECTED`).
    pub spoof_threshold: f64,
}

impl Default for PassiveLivenessConfig {
    fn default() -> Self {
        // Real portraits in docs/faces.md score at most 0.38; a photo shown inside a
        // phone's or a print's border scores above 0.9.
        PassiveLivenessConfig {
            spoof_threshold: 0.5,
        }
    }
}

/// The passive-liveness result stored with a liveness attempt (`metrics.passive`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PassiveLiveness {
    /// The highest spoof score of the frames scored (0: surely live, 1: surely a spoof);
    /// `None` when no frame had a face the model could score.
    pub spoof_score: Option<f64>,
    /// Scores above this are suspected spoofs.
    pub threshold: f64,
    pub spoof_suspected: bool,
    /// Which frames of the burst were scored, with each one's score.
    pub frames: Vec<(usize, f64)>,
    pub model: ModelInfo,
}

impl PassiveLiveness {
    /// The flag this result raises for the decision, if any.
    pub fn flag(&self) -> Option<&'static str> {
        match self.spoof_score {
            None => Some(LIVENESS_PASSIVE_NOT_PERFORMED),
            Some(_) if self.spoof_suspected => Some(LIVENESS_SPOOF_SUSPECTED),
            Some(_) => None,
        }
    }
}

/// Score `frames` (index in the burst, image) and keep the most suspicious.
pub fn score_frames(
    models: &FaceModels,
    frames: &[(usize, &RgbImage)],
    config: &PassiveLivenessConfig,
) -> tract_onnx::prelude::TractResult<PassiveLiveness> {
    let mut scored = Vec::new();
    for &(index, img) in frames {
        if let Some(score) = score_frame(models, img)? {
            scored.push((index, score));
        }
    }
    Ok(PassiveLiveness::from_scores(models, scored, config))
}

/// The spoof score of the most certain face in one frame; `None` without a face.
pub fn score_frame(
    models: &FaceModels,
    img: &RgbImage,
) -> tract_onnx::prelude::TractResult<Option<f64>> {
    let Some(face) = recognition::detect(models, img)?.into_iter().next() else {
        return Ok(None);
    };
    let score = recognition::spoof_score(models, img, &face)?;
    Ok(Some((score * 10_000.0).round() / 10_000.0))
}

impl PassiveLiveness {
    /// The result over frames scored one at a time with [`score_frame`].
    pub fn from_scores(
        models: &FaceModels,
        scored: Vec<(usize, f64)>,
        config: &PassiveLivenessConfig,
    ) -> PassiveLiveness {
        let spoof_score = scored.iter().map(|(_, s)| *s).reduce(f64::max);
        PassiveLiveness {
            spoof_score,
            threshold: config.spoof_threshold,
            spoof_suspected: spoof_score.is_some_and(|s| s > config.spoof_threshold),
            frames: scored,
            model: models.info.clone(),
        }
    }
}
