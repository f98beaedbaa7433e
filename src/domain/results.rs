//! What a verification records as it goes, typed: `results` (read by operators in the
//! details) and each attempt's `metrics`. Stored as JSON in the shapes the API has always
//! answered; these types are the one place that shape is written down.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::portal::Step;
use super::verification::rfc3339;
use super::{DocumentType, Status};
use crate::faces::{Challenge, FaceBox, FaceMatch};

/// `results`: filled in step by step, then the decision; after erasure only the decision
/// and a note of what went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Results {
    /// Erased: listed first so that a stored `erased_at` is always read as erased.
    Erased(ErasedResults),
    Recorded(Box<Recorded>),
}

impl Default for Results {
    fn default() -> Self {
        Results::Recorded(Box::default())
    }
}

/// The results of a verification that still holds its personal data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Recorded {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<DocumentResults>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness: Option<LivenessResults>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub face_match: Option<FaceMatch>,
    /// The form's values, normalised, once accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form_data: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<DecisionRecord>,
}

/// What erasure keeps: the decision (the audit trail), when, and what went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErasedResults {
    /// `null` for a verification erased undecided (expired).
    pub decision: Option<DecisionRecord>,
    pub erased_at: String,
    pub erased: Vec<String>,
}

impl ErasedResults {
    /// Erased at `at`, keeping `decision`.
    pub fn new(decision: Option<DecisionRecord>, at: DateTime<Utc>) -> Self {
        ErasedResults {
            decision,
            erased_at: rfc3339(at),
            erased: ERASED.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// What erasure removes, in the order `results.erased` lists it. The images, the
/// `extra_data` and the `return_url` are cleared beside `results` by the store.
pub const ERASED: [&str; 6] = [
    "images",
    "extra_data",
    "return_url",
    "form_data",
    "document",
    "liveness",
];

/// `results.decision`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub status: Status,
    /// Machine-readable reasons; empty when verified.
    pub reasons: Vec<super::reasons::Reason>,
    /// Present when an operator made this decision, replacing the automatic one.
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub review: Option<OperatorReview>,
}

impl DecisionRecord {
    /// A decision of the automatic policy.
    pub fn automatic(status: Status, reasons: Vec<super::reasons::Reason>) -> Self {
        DecisionRecord {
            status,
            reasons,
            review: None,
        }
    }
}

/// Who made a decision that is not the automatic policy's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecidedBy {
    Operator,
}

/// What an operator's review adds to `results.decision`: who, why, when, and the
/// automatic decision it replaced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperatorReview {
    pub decided_by: DecidedBy,
    pub reviewer: String,
    pub reason: String,
    pub note: Option<String>,
    pub decided_at: String,
    pub automatic_decision: Box<DecisionRecord>,
}

/// `results.document`: the chosen type and each accepted side.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DocumentResults {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_type: Option<DocumentType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub front: Option<SideResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub back: Option<SideResult>,
    /// The machine-readable zone, from the side that must carry one (a passport's data
    /// page, an identity card's back), else from another side that happened to. Personal
    /// data: here only, never in an attempt's metrics, and erased with the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mrz: Option<super::mrz::Mrz>,
}

/// One accepted document side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SideResult {
    pub document_type: DocumentType,
    pub metrics: DocumentMetrics,
    pub borderline: Vec<String>,
}

/// `results.liveness`: the challenge and what the accepted burst measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LivenessResults {
    pub challenge: Challenge,
    pub metrics: LivenessMetrics,
}

impl Results {
    pub fn erased_at(&self) -> Option<&str> {
        match self {
            Results::Erased(e) => Some(&e.erased_at),
            Results::Recorded(_) => None,
        }
    }

    pub fn decision(&self) -> Option<&DecisionRecord> {
        match self {
            Results::Erased(e) => e.decision.as_ref(),
            Results::Recorded(r) => r.decision.as_ref(),
        }
    }

    /// The results still being recorded; `None` once erased (nothing is added after).
    pub fn recorded_mut(&mut self) -> Option<&mut Recorded> {
        match self {
            Results::Erased(_) => None,
            Results::Recorded(r) => Some(r),
        }
    }

