//! Operators close the loop: list their verifications, decide the flagged ones, erase a
//! person's data on request. Every route reads and changes only the calling key's own.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use super::details::Details;
use super::generate::{json_response, replay};
use crate::AppState;
use crate::audit::{Actor, Origin};
use crate::auth::AuthedKey;
use crate::body::{OptionalJson, QueryPairs};
use crate::domain::lifecycle::Review;
use crate::domain::verification::now;
use crate::domain::{Status, Verification};
use crate::error::ApiError;
use crate::openapi::{ErrorResponse, VerificationPath};
use crate::store::{IdempotencyRecord, ListCursor, VerificationQuery};
use crate::workflow::operator;

/// Items per page when `limit` is not given, and the most a page holds.
pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;

/// One page of verifications.
#[derive(Serialize, ToSchema)]
pub struct VerificationList {
    /// Each in the details shape, without its attempts
    verifications: Vec<Details>,
    /// Pass as `cursor` for the next page; `null` on the last
    next_cursor: Option<String>,
}

/// The list's filters. Unknown parameters are ignored.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct ListParams {
    /// Only verifications in this status (as the details would show it now)
    status: Option<Status>,
    /// Created strictly after this instant (RFC 3339)
    #[param(format = DateTime)]
    created_after: Option<String>,
    /// Created strictly before this instant (RFC 3339)
    #[param(format = DateTime)]
    created_before: Option<String>,
    /// `extra_data.reference_id`, exactly (strings and numbers of at most 256 bytes)
    reference: Option<String>,
    /// Items per page, 1 to 100 (default 20)
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The previous page's `next_cursor`
    cursor: Option<String>,
}

/// List verifications
///
/// The calling key's verifications, newest first, a page at a time. Pages are cut by
/// position, not by offset: verifications created while paging neither repeat nor hide
/// others, and a late page costs what the first does.
#[utoipa::path(
    get,
    path = "/api/verifications",
    operation_id = "list_verifications",
    tag = "operator",
    security(("SdkKey" = [])),
    params(ListParams),
    responses(
        (status = 200, description = "OK", body = VerificationList),
        (status = 400, response = ErrorResponse),
        (status = 401, response = ErrorResponse),
        (status = 500, response = ErrorResponse),
        (status = 503, response = ErrorResponse),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    AuthedKey(key): AuthedKey,
    query: QueryPairs,
) -> Result<Json<VerificationList>, ApiError> {
    let q = list_query(&key.id, &query)?;
    // The query asks for one more than a page.
    let limit = q.limit as usize - 1;
    let mut found = state.store.list_verifications(&q, Utc::now()).await?;
    // One more than asked tells whether another page follows.
    let more = found.len() > limit;
    found.truncate(limit);
    let next_cursor = more
        .then(|| found.last().map(|v| ListCursor::after(v).encode()))
        .flatten();
    Ok(Json(VerificationList {
        verifications: found.into_iter().map(|v| Details::new(v, None)).collect(),
        next_cursor,
    }))
}

/// The store query of a list request, one more than a page long.
fn list_query(key_id: &str, query: &QueryPairs) -> Result<VerificationQuery, ApiError> {
    let invalid = |why: String| ApiError::InvalidRequest(why);
    let time = |name: &str| -> Result<Option<DateTime<Utc>>, ApiError> {
        query
            .get(name)
            .map(|raw| {
                DateTime::parse_from_rfc3339(raw)
                    .map(|t| t.to_utc())
                    .map_err(|_| invalid(format!("{name} must be an RFC 3339 time")))
            })
            .transpose()
    };
    let limit = match query.get("limit") {
        None => DEFAULT_LIMIT,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                invalid(format!(
                    "limit must be a whole number from 1 to {MAX_LIMIT}"
                ))
            })?,
    };
    let status = query
        .get("status")
        .map(|raw| {
            raw.parse::<Status>()
                .map_err(|_| invalid(format!("status `{raw}` is not a status")))
        })
        .transpose()?;
    let after = query
        .get("cursor")
        .map(|raw| {
            ListCursor::decode(raw).ok_or_else(|| {
                invalid("cursor is not one this route gave; start again without it".into())
            })
        })
        .transpose()?;
    let reference = query.get("reference").map(str::to_owned);
    if reference.as_ref().is_some_and(|r| r.len() > 256) {
        return Err(invalid("reference is longer than 256 bytes".into()));
    }
    Ok(VerificationQuery {
        status,
        created_after: time("created_after")?,
        created_before: time("created_before")?,
        reference,
        after,
        limit: limit + 1,
        ..VerificationQuery::of_key(key_id, limit)
    })
}

/// What the operator decided.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewDecision {
    Verified,
    Rejected,
}

impl From<ReviewDecision> for Status {
    fn from(d: ReviewDecision) -> Status {
        match d {
            ReviewDecision::Verified => Status::Verified,
            ReviewDecision::Rejected => Status::Rejected,
        }
    }
}

/// An operator's decision on a verification waiting for review.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    decision: ReviewDecision,
    /// Why, in the operator's words (at most 500 characters)
    #[schema(max_length = 500)]
    reason: String,
    /// Anything else worth keeping (at most 4000 characters)
    #[schema(max_length = 4000)]
    note: Option<String>,
    /// Who decided (at most 200 characters)
    #[schema(max_length = 200)]
    reviewer: String,
}

