//! The portal's JSON API, keyed by the verification id (no API key): the state of a
//! verification and one route per step. Operators can build their own capture UI on it.
//! HTTP only: each handler reads its request, hands it to the workflow and answers.

use axum::Json;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use super::upload::{BodyLimits, PartSpec, field, read_parts, require_multipart};
use super::view::PortalView;
use crate::AppState;
use crate::backend::Side;
use crate::body::{self as request_body, read_optional_json};
use crate::domain::portal::Step;
use crate::domain::test_mode::{Pick, TestOutcome};
use crate::domain::{DocumentType, VerificationId};
use crate::error::ApiError;
use crate::openapi::RouterExt;
use crate::security_headers::{self, Policy};
use crate::workflow::{self, Loaded, StepReply, simulate};

/// The part or field a tester's submission names its outcome in (test verifications).
const TEST_OUTCOME: &str = "test_outcome";

/// The outcome a tester picked with a submission, on a test verification; `None` when
/// none was picked. A live verification ignores the field.
fn picked(loaded: &Loaded, raw: Option<&str>) -> Result<Option<Pick>, ApiError> {
    match raw.map(str::trim) {
        Some(text) if loaded.verification.test && !text.is_empty() => {
            let outcome = TestOutcome::parse(text).map_err(ApiError::InvalidRequest)?;
            Ok(Some(
                Pick::new(outcome, &[]).map_err(ApiError::InvalidRequest)?,
            ))
        }
        _ => Ok(None),
    }
}

/// A text part's value, when it is UTF-8.
fn text_part<'a>(parts: &'a [(&'static str, Bytes)], name: &str) -> Option<&'a str> {
    field(parts, name).and_then(|b| std::str::from_utf8(b).ok())
}

/// `test_outcome`, at most one, short: it names an outcome.
const TEST_OUTCOME_PART: PartSpec = PartSpec {
    name: TEST_OUTCOME,
    max_bytes: 32,
    max_count: 1,
};

pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    // Each route reads at most its own limit (DefaultBodyLimit bounds the multipart
    // reader; the JSON steps read through `read_optional_json` with the same number).
    let limits = BodyLimits::of(state);
    OpenApiRouter::new()
        .routes(routes!(get_state))
        .routes(routes!(terms).layer(DefaultBodyLimit::max(limits.json)))
        .routes(routes!(document).layer(DefaultBodyLimit::max(limits.document)))
        .routes(routes!(liveness).layer(DefaultBodyLimit::max(limits.liveness)))
        .routes(routes!(form).layer(DefaultBodyLimit::max(limits.json)))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            super::same_site::same_site_only,
        ))
        // Outermost, so it runs first: a throttled client costs no lookup.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            super::throttle::portal_api,
        ))
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(security_headers::layer(Policy::PortalApi))
}

fn verification_id(raw: &str) -> Result<VerificationId, ApiError> {
    VerificationId::parse(raw).ok_or(ApiError::VerificationNotFound)
}

/// Answers through a JSON value, whose objects keep their keys in order: the bytes
/// answered do not depend on how the Rust types order their fields.
fn answer(body: &impl serde::Serialize) -> Result<Response, ApiError> {
    let value = serde_json::to_value(body).map_err(ApiError::internal)?;
    Ok(Json(value).into_response())
}

fn replied(reply: StepReply) -> Result<Response, ApiError> {
    answer(&reply)
}

/// `GET /api/portal/{id}`: where the user stands. The first visit marks the
/// verification `in_progress`.
#[utoipa::path(
    get,
    path = "/api/portal/{verification_id}",
    operation_id = "portal_state",
    summary = "Where the user stands (the first read starts the verification)",
    tag = "portal",
    params(crate::openapi::VerificationPath),
    responses(
        (status = 200, description = "OK", body = PortalView),
        (status = 403, response = crate::openapi::ErrorResponse),
        (status = 404, response = crate::openapi::ErrorResponse),
        (status = 429, response = crate::openapi::RateLimited),
        (status = 500, response = crate::openapi::ErrorResponse),
        (status = 503, response = crate::openapi::ErrorResponse),
    ),
)]
async fn get_state(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let loaded = workflow::open(&state, &verification_id(&id)?).await?;
    answer(&PortalView::of(&loaded))
}

/// `POST /api/portal/{id}/terms` with `{"accepted": true}`.
#[utoipa::path(
    post,
    path = "/api/portal/{verification_id}/terms",
    operation_id = "portal_terms",
    summary = "Accept the terms",
    tag = "portal",
    params(crate::openapi::VerificationPath),
    request_body(content = inline(crate::openapi::TermsAccepted), content_type = "application/json"),
    responses(
        (status = 200, description = "OK", body = StepReply),
        crate::openapi::StepErrors,
    ),
)]
async fn terms(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (_running, loaded) =
        workflow::begin_step(&state, &verification_id(&id)?, Step::Terms).await?;
    // Only now, with a verification that takes this step, is the body read.
    let body: Option<Value> = read_optional_json(request, BodyLimits::of(&state).json).await?;
    if body.as_ref().and_then(|b| b.get("accepted")?.as_bool()) != Some(true) {
        return Err(ApiError::InvalidRequest(
            "send {\"accepted\": true} to accept the terms".into(),
        ));
    }
    replied(workflow::record_step(&state, loaded, workflow::accept_terms()).await?)
}