    /// Whether the personal data was erased (on request or after the retention period).
    pub fn is_erased(&self) -> bool {
        matches!(self, Results::Erased(_))
    }

    pub fn recorded(&self) -> Option<&Recorded> {
        match self {
            Results::Erased(_) => None,
            Results::Recorded(r) => Some(r),
        }
    }

    /// What erasure at `at` keeps; `None` when already erased.
    pub fn erased(&self, at: DateTime<Utc>) -> Option<Results> {
        match self {
            Results::Erased(_) => None,
            Results::Recorded(r) => {
                Some(Results::Erased(ErasedResults::new(r.decision.clone(), at)))
            }
        }
    }

    /// As the details answer it.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or_else(|_| Value::Object(Map::new()))
    }
}

/// What one attempt measured, by step. Stored in the shape each step has always had:
/// a document side nests its measurements beside the near misses, a liveness burst is
/// bare, a form lists the field names it was sent (never their values).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum AttemptMetrics {
    /// Boxed: by far the largest.
    Document(Box<DocumentAttemptMetrics>),
    Liveness(LivenessMetrics),
    Form(FormMetrics),
    /// An attempt of a kind this version does not read (kept as it was).
    Other(Value),
}

impl AttemptMetrics {
    /// Read stored metrics of an attempt at `step`. Anything that does not have the
    /// step's shape is kept as it is, so no stored attempt becomes unreadable.
    pub fn from_stored(step: Step, value: Value) -> AttemptMetrics {
        // Read from a reference: the value is kept, not copied, for when it does not fit.
        let typed = match step {
            Step::DocumentFront | Step::DocumentBack => DocumentAttemptMetrics::deserialize(&value)
                .map(|d| AttemptMetrics::Document(Box::new(d))),
            Step::Liveness => LivenessMetrics::deserialize(&value).map(AttemptMetrics::Liveness),
            Step::FormData => FormMetrics::deserialize(&value).map(AttemptMetrics::Form),
            Step::Terms => return AttemptMetrics::Other(value),
        };
        typed.unwrap_or(AttemptMetrics::Other(value))
    }

    /// Checks that passed close to their threshold (document sides).
    pub fn borderline(&self) -> &[String] {
        match self {
            AttemptMetrics::Document(d) => &d.borderline,
            _ => &[],
        }
    }

    /// Findings that pass the step but need a person's look (a suspected spoof, a zone
    /// whose check digits disagree).
    pub fn flags(&self) -> &[String] {
        match self {
            AttemptMetrics::Liveness(l) => &l.flags,
            AttemptMetrics::Document(d) => &d.flags,
            _ => &[],
        }
    }

    pub fn document(&self) -> Option<&DocumentMetrics> {
        match self {
            AttemptMetrics::Document(d) => Some(&d.metrics),
            _ => None,
        }
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// A document side's attempt: `{"metrics": …, "borderline": […]}`, and `"flags": […]`
/// when the side passed with a finding for review (`MRZ_CHECK_FAILED`, or a zone still
/// missing on the last attempt).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentAttemptMetrics {
    pub metrics: DocumentMetrics,
    #[serde(default)]
    pub borderline: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
}

/// What the document check measured. Redaction reads the type, the corners and the
/// portrait; the rest (`quality`, `format`, `side`) is kept for the operator as measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentMetrics {
    pub document_type: Option<DocumentType>,
    /// Top-left, top-right, bottom-right, bottom-left, in the upright original's pixels;
    /// `null` when the document's edges were not found.
    #[serde(default)]
    pub corners: Option<[[f64; 2]; 4]>,
    /// The portrait check on a front that carries one; `null` otherwise.
    #[serde(default)]
    pub portrait: Option<PortraitMetrics>,
    /// Where fields were found on the crop (for redaction); absent when none was looked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub located: Option<Box<LocatedFields>>,
    #[serde(flatten)]
    pub measured: Map<String, Value>,
}

