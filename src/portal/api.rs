//! The portal's JSON API, keyed by the verification id (no API key): the state of a
//! verification and one route per step. Operators can build their own capture UI on it.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::NaiveDate;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::backend::{BackendError, DecisionInput, Side, StepOutcome, Verdict};
use crate::body::{self as request_body, read_optional_json};
use crate::domain::ids::random_bytes;
use crate::domain::portal::{self, Refusal, Step, StepTally};
use crate::domain::verification::{now, rfc3339};
use crate::domain::{
    Attempt, AttemptOutcome, DocumentType, FormField, Module, Status, Verification, VerificationId,
};
use crate::error::ApiError;
use crate::faces::{Challenge, FaceMatch, FaceMatchReason};
use crate::portal::inflight::Running;
use crate::security_headers::{self, Policy};
use crate::webhooks;

pub fn router(state: &AppState) -> utoipa_axum::router::OpenApiRouter<AppState> {
    use crate::openapi::RouterExt;
    use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
    use utoipa_axum::routes;
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
            same_site_only,
        ))
        // Outermost, so it runs first: a throttled client costs no lookup.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            super::throttle::portal_api,
        ))
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(security_headers::layer(Policy::PortalApi))
}

/// Room for a multipart body's boundaries, part headers and small text fields.
const MULTIPART_OVERHEAD: usize = 16 * 1024;

/// Most parts a multipart body may have, whatever their names.
const MAX_PARTS: usize = 16;

/// How much each step route reads, from the settings.
#[derive(Debug, Clone, Copy)]
struct BodyLimits {
    /// Terms and form: small JSON objects.
    json: usize,
    /// One document photo and its `document_type`.
    document: usize,
    /// A whole liveness burst.
    liveness: usize,
    /// One frame of a burst.
    frame: usize,
    /// One document photo.
    image: usize,
}

impl BodyLimits {
    fn of(state: &AppState) -> Self {
        let s = &state.settings;
        let image = s.backend.imaging.limits.max_bytes;
        BodyLimits {
            json: s.limits.max_json_body,
            document: image.saturating_add(MULTIPART_OVERHEAD),
            liveness: s.limits.max_liveness_body,
            frame: s.backend.imaging.frame_limits.max_bytes,
            image,
        }
    }
}

/// Refuse cross-site requests: a browser tells us where a request comes from with
/// `Sec-Fetch-Site` and `Origin`; anything but this site (or a direct, non-browser call)
/// is refused, so another site cannot drive a user's verification.
async fn same_site_only(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if let Some(site) = fetch_site
        && !matches!(site, "same-origin" | "none")
    {
        return ApiError::AccessDenied("cross-site requests are refused").into_response();
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let ours = state.settings.public_url.origin().ascii_serialization();
        if origin != ours {
            return ApiError::AccessDenied("cross-site requests are refused").into_response();
        }
    }
    next.run(req).await
}

/// What the key allowed when the verification was created (its `modules` snapshot).
struct StepSettings {
    document_types: Vec<DocumentType>,
    form_fields: Vec<(FormField, bool)>,
    max_attempts: u32,
}

impl StepSettings {
    fn of(v: &Verification) -> Self {
        let m = &v.modules;
        let document_types = m["document"]["document_types"]
            .as_array()
            .map(|a| a.iter().filter_map(|t| t.as_str()?.parse().ok()).collect())
            .unwrap_or_else(|| DocumentType::ALL.to_vec());
        let form_fields = m["form_data"]["fields"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| {
                        let field: FormField = f["name"].as_str()?.parse().ok()?;
                        Some((field, f["required"].as_bool().unwrap_or(true)))
                    })
                    .collect()
            })
            .unwrap_or_default();
        // The same limit for every step, written into each module's description.
        let max_attempts = ["document", "liveness", "form_data"]
            .iter()
            .find_map(|m2| m[*m2]["max_attempts"].as_u64())
            .unwrap_or(5) as u32;
        StepSettings {
            document_types,
            form_fields,
            max_attempts,
        }
    }
}

/// A verification with its attempts and what follows from them.
struct Loaded {
    v: Verification,
    attempts: Vec<Attempt>,
    settings: StepSettings,
    tallies: BTreeMap<Step, StepTally>,
    current: Option<Step>,
}

impl Loaded {
    fn new(v: Verification, attempts: Vec<Attempt>) -> Self {
        let settings = StepSettings::of(&v);
        let tallies = portal::tally(&attempts);
        let current = portal::current_step(&v, &settings.document_types, &tallies);
        Loaded {
            v,
            attempts,
            settings,
            tallies,
            current,
        }
    }

