//! The portal's JSON API, keyed by the verification id (no API key): the state of a
//! verification and one route per step. Operators can build their own capture UI on it.
//! HTTP only: each handler reads its request, hands it to the workflow and answers.

use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde_json::Value;

use super::upload::{BodyLimits, PartSpec, field, read_parts, require_multipart};
use super::view::PortalView;
use crate::AppState;
use crate::backend::Side;
use crate::body::{self as request_body, read_optional_json};
use crate::domain::portal::Step;
use crate::domain::{DocumentType, VerificationId};
use crate::error::ApiError;
use crate::security_headers::{self, Policy};
use crate::workflow::{self, StepReply};

pub fn router(state: &AppState) -> Router<AppState> {
    // Each route reads at most its own limit (DefaultBodyLimit bounds the multipart
    // reader; the JSON steps read through `read_optional_json` with the same number).
    let limits = BodyLimits::of(state);
    Router::new()
        .route("/api/portal/{verification_id}", get(get_state))
        .route(
            "/api/portal/{verification_id}/terms",
            post(terms).layer(DefaultBodyLimit::max(limits.json)),
        )
        .route(
            "/api/portal/{verification_id}/document/{side}",
            post(document).layer(DefaultBodyLimit::max(limits.document)),
        )
        .route(
            "/api/portal/{verification_id}/liveness",
            post(liveness).layer(DefaultBodyLimit::max(limits.liveness)),
        )
        .route(
            "/api/portal/{verification_id}/form",
            post(form).layer(DefaultBodyLimit::max(limits.json)),
        )
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
async fn get_state(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let loaded = workflow::open(&state, &verification_id(&id)?).await?;
    answer(&PortalView::of(&loaded))
}

/// `POST /api/portal/{id}/terms` with `{"accepted": true}`.
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
        ],
    )
    .await?;
    let document_type: DocumentType = field(&parts, "document_type")
        .and_then(|b| std::str::from_utf8(b).ok())
        .ok_or_else(|| ApiError::InvalidRequest("missing field `document_type`".into()))?
        .trim()
        .parse()
        .map_err(ApiError::InvalidRequest)?;
    workflow::check_document_type(&loaded, document_type)?;
    let image = field(&parts, "image")
        .cloned()
        .filter(|b| !b.is_empty())
        .ok_or_else(|| ApiError::InvalidRequest("missing file `image`".into()))?;
    let judged = workflow::check_document(&state, side, document_type, image).await?;
    replied(workflow::record_step(&state, loaded, judged).await?)
}

/// Most frames in a liveness burst.
const MAX_FRAMES: usize = 8;

/// `POST /api/portal/{id}/liveness`: multipart `frames`, 2 to 8, first to last.
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
    let frames: Vec<Bytes> = read_parts(
        request,
        &state,
        &[PartSpec {
            name: "frames",
            max_bytes: limits.frame,
            max_count: MAX_FRAMES,
        }],
    )
    .await?
    .into_iter()
    .map(|(_, b)| b)
    .filter(|b| !b.is_empty())
    .collect();
    if !(2..=MAX_FRAMES).contains(&frames.len()) {
        return Err(ApiError::InvalidRequest(format!(
            "send 2 to 8 `frames`, not {}",
            frames.len()
        )));
    }
    let judged = workflow::check_liveness(&state, &loaded, frames).await?;
    replied(workflow::record_step(&state, loaded, judged).await?)
}

/// `POST /api/portal/{id}/form`: a JSON object of the key's form fields.
async fn form(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (_running, loaded) =
        workflow::begin_step(&state, &verification_id(&id)?, Step::FormData).await?;
    let body: Option<Value> = read_optional_json(request, BodyLimits::of(&state).json).await?;
    let Some(Value::Object(values)) = body else {
        return Err(ApiError::InvalidRequest(
            "send a JSON object of form field values".into(),
        ));
    };
    let judged = workflow::judge_form(&loaded, &values)?;
    replied(workflow::record_step(&state, loaded, judged).await?)
}
