//! Request-body and query extractors that fail in the API's JSON error shape instead of
//! axum's plain-text rejections, and bounded body reads for handlers that must look at the
//! verification before they read anything.

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body that may be absent: an empty body (with or without a `Content-Type`) is
/// `None`. A body that is present must be JSON (`415` otherwise) and well formed (`400`).
pub struct OptionalJson<T>(pub Option<T>);

impl<S, T> FromRequest<S> for OptionalJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = content_type(req.headers());
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        parse_optional_json(content_type.as_deref(), &bytes).map(OptionalJson)
    }
}

/// Read at most `limit` bytes of `req`'s body and parse it as an optional JSON value, with
/// the same rules as [`OptionalJson`]. For handlers that check the verification first.
pub async fn read_optional_json<T: DeserializeOwned>(
    req: Request,
    limit: usize,
) -> Result<Option<T>, ApiError> {
    let content_type = content_type(req.headers());
    let bytes = read_limited(req, limit).await?;
    parse_optional_json(content_type.as_deref(), &bytes)
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn parse_optional_json<T: DeserializeOwned>(
    content_type: Option<&str>,
    bytes: &[u8],
) -> Result<Option<T>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    if let Some(ct) = content_type
        && !is_json(ct)
    {
        return Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type `{}` is not accepted; send application/json",
            ct.chars().take(64).collect::<String>()
        )));
    }
    serde_json::from_slice(bytes)
        .map(Some)
        .map_err(|e| ApiError::InvalidRequest(format!("malformed JSON body: {e}")))
}

/// Refuse a body whose declared `Content-Length` is over `limit`, before reading any of it.
pub fn check_declared_length(headers: &HeaderMap, limit: usize) -> Result<(), ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(n) if n > limit as u64 => Err(too_large(limit)),
        _ => Ok(()),
    }
}

/// The whole body of `req`, at most `limit` bytes. A declared length over the limit is
/// refused at once; an undeclared one is read until it passes the limit and refused
/// then, so no more than `limit` bytes (and one chunk) are ever held.
pub async fn read_limited(req: Request, limit: usize) -> Result<Bytes, ApiError> {
    check_declared_length(req.headers(), limit)?;
    let body = http_body_util::Limited::new(req.into_body(), limit);
    match body.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large(limit)),
        Err(e) => Err(read_failure(&*e)),
    }
}

fn too_large(limit: usize) -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "The request body is larger than this route accepts ({limit} bytes)"
    ))
}

/// A body that could not be read: the client was too slow (408), or it broke off (400).
pub fn read_failure(e: &(dyn std::error::Error + 'static)) -> ApiError {
    if is_timeout(e) {
        ApiError::RequestTimeout
    } else {
        ApiError::InvalidRequest("could not read the request body".into())
    }
}

/// Whether `e` or one of its causes is the body deadline of [`crate::serve`].
pub fn is_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        cur = err.source();
    }
    false
}

/// `body`, handed out one chunk per poll. Some readers (the multipart parser) take every
/// chunk that is ready before they look at any; paced, they see the data a chunk at a time,
/// so a per-part cap acts as the part arrives instead of after the route's whole limit
/// was buffered.
pub fn paced(body: Body) -> Body {
    Body::new(Paced {
        inner: body,
        just_gave: false,
    })
}

struct Paced {
    inner: Body,
    just_gave: bool,
}

impl http_body::Body for Paced {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        if self.just_gave {
            // Let the reader work on what it has; it is polled again at once.
            self.just_gave = false;
            cx.waker().wake_by_ref();
            return std::task::Poll::Pending;
        }
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if let std::task::Poll::Ready(Some(Ok(_))) = &polled {
            self.just_gave = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A body wrapped so that the whole of it must arrive before `deadline`.
pub fn with_deadline(body: Body, deadline: std::time::Duration) -> Body {
    Body::new(tower_http::timeout::DeadlineBody::new(deadline, body))
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

pub fn body_rejection(e: BytesRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge("The request body is larger than this route accepts".into())
    } else {
        read_failure(&e)
    }
}

/// The raw query string's pairs, without failing on anything: routes check the values
/// they care about themselves.
pub struct QueryPairs(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let pairs = parts
            .uri
            .query()
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        Ok(QueryPairs(pairs))
    }
}

impl QueryPairs {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}