    fn attempts_left(&self, step: Step) -> u32 {
        let used = self.tallies.get(&step).map_or(0, |t| t.rejected);
        self.settings.max_attempts.saturating_sub(used)
    }
}

async fn load(state: &AppState, raw_id: &str) -> Result<Loaded, ApiError> {
    let id = VerificationId::parse(raw_id).ok_or(ApiError::VerificationNotFound)?;
    load_id(state, &id).await
}

async fn load_id(state: &AppState, id: &VerificationId) -> Result<Loaded, ApiError> {
    let (v, attempts) = state
        .store
        .get_verification_with_attempts(id)
        .await?
        .ok_or(ApiError::VerificationNotFound)?;
    Ok(Loaded::new(v, attempts))
}

/// Claim `step` of the verification for this request, then load it and check that the
/// step can be submitted now. Claiming first means a submission that waited for another
/// of the same step sees that one's outcome (and is refused) instead of running again.
/// The claim is released when the returned guard is dropped, after the commit.
async fn begin_step(
    state: &AppState,
    raw_id: &str,
    step: Step,
) -> Result<(Running, Loaded), ApiError> {
    let id = VerificationId::parse(raw_id).ok_or(ApiError::VerificationNotFound)?;
    let running = state.in_flight.begin(&id, step).ok_or_else(|| {
        ApiError::InvalidStep("this step is already being processed; wait for its answer".into())
    })?;
    let l = load_id(state, &id).await?;
    portal::check_submission(&l.v, step, l.current, now()).map_err(refused)?;
    Ok((running, l))
}

fn step_name(step: Option<Step>) -> &'static str {
    step.map_or("done", Step::as_str)
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
        (status = 200, description = "OK", body = crate::openapi::PortalView),
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
    let mut l = load(&state, &id).await?;
    let t = now();
    if l.v.status == crate::domain::Status::Created && t < l.v.expires_at {
        let mut next = l.v.clone();
        next.status = Status::InProgress;
        next.updated_at = t;
        let started = webhooks::event_for(l.v.status, &next, t);
        if state
            .store
            .update_verification(&next, None, started.as_slice())
            .await?
        {
            next.version += 1;
            l.v = next;
        } else {
            l = load(&state, &id).await?;
        }
    }
    if l.v.status == Status::Processing {
        // Every step is in but no decision was written (the deciding request failed or
        // the process stopped in between): decide now, then read the result.
        finish(&state, l.v.clone(), &l.attempts).await?;
        l = load(&state, &id).await?;
    }
    let (status, _) = l.v.effective_status(t);
    let sides: Vec<&str> = match l.v.portal.document_type {
        Some(doc) => doc.sides().to_vec(),
        None if l
            .settings
            .document_types
            .iter()
            .any(|d| d.sides().contains(&"back")) =>
        {
            vec!["front", "back"]
        }
        None => vec!["front"],
    };
    let needed: Vec<&str> = sides
        .into_iter()
        .filter(|s| {
            let step = if *s == "front" {
                Step::DocumentFront
            } else {
                Step::DocumentBack
            };
            l.tallies.get(&step).is_none_or(|t| t.accepted.is_none())
        })
        .collect();
    let steps = portal::steps(&l.v, &l.settings.document_types);
    let attempts_left: BTreeMap<&str, u32> = steps
        .iter()
        .filter(|s| **s != Step::Terms)
        .map(|s| (s.as_str(), l.attempts_left(*s)))
        .collect();
    let last_rejection = l
        .attempts
        .iter()
        .rev()
        .find(|a| a.outcome == AttemptOutcome::Rejected)
        .map(|a| json!({"step": a.step, "reasons": a.reasons}));
    let body = json!({
        "verification_id": l.v.id,
        "status": status.as_str(),
        "flow": l.v.flow,
        "current_step": if status.is_final() || status == Status::Processing {
            "done"
        } else {
            step_name(l.current)
        },
        "steps": steps.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "progress": l.v.progress,
        "document_type": l.v.portal.document_type,
        "document_types": l.settings.document_types,
        "document_sides": needed,
        "form_fields": l.settings.form_fields.iter().map(|(f, required)| json!({
            "name": f.as_str(), "type": f.kind(), "required": required,
        })).collect::<Vec<_>>(),
        "attempts_left": attempts_left,
        "last_rejection": last_rejection,
        "liveness_challenge": l.v.portal.liveness_challenge,
        "return_url": l.v.return_url,
        "expires_at": rfc3339(l.v.expires_at),
    });
    Ok(Json(body).into_response())
}

