//! `GET /api/check-config`: is this instance ready, and how is the calling key set up?

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::AuthedKey;
use crate::domain::duration::format_duration;
use crate::domain::verification::rfc3339;
use crate::error::ApiError;
use crate::openapi::{CheckConfig, ErrorResponse, RateLimited};
use crate::ratelimit::Bucket;

/// Instance readiness and the calling key's configuration
#[utoipa::path(
    get,
    path = "/api/check-config",
    tag = "operator",
    security(("SdkKey" = [])),
    responses(
        (
            status = 200,
            description = "OK",
            body = CheckConfig,
            headers(
                ("RateLimit-Limit" = u32, description = "Requests allowed per minute"),
                ("RateLimit-Remaining" = u32, description = "Requests left this minute"),
                ("RateLimit-Reset" = u64, description = "Seconds until the quota is full again"),
            ),
        ),
        (status = 401, response = ErrorResponse),
        (status = 429, response = RateLimited),
        (status = 500, response = ErrorResponse),
        (status = 503, response = ErrorResponse),
    ),
)]
pub async fn check_config(
    State(state): State<AppState>,
    AuthedKey(key): AuthedKey,
) -> Result<Response, ApiError> {
    let rate = state.limits.check(Bucket::CheckConfig, &key).await?;
    let mut problems: Vec<Value> = Vec::new();
    let database_ok = match state.store.ping().await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %crate::error::chain(&e), "check-config: database ping failed");
            problems.push(json!({
                "code": "SERVICE_UNAVAILABLE",
                "details": "the database cannot be reached",
            }));
            false
        }
    };
    if let Some(problem) = state.backend.configuration_problem() {
        problems.push(json!({ "code": "SERVER_NOT_CONFIGURED", "details": problem }));
    }
    let s = &key.settings;
    let body = json!({
        "ready": problems.is_empty(),
        "problems": problems,
        "instance": {
            "version": env!("CARGO_PKG_VERSION"),
            "database": { "kind": state.store.kind(), "reachable": database_ok },
            "public_url": state.settings.public_url.as_str(),
            "backend": {
                "kind": state.backend.name(),
                "configured": state.backend.configuration_problem().is_none(),
                "face_models": state.backend.models(),
            },
        },
        "key": {
            "id": key.id,
            "name": key.name,
            "prefix": key.prefix,
            "mode": if key.is_test() { "test" } else { "live" },
            "created_at": rfc3339(key.created_at),
            "flow": s.flow,
            "modules": s.modules(),
            "verification_ttl": format_duration(s.ttl()),
            "allowed_return_origins": s.allowed_return_origins,
            "document_types": s.document_types,
            "form_fields": s.form_fields,
            "redact": s.redact,
            "max_attempts": s.max_attempts,
            "retention_days": s.retention_days,
            "face_match": s.face_match.unwrap_or(state.settings.backend.faces.matching),
            "strict_liveness": s.strict_liveness,
            "min_age": s.min_age,
            "webhook": {
                "configured": key.webhook.is_some(),
                "url": key.webhook.as_ref().map(|w| w.url.as_str()),
            },
            "rate_limits": {
                "generate_per_minute": state.limits.quota_for(Bucket::Generate, &key),
                "check_config_per_minute": state.limits.quota_for(Bucket::CheckConfig, &key),
            },
        },
    });
    let mut res = Json(body).into_response();
    rate.write_headers(res.headers_mut());
    Ok(res)
}
