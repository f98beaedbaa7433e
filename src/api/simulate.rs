//! `POST /api/verifications/{verification_id}/simulate`: drive a test verification to an
//! outcome, for an operator's integration tests.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::ToSchema;

use super::details::Details;
use crate::AppState;
use crate::auth::AuthedKey;
use crate::body::OptionalJson;
use crate::domain::test_mode::{MAX_REASONS, Pick, TestOutcome};
use crate::error::ApiError;
use crate::openapi::{ErrorResponse, VerificationPath};
use crate::workflow::simulate;

/// The outcome to drive a test verification to.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulateRequest {
    outcome: TestOutcome,
    /// Reason codes for `needs_manual_review` or `rejected` (at most 10); when none are
    /// given, `FACE_MATCH_UNCERTAIN` or `FACE_MISMATCH`
    #[serde(default)]
    #[schema(max_items = 10)]
    reasons: Vec<String>,
}

/// Simulate a test verification's outcome
///
/// Test keys only. Takes every step still open as a tester would (each marked
/// `simulated` in its attempt's metrics, with no check run and placeholder images), then
/// decides as asked — or, for `expired`, makes the link run out now. The states, events
/// and signed webhooks are those of a real verification, in the same order.
#[utoipa::path(
    post,
    path = "/api/verifications/{verification_id}/simulate",
    operation_id = "simulate_verification",
    tag = "operator",
    security(("SdkKey" = [])),
    params(VerificationPath),
    request_body(content = SimulateRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The verification, as the simulation left it", body = Details),
        (status = 400, response = ErrorResponse),
        (status = 401, response = ErrorResponse),
        (status = 403, response = ErrorResponse),
        (status = 404, response = ErrorResponse),
        (status = 409, response = ErrorResponse),
        (status = 410, response = ErrorResponse),
        (status = 413, response = ErrorResponse),
        (status = 415, response = ErrorResponse),
        (status = 422, response = ErrorResponse),
        (status = 500, response = ErrorResponse),
        (status = 503, response = ErrorResponse),
    ),
)]
pub async fn simulate(
    State(state): State<AppState>,
    AuthedKey(key): AuthedKey,
    Path(id): Path<String>,
    OptionalJson(request): OptionalJson<SimulateRequest>,
) -> Result<Json<Details>, ApiError> {
    if !key.is_test() {
        return Err(ApiError::AccessDenied(
            "Only a test key (v2c_test_…) can simulate an outcome",
        ));
    }
    let request = request.ok_or_else(|| {
        ApiError::InvalidRequest(format!(
            "send {{\"outcome\": \"verified\" | \"needs_manual_review\" | \"rejected\" | \
             \"expired\", \"reasons\": [at most {MAX_REASONS} codes]}}"
        ))
    })?;
    let pick = Pick::new(request.outcome, &request.reasons).map_err(ApiError::InvalidRequest)?;
    let v = super::owned_verification(&state, &key, &id).await?;
    let done = simulate::simulate(&state, &v.id, pick).await?;
    tracing::info!(verification_id = %done.id, outcome = request.outcome.as_str(), "test verification simulated");
    let attempts = state.store.list_attempts(&done.id).await?;
    Ok(Json(Details::new(done, Some(attempts))))
}
