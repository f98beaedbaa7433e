//! Deciding a verification once every step is in, and settling one whose decision never
//! came.

use crate::AppState;
use crate::backend::{DecisionInput, StepOutcome, Verdict};
use crate::domain::lifecycle::{self, Change};
use crate::domain::portal::{self, Step, StepTally};
use crate::domain::reasons::Reason;
use crate::domain::results::DecisionRecord;
use crate::domain::verification::now;
use crate::domain::{Attempt, Module, Status, Verification, VerificationId};
use crate::error::ApiError;
use crate::faces::{FaceMatch, FaceMatchReason};

/// Every step is in: compare faces when there is a document and a selfie, ask the backend
/// for its decision and record it (a test verification gets the outcome picked for it). A backend failure here sends the verification to
/// manual review rather than leaving it stuck in `processing`.
pub(super) async fn decide(
    state: &AppState,
    v: Verification,
    attempts: &[Attempt],
) -> Result<(), ApiError> {
    if v.test {
        return super::simulate::decide(state, v, attempts).await;
    }
    let tallies = portal::tally(attempts);
    // The key's own thresholds and liveness mode, else the instance's.
    let key = state.store.find_key(&v.key_id).await?;
    let policy = key.as_ref().map(|k| &k.settings);
    let thresholds = policy
        .and_then(|s| s.face_match)
        .unwrap_or(state.settings.backend.faces.matching);
    let face_match_required =
        v.flow.contains(&Module::Document) && v.flow.contains(&Module::Liveness);
    let mut face_match: Option<FaceMatch> = None;
    let mut failure: Option<Reason> = None;
    if face_match_required {
        match compare_faces(state, &tallies, thresholds).await? {
            Ok(compared) => face_match = Some(compared),
            Err(e) => failure = Some(Reason::FaceMatchFailed(e.to_string())),
        }
    }
    let steps = portal::steps(&v, &v.modules.document_types());
    let recorded = v.results.recorded();
    let input = DecisionInput {
        required: steps.into_iter().filter(|s| *s != Step::Terms).collect(),
        steps: tallies
            .iter()
            .filter_map(|(step, t)| {
                let accepted = t.accepted.as_ref()?;
                Some(StepOutcome {
                    step: *step,
                    verdict: Verdict::Accepted,
                    reasons: vec![],
                    borderline: accepted.metrics.borderline().to_vec(),
                    flags: accepted.metrics.flags().to_vec(),
                })
            })
            .collect(),
        face_match: face_match.clone(),
        face_match_required,
        strict_liveness: policy.is_some_and(|s| s.strict_liveness),
        mrz: recorded
            .and_then(|r| r.document.as_ref())
            .and_then(|d| d.mrz.clone()),
        form_data: recorded
            .and_then(|r| r.form_data.clone())
            .unwrap_or_default(),
        min_age: policy.and_then(|s| s.min_age),
        today: now().date_naive(),
    };
    let (status, reasons) = match (failure, state.backend.decide(input).await) {
        (None, Ok(d)) => (d.status, d.reasons),
        (Some(failure), _) => (
            Status::NeedsManualReview,
            vec![Reason::DecisionIncomplete, failure],
        ),
        (None, Err(e)) => {
            tracing::warn!(error = %e, "decision failed; sending to manual review");
            (Status::NeedsManualReview, vec![Reason::DecisionFailed])
        }
    };
    let change = Change::Decided {
        decision: DecisionRecord::automatic(status, reasons),
        face_match,
    };
    let decided = lifecycle::apply(&v, attempts, change, now()).map_err(ApiError::internal)?;
    if super::write(state, &decided, None).await? {
        tracing::info!(verification_id = %v.id, status = status.as_str(), "verification decided");
    } else {
        // Another request decided it first (both saw `processing`); theirs stands.
        tracing::info!(verification_id = %v.id, "verification was decided concurrently");
    }
    Ok(())
}

/// Compare the accepted selfie with the accepted document front (its crop when there is
/// one). An image the comparison needs that is gone is said so, never skipped. The inner
/// error is the comparison's own failure.
async fn compare_faces(
    state: &AppState,
    tallies: &std::collections::BTreeMap<Step, StepTally>,
    thresholds: crate::faces::Thresholds,
) -> Result<Result<FaceMatch, crate::backend::BackendError>, ApiError> {
    let accepted_image = |step: Step, role: &str| {
        tallies
            .get(&step)
            .and_then(|t| t.accepted.as_ref())
            .and_then(|a| a.images.get(role).cloned())
    };
    let selfie = accepted_image(Step::Liveness, "selfie");
    let document = accepted_image(Step::DocumentFront, "cropped")
        .or_else(|| accepted_image(Step::DocumentFront, "original"));
    let (selfie, document) = match (selfie, document) {
        (Some(selfie), Some(document)) => (
            state.blobs.get(&selfie).await.map_err(ApiError::internal)?,
            state
                .blobs
                .get(&document)
                .await
                .map_err(ApiError::internal)?,
        ),
        _ => (None, None),
    };
    let (Some(selfie), Some(document)) = (selfie, document) else {
        return Ok(Ok(FaceMatch::NotPerformed {
            reason: FaceMatchReason::ImageMissing,
        }));
    };
    let started = std::time::Instant::now();
    let compared = state
        .backend
        .compare_faces(selfie, document, thresholds)
        .await;
    state.metrics.backend_step("face_match", started.elapsed());
    Ok(compared)
}

/// What [`settle_stalled`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Decided as the last submission would have.
    Decided,
    /// Deciding failed: sent to manual review with `PROCESSING_STALLED`.
    Flagged,
    /// Not in `processing` (any more), or gone: nothing to do.
    Untouched,
}

/// Settle a verification left in `processing` (the request that should have decided it
/// failed, or the process stopped in between): decide it as the last submission would
/// have, and if that fails, send it to manual review with the reason
/// `PROCESSING_STALLED`, so that no verification waits in `processing` for someone to
/// open its page. Run by the upkeep.
pub async fn settle_stalled(state: &AppState, id: &VerificationId) -> Result<Settled, ApiError> {
    let Some((v, attempts)) = state.store.get_verification_with_attempts(id).await? else {
        return Ok(Settled::Untouched);
    };
    if v.status != Status::Processing {
        return Ok(Settled::Untouched);
    }
    let Err(e) = decide(state, v.clone(), &attempts).await else {
        return Ok(Settled::Decided);
    };
    tracing::warn!(verification_id = %v.id, error = %e,
        "a verification stalled in processing cannot be decided; sending it to manual review");
    let flagged =
        lifecycle::apply(&v, &attempts, Change::Stalled, now()).map_err(ApiError::internal)?;
    Ok(if super::write(state, &flagged, None).await? {
        Settled::Flagged
    } else {
        Settled::Untouched
    })
}
