//! `v2client engine`: the built-in backend served over HTTP, so a portal configured with
//! `V2CLIENT_BACKEND=http` hands its image work to other processes.
//!
//! # Wire protocol (version 1)
//!
//! Every route is `POST`, answers `application/json`, and, when the engine has a token
//! (`V2CLIENT_ENGINE_TOKEN`), requires `Authorization: Bearer <token>`.
//!
//! | route | request | answer |
//! |---|---|---|
//! | `/v1/document` | multipart: `document_type` (`passport`, `id_card`, `driving_licence`), `side` (`front`, `back`), `image` (file) | [`DocumentResult`](super::DocumentResult) |
//! | `/v1/liveness` | multipart: `challenge` (`closer`, `farther`), `frames` (file, repeated, first to last) | [`LivenessResult`](super::LivenessResult) |
//! | `/v1/face-match` | multipart: `match_threshold`, `no_match_threshold` (numbers), `selfie` (file), `document` (file) | [`FaceMatch`](crate::faces::FaceMatch): `{"status": "performed", "similarity", "decision", "thresholds", "model"}` or `{"status": "not_performed", "reason": "…"}` |
//! | `/v1/decide` | JSON [`DecisionInput`](super::DecisionInput) | [`Decision`](super::Decision) |
//!
//! Images in answers are standard base64 strings. `GET /healthz` answers `{"status":"ok"}`.
//! Errors are `{"error", "details", "code"}` with status 400 (`INVALID_REQUEST`), 401
//! (`UNAUTHORIZED`), 413 (`PAYLOAD_TOO_LARGE`), 422 (an image code such as
//! `UNSUPPORTED_FORMAT`, `IMAGE_TOO_LARGE`, `IMAGE_CORRUPT`), 500 or 503.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Multipart, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::{BackendError, DecisionInput, Side, VerificationBackend};
use crate::domain::DocumentType;
use crate::faces::{Challenge, Thresholds};

#[derive(Clone)]
struct EngineState {
    backend: Arc<dyn VerificationBackend>,
    token: Option<Arc<str>>,
}

/// The engine's router over any backend (the built-in one in production).
pub fn router(
    backend: Arc<dyn VerificationBackend>,
    token: Option<String>,
    max_body: usize,
) -> Router {
    let state = EngineState {
        backend,
        token: token.map(Arc::from),
    };
    let api = Router::new()
        .route("/v1/document", post(document))
        .route("/v1/liveness", post(liveness))
        .route("/v1/face-match", post(face_match))
        .route("/v1/decide", post(decide))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_token,
        ))
        .layer(DefaultBodyLimit::max(max_body));
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .merge(api)
        .fallback(|| async { error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such route") })
        .layer(axum::middleware::from_fn(log_request))
        .with_state(state)
}

/// One log line per engine request.
async fn log_request(req: Request, next: Next) -> Response {
    let start = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let res = next.run(req).await;
    tracing::info!(
        method = %method,
        route = %path,
        status = res.status().as_u16(),
        latency_ms = format_args!("{:.2}", start.elapsed().as_secs_f64() * 1000.0),
        "request"
    );
    res
}

fn error(status: StatusCode, code: &str, details: &str) -> Response {
    (
        status,
        Json(json!({"error": status.canonical_reason().unwrap_or("error"), "details": details, "code": code})),
    )
        .into_response()
}

impl IntoResponse for BackendError {
    fn into_response(self) -> Response {
        let status = match &self {
            BackendError::InvalidImage { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            BackendError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            BackendError::NotConfigured(_) | BackendError::Unavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            BackendError::Internal(e) => {
                tracing::error!(error = %e, "engine job failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let details = match &self {
            BackendError::Internal(_) => "the engine failed; see its log".to_owned(),
            other => other.to_string(),
        };
        error(status, self.code(), &details)
    }
}

async fn require_token(State(state): State<EngineState>, req: Request, next: Next) -> Response {
    if let Some(expected) = &state.token {
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
            return error(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "missing or wrong engine token",
            );
        }
    }
    next.run(req).await
}

/// Multipart fields by name, in order.
struct Parts(Vec<(String, Bytes)>);

impl Parts {
    async fn read(mut multipart: Multipart) -> Result<Parts, BackendError> {
        let mut out = Vec::new();
        while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
            let name = field.name().unwrap_or_default().to_owned();
            out.push((name, field.bytes().await.map_err(multipart_error)?));
        }
        Ok(Parts(out))
    }

    fn all(&self, name: &str) -> Vec<Bytes> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, b)| b.clone())
            .collect()
    }

    fn one(&self, name: &str) -> Result<Bytes, BackendError> {
        self.all(name)
            .into_iter()
            .next()
            .ok_or_else(|| BackendError::InvalidRequest(format!("missing field `{name}`")))
    }

    fn text<T: std::str::FromStr>(&self, name: &str) -> Result<T, BackendError>
    where
        T::Err: std::fmt::Display,
    {
        let raw = self.one(name)?;
        std::str::from_utf8(&raw)
            .map_err(|_| BackendError::InvalidRequest(format!("`{name}` is not text")))?
            .trim()
            .parse()
            .map_err(|e: T::Err| BackendError::InvalidRequest(format!("`{name}`: {e}")))
    }
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> BackendError {
    BackendError::InvalidRequest(format!("malformed multipart body: {e}"))
}

async fn document(
    State(s): State<EngineState>,
    multipart: Multipart,
) -> Result<Response, BackendError> {
    let parts = Parts::read(multipart).await?;
    let document_type: DocumentType = parts.text("document_type")?;
    let side: Side = parts.text("side")?;
    let result = s
        .backend
        .check_document(document_type, side, parts.one("image")?)
        .await?;
    Ok(Json(result).into_response())
}

async fn liveness(
    State(s): State<EngineState>,
    multipart: Multipart,
) -> Result<Response, BackendError> {
    let parts = Parts::read(multipart).await?;
    let challenge: Challenge = parts.text("challenge")?;
    let result = s
        .backend
        .check_liveness(challenge, parts.all("frames"))
        .await?;
    Ok(Json(result).into_response())
}

async fn face_match(
    State(s): State<EngineState>,
    multipart: Multipart,
) -> Result<Response, BackendError> {
    let parts = Parts::read(multipart).await?;
    let thresholds = Thresholds {
        matched: parts.text("match_threshold")?,
        no_match: parts.text("no_match_threshold")?,
    };
    let result = s
        .backend
        .compare_faces(parts.one("selfie")?, parts.one("document")?, thresholds)
        .await?;
    Ok(Json(result).into_response())
}

async fn decide(
    State(s): State<EngineState>,
    Json(input): Json<DecisionInput>,
) -> Result<Response, BackendError> {
    Ok(Json(s.backend.decide(input).await?).into_response())
}