#[derive(utoipa::ToSchema)]
/// What one submission answers.
#[derive(Serialize)]
#[schema(as = Submission)]
struct SubmissionReply {
    #[schema(required = true)]
    attempt_id: Option<String>,
    #[schema(value_type = AttemptOutcome)]
    status: &'static str,
    reasons: Vec<String>,
    #[schema(value_type = crate::openapi::CurrentStep)]
    next_step: &'static str,
    attempts_left: u32,
}

fn refused(r: Refusal) -> ApiError {
    match r {
        Refusal::Expired => ApiError::VerificationExpired,
        Refusal::InvalidStep(why) => ApiError::InvalidStep(why),
    }
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
        (status = 200, description = "OK", body = SubmissionReply),
        (status = 400, response = crate::openapi::ErrorResponse),
        (status = 403, response = crate::openapi::ErrorResponse),
        (status = 404, response = crate::openapi::ErrorResponse),
        (status = 409, response = crate::openapi::ErrorResponse),
        (status = 410, response = crate::openapi::ErrorResponse),
        (status = 413, response = crate::openapi::ErrorResponse),
        (status = 415, response = crate::openapi::ErrorResponse),
        (status = 429, response = crate::openapi::RateLimited),
        (status = 500, response = crate::openapi::ErrorResponse),
        (status = 503, response = crate::openapi::ErrorResponse),
    ),
)]
async fn terms(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (_running, l) = begin_step(&state, &id, Step::Terms).await?;
    // Only now, with a verification that takes this step, is the body read.
    let body: Option<Value> = read_optional_json(request, BodyLimits::of(&state).json).await?;
    if body.as_ref().and_then(|b| b["accepted"].as_bool()) != Some(true) {
        return Err(ApiError::InvalidRequest(
            "send {\"accepted\": true} to accept the terms".into(),
        ));
    }
    let mut next = l.v.clone();
    next.portal.terms_accepted_at = Some(now());
    let outcome = Submitted {
        step: Step::Terms,
        verdict: Verdict::Accepted,
        reasons: vec![],
        metrics: json!({}),
        images: vec![],
        content_hash: None,
        result: None,
    };
    commit(&state, l, next, outcome).await
}

/// What a step's check produced, before it is written.
struct Submitted {
    step: Step,
    verdict: Verdict,
    reasons: Vec<String>,
    metrics: Value,
    /// Images to keep, by role.
    images: Vec<(&'static str, Bytes)>,
    content_hash: Option<String>,
    /// What to record under `results` when accepted: (path, value).
    result: Option<(&'static str, Value)>,
}

fn hash_all<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    hex::encode(h.finalize())
}

fn backend_error(e: BackendError) -> ApiError {
    match e {
        BackendError::InvalidImage { code, message } => match code.as_str() {
            "UNSUPPORTED_FORMAT" => ApiError::UnsupportedMediaType(message),
            "IMAGE_TOO_LARGE" => ApiError::PayloadTooLarge(message),
            _ => ApiError::InvalidRequest(format!("{code}: {message}")),
        },
        BackendError::InvalidRequest(m) => ApiError::InvalidRequest(m),
        BackendError::NotConfigured(m) => ApiError::ServerNotConfigured(m),
        BackendError::Unavailable(m) => ApiError::ServiceUnavailable(m.into()),
        BackendError::Internal(m) => ApiError::internal(m),
    }
}

/// What a multipart body may carry under one name.
struct PartSpec {
    name: &'static str,
    /// Most bytes one such part may hold.
    max_bytes: usize,
    /// Most parts of this name.
    max_count: usize,
}

/// The parts named in `specs`, in order, each read chunk by chunk against its own cap, so
/// an oversized part is refused (413) as soon as it passes the cap. Parts of other names
/// are skipped unread; at most [`MAX_PARTS`] parts in all.
async fn read_parts(
    request: Request,
    state: &AppState,
    specs: &[PartSpec],
) -> Result<Vec<(&'static str, Bytes)>, ApiError> {
    let mut mp = Multipart::from_request(request.map(request_body::paced), state)
        .await
        .map_err(|e| ApiError::InvalidRequest(format!("malformed multipart body: {e}")))?;
    let mut out: Vec<(&'static str, Bytes)> = Vec::new();
    let mut parts = 0;
    while let Some(mut field) = mp.next_field().await.map_err(multipart_error)? {
        parts += 1;
        if parts > MAX_PARTS {
            return Err(ApiError::InvalidRequest(format!(
                "a multipart body here has at most {MAX_PARTS} parts"
            )));
        }
        let Some(spec) = specs.iter().find(|s| Some(s.name) == field.name()) else {
            continue;
        };
        if out.iter().filter(|(n, _)| *n == spec.name).count() == spec.max_count {
            return Err(ApiError::InvalidRequest(format!(
                "send at most {} `{}` parts",
                spec.max_count, spec.name
            )));
        }
        let mut buf = bytes::BytesMut::new();
        while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
            if buf.len() + chunk.len() > spec.max_bytes {
                return Err(ApiError::PayloadTooLarge(format!(
                    "each `{}` part may hold at most {} bytes",
                    spec.name, spec.max_bytes
                )));
            }
            buf.extend_from_slice(&chunk);
        }
        out.push((spec.name, buf.freeze()));
    }
    Ok(out)
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge("the upload is larger than this route accepts".into())
    } else if request_body::is_timeout(&e) {
        ApiError::RequestTimeout
    } else {
        ApiError::InvalidRequest(format!("malformed multipart body: {}", e.body_text()))
    }
}

