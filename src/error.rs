//! The one error type of the JSON API. Every failure answers
//! `{"error": "...", "details": "...", "code": "..."}` with a stable `code`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("invalid API key")]
    InvalidApiKey,
    #[error("access denied")]
    AccessDenied(&'static str),
    #[error("verification not found")]
    VerificationNotFound,
    #[error("image not found")]
    ImageNotFound(&'static str),
    #[error("route not found")]
    RouteNotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("verification expired")]
    VerificationExpired,
    #[error("invalid step: {0}")]
    InvalidStep(String),
    #[error("idempotency key reused with a different request")]
    IdempotencyConflict,
    /// The verification is not in a state that allows this (a review of one that is not
    /// waiting for review).
    #[error("invalid state: {0}")]
    InvalidState(String),
    /// Its data was erased on request: it cannot be continued.
    #[error("verification erased")]
    VerificationErased,
    #[error("payload too large")]
    PayloadTooLarge(String),
    #[error("unsupported media type")]
    UnsupportedMediaType(String),
    #[error("request timeout")]
    RequestTimeout,
    #[error("rate limited")]
    RateLimited {
        /// Whose quota ran out, for the message: "this API key", "this address"…
        subject: &'static str,
        retry_after_secs: u64,
        limit: u32,
        reset_secs: u64,
    },
    #[error("server not configured: {0}")]
    ServerNotConfigured(String),
    #[error("service unavailable")]
    ServiceUnavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    details: &'a str,
    code: &'a str,
}

impl ApiError {
    pub fn internal(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        ApiError::Internal(e.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::InvalidApiKey => StatusCode::UNAUTHORIZED,
            ApiError::AccessDenied(_) => StatusCode::FORBIDDEN,
            ApiError::VerificationNotFound | ApiError::ImageNotFound(_) => StatusCode::NOT_FOUND,
            ApiError::RouteNotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::VerificationExpired => StatusCode::GONE,
            ApiError::IdempotencyConflict => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::InvalidStep(_) | ApiError::InvalidState(_) => StatusCode::CONFLICT,
            ApiError::VerificationErased => StatusCode::GONE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::ServerNotConfigured(_) | ApiError::ServiceUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidRequest(_) => "INVALID_REQUEST",
            ApiError::InvalidApiKey => "INVALID_API_KEY",
            ApiError::AccessDenied(_) => "ACCESS_DENIED",
            ApiError::VerificationNotFound => "VERIFICATION_NOT_FOUND",
            ApiError::ImageNotFound(_) => "IMAGE_NOT_FOUND",
            ApiError::RouteNotFound => "NOT_FOUND",
            ApiError::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ApiError::VerificationExpired => "VERIFICATION_EXPIRED",
            ApiError::IdempotencyConflict => "IDEMPOTENCY_CONFLICT",
            ApiError::InvalidStep(_) => "INVALID_STEP",
            ApiError::InvalidState(_) => "INVALID_STATE",
            ApiError::VerificationErased => "VERIFICATION_ERASED",
            ApiError::PayloadTooLarge(_) => "PAYLOAD_TOO_LARGE",
            ApiError::UnsupportedMediaType(_) => "UNSUPPORTED_MEDIA_TYPE",
            ApiError::RequestTimeout => "REQUEST_TIMEOUT",
            ApiError::RateLimited { .. } => "RATE_LIMITED",
            ApiError::ServerNotConfigured(_) => "SERVER_NOT_CONFIGURED",
            ApiError::ServiceUnavailable(_) => "SERVICE_UNAVAILABLE",
            ApiError::Internal(_) => "INTERNAL_ERROR",
        }
    }

    /// (`error`, `details`): a short sentence and what to do about it. Never internals.
    fn message(&self) -> (&'static str, String) {
        match self {
            ApiError::InvalidRequest(d) => ("Invalid request", d.clone()),
            ApiError::InvalidApiKey => (
                "Invalid API key provided",
                "The X-SDK-Key header is missing or contains an invalid or inactive API key".into(),
            ),
            ApiError::AccessDenied(d) => ("Access denied", (*d).into()),
            ApiError::VerificationNotFound => (
                "Verification not found",
                "No verification exists with this verification_id".into(),
            ),
            ApiError::ImageNotFound(d) => ("Image not found", (*d).into()),
            ApiError::RouteNotFound => ("Not found", "No such API route".into()),
            ApiError::MethodNotAllowed => (
                "Method not allowed",
                "This route does not accept this HTTP method".into(),
            ),
            ApiError::VerificationExpired => (
                "Verification expired",
                "This verification has expired; generate a new one".into(),
            ),
            ApiError::InvalidStep(d) => ("This step cannot be submitted now", d.clone()),
            ApiError::InvalidState(d) => ("Not possible in the verification's state", d.clone()),
            ApiError::VerificationErased => (
                "Verification erased",
                "This verification was closed and its data erased; generate a new one".into(),
            ),
            ApiError::IdempotencyConflict => (
                "Idempotency key reused",
                "This Idempotency-Key was already used with a different request body".into(),
            ),
            ApiError::PayloadTooLarge(d) => ("Payload too large", d.clone()),
            ApiError::UnsupportedMediaType(d) => ("Unsupported media type", d.clone()),
            ApiError::RequestTimeout => (
                "Request timeout",
                "The request was not received or answered in time; send it again".into(),
            ),
            ApiError::RateLimited {
                subject,
                retry_after_secs,
                ..
            } => (
                "Rate limit exceeded",
                format!("Too many requests for {subject}; retry in {retry_after_secs} s"),
            ),
            ApiError::ServerNotConfigured(d) => ("Server not configured", d.clone()),
            ApiError::ServiceUnavailable(_) => (
                "Service unavailable",
                "The service is temporarily unable to reach its database; retry shortly".into(),
            ),
            ApiError::Internal(_) => (
                "Internal server error",
                "An unexpected error occurred; it has been logged".into(),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            ApiError::Internal(e) => {
                tracing::error!(code = self.code(), error = %chain(&**e), "request failed")
            }
            ApiError::ServiceUnavailable(e) => {
                tracing::warn!(code = self.code(), error = %chain(&**e), "dependency unavailable")
            }
            _ => tracing::debug!(
                code = self.code(),
                status = status.as_u16(),
                "request refused"
            ),
        }
        let (error, details) = self.message();
        let body = serde_json::to_vec(&ErrorBody {
            error,
            details: &details,
            code: self.code(),
        })
        .unwrap_or_default();
        let mut res = crate::security_headers::Policy::JsonError.with(
            (
                status,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response(),
        );
        match &self {
            ApiError::RateLimited {
                retry_after_secs,
                limit,
                reset_secs,
                ..
            } => {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
                crate::ratelimit::RateInfo {
                    limit: *limit,
                    remaining: 0,
                    reset_secs: *reset_secs,
                }
                .write_headers(res.headers_mut());
            }
            ApiError::ServiceUnavailable(_) => {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
            }
            _ => {}
        }
        res
    }
}

/// An error and its causes on one line, for logs.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cur = c.source();
    }
    out
}

/// Storage failures: unreachable → 503 with recovery expected; anything else → 500.
impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Unavailable(inner) => ApiError::ServiceUnavailable(inner),
            other => ApiError::Internal(Box::new(other)),
        }
    }
}

/// A handler panicked: log it and answer the generic 500 (never the panic text).
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic".into());
    ApiError::Internal(format!("handler panicked: {text}").into()).into_response()
}