/// `POST /api/portal/{id}/document/{front|back}`: multipart `document_type`, `image`.
#[utoipa::path(
    post,
    path = "/api/portal/{verification_id}/document/{side}",
    operation_id = "portal_document",
    summary = "Submit one side of the document",
    tag = "portal",
    params(crate::openapi::VerificationPath, ("side" = inline(crate::openapi::DocumentSide), Path)),
    request_body(content = inline(crate::openapi::DocumentUpload), content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "OK", body = StepReply),
        crate::openapi::StepErrors,
    ),
)]
async fn document(
    State(state): State<AppState>,
    Path((id, side)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let side: Side = side.parse().map_err(|_| ApiError::RouteNotFound)?;
    let step = match side {
        Side::Front => Step::DocumentFront,
        Side::Back => Step::DocumentBack,
    };
    let (_running, loaded) = workflow::begin_step(&state, &verification_id(&id)?, step).await?;
    let limits = BodyLimits::of(&state);
    require_multipart(request.headers())?;
    request_body::check_declared_length(request.headers(), limits.document)?;
    let parts = read_parts(
        request,
        &state,
        &[
            PartSpec {
                name: "document_type",
                max_bytes: 64,
                max_count: 1,
            },
            PartSpec {
                name: "image",
                max_bytes: limits.image,
                max_count: 1,
            },
            TEST_OUTCOME_PART,
        ],
    )
    .await?;
    let document_type: DocumentType = text_part(&parts, "document_type")
        .ok_or_else(|| ApiError::InvalidRequest("missing field `document_type`".into()))?
        .trim()
        .parse()
        .map_err(ApiError::InvalidRequest)?;
    workflow::check_document_type(&loaded, document_type)?;
    let image = field(&parts, "image")
        .cloned()
        .filter(|b| !b.is_empty())
        .ok_or_else(|| ApiError::InvalidRequest("missing file `image`".into()))?;
    let judged = if loaded.verification.test {
        let pick = picked(&loaded, text_part(&parts, TEST_OUTCOME))?;
        simulate::document_side(step, document_type, pick.as_ref())
    } else {
        workflow::check_document(&state, &loaded, side, document_type, image).await?
    };
    replied(workflow::record_step(&state, loaded, judged).await?)
}

/// Most frames in a liveness burst.
const MAX_FRAMES: usize = 8;

/// `POST /api/portal/{id}/liveness`: multipart `frames`, 2 to 8, first to last.
#[utoipa::path(
    post,
    path = "/api/portal/{verification_id}/liveness",
    operation_id = "portal_liveness",
    summary = "Submit the liveness burst",
    tag = "portal",
    params(crate::openapi::VerificationPath),
    request_body(content = inline(crate::openapi::LivenessUpload), content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "OK", body = StepReply),
        crate::openapi::StepErrors,
    ),
)]
async fn liveness(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (_running, loaded) =
        workflow::begin_step(&state, &verification_id(&id)?, Step::Liveness).await?;
    let limits = BodyLimits::of(&state);
    require_multipart(request.headers())?;
    request_body::check_declared_length(request.headers(), limits.liveness)?;
    let parts = read_parts(
        request,
        &state,
        &[
            PartSpec {
                name: "frames",
                max_bytes: limits.frame,
                max_count: MAX_FRAMES,
            },
            TEST_OUTCOME_PART,
        ],
    )
    .await?;
    let pick = picked(&loaded, text_part(&parts, TEST_OUTCOME))?;
    let frames: Vec<Bytes> = parts
        .into_iter()
        .filter(|(name, b)| *name == "frames" && !b.is_empty())
        .map(|(_, b)| b)
        .collect();
    if !(2..=MAX_FRAMES).contains(&frames.len()) {
        return Err(ApiError::InvalidRequest(format!(
            "send 2 to 8 `frames`, not {}",
            frames.len()
        )));
    }
    let judged = if loaded.verification.test {
        simulate::liveness(&loaded, pick.as_ref())
    } else {
        workflow::check_liveness(&state, &loaded, frames).await?
    };
    replied(workflow::record_step(&state, loaded, judged).await?)
}

/// `POST /api/portal/{id}/form`: a JSON object of the key's form fields.
#[utoipa::path(
    post,
    path = "/api/portal/{verification_id}/form",
    operation_id = "portal_form",
    summary = "Submit the form",
    tag = "portal",
    params(crate::openapi::VerificationPath),
    request_body(content = inline(crate::openapi::FormValues), content_type = "application/json"),
    responses(
        (status = 200, description = "OK", body = StepReply),
        crate::openapi::StepErrors,
    ),
)]
async fn form(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (_running, loaded) =
        workflow::begin_step(&state, &verification_id(&id)?, Step::FormData).await?;
    let body: Option<Value> = read_optional_json(request, BodyLimits::of(&state).json).await?;
    let Some(Value::Object(mut values)) = body else {
        return Err(ApiError::InvalidRequest(
            "send a JSON object of form field values".into(),
        ));
    };
    let judged = if loaded.verification.test {
        let pick = match values.remove(TEST_OUTCOME) {
            Some(Value::String(s)) => picked(&loaded, Some(&s))?,
            Some(Value::Null) | None => None,
            Some(_) => {
                return Err(ApiError::InvalidRequest(
                    "test_outcome must be a string".into(),
                ));
            }
        };
        simulate::mark_form(workflow::judge_form(&loaded, &values)?, pick.as_ref())
    } else {
        workflow::judge_form(&loaded, &values)?
    };
    replied(workflow::record_step(&state, loaded, judged).await?)
}
