//! `GET /api/get-verification-details/{verification_id}`.

use axum::Json;
use axum::extract::{Path, State};
use chrono::Utc;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::AuthedKey;
use crate::domain::verification::rfc3339;
use crate::domain::{
    Attempt, AttemptMetrics, AttemptOutcome, Module, Progress, ProgressState, Results, Status,
    Step, Verification, VerificationId,
};
use crate::error::ApiError;
use crate::openapi::{ErrorResponse, VerificationPath};

#[derive(Serialize, ToSchema)]
pub struct Details {
    verification_id: String,
    status: StatusBlock,
    /// The accepted results by module: document, liveness, face_match, form_data, decision
    #[schema(value_type = Object)]
    results: Results,
    /// As given to generate-verification
    #[schema(value_type = Option<Object>)]
    extra_data: Option<Value>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    expires_at: String,
    flow: Vec<Module>,
    return_url: Option<String>,
    /// Made with a test key: no check ran and the outcome was simulated
    test: bool,
    /// Every submission, oldest first (not in the list route's items)
    #[serde(skip_serializing_if = "Option::is_none")]
    attempts: Option<Vec<AttemptView>>,
}

impl Details {
    /// `v` as operators read it at `now`; with its attempts when given.
    pub(crate) fn new(v: Verification, attempts: Option<Vec<Attempt>>) -> Self {
        let (current, updated_at) = v.effective_status(Utc::now());
        Details {
            verification_id: v.id.to_string(),
            status: StatusBlock {
                current: current.as_str(),
                updated_at: rfc3339(updated_at),
                progress: v.progress,
            },
            results: v.results,
            extra_data: v.extra_data,
            created_at: rfc3339(v.created_at),
            expires_at: rfc3339(v.expires_at),
            flow: v.flow,
            return_url: v.return_url,
            test: v.test,
            attempts: attempts.map(|all| all.into_iter().map(AttemptView::from).collect()),
        }
    }
}

#[derive(Serialize, ToSchema)]
struct StatusBlock {
    #[schema(value_type = Status)]
    current: &'static str,
    #[schema(format = DateTime)]
    updated_at: String,
    /// Every module of the flow but terms
    #[schema(value_type = BTreeMap<Module, ProgressState>)]
    progress: Progress,
}

/// An attempt as operators see it: what was tried, the outcome and why. Storage keys of
/// images stay internal.
#[derive(Serialize, ToSchema)]
#[schema(as = Attempt)]
struct AttemptView {
    attempt_id: String,
    step: Step,
    #[schema(value_type = AttemptOutcome)]
    status: &'static str,
    reasons: Vec<String>,
    /// What the check measured
    #[schema(value_type = Object)]
    metrics: AttemptMetrics,
    #[schema(format = DateTime)]
    created_at: String,
}

impl From<Attempt> for AttemptView {
    fn from(a: Attempt) -> Self {
        AttemptView {
            attempt_id: a.id,
            step: a.step,
            status: a.outcome.as_str(),
            reasons: a.reasons,
            metrics: a.metrics,
            created_at: rfc3339(a.created_at),
        }
    }
}

/// Read a verification
#[utoipa::path(
    get,
    path = "/api/get-verification-details/{verification_id}",
    operation_id = "get_verification_details",
    tag = "operator",
    security(("SdkKey" = [])),
    params(VerificationPath),
    responses(
        (status = 200, description = "OK", body = Details),
        (status = 401, response = ErrorResponse),
        (status = 403, response = ErrorResponse),
        (status = 404, response = ErrorResponse),
        (status = 500, response = ErrorResponse),
        (status = 503, response = ErrorResponse),
    ),
)]
pub async fn details(
    State(state): State<AppState>,
    AuthedKey(key): AuthedKey,
    Path(verification_id): Path<String>,
) -> Result<Json<Details>, ApiError> {
    let id = VerificationId::parse(&verification_id).ok_or(ApiError::VerificationNotFound)?;
    let (v, attempts) = state
        .store
        .get_verification_with_attempts(&id)
        .await?
        .ok_or(ApiError::VerificationNotFound)?;
    super::check_owner(&key, &v)?;
    Ok(Json(Details::new(v, Some(attempts))))
}
