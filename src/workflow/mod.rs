//! The workflow: what happens to a verification between an HTTP handler and the stores.
//! Each use case loads the verification, runs the backend's checks, keeps the images,
//! asks the domain's lifecycle ([`crate::domain::lifecycle::apply`]) what the verification
//! becomes and which events that sends, and writes it all in one store transaction.
//! Handlers translate HTTP to and from these functions; the stores only persist.

mod decide;
pub mod operator;
pub mod simulate;
mod steps;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::AppState;
use crate::domain::ids::random_bytes;
use crate::domain::lifecycle::{self, Change, Transition};
use crate::domain::portal::{self, Refusal, Step, StepTally};
use crate::domain::verification::now;
use crate::domain::{Attempt, DocumentType, Status, Verification, VerificationId};
use crate::error::ApiError;
use crate::portal::inflight::Running;
use crate::webhooks::NewEvent;

pub use decide::{Settled, settle_stalled};
pub use steps::{
    Judged, accept_terms, check_document, check_document_type, check_liveness, judge_form,
};

/// A verification with its attempts and where the user stands.
pub struct Loaded {
    pub verification: Verification,
    pub attempts: Vec<Attempt>,
    pub document_types: Vec<DocumentType>,
    pub tallies: BTreeMap<Step, StepTally>,
    /// The step the user is at; `None` when every step is done.
    pub current: Option<Step>,
}

impl Loaded {
    fn new(verification: Verification, attempts: Vec<Attempt>) -> Self {
        let document_types = verification.modules.document_types();
        let tallies = portal::tally(&attempts);
        let current = portal::current_step(&verification, &document_types, &tallies);
        Loaded {
            verification,
            attempts,
            document_types,
            tallies,
            current,
        }
    }

    /// Submissions `step` still allows.
    pub fn attempts_left(&self, step: Step) -> u32 {
        let used = self.tallies.get(&step).map_or(0, |t| t.rejected);
        self.verification
            .modules
            .max_attempts(step)
            .saturating_sub(used)
    }
}

pub async fn load(state: &AppState, id: &VerificationId) -> Result<Loaded, ApiError> {
    let (v, attempts) = state
        .store
        .get_verification_with_attempts(id)
        .await?
        .ok_or(ApiError::VerificationNotFound)?;
    Ok(Loaded::new(v, attempts))
}

/// The user opens the portal: the first visit marks the verification `in_progress`; one
/// found in `processing` (every step in but no decision written: the deciding request
/// failed or the process stopped in between) is decided now.
pub async fn open(state: &AppState, id: &VerificationId) -> Result<Loaded, ApiError> {
    let mut loaded = load(state, id).await?;
    let at = now();
    let current = &loaded.verification;
    if current.results.is_erased() && !current.status.is_final() {
        return Err(ApiError::VerificationErased);
    }
    if current.status == Status::Created && at < current.expires_at {
        let started = lifecycle::apply(current, &loaded.attempts, Change::Opened, at)
            .map_err(ApiError::internal)?;
        if write(state, &started, None).await? {
            loaded.verification = started.verification;
            loaded.verification.version += 1;
        } else {
            loaded = load(state, id).await?;
        }
    }
    if loaded.verification.status == Status::Processing {
        decide::decide(state, loaded.verification.clone(), &loaded.attempts).await?;
        loaded = load(state, id).await?;
    }
    Ok(loaded)
}

/// Claim `step` of the verification for this request, then load it and check that the
/// step can be submitted now. Claiming first means a submission that waited for another
/// of the same step sees that one's outcome (and is refused) instead of running again.
/// The claim is released when the returned guard is dropped, after the commit.
pub async fn begin_step(
    state: &AppState,
    id: &VerificationId,
    step: Step,
) -> Result<(Running, Loaded), ApiError> {
    let running = state.in_flight.begin(id, step).ok_or_else(|| {
        ApiError::InvalidStep("this step is already being processed; wait for its answer".into())
    })?;
    let loaded = load(state, id).await?;
    portal::check_submission(&loaded.verification, step, loaded.current, now()).map_err(refused)?;
    Ok((running, loaded))
}

