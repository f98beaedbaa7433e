//! Face match: is the selfie the person on the document?
//!
//! Answering that needs a face-recognition model, and the project ships none: a
//! detector finds faces, it cannot tell them apart. So the built-in matcher says
//! [`FaceMatch::NotPerformed`] with [`FaceMatchReason::ModelUnavailable`], which the
//! decision turns into manual review. It never invents a score. A real model slots in as
//! another [`FaceMatcher`].

use image::DynamicImage;
use serde::{Deserialize, Serialize};

use super::FaceBox;

/// Why no comparison was made. Serialised as the stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FaceMatchReason {
    /// No face-recognition model is installed.
    #[serde(rename = "FACE_MATCH_MODEL_UNAVAILABLE")]
    ModelUnavailable,
}

impl FaceMatchReason {
    pub fn code(self) -> &'static str {
        match self {
            FaceMatchReason::ModelUnavailable => "FACE_MATCH_MODEL_UNAVAILABLE",
        }
    }
}

/// The result of comparing a selfie with a document portrait.
///
/// Serialised with a `status` tag: `{"status": "matched", "score": 0.93}`,
/// `{"status": "not_performed", "reason": "FACE_MATCH_MODEL_UNAVAILABLE"}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum FaceMatch {
    /// Same person, with the model's similarity score.
    Matched { score: f64 },
    /// Different people, with the model's similarity score.
    NotMatched { score: f64 },
    /// No comparison was made, and why.
    NotPerformed { reason: FaceMatchReason },
}

impl FaceMatch {
    pub fn performed(&self) -> bool {
        !matches!(self, FaceMatch::NotPerformed { .. })
    }
}

/// One face to compare: the image and where the face is in it.
#[derive(Debug, Clone, Copy)]
pub struct FaceInImage<'a> {
    pub image: &'a DynamicImage,
    pub face: FaceBox,
}

/// Something that can tell whether two faces belong to one person.
pub trait FaceMatcher: Send + Sync {
    fn compare(&self, selfie: FaceInImage<'_>, portrait: FaceInImage<'_>) -> FaceMatch;
}

/// The matcher used while no recognition model is available: it always says so.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFaceMatcher;

impl FaceMatcher for NoFaceMatcher {
    fn compare(&self, _selfie: FaceInImage<'_>, _portrait: FaceInImage<'_>) -> FaceMatch {
        FaceMatch::NotPerformed {
            reason: FaceMatchReason::ModelUnavailable,
        }
    }
}

/// Compare with the built-in matcher, which has no model: always `not_performed`.
pub fn compare_faces(selfie: FaceInImage<'_>, portrait: FaceInImage<'_>) -> FaceMatch {
    NoFaceMatcher.compare(selfie, portrait)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_model_the_match_is_not_performed() {
        let img = DynamicImage::new_rgb8(100, 100);
        let face = FaceBox {
            x: 10,
            y: 10,
            width: 50,
            height: 50,
            score: 9.0,
        };
        let side = FaceInImage { image: &img, face };
        let result = compare_faces(side, side);
        assert_eq!(
            result,
            FaceMatch::NotPerformed {
                reason: FaceMatchReason::ModelUnavailable
            }
        );
        assert!(!result.performed());
        assert_eq!(
            serde_json::to_value(result).unwrap(),
            serde_json::json!({"status": "not_performed", "reason": "FACE_MATCH_MODEL_UNAVAILABLE"})
        );
    }

    #[test]
    fn scores_serialise_with_the_status() {
        let m = FaceMatch::Matched { score: 0.9 };
        assert!(m.performed());
        assert_eq!(
            serde_json::to_value(m).unwrap(),
            serde_json::json!({"status": "matched", "score": 0.9})
        );
    }
}
