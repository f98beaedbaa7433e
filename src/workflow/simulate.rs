//! Test verifications: steps taken without running a check, and the outcome simulated
//! through the same lifecycle, events and webhooks as a real verification's.

use serde_json::{Map, Value, json};

use super::{Judged, Loaded};
use crate::AppState;
use crate::domain::lifecycle::{self, Change, StepResult};
use crate::domain::portal::Step;
use crate::domain::results::{
    AttemptMetrics, DecisionRecord, DocumentMetrics, FormMetrics, LivenessMetrics,
};
use crate::domain::test_mode::{Pick, TestOutcome, simulated_metrics};
use crate::domain::verification::now;
use crate::domain::{AttemptOutcome, DocumentType, Status, Verification, VerificationId, form};
use crate::error::ApiError;
use crate::faces::Challenge;

/// A test verification's document side, accepted as sent without looking at the photo:
/// no image is kept (the image routes serve placeholders).
pub fn document_side(step: Step, document_type: DocumentType, pick: Option<&Pick>) -> Judged {
    let recorded = DocumentMetrics {
        document_type: Some(document_type),
        corners: None,
        portrait: None,
        located: None,
        measured: simulated_metrics(None),
    };
    let mut attempt = simulated_metrics(pick);
    attempt.insert("document_type".into(), json!(document_type));
    Judged {
        step,
        outcome: AttemptOutcome::Accepted,
        reasons: vec![],
        metrics: AttemptMetrics::Other(Value::Object(attempt)),
        images: vec![],
        content_hash: None,
        result: StepResult::DocumentSide {
            document_type,
            metrics: Box::new(recorded),
            borderline: vec![],
            mrz: None,
            mrz_required: false,
        },
    }
}

/// A test verification's liveness step, accepted without looking at the frames.
pub fn liveness(loaded: &Loaded, pick: Option<&Pick>) -> Judged {
    let challenge = loaded
        .verification
        .portal
        .liveness_challenge
        .unwrap_or(Challenge::Closer);
    let metrics = |pick| LivenessMetrics {
        flags: vec![],
        measured: simulated_metrics(pick),
    };
    Judged {
        step: Step::Liveness,
        outcome: AttemptOutcome::Accepted,
        reasons: vec![],
        metrics: AttemptMetrics::Liveness(metrics(pick)),
        images: vec![],
        content_hash: None,
        result: StepResult::Liveness {
            challenge,
            metrics: metrics(None),
        },
    }
}

/// Mark a judged form of a test verification as simulated, with the tester's pick.
pub fn mark_form(mut judged: Judged, pick: Option<&Pick>) -> Judged {
    if let AttemptMetrics::Form(FormMetrics { simulated, .. }) = &mut judged.metrics {
        simulated.extend(simulated_metrics(pick));
    }
    judged
}

/// Values a simulated form is filled with, each valid for its field.
fn sample_values() -> Map<String, Value> {
    let sample = json!({
        "first_name": "Test",
        "last_name": "Person",
        "date_of_birth": "1990-01-01",
        "nationality": "NL",
        "email": "test.person@example.com",
        "phone": "+31201234567",
        "address_line": "1 Test Street",
        "postal_code": "1011 AB",
        "city": "Amsterdam",
        "country": "NL",
    });
    match sample {
        Value::Object(m) => m,
        _ => unreachable!("an object literal"),
    }
}

/// The form of a test verification filled with sample values (those the key asks for).
fn sample_form(loaded: &Loaded, pick: Option<&Pick>) -> Judged {
    let fields = loaded.verification.modules.form_fields();
    let samples = sample_values();
    let asked: Map<String, Value> = fields
        .iter()
        .filter_map(|f| {
            Some((
                f.name.as_str().to_owned(),
                samples.get(f.name.as_str())?.clone(),
            ))
        })
        .collect();
    let (clean, _) = form::validate(fields, &asked);
    let names: Vec<String> = clean.keys().cloned().collect();
    Judged {
        step: Step::FormData,
        outcome: AttemptOutcome::Accepted,
        reasons: vec![],
        metrics: AttemptMetrics::Form(FormMetrics {
            fields: names,
            simulated: simulated_metrics(pick),
        }),
        images: vec![],
        content_hash: None,
        result: StepResult::Form(clean),
    }
}

/// The decision of a test verification whose steps are all in: the latest pick recorded
/// in its attempts, else `extra_data.test_outcome`, else `verified`. `expired` makes the
/// link run out now instead of deciding.
pub(super) async fn decide(
    state: &AppState,
    v: Verification,
    attempts: &[crate::domain::Attempt],
) -> Result<(), ApiError> {
    let pick = picked(&v, attempts);
    decide_as(state, v, attempts, pick).await
}

