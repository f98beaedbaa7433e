//! Request ids, one log line per request, and what keeps both bounded: nothing an
//! anonymous client sends becomes a metric label or a long log field.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::request_id::RequestId;
use tracing::Instrument;

use crate::error::ApiError;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest caller-chosen request id that is kept.
const MAX_REQUEST_ID: usize = 64;

/// The label of a standard method; `None` for an extension method.
pub fn method_label(method: &Method) -> Option<&'static str> {
    Some(match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => return None,
    })
}

/// Answer `405` to extension methods before anything else runs. A method is any token a
/// client cares to send (30 KB is no problem for the parser); this service routes only
/// standard ones, so an extension method is refused before it can reach a metric label,
/// a log line or a handler.
pub async fn refuse_unknown_methods(req: Request, next: Next) -> Response {
    if method_label(req.method()).is_none() {
        return ApiError::MethodNotAllowed.into_response();
    }
    next.run(req).await
}

/// Keep a caller's `x-request-id` only when it is short and plain; otherwise drop it so a
/// fresh one is made. The id goes into every log line of the request.
pub async fn sanitize_request_id(mut req: Request, next: Next) -> Response {
    let acceptable = |v: &[u8]| {
        !v.is_empty()
            && v.len() <= MAX_REQUEST_ID
            && v.iter()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
    };
    let headers = req.headers_mut();
    let all_ok = headers
        .get_all(&REQUEST_ID)
        .iter()
        .all(|v| acceptable(v.as_bytes()));
    if !all_ok || headers.get_all(&REQUEST_ID).iter().count() > 1 {
        headers.remove(&REQUEST_ID);
    }
    next.run(req).await
}

/// Log method, route template, status, latency and request id once the response is ready,
/// and count the request. The route template (`/api/get-verification-details/{verification_id}`)
/// is logged, never the raw path, so ids and query strings stay out of logs; so do keys.
/// Every field is from a closed set or bounded: the method (extension methods never get
/// here), the matched template or `(unmatched)`, the status, and a checked request id.
pub async fn log_request(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
    req: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let method = method_label(req.method()).unwrap_or("OTHER");
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
    state.metrics.request(method, &route, status, took);
    let latency_ms = took.as_secs_f64() * 1000.0;
    span.in_scope(|| {
        tracing::info!(
            method,
            route,
            status,
            latency_ms = format_args!("{latency_ms:.2}"),
            "request"
        );
    });
    response
}
