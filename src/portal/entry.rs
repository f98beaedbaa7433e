//! `GET /generate?token=…`: the QR-code entry. Each API key has a public QR token; opening
//! the link creates a verification under that key and redirects the browser to the
//! portal. The entry has its own buckets, per client address and per key, so a QR code
//! passed around never spends the operator's API quota.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::body::QueryPairs;
use crate::error::ApiError;
use crate::openapi::HtmlPage;
use crate::ratelimit::Bucket;
use crate::web::error_page;

pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(generate))
        .routes(routes!(qr))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            super::throttle::qr_entry,
        ))
}

/// `GET /generate/qr.svg?token=…`: the QR code to print for a key's entry link (404 for an
/// unknown or revoked token).
#[utoipa::path(
    get,
    path = "/generate/qr.svg",
    operation_id = "entry_qr",
    summary = "QR code (SVG) of a key's /generate link",
    tag = "pages",
    params(("token" = String, Query, description = "The key's public QR token (`qr_…`)")),
    responses(
        (status = 200, description = "SVG", content_type = "image/svg+xml", body = String),
        (status = 404, description = "Unknown or revoked token"),
        (status = 429, response = HtmlPage),
    ),
)]
async fn qr(State(state): State<AppState>, query: QueryPairs) -> Response {
    let token = query.get("token").unwrap_or("");
    let valid = token.starts_with("qr_")
        && token.len() <= 64
        && matches!(
            state.store.find_key_by_qr_token(token).await,
            Ok(Some(k)) if k.revoked_at.is_none()
        );
    if !valid {
        return StatusCode::NOT_FOUND.into_response();
    }
    let mut url = state
        .settings
        .public_url
        .join("generate")
        .expect("static path joins");
    url.query_pairs_mut().append_pair("token", token);
    super::qr::svg_response(super::qr_svg(url.as_str()))
}

/// QR entry: start a verification under a key's public token and redirect to the portal
#[utoipa::path(
    get,
    path = "/generate",
    operation_id = "entry",
    tag = "pages",
    params(("token" = String, Query, description = "The key's public QR token (`qr_…`)")),
    responses(
        (
            status = 303,
            description = "Redirect to /verify",
            headers(("Location" = String, description = "The new verification's portal link")),
        ),
        (status = 404, response = HtmlPage),
        (status = 429, response = HtmlPage),
        (status = 500, response = HtmlPage),
        (status = 503, response = HtmlPage),
    ),
)]
async fn generate(State(state): State<AppState>, query: QueryPairs) -> Response {
    match start(&state, query.get("token").unwrap_or("")).await {
        Ok(location) => Redirect::to(&location).into_response(),
        Err(ApiError::InvalidApiKey) => error_page(
            StatusCode::NOT_FOUND,
            "This code is not valid",
            "The QR code or link you used is not (or no longer) valid. Ask for a new one.",
        ),
        Err(e @ ApiError::RateLimited { .. }) => super::throttle::too_many_page(e),
        Err(e) => {
            let status = e.status();
            // Turning the error into its API response logs it (with the cause for 500s).
            let _logged = e.into_response();
            error_page(
                status,
                "Something went wrong",
                "The verification could not be started. Try again in a moment.",
            )
        }
    }
}

async fn start(state: &AppState, token: &str) -> Result<String, ApiError> {
    if !token.starts_with("qr_") || token.len() > 64 {
        return Err(ApiError::InvalidApiKey);
    }
    let key = state
        .store
        .find_key_by_qr_token(token)
        .await?
        .filter(|k| k.revoked_at.is_none())
        .ok_or(ApiError::InvalidApiKey)?;
    state.limits.check(Bucket::QrKey, &key).await?;
    let v = crate::api::generate::new_verification(&key, None, None)?;
    state.store.create_verification(&v, None).await?;
    tracing::info!(verification_id = %v.id, key_id = %key.id, "verification created from QR entry");
    Ok(state.settings.verify_url(v.id.as_str()))
}
