//! The operator API: the seed's routes plus `check-config`, all behind `X-SDK-Key`.

mod check_config;
pub(crate) mod details;
pub(crate) mod generate;
pub(crate) mod images;
mod operator;
mod simulate;

use axum::extract::DefaultBodyLimit;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::domain::{Verification, VerificationId};
use crate::error::ApiError;
use crate::openapi::RouterExt;
use crate::security_headers::{self, Policy};
use crate::store::ApiKeyRecord;

pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    let needs_backend = OpenApiRouter::new()
        .routes(routes!(generate::generate))
        .routes(routes!(details::details))
        .routes(routes!(images::front))
        .routes(routes!(images::back))
        .routes(routes!(images::selfie))
        .routes(routes!(operator::list))
        .routes(routes!(operator::review))
        .routes(routes!(operator::erase))
        .routes(routes!(simulate::simulate));
    // Routes that need a working verification backend answer 503 SERVER_NOT_CONFIGURED
    // while it is misconfigured; check-config stays up to say why. A state's backend is
    // fixed when the state is made, so the check is made once, here: a configured backend
    // costs these routes nothing per request.
    let needs_backend = match state.backend.configuration_problem() {
        Some(problem) => needs_backend.route_layer(axum::middleware::from_fn(
            move |_: axum::extract::Request, _: axum::middleware::Next| {
                let problem = problem.clone();
                async move { ApiError::ServerNotConfigured(problem) }
            },
        )),
        None => needs_backend,
    };
    OpenApiRouter::new()
        .merge(needs_backend)
        .routes(routes!(check_config::check_config))
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(state.settings.limits.max_json_body))
        // Answers carry personal data: never cached, never sniffed.
        .layer(security_headers::layer(Policy::OperatorApi))
}

/// Load a verification the calling key may read: 404 for unknown (or malformed) ids,
/// 403 when another key owns it.
pub(crate) async fn owned_verification(
    state: &AppState,
    key: &ApiKeyRecord,
    raw_id: &str,
) -> Result<Verification, ApiError> {
    let id = VerificationId::parse(raw_id).ok_or(ApiError::VerificationNotFound)?;
    let v = state
        .store
        .get_verification(&id)
        .await?
        .ok_or(ApiError::VerificationNotFound)?;
    check_owner(key, &v)?;
    Ok(v)
}

/// 403 unless `key` created `v`.
pub(crate) fn check_owner(key: &ApiKeyRecord, v: &Verification) -> Result<(), ApiError> {
    if v.key_id != key.id {
        return Err(ApiError::AccessDenied(
            "This API key does not own this verification",
        ));
    }
    Ok(())
}