fn require_multipart(headers: &HeaderMap) -> Result<(), ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.to_ascii_lowercase().starts_with("multipart/form-data") {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(
            "send multipart/form-data".into(),
        ))
    }
}

fn field<'a>(parts: &'a [(&'static str, Bytes)], name: &str) -> Option<&'a Bytes> {
    parts.iter().find(|(n, _)| *n == name).map(|(_, b)| b)
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
        (status = 200, description = "OK", body = SubmissionReply),
        (status = 400, response = crate::openapi::ErrorResponse),
        (status = 403, response = crate::openapi::ErrorResponse),
        (status = 404, response = crate::openapi::ErrorResponse),
        (status = 409, response = crate::openapi::ErrorResponse),
        (status = 410, response = crate::openapi::ErrorResponse),
        (status = 413, response = crate::openapi::ErrorResponse),
        (status = 415, response = crate::openapi::ErrorResponse),
        (status = 429, response = crate::openapi::RateLimited),
        (status = 500, response = crate::openapi::ErrorResponse),
        (status = 503, response = crate::openapi::ErrorResponse),
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
    let (_running, l) = begin_step(&state, &id, step).await?;
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
    let doc_type: DocumentType = field(&parts, "document_type")
        .and_then(|b| std::str::from_utf8(b).ok())
        .ok_or_else(|| ApiError::InvalidRequest("missing field `document_type`".into()))?
        .trim()
        .parse()
        .map_err(ApiError::InvalidRequest)?;
    if !l.settings.document_types.contains(&doc_type) {
        return Err(ApiError::InvalidRequest(format!(
            "document type {} is not accepted here",
            doc_type.as_str()
        )));
    }
    if let Some(chosen) = l.v.portal.document_type
        && chosen != doc_type
    {
        return Err(ApiError::InvalidRequest(format!(
            "the front was a {}; send the back of the same document",
            chosen.as_str()
        )));
    }
    let image = field(&parts, "image")
        .cloned()
        .filter(|b| !b.is_empty())
        .ok_or_else(|| ApiError::InvalidRequest("missing file `image`".into()))?;
    let content_hash = hash_all([image.as_ref()]);
    let started = std::time::Instant::now();
    let r = state.backend.check_document(doc_type, side, image).await;
    state.metrics.backend_step("document", started.elapsed());
    let r = r.map_err(backend_error)?;
    let mut images = vec![("original", r.original_jpeg.clone())];
    if let Some(c) = &r.cropped_jpeg {
        images.push(("cropped", c.clone()));
    }
    let mut next = l.v.clone();
    if r.verdict == Verdict::Accepted {
        next.portal.document_type = Some(doc_type);
    }
    let outcome = Submitted {
        step,
        verdict: r.verdict,
        reasons: r.reasons,
        result: Some((
            step.as_str(),
            json!({"document_type": doc_type, "metrics": r.metrics, "borderline": r.borderline}),
        )),
        metrics: json!({"metrics": r.metrics, "borderline": r.borderline}),
        images,
        content_hash: Some(content_hash),
    };
    commit(&state, l, next, outcome).await
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
        (status = 200, description = "OK", body = SubmissionReply),
        (status = 400, response = crate::openapi::ErrorResponse),
        (status = 403, response = crate::openapi::ErrorResponse),
        (status = 404, response = crate::openapi::ErrorResponse),
        (status = 409, response = crate::openapi::ErrorResponse),
        (status = 410, response = crate::openapi::ErrorResponse),
        (status = 413, response = crate::openapi::ErrorResponse),
        (status = 415, response = crate::openapi::ErrorResponse),
        (status = 429, response = crate::openapi::RateLimited),
        (status = 500, response = crate::openapi::ErrorResponse),
        (status = 503, response = crate::openapi::ErrorResponse),
    ),
)]
async fn liveness(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (_running, l) = begin_step(&state, &id, Step::Liveness).await?;
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
    let challenge: Challenge =
        l.v.portal
            .liveness_challenge
            .as_deref()
            .unwrap_or("closer")
            .parse()
            .map_err(ApiError::internal)?;
    let content_hash = hash_all(frames.iter().map(|f| f.as_ref()));
    let started = std::time::Instant::now();
    let r = state.backend.check_liveness(challenge, frames).await;
    state.metrics.backend_step("liveness", started.elapsed());
    let r = r.map_err(backend_error)?;
    // Only the chosen selfie is kept; the other frames are never stored.
    let images = r
        .selfie_jpeg
        .iter()
        .map(|s| ("selfie", s.clone()))
        .collect();
    let next = l.v.clone();
    // Flags (a suspected spoof) pass the step but go to the decision.
    let mut metrics = r.metrics;
    metrics["flags"] = json!(r.flags);
    let outcome = Submitted {
        step: Step::Liveness,
        verdict: r.verdict,
        reasons: r.reasons,
        result: Some((
            "liveness",
            json!({"challenge": challenge, "metrics": metrics}),
        )),
        metrics,
        images,
        content_hash: Some(content_hash),
    };
    commit(&state, l, next, outcome).await
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
        (status = 200, description = "OK", body = SubmissionReply),
        (status = 400, response = crate::openapi::ErrorResponse),
        (status = 403, response = crate::openapi::ErrorResponse),
        (status = 404, response = crate::openapi::ErrorResponse),
        (status = 409, response = crate::openapi::ErrorResponse),
        (status = 410, response = crate::openapi::ErrorResponse),
        (status = 413, response = crate::openapi::ErrorResponse),
        (status = 415, response = crate::openapi::ErrorResponse),
        (status = 429, response = crate::openapi::RateLimited),
        (status = 500, response = crate::openapi::ErrorResponse),
        (status = 503, response = crate::openapi::ErrorResponse),
    ),
)]
async fn form(
    State(state): State<AppState>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (_running, l) = begin_step(&state, &id, Step::FormData).await?;
    let body: Option<Value> = read_optional_json(request, BodyLimits::of(&state).json).await?;
    let Some(Value::Object(values)) = body else {
        return Err(ApiError::InvalidRequest(
            "send a JSON object of form field values".into(),
        ));
    };
    // Fields the key did not ask for are refused outright: they are neither stored nor
    // counted as an attempt.
    refuse_unknown_fields(&l.settings.form_fields, &values)?;
    let (clean, reasons) = validate_form(&l.settings.form_fields, &values);
    let next = l.v.clone();
    let accepted = reasons.is_empty();
    let outcome = Submitted {
        step: Step::FormData,
        verdict: if accepted {
            Verdict::Accepted
        } else {
            Verdict::Rejected
        },
        // The values are personal data: kept in results once accepted, never in metrics.
        // The names are the key's own (unknown ones were refused above).
        metrics: json!({"fields": values.keys().collect::<Vec<_>>()}),
        reasons,
        result: accepted.then_some(("form_data", Value::Object(clean))),
        images: vec![],
        content_hash: None,
    };
    commit(&state, l, next, outcome).await
}

