//! The verification backend ("okID backend" in the seed's architecture): checks document
//! photos and liveness bursts, compares faces and decides a verification.
//!
//! [`VerificationBackend`] has two implementations that behave the same:
//! [`LocalBackend`] does the work in-process (the default), [`HttpBackend`] sends it to a
//! `v2client engine` over HTTP (see [`engine`] for the wire protocol), so the heavy image
//! work can run on its own processes or machines.

pub mod decision;
pub mod engine;
pub mod http;
pub mod local;
mod wire;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use strum::{EnumString, IntoStaticStr, VariantArray};

pub use decision::{Decision, DecisionInput, StepOutcome, decide};
pub use http::HttpBackend;
pub use local::LocalBackend;

use crate::domain::DocumentType;
use crate::faces::{Challenge, FaceMatch, ModelInfo, Thresholds};

/// Which side of a document a photo shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(IntoStaticStr, EnumString, VariantArray)]
#[strum(serialize_all = "snake_case", parse_err_ty = String, parse_err_fn = Side::unknown)]
pub enum Side {
    Front,
    Back,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    fn unknown(given: &str) -> String {
        format!("unknown side `{given}`; use front or back")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Accepted,
    Rejected,
}

/// The result of checking one document photo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentResult {
    pub verdict: Verdict,
    /// Stable reason codes of every check that failed; empty when accepted.
    pub reasons: Vec<String>,
    /// Set when the photo passed but a measurement was close to its threshold.
    pub borderline: Vec<String>,
    /// What was measured: `quality` (size, sharpness, luminance, glare), `corners` (TL, TR,
    /// BR, BL in the upright original), `portrait` (face box on the crop) …
    pub metrics: Value,
    /// The upright original, re-encoded as JPEG with no metadata.
    #[serde(with = "wire::base64_bytes")]
    pub original_jpeg: Bytes,
    /// The straightened document, when it was found.
    #[serde(with = "wire::base64_opt")]
    pub cropped_jpeg: Option<Bytes>,
    /// What the machine-readable zone said, when the crop was read (a side of a passport
    /// or an identity card whose outline was found).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mrz: Option<MrzFinding>,
}

/// The machine-readable zone of one document side. The backend reports; whether a missing
/// or unreadable zone asks for a retake is the workflow's call (it knows the attempts left).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MrzFinding {
    pub outcome: crate::document::MrzOutcome,
    /// This side must carry a zone: a passport's data page, an identity card's back.
    pub required: bool,
    /// The fields, when the zone parsed (also when a check digit failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<crate::domain::mrz::Mrz>,
}

/// The result of checking a liveness burst.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LivenessResult {
    pub verdict: Verdict,
    pub reasons: Vec<String>,
    /// Set on an accepted burst that still needs a person's look (for example
    /// `LIVENESS_SPOOF_SUSPECTED`): the decision turns them into review reasons.
    #[serde(default)]
    pub flags: Vec<String>,
    /// Per-frame face boxes, size ratio, frame differences, the chosen selfie frame.
    pub metrics: Value,
    /// The chosen frame as JPEG with no metadata (the selfie), when one was chosen.
    #[serde(with = "wire::base64_opt")]
    pub selfie_jpeg: Option<Bytes>,
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The upload is not a usable image (stable code such as `UNSUPPORTED_FORMAT`,
    /// `IMAGE_TOO_LARGE`, `IMAGE_CORRUPT`).
    #[error("{message}")]
    InvalidImage { code: String, message: String },
    /// The request itself is wrong (e.g. a frame count outside 2 to 8).
    #[error("{0}")]
    InvalidRequest(String),
    /// The backend is not configured (HTTP backend without a URL).
    #[error("{0}")]
    NotConfigured(String),
    /// The backend cannot be reached or did not answer in time.
    #[error("verification backend unavailable: {0}")]
    Unavailable(String),
    #[error("verification backend failed: {0}")]
    Internal(String),
}

impl BackendError {
    pub fn code(&self) -> &str {
        match self {
            BackendError::InvalidImage { code, .. } => code,
            BackendError::InvalidRequest(_) => "INVALID_REQUEST",
            BackendError::NotConfigured(_) => "SERVER_NOT_CONFIGURED",
            BackendError::Unavailable(_) => "BACKEND_UNAVAILABLE",
            BackendError::Internal(_) => "INTERNAL_ERROR",
        }
    }
}

/// The verification engine. Object-safe: the app holds an `Arc<dyn VerificationBackend>`.
#[async_trait]
pub trait VerificationBackend: Send + Sync + 'static {
    /// `local` or `http`.
    fn name(&self) -> &'static str;

    /// Why this backend cannot work as configured, if it cannot.
    fn configuration_problem(&self) -> Option<String> {
        None
    }

    /// Check one side of a document of the type the user chose.
    async fn check_document(
        &self,
        document_type: DocumentType,
        side: Side,
        image: Bytes,
    ) -> Result<DocumentResult, BackendError>;

    /// Check a burst of frames (first to last) against the server's challenge.
    async fn check_liveness(
        &self,
        challenge: Challenge,
        frames: Vec<Bytes>,
    ) -> Result<LivenessResult, BackendError>;

    /// Compare the selfie's face with the document's portrait (both JPEG) and decide the
    /// similarity under `thresholds`.
    async fn compare_faces(
        &self,
        selfie: Bytes,
        document: Bytes,
        thresholds: Thresholds,
    ) -> Result<FaceMatch, BackendError>;

    /// The face models this backend runs, when it knows them locally.
    fn models(&self) -> Option<ModelInfo> {
        None
    }

    /// The memory budget of the images this backend decodes in this process, if it
    /// decodes any here.
    fn decode_budget(&self) -> Option<Arc<crate::imaging::DecodeBudget>> {
        None
    }

    /// Decide a whole verification from its steps.
    async fn decide(&self, input: DecisionInput) -> Result<Decision, BackendError>;
}

/// Build the configured backend. The built-in one fails when its face models cannot be
/// loaded (a start-up error, never a silent pass).
pub fn from_settings(
    settings: &crate::config::Settings,
) -> Result<Arc<dyn VerificationBackend>, crate::faces::models::ModelError> {
    Ok(match &settings.backend.kind {
        crate::config::BackendKind::Local => Arc::new(LocalBackend::new(
            settings.backend.imaging,
            settings.backend.faces.clone(),
            settings.backend.workers,
        )?),
        crate::config::BackendKind::Http => Arc::new(HttpBackend::new(
            settings.backend.url.clone(),
            settings.backend.token.clone(),
            settings.backend.timeout,
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_round_trip_through_their_names() {
        for &side in Side::VARIANTS {
            assert_eq!(side.as_str().parse::<Side>(), Ok(side));
            assert_eq!(serde_json::to_value(side).unwrap(), side.as_str());
        }
        assert_eq!(Side::Front.as_str(), "front");
        assert_eq!(
            "top".parse::<Side>(),
            Err("unknown side `top`; use front or back".to_owned())
        );
    }
}