fn refused(r: Refusal) -> ApiError {
    match r {
        Refusal::Expired => ApiError::VerificationExpired,
        Refusal::Erased => ApiError::VerificationErased,
        Refusal::InvalidStep(why) => ApiError::InvalidStep(why),
    }
}

/// What one submission answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Submission)]
pub struct StepReply {
    #[schema(required = true)]
    pub attempt_id: Option<String>,
    #[schema(value_type = crate::domain::AttemptOutcome)]
    pub status: &'static str,
    pub reasons: Vec<String>,
    #[schema(value_type = crate::openapi::CurrentStep)]
    pub next_step: &'static str,
    pub attempts_left: u32,
}

/// The name of the step the user is at, `done` past the last.
pub fn step_name(step: Option<Step>) -> &'static str {
    step.map_or("done", Step::as_str)
}

/// Write a judged submission: its images, its attempt and the verification's new state
/// in one transaction; then, when it completed the flow, the decision.
pub async fn record_step(
    state: &AppState,
    loaded: Loaded,
    judged: Judged,
) -> Result<StepReply, ApiError> {
    let at = now();
    let Loaded {
        verification: before,
        mut attempts,
        ..
    } = loaded;
    let mut attempt = (judged.step != Step::Terms).then(|| Attempt {
        id: format!("att_{}", hex::encode(random_bytes::<8>())),
        verification_id: before.id.clone(),
        step: judged.step,
        outcome: judged.outcome,
        reasons: judged.reasons.clone(),
        metrics: judged.metrics,
        images: BTreeMap::new(),
        content_hash: judged.content_hash,
        created_at: at,
    });
    if let Some(made) = attempt.as_mut() {
        for (role, bytes) in judged.images {
            let key = format!("{}/{}/{}", before.id, made.id, role);
            state
                .blobs
                .put(&key, bytes)
                .await
                .map_err(ApiError::internal)?;
            made.images.insert(role.to_owned(), key);
        }
        attempts.push(made.clone());
    }
    let change = Change::StepJudged {
        step: judged.step,
        outcome: judged.outcome,
        result: judged.result,
    };
    let transition = match lifecycle::apply(&before, &attempts, change, at) {
        Ok(t) => t,
        Err(e) => {
            forget_images(state, attempt.as_ref()).await;
            return Err(ApiError::InvalidStep(e.to_string()));
        }
    };
    let written = write(state, &transition, attempt.as_ref()).await;
    if !matches!(written, Ok(true)) {
        forget_images(state, attempt.as_ref()).await;
    }
    if !written? {
        return Err(ApiError::InvalidStep(
            "this verification changed meanwhile; reload and try again".into(),
        ));
    }
    let mut next = transition.verification;
    next.version += 1;
    tracing::info!(
        verification_id = %next.id,
        step = judged.step.as_str(),
        outcome = judged.outcome.as_str(),
        reasons = ?judged.reasons,
        "portal submission"
    );
    let after = Loaded::new(next, attempts);
    let reply = StepReply {
        attempt_id: attempt.map(|a| a.id),
        status: judged.outcome.as_str(),
        reasons: judged.reasons,
        next_step: if after.verification.status == Status::Rejected {
            "done"
        } else {
            step_name(after.current)
        },
        attempts_left: after.attempts_left(judged.step),
    };
    if after.verification.status == Status::Processing {
        decide::decide(state, after.verification, &after.attempts).await?;
    }
    Ok(reply)
}

/// Persist a transition (with the attempt that caused it): `false` when the verification
/// changed meanwhile and nothing was written.
async fn write(
    state: &AppState,
    transition: &Transition,
    attempt: Option<&Attempt>,
) -> Result<bool, ApiError> {
    let at = transition.verification.updated_at;
    let events: Vec<NewEvent> = transition
        .events
        .iter()
        .map(|e| NewEvent::from_domain(e, at))
        .collect();
    Ok(state
        .store
        .update_verification(&transition.verification, attempt, &events)
        .await?)
}

/// Nothing refers to this attempt's images: remove them (best effort).
async fn forget_images(state: &AppState, attempt: Option<&Attempt>) {
    for key in attempt.iter().flat_map(|a| a.images.values()) {
        if let Err(e) = state.blobs.delete(key).await {
            tracing::warn!(error = %e, "could not remove an unreferenced image");
        }
    }
}
