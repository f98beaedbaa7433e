//! Throttles for anonymous traffic: the portal (per client address and per verification)
//! and the QR entry (per client address here; per key where the key is known, in
//! `entry.rs`). They run before anything else of the route, database lookups included.

use std::net::SocketAddr;

use axum::RequestPartsExt;
use axum::extract::{ConnectInfo, RawPathParams, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::domain::VerificationId;
use crate::error::ApiError;
use crate::ratelimit::ClientAddr;
use crate::web::error_page;

/// The client of `req` as the settings say to count it.
pub fn client_of(state: &AppState, req: &Request) -> ClientAddr {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    ClientAddr::from_request(
        req.headers(),
        peer,
        state.settings.limits.trusted_proxy_header.as_ref(),
    )
}

/// The verification a portal request is about: the `{verification_id}` of its path, or
/// the `verification_id` of its query (pages). Only well-formed ids are counted.
async fn verification_of(req: Request) -> (Request, Option<VerificationId>) {
    let (mut parts, body) = req.into_parts();
    let from_path = parts.extract::<RawPathParams>().await.ok().and_then(|p| {
        p.iter()
            .find(|(k, _)| *k == "verification_id")
            .and_then(|(_, v)| VerificationId::parse(v))
    });
    let id = from_path.or_else(|| {
        let query = parts.uri.query()?;
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "verification_id")
            .and_then(|(_, v)| VerificationId::parse(&v))
    });
    (Request::from_parts(parts, body), id)
}

async fn check_portal(state: &AppState, req: Request) -> Result<Request, ApiError> {
    state.limits.portal_client(&client_of(state, &req)).await?;
    let (req, id) = verification_of(req).await;
    if let Some(id) = id {
        state.limits.portal_verification(&id).await?;
    }
    Ok(req)
}

/// The portal's JSON API: `429 RATE_LIMITED` in the error shape.
pub async fn portal_api(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match check_portal(&state, req).await {
        Ok(req) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// The portal's pages: the same buckets, answered with a page.
pub async fn portal_pages(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match check_portal(&state, req).await {
        Ok(req) => next.run(req).await,
        Err(e) => too_many_page(e),
    }
}

/// The QR entry, per client address: its own bucket, apart from the portal's and from
/// every API quota.
pub async fn qr_entry(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match state.limits.qr_client(&client_of(&state, &req)).await {
        Ok(_) => next.run(req).await,
        Err(e) => too_many_page(e),
    }
}

/// A `429` page carrying the error's `Retry-After` and `RateLimit-*` headers.
pub fn too_many_page(e: ApiError) -> Response {
    let api = e.into_response();
    let mut res = error_page(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many requests",
        "Too many requests came from here just now. Wait a minute and try again.",
    );
    for name in [
        "retry-after",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
    ] {
        if let Some(v) = api.headers().get(name) {
            res.headers_mut().insert(name, v.clone());
        }
    }
    res
}
