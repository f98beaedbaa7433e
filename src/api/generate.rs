//! `POST /api/generate-verification`.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::AuthedKey;
use crate::body::OptionalJson;
use crate::domain::verification::{initial_progress, later, now, rfc3339};
use crate::domain::{Module, PortalState, Status, Verification, VerificationId};
use crate::error::ApiError;
use crate::faces::Challenge;
use crate::openapi::{ErrorResponse, RateLimited};
use crate::ratelimit::Bucket;
use crate::store::{ApiKeyRecord, CreateOutcome, IdempotencyRecord};

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct GenerateRequest {
    /// Up to 16 KiB serialised; returned in details and webhooks
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    extra_data: Option<Value>,
    /// https (http only for localhost), within the key's allowed origins
    #[serde(default)]
    #[schema(format = "uri")]
    return_url: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct GenerateResponse<'a> {
    verification_id: &'a str,
    #[schema(format = DateTime)]
    expires_at: String,
    /// What each module of the flow is set to, as the key had it
    #[schema(value_type = Object)]
    modules: Value,
    flow: &'a [Module],
    /// The portal link to send the user to
    #[schema(format = "uri")]
    verify_url: String,
    /// Made with a test key: no check runs and the outcome is simulated
    test: bool,
}

const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// Create a verification
#[utoipa::path(
    post,
    path = "/api/generate-verification",
    operation_id = "generate_verification",
    tag = "operator",
    security(("SdkKey" = [])),
    params((
        "Idempotency-Key" = Option<String>,
        Header,
        max_length = 255,
        description = "The same key with the same body within 24 hours answers the first \
            response again (with `Idempotent-Replayed: true`); with another body, 422",
    )),
    request_body(content = Option<GenerateRequest>, content_type = "application/json"),
    responses(
        (
            status = 200,
            description = "OK",
            body = GenerateResponse,
            headers(
                ("RateLimit-Limit" = u32, description = "Requests allowed per minute"),
                ("RateLimit-Remaining" = u32, description = "Requests left this minute"),
                ("RateLimit-Reset" = u64, description = "Seconds until the quota is full again"),
                ("Idempotent-Replayed" = String, description = "`true` on a replayed answer"),
            ),
        ),
        (status = 400, response = ErrorResponse),
        (status = 401, response = ErrorResponse),
        (status = 413, response = ErrorResponse),
        (status = 415, response = ErrorResponse),
        (status = 422, response = ErrorResponse),
        (status = 429, response = RateLimited),
        (status = 500, response = ErrorResponse),
        (status = 503, response = ErrorResponse),
    ),
)]
pub async fn generate(
    State(state): State<AppState>,
    AuthedKey(key): AuthedKey,
    idempotency: IdempotencyHeader,
    OptionalJson(request): OptionalJson<GenerateRequest>,
) -> Result<Response, ApiError> {
    let rate = state.limits.check(Bucket::Generate, &key).await?;
    let request = request.unwrap_or_default();

    let extra_data = match request.extra_data {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => {
            let size = serde_json::to_vec(&map)
                .map(|v| v.len())
                .unwrap_or(usize::MAX);
            let max = state.settings.limits.max_extra_data;
            if size > max {
                return Err(ApiError::InvalidRequest(format!(
                    "extra_data is {size} bytes once serialised; the limit is {max}"
                )));
            }
            Some(Value::Object(map))
        }
        Some(_) => {
            return Err(ApiError::InvalidRequest(
                "extra_data must be a JSON object".into(),
            ));
        }
    };
    if key.is_test() {
        // A test key's magic value is checked now, not when the flow ends.
        crate::domain::test_mode::TestOutcome::from_extra_data(extra_data.as_ref())
            .map_err(ApiError::InvalidRequest)?;
    }
    let return_url = request
        .return_url
        .map(|raw| {
            key.settings
                .check_return_url(&raw)
                .map(String::from)
                .map_err(|why| ApiError::InvalidRequest(format!("return_url: {why}")))
        })
        .transpose()?;

    let idempotency_key = idempotency.key()?;
    // Same key and same request → the first response again. The fingerprint covers the
    // validated request, so formatting differences in the JSON do not matter.
    let fingerprint = hex::encode(Sha256::digest(
        serde_json::to_vec(&(&extra_data, &return_url)).expect("values serialise"),
    ));
    if let Some(idem) = &idempotency_key
        && let Some(existing) = state.store.find_idempotency(&key.id, idem).await?
    {
        return replay(existing, &fingerprint, Some(rate));
    }

    let verification = new_verification(&key, extra_data, return_url)?;
    let now = verification.created_at;
    let body = serde_json::to_string(&GenerateResponse {
        verification_id: verification.id.as_str(),
        expires_at: rfc3339(verification.expires_at),
        modules: serde_json::to_value(&verification.modules).map_err(ApiError::internal)?,
        flow: &verification.flow,
        verify_url: state.settings.verify_url(verification.id.as_str()),
        test: verification.test,
    })
    .expect("response serialises");

    let record = idempotency_key.map(|idempotency_key| IdempotencyRecord {
        key_id: key.id.clone(),
        idempotency_key,
        request_hash: fingerprint.clone(),
        verification_id: verification.id.clone(),
        response: body.clone(),
        created_at: now,
    });
    match state
        .store
        .create_verification(&verification, record.as_ref())
        .await?
    {
        CreateOutcome::Created => {
            tracing::info!(
                verification_id = %verification.id,
                key_id = %key.id,
                "verification created"
            );
            Ok(json_response(body, Some(rate), false))
        }
        // A concurrent request with the same idempotency key committed first.
        CreateOutcome::Replayed(existing) => replay(existing, &fingerprint, Some(rate)),
    }
}

