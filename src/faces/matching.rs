//! Face match: is the selfie the person on the document?
//!
//! Both faces are embedded by the recognition model ([`super::recognition`]) and compared
//! by cosine similarity; two calibrated thresholds turn the similarity into a decision:
//! `match` at or above [`Thresholds::matched`], `no_match` below [`Thresholds::no_match`],
//! `uncertain` between (a person decides). How the defaults were chosen: `docs/faces.md`.

use image::RgbImage;
use serde::{Deserialize, Serialize};
use strum::{IntoStaticStr, VariantArray};

use super::models::{FaceModels, ModelInfo};
use super::recognition;

/// The similarity thresholds. Settings `[faces.matching]` and per API key.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// At or above: the same person.
    #[serde(rename = "match")]
    pub matched: f64,
    /// Below: different people. Between the two: uncertain.
    pub no_match: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        // Chosen on the evaluation set in docs/faces.md: different people scored at most
        // 0.22, the same person at least 0.61 (also with one side reduced to a small
        // compressed portrait). The match threshold keeps a wide margin above the first;
        // between the two, a person decides.
        Thresholds {
            matched: 0.45,
            no_match: 0.30,
        }
    }
}

impl Thresholds {
    /// Both in [-1, 1] (cosine similarities) and `no_match` ≤ `match`.
    pub fn validate(&self) -> Result<(), String> {
        let ok = |v: f64| v.is_finite() && (-1.0..=1.0).contains(&v);
        if !ok(self.matched) || !ok(self.no_match) {
            return Err("face match thresholds are similarities between -1 and 1".into());
        }
        if self.no_match > self.matched {
            return Err(format!(
                "the no-match threshold ({}) is above the match threshold ({})",
                self.no_match, self.matched
            ));
        }
        Ok(())
    }

    pub fn decide(&self, similarity: f64) -> MatchDecision {
        if similarity >= self.matched {
            MatchDecision::Match
        } else if similarity < self.no_match {
            MatchDecision::NoMatch
        } else {
            MatchDecision::Uncertain
        }
    }
}

/// What a similarity means under the thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(IntoStaticStr, VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum MatchDecision {
    Match,
    Uncertain,
    NoMatch,
}

impl MatchDecision {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Why no comparison was made. Serialised as the stable code, which does not follow the
/// variant's name, so serde and strum are each told it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, IntoStaticStr, VariantArray,
)]
pub enum FaceMatchReason {
    /// No face-recognition model is installed (an engine without models).
    #[serde(rename = "FACE_MATCH_MODEL_UNAVAILABLE")]
    #[strum(serialize = "FACE_MATCH_MODEL_UNAVAILABLE")]
    ModelUnavailable,
    /// The recognition model found no face in the selfie.
    #[serde(rename = "FACE_NOT_FOUND_IN_SELFIE")]
    #[strum(serialize = "FACE_NOT_FOUND_IN_SELFIE")]
    SelfieFaceNotFound,
    /// The recognition model found no face on the document.
    #[serde(rename = "FACE_NOT_FOUND_ON_DOCUMENT")]
    #[strum(serialize = "FACE_NOT_FOUND_ON_DOCUMENT")]
    DocumentFaceNotFound,
    /// The selfie or the document image to compare is missing.
    #[serde(rename = "FACE_IMAGE_MISSING")]
    #[strum(serialize = "FACE_IMAGE_MISSING")]
    ImageMissing,
}

impl FaceMatchReason {
    pub fn code(self) -> &'static str {
        self.into()
    }
}

/// The result of comparing a selfie with a document portrait, as stored in
/// `results.face_match`:
/// `{"status": "performed", "similarity": 0.71, "decision": "match", "thresholds": {…},
/// "model": {…}}` or `{"status": "not_performed", "reason": "FACE_NOT_FOUND_IN_SELFIE"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum FaceMatch {
    Performed {
        /// Cosine similarity of the two embeddings, in [-1, 1].
        similarity: f64,
        decision: MatchDecision,
        thresholds: Thresholds,
        model: ModelInfo,
    },
    NotPerformed {
        reason: FaceMatchReason,
    },
}

impl FaceMatch {
    pub fn performed(&self) -> bool {
        matches!(self, FaceMatch::Performed { .. })
    }

    /// The decision, when a comparison was made.
    pub fn decision(&self) -> Option<MatchDecision> {
        match self {
            FaceMatch::Performed { decision, .. } => Some(*decision),
            FaceMatch::NotPerformed { .. } => None,
        }
    }
}

/// Compare the most certain face of each image. CPU-bound: run it off the async threads.
pub fn compare(
    models: &FaceModels,
    selfie: &RgbImage,
    document: &RgbImage,
    thresholds: Thresholds,
) -> tract_onnx::prelude::TractResult<FaceMatch> {
    let Some(s) = recognition::describe(models, selfie)? else {
        return Ok(FaceMatch::NotPerformed {
            reason: FaceMatchReason::SelfieFaceNotFound,
        });
    };
    let Some(d) = recognition::describe(models, document)? else {
        return Ok(FaceMatch::NotPerformed {
            reason: FaceMatchReason::DocumentFaceNotFound,
        });
    };
    let similarity = s.embedding.similarity(&d.embedding);
    // Stored rounded: the fourth decimal is noise between builds and CPUs.
    let similarity = (similarity * 10_000.0).round() / 10_000.0;
    Ok(FaceMatch::Performed {
        similarity,
        decision: thresholds.decide(similarity),
        thresholds,
        model: models.info.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_and_reasons_serialise_as_their_names() {
        for &d in MatchDecision::VARIANTS {
            assert_eq!(serde_json::to_value(d).unwrap(), d.as_str());
            assert_eq!(
                serde_json::from_value::<MatchDecision>(d.as_str().into()).unwrap(),
                d
            );
        }
        assert_eq!(MatchDecision::NoMatch.as_str(), "no_match");
        for &r in FaceMatchReason::VARIANTS {
            assert_eq!(serde_json::to_value(r).unwrap(), r.code());
            assert_eq!(
                serde_json::from_value::<FaceMatchReason>(r.code().into()).unwrap(),
                r
            );
        }
        assert_eq!(
            FaceMatchReason::SelfieFaceNotFound.code(),
            "FACE_NOT_FOUND_IN_SELFIE"
        );
    }

    #[test]
    fn thresholds_split_the_range_in_three() {
        let t = Thresholds {
            matched: 0.5,
            no_match: 0.3,
        };
        assert_eq!(t.decide(0.5), MatchDecision::Match);
        assert_eq!(t.decide(0.49), MatchDecision::Uncertain);
        assert_eq!(t.decide(0.3), MatchDecision::Uncertain);
        assert_eq!(t.decide(0.29), MatchDecision::NoMatch);
        assert!(t.validate().is_ok());
        assert!(Thresholds::default().validate().is_ok());
        assert!(
            Thresholds {
                matched: 0.2,
                no_match: 0.3
            }
            .validate()
            .is_err()
        );
        assert!(
            Thresholds {
                matched: f64::NAN,
                no_match: 0.3
            }
            .validate()
            .is_err()
        );
    }

    #[test]
    fn results_serialise_with_their_status() {
        let m = FaceMatch::NotPerformed {
            reason: FaceMatchReason::ImageMissing,
        };
        assert!(!m.performed());
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            serde_json::json!({"status": "not_performed", "reason": "FACE_IMAGE_MISSING"})
        );
        let t = serde_json::to_value(Thresholds::default()).unwrap();
        assert!(t.get("match").is_some() && t.get("no_match").is_some());
    }
}