/// The outcome picked for `v`: the latest pick in its attempts, else its
/// `extra_data.test_outcome`, else `verified`.
fn picked(v: &Verification, attempts: &[crate::domain::Attempt]) -> Pick {
    attempts
        .iter()
        .rev()
        .find_map(|a| Pick::read_from(&a.metrics.to_json()))
        .or_else(|| {
            TestOutcome::from_extra_data(v.extra_data.as_ref())
                .ok()
                .flatten()
                .map(|outcome| Pick {
                    outcome,
                    reasons: outcome.default_reasons(),
                })
        })
        .unwrap_or(Pick {
            outcome: TestOutcome::Verified,
            reasons: vec![],
        })
}

/// Decide `v` as `pick` says.
async fn decide_as(
    state: &AppState,
    v: Verification,
    attempts: &[crate::domain::Attempt],
    pick: Pick,
) -> Result<(), ApiError> {
    let at = now();
    let transition = match pick.outcome {
        TestOutcome::Expired => expire_now(&v, attempts, at)?,
        outcome => lifecycle::apply(
            &v,
            attempts,
            Change::Decided {
                decision: DecisionRecord::automatic(outcome.status(), pick.reasons.clone()),
                face_match: None,
            },
            at,
        )
        .map_err(ApiError::internal)?,
    };
    if super::write(state, &transition, None).await? {
        tracing::info!(verification_id = %v.id, outcome = pick.outcome.as_str(),
            "test verification decided as picked");
    }
    Ok(())
}

/// `v`'s link runs out now: the same change, and event, as the sweeper's.
fn expire_now(
    v: &Verification,
    attempts: &[crate::domain::Attempt],
    at: chrono::DateTime<chrono::Utc>,
) -> Result<lifecycle::Transition, ApiError> {
    let mut due = v.clone();
    due.expires_at = due.expires_at.min(at);
    lifecycle::apply(&due, attempts, Change::Expired, at).map_err(ApiError::internal)
}

/// `POST /api/verifications/{id}/simulate`: take every step still open as a tester would
/// (terms, each document side, liveness, the form with sample values), then decide as
/// `pick` says. Each step is its own transition, so the events and webhooks are those
/// of a real verification, in the same order.
pub async fn simulate(
    state: &AppState,
    id: &VerificationId,
    pick: Pick,
) -> Result<Verification, ApiError> {
    let mut loaded = super::open(state, id).await?;
    let (status, _) = loaded.verification.effective_status(now());
    if status.is_final() || loaded.verification.results.is_erased() {
        return Err(ApiError::InvalidState(format!(
            "this verification is already `{}`",
            status.as_str()
        )));
    }
    if pick.outcome == TestOutcome::Expired {
        let t = expire_now(&loaded.verification, &loaded.attempts, now())?;
        if !super::write(state, &t, None).await? {
            return Err(changed_meanwhile());
        }
        return reload(state, id).await;
    }
    // At most one submission per step: terms, front, back, liveness, form.
    for _ in 0..8 {
        let Some(step) = loaded.current else { break };
        let _running = state
            .in_flight
            .begin(id, step)
            .ok_or_else(changed_meanwhile)?;
        let judged = match step {
            Step::Terms => super::accept_terms(),
            Step::DocumentFront | Step::DocumentBack => {
                let document_type = loaded
                    .verification
                    .portal
                    .document_type
                    .or_else(|| loaded.document_types.first().copied())
                    .ok_or_else(|| ApiError::internal("a document step without a type"))?;
                document_side(step, document_type, Some(&pick))
            }
            Step::Liveness => liveness(&loaded, Some(&pick)),
            Step::FormData => sample_form(&loaded, Some(&pick)),
        };
        super::record_step(state, loaded, judged).await?;
        loaded = super::load(state, id).await?;
    }
    if loaded.verification.status == Status::Processing {
        // Every step was in already: decide with this pick.
        decide_as(state, loaded.verification, &loaded.attempts, pick).await?;
    }
    reload(state, id).await
}

async fn reload(state: &AppState, id: &VerificationId) -> Result<Verification, ApiError> {
    state
        .store
        .get_verification(id)
        .await?
        .ok_or(ApiError::VerificationNotFound)
}

fn changed_meanwhile() -> ApiError {
    ApiError::InvalidState("this verification is being changed by another request".into())
}