/// A new verification for `key`, following the key's settings as they are now.
pub(crate) fn new_verification(
    key: &ApiKeyRecord,
    extra_data: Option<Value>,
    return_url: Option<String>,
) -> Result<Verification, ApiError> {
    let now = now();
    let settings = &key.settings;
    Ok(Verification {
        id: VerificationId::generate(),
        key_id: key.id.clone(),
        status: Status::Created,
        flow: settings.flow.clone(),
        modules: settings.modules(),
        progress: initial_progress(&settings.flow),
        results: Default::default(),
        extra_data,
        return_url,
        portal: PortalState {
            // The server, not the browser, picks the liveness challenge.
            liveness_challenge: settings
                .has(Module::Liveness)
                .then(Challenge::random)
                .transpose()
                .map_err(ApiError::internal)?,
            ..PortalState::default()
        },
        version: 0,
        created_at: now,
        updated_at: now,
        expires_at: later(now, settings.ttl()),
        test: key.is_test(),
    })
}

/// The request's `Idempotency-Key` header as sent (checked later, by
/// [`IdempotencyHeader::key`], so that it is judged after the body as before). Taking just
/// this header spares cloning the whole header map per request.
pub(crate) struct IdempotencyHeader(Option<HeaderValue>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for IdempotencyHeader {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(IdempotencyHeader(
            parts.headers.get(IDEMPOTENCY_HEADER).cloned(),
        ))
    }
}

impl IdempotencyHeader {
    /// The key, when one was sent: 1 to 255 visible ASCII characters, else `400`.
    pub(crate) fn key(&self) -> Result<Option<String>, ApiError> {
        idempotency_key(self.0.as_ref())
    }
}

fn idempotency_key(value: Option<&HeaderValue>) -> Result<Option<String>, ApiError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .ok()
        .filter(|t| (1..=255).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| {
            ApiError::InvalidRequest(
                "Idempotency-Key must be 1 to 255 visible ASCII characters".into(),
            )
        })?;
    Ok(Some(text.to_owned()))
}

/// The answer kept for an idempotency key, when `fingerprint` is the same request's;
/// `422 IDEMPOTENCY_CONFLICT` when the key was used for another.
pub(crate) fn replay(
    existing: IdempotencyRecord,
    fingerprint: &str,
    rate: Option<crate::ratelimit::RateInfo>,
) -> Result<Response, ApiError> {
    if existing.request_hash != fingerprint {
        return Err(ApiError::IdempotencyConflict);
    }
    Ok(json_response(existing.response, rate, true))
}

/// `200` with a JSON body as text, the rate-limit headers when the route is limited, and
/// `Idempotent-Replayed: true` on a replay.
pub(crate) fn json_response(
    body: String,
    rate: Option<crate::ratelimit::RateInfo>,
    replayed: bool,
) -> Response {
    let mut res = (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    if let Some(rate) = rate {
        rate.write_headers(res.headers_mut());
    }
    if replayed {
        res.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    res
}