/// Most unknown field names an error message repeats, and how much of each.
const NAMED_UNKNOWN: usize = 3;
const NAME_CHARS: usize = 32;

/// Longest accepted value of a form field, in characters.
const MAX_VALUE_CHARS: usize = 200;

/// `400 INVALID_REQUEST` when `values` has fields the key did not ask for, naming a few.
fn refuse_unknown_fields(
    fields: &[(FormField, bool)],
    values: &serde_json::Map<String, Value>,
) -> Result<(), ApiError> {
    let unknown: Vec<&String> = values
        .keys()
        .filter(|name| !fields.iter().any(|(f, _)| f.as_str() == name.as_str()))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let mut named: Vec<String> = unknown
        .iter()
        .take(NAMED_UNKNOWN)
        .map(|n| {
            let shown: String = n
                .chars()
                .filter(|c| !c.is_control())
                .take(NAME_CHARS)
                .collect();
            format!("`{shown}`")
        })
        .collect();
    if unknown.len() > NAMED_UNKNOWN {
        named.push(format!("{} more", unknown.len() - NAMED_UNKNOWN));
    }
    let expected: Vec<&str> = fields.iter().map(|(f, _)| f.as_str()).collect();
    Err(ApiError::InvalidRequest(format!(
        "unknown form fields: {}; this form takes {}",
        named.join(", "),
        if expected.is_empty() {
            "no fields".to_owned()
        } else {
            expected.join(", ")
        }
    )))
}

