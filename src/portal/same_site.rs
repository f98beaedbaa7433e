//! The portal API answers its own pages only.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::ApiError;

/// Refuse cross-site requests: a browser tells us where a request comes from with
/// `Sec-Fetch-Site` and `Origin`; anything but this site (or a direct, non-browser call)
/// is refused, so another site cannot drive a user's verification.
pub(super) async fn same_site_only(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
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
