//! What operators do to a verification once the user is done: decide a flagged case, and
//! erase a person's data on request. Shared by the API, the CLI and the dashboard; every
//! use is written to the audit log.

use serde_json::json;

use crate::audit::{self, Action, Actor, AuditEvent};
use crate::blobs::BlobStore;
use crate::domain::lifecycle::{self, Change, Refused, Review};
use crate::domain::verification::now;
use crate::domain::{Status, Verification, VerificationId};
use crate::error::ApiError;
use crate::store::Store;
use crate::webhooks::NewEvent;

/// Longest accepted `reason` and `reviewer`, and `note`, in characters.
pub const MAX_REASON: usize = 500;
pub const MAX_REVIEWER: usize = 200;
pub const MAX_NOTE: usize = 4000;

/// Check a review as given: `verified` or `rejected`, a reason, a reviewer, within bounds,
/// with no control characters outside the note's line breaks.
pub fn check_review(review: Review) -> Result<Review, ApiError> {
    let invalid = |why: &str| ApiError::InvalidRequest(why.to_owned());
    if !matches!(review.decision, Status::Verified | Status::Rejected) {
        return Err(invalid("decision must be \"verified\" or \"rejected\""));
    }
    let reason = review.reason.trim().to_owned();
    let reviewer = review.reviewer.trim().to_owned();
    let note = review
        .note
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    if reason.is_empty() {
        return Err(invalid("reason is required: say why"));
    }
    if reviewer.is_empty() {
        return Err(invalid("reviewer is required: say who decided"));
    }
    let too_long = |text: &str, max: usize| text.chars().count() > max;
    if too_long(&reason, MAX_REASON) {
        return Err(invalid("reason is longer than 500 characters"));
    }
    if too_long(&reviewer, MAX_REVIEWER) {
        return Err(invalid("reviewer is longer than 200 characters"));
    }
    if note.as_deref().is_some_and(|n| too_long(n, MAX_NOTE)) {
        return Err(invalid("note is longer than 4000 characters"));
    }
    let controls = |text: &str, allow_breaks: bool| {
        text.chars()
            .any(|c| c.is_control() && !(allow_breaks && matches!(c, '\n' | '\r' | '\t')))
    };
    if controls(&reason, false) || controls(&reviewer, false) {
        return Err(invalid("reason and reviewer must be one line of text"));
    }
    if note.as_deref().is_some_and(|n| controls(n, true)) {
        return Err(invalid("note must be text"));
    }
    Ok(Review {
        decision: review.decision,
        reason,
        note,
        reviewer,
    })
}

/// Decide `v`, a verification in `needs_manual_review`, as `review` says: the decision
/// replaces the automatic one (which it keeps), and `verification.completed` goes out with
/// it. Anything else answers `409 INVALID_STATE`.
pub async fn review(
    store: &dyn Store,
    v: Verification,
    review: Review,
    by: &Actor,
) -> Result<Verification, ApiError> {
    let review = check_review(review)?;
    let (decision, reason) = (review.decision, review.reason.clone());
    let at = now();
    let transition = lifecycle::apply(&v, &[], Change::Reviewed(review), at).map_err(|e| {
        ApiError::InvalidState(match e {
            Refused::State(status) | Refused::Transition { from: status, .. } => format!(
                "only a verification in needs_manual_review can be reviewed; this one is {status}"
            ),
            Refused::Erased => "this verification's data was erased".to_owned(),
            other => other.to_string(),
        })
    })?;
    let events: Vec<NewEvent> = transition
        .events
        .iter()
        .map(|e| NewEvent::from_domain(e, at))
        .collect();
    if !store
        .update_verification(&transition.verification, None, &events)
        .await?
    {
        return Err(ApiError::InvalidState(
            "this verification changed meanwhile; read it again".into(),
        ));
    }
    let mut decided = transition.verification;
    decided.version += 1;
    tracing::info!(
        verification_id = %decided.id,
        decision = decision.as_str(),
        "verification reviewed"
    );
    audit::record(
        store,
        AuditEvent::new(by, Action::VerificationReviewed)
            .on(&decided)
            .detail(json!({"decision": decision.as_str(), "reason": reason})),
    )
    .await?;
    Ok(decided)
}

/// Erase `v`'s images and personal data now, as the retention job would: the decision and
/// the audit trail stay, and the portal refuses to continue it. Erasing an erased
/// verification again changes nothing (and removes any image left behind).
pub async fn erase(
    store: &dyn Store,
    blobs: &dyn BlobStore,
    v: &Verification,
    by: &Actor,
) -> Result<(), ApiError> {
    let at = now();
    // The record first: once it is erased, an upload still in flight can no longer be
    // written (its version is stale) and removes its own images; then every image under
    // the verification goes, including those of a step that committed just before.
    let erased_now = store.mark_erased(&v.id, at).await?;
    blobs
        .delete_prefix(v.id.as_str())
        .await
        .map_err(ApiError::internal)?;
    if erased_now {
        tracing::info!(verification_id = %v.id, "images and personal data erased on request");
        audit::record(store, AuditEvent::new(by, Action::VerificationErased).on(v)).await?;
    }
    Ok(())
}

/// Load a verification by its id as given: 404 for unknown or malformed ids.
pub async fn find(store: &dyn Store, raw_id: &str) -> Result<Verification, ApiError> {
    let id = VerificationId::parse(raw_id).ok_or(ApiError::VerificationNotFound)?;
    store
        .get_verification(&id)
        .await?
        .ok_or(ApiError::VerificationNotFound)
}