/// Check each of the key's fields against its type; reasons read `<field>:FIELD_REQUIRED`
/// or `<field>:FIELD_INVALID`. Only normalised values of known fields come out. A value
/// that is not a string, or longer than [`MAX_VALUE_CHARS`], is invalid; with unknown
/// fields refused first, the whole form is at most one short value per field.
pub fn validate_form(
    fields: &[(FormField, bool)],
    values: &serde_json::Map<String, Value>,
) -> (serde_json::Map<String, Value>, Vec<String>) {
    let mut clean = serde_json::Map::new();
    let mut reasons = Vec::new();
    for (f, required) in fields {
        let raw = match values.get(f.as_str()) {
            None | Some(Value::Null) => None,
            Some(Value::String(v)) => Some(v.trim()),
            Some(_) => {
                reasons.push(format!("{}:FIELD_INVALID", f.as_str()));
                continue;
            }
        };
        match raw {
            None | Some("") => {
                if *required {
                    reasons.push(format!("{}:FIELD_REQUIRED", f.as_str()));
                }
            }
            Some(v) => match normalise(*f, v) {
                Some(ok) => {
                    clean.insert(f.as_str().to_owned(), Value::String(ok));
                }
                None => reasons.push(format!("{}:FIELD_INVALID", f.as_str())),
            },
        }
    }
    (clean, reasons)
}

fn normalise(field: FormField, v: &str) -> Option<String> {
    if v.chars().count() > MAX_VALUE_CHARS || v.chars().any(char::is_control) {
        return None;
    }
    match field.kind() {
        "date" => {
            let d = NaiveDate::parse_from_str(v, "%Y-%m-%d").ok()?;
            let today = chrono::Utc::now().date_naive();
            (d < today && d > NaiveDate::from_ymd_opt(1900, 1, 1)?).then(|| d.to_string())
        }
        "email" => {
            let (user, domain) = v.split_once('@')?;
            (!user.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !v.contains(char::is_whitespace))
            .then(|| v.to_owned())
        }
        "tel" => {
            let digits = v.chars().filter(char::is_ascii_digit).count();
            (v.chars().all(|c| c.is_ascii_digit() || " +-()".contains(c))
                && (6..=20).contains(&digits))
            .then(|| v.to_owned())
        }
        "country" => (v.len() == 2 && v.chars().all(|c| c.is_ascii_alphabetic()))
            .then(|| v.to_ascii_uppercase()),
        _ => Some(v.to_owned()),
    }
}

