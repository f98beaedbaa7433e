//! The three image routes: the accepted front, back and selfie, redacted according to
//! the calling key's settings, always `image/jpeg`.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use utoipa::ToSchema;

use crate::AppState;
use crate::audit::{self, Action, Actor, AuditEvent, Origin};
use crate::auth::AuthedKey;
use crate::body::QueryPairs;
use crate::domain::results::DocumentMetrics;
use crate::domain::{Attempt, AttemptOutcome, RedactionTarget, Step};
use crate::error::ApiError;
use crate::imaging::{self, Point, Quad, RelRect};
use crate::openapi::{Binary, ErrorResponse, VerificationPath};
use crate::ratelimit::ClientAddr;
use crate::store::ApiKeyRecord;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ToSchema)]
#[schema(rename_all = "lowercase")]
enum ImageType {
    Original,
    Cropped,
}

/// `image_type`: absent (the cropped image when there is one), `original` or `cropped`;
/// anything else is 400.
fn image_type(query: &QueryPairs) -> Result<Option<ImageType>, ApiError> {
    match query.get("image_type") {
        None => Ok(None),
        Some("original") => Ok(Some(ImageType::Original)),
        Some("cropped") => Ok(Some(ImageType::Cropped)),
        Some(other) => Err(ApiError::InvalidRequest(format!(
            "image_type must be `original` or `cropped`, not `{}`",
            other.chars().take(40).collect::<String>()
        ))),
    }
}

/// The accepted front image (redacted per key)
#[utoipa::path(
    get,
    path = "/api/get-verification-image-front/{verification_id}",
    operation_id = "get_verification_image_front",
    tag = "operator",
    security(("SdkKey" = [])),
    params(VerificationPath, ("image_type" = inline(Option<ImageType>), Query, description = "Absent: the cropped image when there is one")),
    responses(
        (status = 200, description = "The image", content_type = "image/jpeg", body = inline(Binary)),
        (status = 400, response = ErrorResponse),
        (status = 401, response = ErrorResponse),
        (status = 403, response = ErrorResponse),
        (status = 404, response = ErrorResponse),
        (status = 500, response = ErrorResponse),
        (status = 503, response = ErrorResponse),
    ),
)]
pub async fn front(
    State(state): State<AppState>,
    AuthedKey(key): AuthedKey,
    Origin(from): Origin,
    Path(id): Path<String>,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    let kind = image_type(&query)?;
    serve(&state, &key, from, &id, Step::DocumentFront, kind).await
}

/// The accepted back image (redacted per key)
#[utoipa::path(
    get,
    path = "/api/get-verification-image-back/{verification_id}",
    operation_id = "get_verification_image_back",
    tag = "operator",
    security(("SdkKey" = [])),
    params(VerificationPath, ("image_type" = inline(Option<ImageType>), Query, description = "Absent: the cropped image when there is one")),
    responses(
        (status = 200, description = "The image", content_type = "image/jpeg", body = inline(Binary)),
        (status = 400, response = ErrorResponse),
        (status = 401, response = ErrorResponse),
        (status = 403, response = ErrorResponse),
        (status = 404, response = ErrorResponse),
        (status = 500, response = ErrorResponse),
        (status = 503, response = ErrorResponse),
    ),
)]
pub async fn back(
    State(state): State<AppState>,
    AuthedKey(key): AuthedKey,
    Origin(from): Origin,
    Path(id): Path<String>,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    let kind = image_type(&query)?;
    serve(&state, &key, from, &id, Step::DocumentBack, kind).await
}

/// The accepted selfie
#[utoipa::path(
    get,
    path = "/api/get-verification-image-selfie/{verification_id}",
    operation_id = "get_verification_image_selfie",
    tag = "operator",
    security(("SdkKey" = [])),
    params(VerificationPath),
    responses(
        (status = 200, description = "The image", content_type = "image/jpeg", body = inline(Binary)),
        (status = 401, response = ErrorResponse),
        (status = 403, response = ErrorResponse),
        (status = 404, response = ErrorResponse),
        (status = 500, response = ErrorResponse),
        (status = 503, response = ErrorResponse),
    ),
)]
pub async fn selfie(
    State(state): State<AppState>,
    AuthedKey(key): AuthedKey,
    Origin(from): Origin,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    serve(&state, &key, from, &id, Step::Liveness, None).await
}

async fn serve(
    state: &AppState,
    key: &ApiKeyRecord,
    from: ClientAddr,
    id: &str,
    step: Step,
    kind: Option<ImageType>,
) -> Result<Response, ApiError> {
    let v = super::owned_verification(state, key, id).await?;
    let missing = match step {
        Step::Liveness => "No accepted selfie exists: the liveness step was not completed",
        Step::DocumentBack => "No accepted back image exists for this verification",
        _ => "No accepted front image exists for this verification",
    };
    let attempts = state.store.list_attempts(&v.id).await?;
    let accepted = attempts
        .iter()
        .rev()
        .find(|a| a.step == step && a.outcome == AttemptOutcome::Accepted)
        .ok_or(ApiError::ImageNotFound(missing))?;
    if v.test {
        return test_placeholder(state, key, from, &v, step, kind).await;
    }
    let role = match (step, kind) {
        (Step::Liveness, _) => "selfie",
        (_, Some(ImageType::Original)) => "original",
        (_, Some(ImageType::Cropped)) => "cropped",
        (_, None) if accepted.images.contains_key("cropped") => "cropped",
        (_, None) => "original",
    };
    if !accepted.images.contains_key(role) {
        return Err(ApiError::ImageNotFound(missing));
    }
    audit::record(
        state.store.as_ref(),
        AuditEvent::new(&Actor::api_key(key, from), Action::ImageViewed)
            .on(&v)
            .target(format!("{}:{role}", step.as_str())),
    )
    .await?;
    let body = attempt_image(state, key, accepted, role)
        .await?
        .ok_or(ApiError::ImageNotFound(missing))?;
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"))],
        body,
    )
        .into_response())
}