/// Review a verification
///
/// Decide a verification in `needs_manual_review` as `verified` or `rejected`. The details
/// then show the operator's decision in `results.decision` (with `decided_by: "operator"`,
/// the reviewer, reason, note, time, and the automatic decision it replaced), and
/// `verification.completed` is sent with it.
#[utoipa::path(
    post,
    path = "/api/verifications/{verification_id}/review",
    operation_id = "review_verification",
    tag = "operator",
    security(("SdkKey" = [])),
    params(
        VerificationPath,
        ("Idempotency-Key" = Option<String>, Header, max_length = 255,
            description = "The same key with the same body answers the first response again \
                (with `Idempotent-Replayed: true`); with another body, 422"),
    ),
    request_body(content = ReviewRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The verification, decided", body = Details),
        (status = 400, response = ErrorResponse),
        (status = 401, response = ErrorResponse),
        (status = 403, response = ErrorResponse),
        (status = 404, response = ErrorResponse),
        (status = 409, response = ErrorResponse),
        (status = 413, response = ErrorResponse),
        (status = 415, response = ErrorResponse),
        (status = 422, response = ErrorResponse),
        (status = 500, response = ErrorResponse),
        (status = 503, response = ErrorResponse),
    ),
)]
pub async fn review(
    State(state): State<AppState>,
    AuthedKey(key): AuthedKey,
    Origin(from): Origin,
    Path(id): Path<String>,
    idempotency: super::generate::IdempotencyHeader,
    OptionalJson(request): OptionalJson<ReviewRequest>,
) -> Result<Response, ApiError> {
    let request = request.ok_or_else(|| {
        ApiError::InvalidRequest(
            "send {\"decision\": \"verified\" | \"rejected\", \"reason\": …, \"reviewer\": …}"
                .into(),
        )
    })?;
    let v = super::owned_verification(&state, &key, &id).await?;
    let review = operator::check_review(Review {
        decision: request.decision.into(),
        reason: request.reason,
        note: request.note,
        reviewer: request.reviewer,
    })?;
    let idempotency_key = idempotency.key()?;
    let fingerprint = hex::encode(Sha256::digest(format!(
        "review\n{}\n{}\n{}\n{}\n{}",
        v.id,
        review.decision.as_str(),
        review.reason,
        review.note.as_deref().unwrap_or_default(),
        review.reviewer,
    )));
    if let Some(idem) = &idempotency_key
        && let Some(existing) = state.store.find_idempotency(&key.id, idem).await?
    {
        return replay(existing, &fingerprint, None);
    }
    let decided = match operator::review(
        state.store.as_ref(),
        v,
        review,
        &Actor::api_key(&key, from),
    )
    .await
    {
        Ok(decided) => decided,
        // The same request sent twice at once: the one that lost answers what the winner
        // recorded.
        Err(e @ ApiError::InvalidState(_)) => {
            if let Some(idem) = &idempotency_key
                && let Some(existing) = state.store.find_idempotency(&key.id, idem).await?
            {
                return replay(existing, &fingerprint, None);
            }
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    let attempts = state.store.list_attempts(&decided.id).await?;
    let id = decided.id.clone();
    let body = serde_json::to_string(&Details::new(decided, Some(attempts)))
        .map_err(ApiError::internal)?;
    if let Some(idempotency_key) = idempotency_key {
        let record = IdempotencyRecord {
            key_id: key.id.clone(),
            idempotency_key,
            request_hash: fingerprint,
            verification_id: id,
            response: body.clone(),
            created_at: now(),
        };
        if let Err(e) = state.store.insert_idempotency(&record).await {
            // The decision stands; only a retry's replay is lost (it would get 409).
            tracing::warn!(error = %crate::error::chain(&e), "could not keep the review's idempotency record");
        }
    }
    Ok(json_response(body, None, false))
}

/// Erase a verification's data
///
/// Erase the images and personal data of a verification now, as the retention period
/// would: `extra_data`, `return_url`, the form's values, what was read from the document,
/// the liveness results and every image. The decision and the audit trail stay; the
/// answer is the details, with `results.erased_at`. The user can no longer continue it in
/// the portal. Erasing again changes nothing.
#[utoipa::path(
    delete,
    path = "/api/verifications/{verification_id}",
    operation_id = "erase_verification",
    tag = "operator",
    security(("SdkKey" = [])),
    params(VerificationPath),
    responses(
        (status = 200, description = "The verification, erased", body = Details),
        (status = 401, response = ErrorResponse),
        (status = 403, response = ErrorResponse),
        (status = 404, response = ErrorResponse),
        (status = 500, response = ErrorResponse),
        (status = 503, response = ErrorResponse),
    ),
)]
pub async fn erase(
    State(state): State<AppState>,
    AuthedKey(key): AuthedKey,
    Origin(from): Origin,
    Path(id): Path<String>,
) -> Result<Json<Details>, ApiError> {
    let v: Verification = super::owned_verification(&state, &key, &id).await?;
    let by = Actor::api_key(&key, from);
    operator::erase(state.store.as_ref(), state.blobs.as_ref(), &v, &by).await?;
    let (erased, attempts) = state
        .store
        .get_verification_with_attempts(&v.id)
        .await?
        .ok_or(ApiError::VerificationNotFound)?;
    Ok(Json(Details::new(erased, Some(attempts))))
}