/// Write a submission: its images, its attempt and the verification's new state in one
/// transaction; then, when it completed the flow, the decision.
async fn commit(
    state: &AppState,
    l: Loaded,
    mut next: Verification,
    s: Submitted,
) -> Result<Response, ApiError> {
    let t = now();
    let accepted = s.verdict == Verdict::Accepted;
    let attempt = (s.step != Step::Terms).then(|| Attempt {
        id: format!("att_{}", hex::encode(random_bytes::<8>())),
        verification_id: l.v.id.clone(),
        step: s.step.as_str().to_owned(),
        outcome: if accepted {
            AttemptOutcome::Accepted
        } else {
            AttemptOutcome::Rejected
        },
        reasons: s.reasons.clone(),
        metrics: s.metrics.clone(),
        images: BTreeMap::new(),
        content_hash: s.content_hash.clone(),
        created_at: t,
    });
    let mut attempt = attempt;
    if let Some(a) = attempt.as_mut() {
        for (role, bytes) in &s.images {
            let key = format!("{}/{}/{}", l.v.id, a.id, role);
            state
                .blobs
                .put(&key, bytes.clone())
                .await
                .map_err(ApiError::internal)?;
            a.images.insert((*role).to_owned(), key);
        }
    }
    let mut attempts = l.attempts.clone();
    attempts.extend(attempt.clone());
    let tallies = portal::tally(&attempts);
    let types = &l.settings.document_types;
    next.progress = portal::progress(&next, types, &tallies, l.settings.max_attempts);
    if next.status == Status::Created {
        next.status = Status::InProgress;
    }
    if accepted && let Some((path, value)) = s.result {
        set_result(&mut next.results, path, value);
    }
    let left = l
        .settings
        .max_attempts
        .saturating_sub(tallies.get(&s.step).map_or(0, |t| t.rejected));
    let out_of_attempts = !accepted && left == 0;
    let current = portal::current_step(&next, types, &tallies);
    if out_of_attempts {
        // A step that ran out of attempts fails the verification; the id is not reused.
        next.status = Status::Rejected;
        set_result(
            &mut next.results,
            "decision",
            json!({"status": "rejected", "reasons": [format!("STEP_FAILED:{}", s.step.as_str())]}),
        );
    } else if current.is_none() {
        next.status = Status::Processing;
    }
    next.updated_at = t;
    // The first submission may skip the portal's first read: it starts the verification.
    let mut events = Vec::new();
    if l.v.status == Status::Created {
        let mut started = next.clone();
        started.status = Status::InProgress;
        events.extend(webhooks::event_for(Status::Created, &started, t));
    }
    if next.status.is_final() {
        events.extend(webhooks::event_for(l.v.status, &next, t));
    }
    let written = state
        .store
        .update_verification(&next, attempt.as_ref(), &events)
        .await;
    if !matches!(written, Ok(true)) {
        // Nothing refers to this attempt's images: remove them (best effort).
        if let Some(a) = &attempt {
            for key in a.images.values() {
                if let Err(e) = state.blobs.delete(key).await {
                    tracing::warn!(error = %e, "could not remove an unreferenced image");
                }
            }
        }
    }
    if !written? {
        return Err(ApiError::InvalidStep(
            "this verification changed meanwhile; reload and try again".into(),
        ));
    }
    next.version += 1;
    tracing::info!(
        verification_id = %next.id,
        step = s.step.as_str(),
        outcome = if accepted { "accepted" } else { "rejected" },
        reasons = ?s.reasons,
        "portal submission"
    );
    if next.status == Status::Processing {
        finish(state, next, &attempts).await?;
    }
    let reply = SubmissionReply {
        attempt_id: attempt.map(|a| a.id),
        status: if accepted { "accepted" } else { "rejected" },
        reasons: s.reasons,
        next_step: if out_of_attempts {
            "done"
        } else {
            step_name(current)
        },
        attempts_left: left,
    };
    Ok(Json(reply).into_response())
}

