//! Judging one submission: the backend's checks for photos, the form's rules for values.

use bytes::Bytes;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::Loaded;
use crate::AppState;
use crate::backend::{BackendError, MrzFinding, Side, Verdict};
use crate::document::MrzOutcome;
use crate::domain::lifecycle::StepResult;
use crate::domain::portal::Step;
use crate::domain::results::{AttemptMetrics, DocumentAttemptMetrics, FormMetrics};
use crate::domain::{AttemptOutcome, DocumentType, form};
use crate::error::ApiError;
use crate::faces::Challenge;

/// A judged submission, before it is written.
pub struct Judged {
    pub step: Step,
    pub outcome: AttemptOutcome,
    pub reasons: Vec<String>,
    pub metrics: AttemptMetrics,
    /// Images to keep, by role (`original`, `cropped`, `selfie`).
    pub images: Vec<(&'static str, Bytes)>,
    pub content_hash: Option<String>,
    /// What the step records when accepted.
    pub result: StepResult,
}

fn outcome(verdict: Verdict) -> AttemptOutcome {
    match verdict {
        Verdict::Accepted => AttemptOutcome::Accepted,
        Verdict::Rejected => AttemptOutcome::Rejected,
    }
}

fn hash_all<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

fn backend_error(e: BackendError) -> ApiError {
    match e {
        BackendError::InvalidImage { code, message } => match code.as_str() {
            "UNSUPPORTED_FORMAT" => ApiError::UnsupportedMediaType(message),
            "IMAGE_TOO_LARGE" => ApiError::PayloadTooLarge(message),
            _ => ApiError::InvalidRequest(format!("{code}: {message}")),
        },
        BackendError::InvalidRequest(m) => ApiError::InvalidRequest(m),
        BackendError::NotConfigured(m) => ApiError::ServerNotConfigured(m),
        BackendError::Unavailable(m) => ApiError::ServiceUnavailable(m.into()),
        BackendError::Internal(m) => ApiError::internal(m),
    }
}

/// The terms, accepted.
pub fn accept_terms() -> Judged {
    Judged {
        step: Step::Terms,
        outcome: AttemptOutcome::Accepted,
        reasons: vec![],
        metrics: AttemptMetrics::Other(Value::Object(Map::new())),
        images: vec![],
        content_hash: None,
        result: StepResult::Terms,
    }
}

/// May a photo of `document_type` be sent: one the key accepts and, for a back, the
/// front's type.
pub fn check_document_type(loaded: &Loaded, document_type: DocumentType) -> Result<(), ApiError> {
    if !loaded.document_types.contains(&document_type) {
        return Err(ApiError::InvalidRequest(format!(
            "document type {} is not accepted here",
            document_type.as_str()
        )));
    }
    if let Some(chosen) = loaded.verification.portal.document_type
        && chosen != document_type
    {
        return Err(ApiError::InvalidRequest(format!(
            "the front was a {}; send the back of the same document",
            chosen.as_str()
        )));
    }
    Ok(())
}

/// One document photo, of a type [`check_document_type`] allowed.
pub async fn check_document(
    state: &AppState,
    loaded: &Loaded,
    side: Side,
    document_type: DocumentType,
    image: Bytes,
) -> Result<Judged, ApiError> {
    let step = match side {
        Side::Front => Step::DocumentFront,
        Side::Back => Step::DocumentBack,
    };
    let content_hash = hash_all([image.as_ref()]);
    let started = std::time::Instant::now();
    let checked = state
        .backend
        .check_document(document_type, side, image)
        .await;
    state.metrics.backend_step("document", started.elapsed());
    let checked = checked.map_err(backend_error)?;
    let mut images = vec![("original", checked.original_jpeg)];
    images.extend(checked.cropped_jpeg.map(|c| ("cropped", c)));
    let metrics: crate::domain::results::DocumentMetrics =
        serde_json::from_value(checked.metrics).map_err(ApiError::internal)?;
    let mut verdict = checked.verdict;
    let mut reasons = checked.reasons;
    let mut flags = Vec::new();
    if verdict == Verdict::Accepted
        && let Some(finding) = &checked.mrz
    {
        match zone_judgement(finding, loaded.attempts_left(step)) {
            ZoneJudgement::Fine => {}
            ZoneJudgement::Retake(code) => {
                verdict = Verdict::Rejected;
                reasons.push(code.to_owned());
            }
            ZoneJudgement::Flag(code) => flags.push(code.to_owned()),
        }
    }
    let accepted = verdict == Verdict::Accepted;
    let borderline = if accepted {
        checked.borderline
    } else {
        Vec::new()
    };
    let zone = checked.mrz.filter(|_| accepted);
    Ok(Judged {
        step,
        outcome: outcome(verdict),
        reasons,
        // The zone's fields are personal data: kept in the results only, never here.
        metrics: AttemptMetrics::Document(Box::new(DocumentAttemptMetrics {
            metrics: metrics.clone(),
            borderline: borderline.clone(),
            flags,
        })),
        images,
        content_hash: Some(content_hash),
        result: StepResult::DocumentSide {
            document_type,
            metrics: Box::new(metrics),
            borderline,
            mrz_required: zone.as_ref().is_some_and(|z| z.required),
            mrz: zone.and_then(|z| z.fields).map(Box::new),
        },
    })
}

/// What a side's machine-readable zone makes of a photo that passed its other checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ZoneJudgement {
    Fine,
    /// Rejected with this code: another photo may read.
    Retake(&'static str),
    /// Accepted, with this code for the decision (a person looks).
    Flag(&'static str),
}

/// A zone this side must carry but that was missing or illegible asks for another photo
/// while the step has attempts to spare; on the last one the side passes with the code as
/// a flag, so the verification goes to a person rather than failing on the photo. A zone
/// whose check digits disagree is no matter of photography: it passes, flagged, on any
/// side.
fn zone_judgement(finding: &MrzFinding, attempts_left: u32) -> ZoneJudgement {
    let Some(code) = finding.outcome.code() else {
        return ZoneJudgement::Fine;
    };
    match finding.outcome {
        MrzOutcome::CheckFailed => ZoneJudgement::Flag(code),
        MrzOutcome::NotFound | MrzOutcome::Unreadable if finding.required => {
            if attempts_left > 1 {
                ZoneJudgement::Retake(code)
            } else {
                ZoneJudgement::Flag(code)
            }
        }
        _ => ZoneJudgement::Fine,
    }
}

/// A liveness burst, judged against the challenge the server picked.
pub async fn check_liveness(
    state: &AppState,
    loaded: &Loaded,
    frames: Vec<Bytes>,
) -> Result<Judged, ApiError> {
    let challenge = loaded
        .verification
        .portal
        .liveness_challenge
        .unwrap_or(Challenge::Closer);
    let content_hash = hash_all(frames.iter().map(|f| f.as_ref()));
    let started = std::time::Instant::now();
    let checked = state.backend.check_liveness(challenge, frames).await;
    state.metrics.backend_step("liveness", started.elapsed());
    let checked = checked.map_err(backend_error)?;
    // Flags (a suspected spoof) pass the step but go to the decision.
    let measured = match checked.metrics {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let metrics = crate::domain::results::LivenessMetrics {
        flags: checked.flags,
        measured,
    };
    Ok(Judged {
        step: Step::Liveness,
        outcome: outcome(checked.verdict),
        reasons: checked.reasons,
        metrics: AttemptMetrics::Liveness(metrics.clone()),
        // Only the chosen selfie is kept; the other frames are never stored.
        images: checked
            .selfie_jpeg
            .map(|s| ("selfie", s))
            .into_iter()
            .collect(),
        content_hash: Some(content_hash),
        result: StepResult::Liveness { challenge, metrics },
    })
}

/// The form's values. Fields the key did not ask for are refused outright: they are
/// neither stored nor counted as an attempt.
pub fn judge_form(loaded: &Loaded, values: &Map<String, Value>) -> Result<Judged, ApiError> {
    let fields = loaded.verification.modules.form_fields();
    if let Some(message) = form::unknown_fields(fields, values) {
        return Err(ApiError::InvalidRequest(message));
    }
    let (clean, reasons) = form::validate(fields, values);
    let accepted = reasons.is_empty();
    Ok(Judged {
        step: Step::FormData,
        outcome: if accepted {
            AttemptOutcome::Accepted
        } else {
            AttemptOutcome::Rejected
        },
        // The values are personal data: kept in results once accepted, never in metrics.
        metrics: AttemptMetrics::Form(FormMetrics {
            fields: values.keys().cloned().collect(),
            simulated: Map::new(),
        }),
        reasons,
        content_hash: None,
        images: vec![],
        result: if accepted {
            StepResult::Form(clean)
        } else {
            StepResult::Nothing
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(outcome: MrzOutcome, required: bool) -> MrzFinding {
        MrzFinding {
            outcome,
            required,
            fields: None,
        }
    }

    #[test]
    fn a_missing_zone_asks_for_a_retake_until_the_last_attempt() {
        use ZoneJudgement::*;
        // (outcome, required side, attempts left before this one, judgement)
        let table = [
            (MrzOutcome::Read, true, 5, Fine),
            (MrzOutcome::NotFound, true, 5, Retake("MRZ_NOT_FOUND")),
            (MrzOutcome::Unreadable, true, 2, Retake("MRZ_UNREADABLE")),
            (MrzOutcome::NotFound, true, 1, Flag("MRZ_NOT_FOUND")),
            (MrzOutcome::Unreadable, true, 1, Flag("MRZ_UNREADABLE")),
            // A side that need not carry a zone is not asked again for one.
            (MrzOutcome::NotFound, false, 5, Fine),
            (MrzOutcome::Unreadable, false, 5, Fine),
            (MrzOutcome::CheckFailed, true, 5, Flag("MRZ_CHECK_FAILED")),
            (MrzOutcome::CheckFailed, false, 5, Flag("MRZ_CHECK_FAILED")),
        ];
        for (outcome, required, left, want) in table {
            assert_eq!(
                zone_judgement(&finding(outcome, required), left),
                want,
                "{outcome:?} required={required} left={left}"
            );
        }
    }
}