/// The image `role` (`original`, `cropped`, `selfie`, a liveness frame…) that `attempt`
/// stored, as `key` may see it: document images redacted by the key's settings. `None`
/// when the attempt kept no such image (or it was erased).
/// A test verification keeps no photo: each accepted step's image is a labelled
/// placeholder (both `original` and `cropped`), read and audited like a real one, and
/// gone once the verification is erased.
async fn test_placeholder(
    state: &AppState,
    key: &ApiKeyRecord,
    from: ClientAddr,
    v: &crate::domain::Verification,
    step: Step,
    kind: Option<ImageType>,
) -> Result<Response, ApiError> {
    if v.results.is_erased() {
        return Err(ApiError::ImageNotFound(
            "The images of this verification were erased",
        ));
    }
    let (role, label) = match (step, kind) {
        (Step::Liveness, _) => ("selfie", "SELFIE"),
        (Step::DocumentBack, Some(ImageType::Original)) => ("original", "DOCUMENT BACK - ORIGINAL"),
        (Step::DocumentBack, _) => ("cropped", "DOCUMENT BACK - CROPPED"),
        (_, Some(ImageType::Original)) => ("original", "DOCUMENT FRONT - ORIGINAL"),
        (_, _) => ("cropped", "DOCUMENT FRONT - CROPPED"),
    };
    audit::record(
        state.store.as_ref(),
        AuditEvent::new(&Actor::api_key(key, from), Action::ImageViewed)
            .on(v)
            .target(format!("{}:{role}", step.as_str())),
    )
    .await?;
    let body = tokio::task::spawn_blocking(move || imaging::placeholder::placeholder(label))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"))],
        body,
    )
        .into_response())
}

pub(crate) async fn attempt_image(
    state: &AppState,
    key: &ApiKeyRecord,
    attempt: &Attempt,
    role: &str,
) -> Result<Option<Vec<u8>>, ApiError> {
    let Some(blob) = attempt.images.get(role) else {
        return Ok(None);
    };
    let Some(bytes) = state.blobs.get(blob).await.map_err(ApiError::internal)? else {
        return Ok(None);
    };
    let targets = key.settings.redact.clone();
    let document = matches!(attempt.step, Step::DocumentFront | Step::DocumentBack);
    if !document || targets.is_empty() {
        return Ok(Some(bytes.to_vec()));
    }
    let Some(metrics) = attempt.metrics.document().cloned() else {
        // Nothing was measured on it (a side rejected early): nothing to redact by, so
        // it is not shown at all rather than shown unredacted.
        return Ok(None);
    };
    let cropped = role == "cropped";
    tokio::task::spawn_blocking(move || redact(&bytes, &metrics, &targets, cropped))
        .await
        .map_err(ApiError::internal)?
        .map(Some)
}

/// What the document check found on the crop, as fractions of it: the zone and the
/// document number's places it read, every face (largest first) and the printed photos
/// found around them.
fn found_fields(metrics: &DocumentMetrics) -> imaging::FoundFields {
    let located = metrics.located.as_deref().cloned().unwrap_or_default();
    let faces = metrics
        .portrait
        .as_ref()
        .map(|p| {
            let boxes: Vec<crate::faces::FaceBox> = p
                .measured
                .get("faces")
                .and_then(|f| serde_json::from_value(f.clone()).ok())
                .or_else(|| p.face.map(|f| vec![f]))
                .unwrap_or_default();
            let mut boxes: Vec<RelRect> = boxes
                .iter()
                .map(|f| {
                    RelRect::from_pixels(
                        f64::from(f.x),
                        f64::from(f.y),
                        f64::from(f.width),
                        f64::from(f.height),
                        p.image_width,
                        p.image_height,
                    )
                })
                .collect();
            boxes.sort_by(|a, b| (b.w * b.h).total_cmp(&(a.w * a.h)));
            boxes
        })
        .unwrap_or_default();
    imaging::FoundFields {
        mrz: located.mrz,
        document_number: located.document_number,
        number_in_visual_zone: located.number_in_visual_zone,
        faces,
        photos: located.photos,
    }
}

/// Black out the key's redaction targets on a stored document image, where the document
/// check found them on this document ([`imaging::regions`] says what stands in for what it
/// did not find); on the original they are mapped back through the crop's corners.
fn redact(
    jpeg: &[u8],
    metrics: &DocumentMetrics,
    targets: &[RedactionTarget],
    cropped: bool,
) -> Result<Vec<u8>, ApiError> {
    let doc = metrics
        .document_type
        .ok_or_else(|| ApiError::internal("stored attempt has no document type"))?;
    let boxes = imaging::regions(imaging::layout(doc), targets, &found_fields(metrics));
    let mut img = imaging::decode(jpeg, &imaging::DecodeLimits::default())
        .map_err(ApiError::internal)?
        .image;
    if cropped {
        imaging::redact_crop(&mut img, &boxes);
    } else {
        let [a, b, c, d] = metrics
            .corners
            .ok_or_else(|| ApiError::internal("stored attempt has no document corners"))?
            .map(|[x, y]| Point { x, y });
        imaging::redact_original(&mut img, &Quad([a, b, c, d]), &boxes);
    }
    imaging::encode_jpeg(&img, imaging::JPEG_QUALITY).map_err(ApiError::internal)
}
