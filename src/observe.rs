//! Request ids and one log line per request.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderName;
use axum::middleware::Next;
use axum::response::Response;
use tower_http::request_id::RequestId;
use tracing::Instrument;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Log method, route template, status, latency and request id once the response is ready.
/// The route template (`/api/get-verification-details/{verification_id}`) is logged, never
/// the raw path, so ids and query strings stay out of logs; so do keys.
pub async fn log_request(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
    req: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "(unmatched)".to_owned());
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let span = tracing::info_span!("request", %request_id, key_prefix = tracing::field::Empty);
    let response = next.run(req).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let took = start.elapsed();
    state.metrics.request(method.as_str(), &route, status, took);
    let latency_ms = took.as_secs_f64() * 1000.0;
    span.in_scope(|| {
        tracing::info!(
            method = %method,
            route,
            status,
            latency_ms = format_args!("{latency_ms:.2}"),
            "request"
        );
    });
    response
}
