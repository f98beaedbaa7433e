//! Request ids, one log line per request, and what keeps both bounded: nothing an
//! anonymous client sends becomes a metric label or a long log field.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use crate::error::ApiError;
use crate::security_headers;

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

/// Every request's way in and out, as one layer: one boxed future and one state clone per
/// request where a layer each cost six (measured under load: docs/benchmarks.md). In order:
///
/// 1. An extension method is answered `405` before anything else runs. A method is any
///    token a client cares to send (30 KB is no problem for the parser); this service
///    routes only standard ones, so an extension method never reaches a metric label, a
///    log line or a handler.
/// 2. A caller's `x-request-id` is kept only when it is one short, plain value; otherwise
///    a fresh one (a UUID) replaces it. It goes into every log line of the request and
///    back in the answer.
/// 3. The body must arrive within `V2CLIENT_BODY_READ_TIMEOUT` and the answer within
///    `V2CLIENT_REQUEST_TIMEOUT` (`408 REQUEST_TIMEOUT`; see [`crate::serve`]).
/// 4. The request is counted and logged once: method, route template, status, latency and
///    request id. The template (`/api/get-verification-details/{verification_id}`) is
///    logged, never the raw path, so ids and query strings stay out of logs; so do keys.
///    Every field is from a closed set or bounded.
/// 5. The answer gets the security headers of its kind ([`crate::security_headers`]).
pub async fn edge(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(method) = method_label(req.method()) else {
        return security_headers::finish(ApiError::MethodNotAllowed.into_response());
    };
    let start = Instant::now();
    let request_id = request_id(req.headers_mut());
    // A clone of the matched path shares its text (no copy per request).
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("(unmatched)", MatchedPath::as_str);
    let span = tracing::info_span!(
        "request",
        request_id = request_id.to_str().unwrap_or("-"),
        key_prefix = tracing::field::Empty
    );
    let limits = state.settings.timeouts;
    let req = req.map(|body| crate::body::with_deadline(body, limits.body_read));
    let answered = tokio::time::timeout(limits.request, next.run(req))
        .instrument(span.clone())
        .await;
    let mut response = answered.unwrap_or_else(|_| ApiError::RequestTimeout.into_response());
    let status = response.status().as_u16();
    let took = start.elapsed();
    state.metrics.request(method, route, status, took);
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
        .headers_mut()
        .entry(REQUEST_ID)
        .or_insert(request_id);
    security_headers::finish(response)
}

/// The request's id: the caller's when it sent exactly one that is short and plain,
/// otherwise a new UUID; either way set on the request for what runs inside.
fn request_id(headers: &mut HeaderMap) -> HeaderValue {
    let acceptable = |v: &HeaderValue| {
        let b = v.as_bytes();
        !b.is_empty()
            && b.len() <= MAX_REQUEST_ID
            && b.iter()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
    };
    let mut sent = headers.get_all(&REQUEST_ID).iter();
    let kept = match (sent.next(), sent.next()) {
        (Some(one), None) if acceptable(one) => Some(one.clone()),
        _ => None,
    };
    let id = kept.unwrap_or_else(|| {
        let mut text = uuid::Uuid::encode_buffer();
        let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text);
        HeaderValue::from_str(text).expect("a UUID is ASCII")
    });
    headers.insert(REQUEST_ID, id.clone());
    id
}