fn set_result(results: &mut Value, path: &str, value: Value) {
    if !results.is_object() {
        *results = json!({});
    }
    // Document sides live under results.document.{front,back}.
    let (top, sub) = match path {
        "document_front" => ("document", Some("front")),
        "document_back" => ("document", Some("back")),
        other => (other, None),
    };
    match sub {
        Some(side) => {
            let doc = &mut results[top];
            if !doc.is_object() {
                *doc = json!({});
            }
            if let Some(t) = value.get("document_type") {
                doc["document_type"] = t.clone();
            }
            doc[side] = value;
        }
        None => results[top] = value,
    }
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
/// failed, or the process stopped in between): decide it as [`commit`] would have, and if
/// that fails, send it to manual review with the reason `PROCESSING_STALLED`, so that no
/// verification waits in `processing` for someone to open its page. Run by the upkeep.
pub async fn settle_stalled(state: &AppState, id: &VerificationId) -> Result<Settled, ApiError> {
    let Some((v, attempts)) = state.store.get_verification_with_attempts(id).await? else {
        return Ok(Settled::Untouched);
    };
    if v.status != Status::Processing {
        return Ok(Settled::Untouched);
    }
    let Err(e) = finish(state, v.clone(), &attempts).await else {
        return Ok(Settled::Decided);
    };
    tracing::warn!(verification_id = %v.id, error = %e,
        "a verification stalled in processing cannot be decided; sending it to manual review");
    let mut flagged = v;
    set_result(
        &mut flagged.results,
        "decision",
        json!({"status": Status::NeedsManualReview, "reasons": ["PROCESSING_STALLED"]}),
    );
    flagged.status = Status::NeedsManualReview;
    flagged.updated_at = now();
    let completed = webhooks::event_for(Status::Processing, &flagged, flagged.updated_at);
    Ok(
        if state
            .store
            .update_verification(&flagged, None, completed.as_slice())
            .await?
        {
            Settled::Flagged
        } else {
            Settled::Untouched
        },
    )
}

/// Every step is in: compare faces when there is a document and a selfie, ask the backend
/// for its decision and record it. A backend failure here sends the verification to
/// manual review rather than leaving it stuck in `processing`.
async fn finish(
    state: &AppState,
    mut v: Verification,
    attempts: &[Attempt],
) -> Result<(), ApiError> {
    let tallies = portal::tally(attempts);
    let accepted_image = |step: Step, role: &str| {
        tallies
            .get(&step)
            .and_then(|t| t.accepted.as_ref())
            .and_then(|a| a.images.get(role).cloned())
    };
    // The key's own thresholds and liveness mode, else the instance's.
    let key = state.store.find_key(&v.key_id).await?;
    let policy = key.as_ref().map(|k| &k.settings);
    let thresholds = policy
        .and_then(|s| s.face_match)
        .unwrap_or(state.settings.backend.faces.matching);
    let face_match_required =
        v.flow.contains(&Module::Document) && v.flow.contains(&Module::Liveness);
    let mut face_match: Option<FaceMatch> = None;
    let mut failure: Option<String> = None;
    if face_match_required {
        let selfie = accepted_image(Step::Liveness, "selfie");
        let doc = accepted_image(Step::DocumentFront, "cropped")
            .or_else(|| accepted_image(Step::DocumentFront, "original"));
        let (s, d) = match (selfie, doc) {
            (Some(selfie), Some(doc)) => (
                state.blobs.get(&selfie).await.map_err(ApiError::internal)?,
                state.blobs.get(&doc).await.map_err(ApiError::internal)?,
            ),
            _ => (None, None),
        };
        match (s, d) {
            (Some(s), Some(d)) => {
                let started = std::time::Instant::now();
                let compared = state.backend.compare_faces(s, d, thresholds).await;
                state.metrics.backend_step("face_match", started.elapsed());
                match compared {
                    Ok(m) => face_match = Some(m),
                    Err(e) => failure = Some(format!("FACE_MATCH_FAILED: {e}")),
                }
            }
            // An image the comparison needs is gone: say so, never skip the check.
            _ => {
                face_match = Some(FaceMatch::NotPerformed {
                    reason: FaceMatchReason::ImageMissing,
                })
            }
        }
    }
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|b| {
                b.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let steps = portal::steps(&v, &StepSettings::of(&v).document_types);
    let input = DecisionInput {
        required: steps
            .iter()
            .filter(|s| **s != Step::Terms)
            .map(|s| s.as_str().to_owned())
            .collect(),
        steps: tallies
            .iter()
            .filter_map(|(step, t)| {
                let a = t.accepted.as_ref()?;
                Some(StepOutcome {
                    step: step.as_str().to_owned(),
                    verdict: Verdict::Accepted,
                    reasons: vec![],
                    borderline: strings(&a.metrics["borderline"]),
                    flags: strings(&a.metrics["flags"]),
                })
            })
            .collect(),
        face_match: face_match.clone(),
        face_match_required,
        strict_liveness: policy.is_some_and(|s| s.strict_liveness),
    };
    let (status, reasons) = match (failure, state.backend.decide(input).await) {
        (None, Ok(d)) => (d.status, d.reasons),
        (Some(f), _) => (
            Status::NeedsManualReview,
            vec!["DECISION_INCOMPLETE".into(), f],
        ),
        (None, Err(e)) => {
            tracing::warn!(error = %e, "decision failed; sending to manual review");
            (Status::NeedsManualReview, vec!["DECISION_FAILED".into()])
        }
    };
    if let Some(m) = face_match {
        set_result(&mut v.results, "face_match", json!(m));
    }
    set_result(
        &mut v.results,
        "decision",
        json!({"status": status, "reasons": reasons}),
    );
    let before = v.status;
    v.status = status;
    v.updated_at = now();
    let completed = webhooks::event_for(before, &v, v.updated_at);
    if state
        .store
        .update_verification(&v, None, completed.as_slice())
        .await?
    {
        tracing::info!(verification_id = %v.id, status = status.as_str(), "verification decided");
    } else {
        // Another request decided it first (both saw `processing`); theirs stands.
        tracing::info!(verification_id = %v.id, "verification was decided concurrently");
    }
    Ok(())
}