/// Fields found on a crop, as fractions of it: geometry only, never what they say.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LocatedFields {
    /// The machine-readable zone, when found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mrz: Option<crate::imaging::RelRect>,
    /// Every place the document number was found: its cells in the zone and where it is
    /// printed in the visual zone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub document_number: Vec<crate::imaging::RelRect>,
    /// One of those places is the number printed in the visual zone.
    #[serde(default)]
    pub number_in_visual_zone: bool,
    /// The printed photographs (the portrait, then any ghost portrait) found from their own
    /// edges around the faces on the crop; absent in rows stored before they were looked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub photos: Vec<crate::imaging::RelRect>,
}

/// The portrait found on a document: the face box in the pixels of the image it was found
/// in (the crop when there is one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortraitMetrics {
    #[serde(default)]
    pub face: Option<FaceBox>,
    pub image_width: u32,
    pub image_height: u32,
    #[serde(flatten)]
    pub measured: Map<String, Value>,
}

/// A liveness burst's measurements (per-frame faces, movement, the chosen frame), the
/// passive-liveness scores and the flags for review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LivenessMetrics {
    #[serde(default)]
    pub flags: Vec<String>,
    #[serde(flatten)]
    pub measured: Map<String, Value>,
}

/// A form attempt: the names of the fields sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormMetrics {
    pub fields: Vec<String>,
    /// On a test verification: `simulated`, and the outcome the tester picked.
    #[serde(flatten, default)]
    pub simulated: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z")
            .unwrap()
            .to_utc()
    }

    #[test]
    fn erasure_keeps_the_decision_and_happens_once() {
        let results: Results = serde_json::from_value(json!({
            "decision": {"status": "verified", "reasons": []},
            "form_data": {"last_name": "Lovelace"},
            "document": {"document_type": "passport"},
        }))
        .unwrap();
        let kept = results.erased(at()).unwrap();
        assert_eq!(
            kept.to_json(),
            json!({
                "decision": {"status": "verified", "reasons": []},
                "erased_at": "2026-11-28T12:00:00Z",
                "erased": ["images", "extra_data", "return_url", "form_data", "document", "liveness"],
            })
        );
        assert_eq!(kept.erased(at()), None);
        let read_back: Results = serde_json::from_value(kept.to_json()).unwrap();
        assert_eq!(read_back, kept);
    }

    #[test]
    fn an_undecided_erasure_writes_a_null_decision() {
        let kept = Results::default().erased(at()).unwrap();
        assert_eq!(kept.to_json()["decision"], Value::Null);
    }

    #[test]
    fn stored_metrics_keep_their_shape_per_step() {
        let document = json!({
            "metrics": {
                "quality": {"sharpness": 120.5},
                "corners": [[1.0, 2.0], [3.0, 2.0], [3.0, 4.0], [1.0, 4.0]],
                "portrait": {"reason": null, "faces": [], "face": {"x": 1, "y": 2, "width": 3,
                    "height": 4, "score": 0.9}, "face_ratio": 0.2, "min_face_ratio": 0.0,
                    "image_width": 640, "image_height": 400},
                "format": "jpeg", "document_type": "id_card", "side": "front",
            },
            "borderline": ["IMAGE_BLURRY"],
        });
        let m = AttemptMetrics::from_stored(Step::DocumentFront, document.clone());
        assert_eq!(m.borderline(), ["IMAGE_BLURRY"]);
        let doc = m.document().unwrap();
        assert_eq!(doc.document_type, Some(DocumentType::IdCard));
        assert_eq!(doc.portrait.as_ref().unwrap().face.unwrap().width, 3);
        assert_eq!(m.to_json(), document);

        let liveness = json!({"selfie_frame": 1, "flags": ["LIVENESS_SPOOF_SUSPECTED"]});
        let m = AttemptMetrics::from_stored(Step::Liveness, liveness.clone());
        assert_eq!(m.flags(), ["LIVENESS_SPOOF_SUSPECTED"]);
        assert_eq!(m.to_json(), liveness);

        let odd = json!({"sharpness": 12.5});
        let m = AttemptMetrics::from_stored(Step::DocumentFront, odd.clone());
        assert_eq!(m, AttemptMetrics::Other(odd.clone()));
        assert_eq!(m.to_json(), odd);
    }
}
