//! The dashboard's errors, answered as pages (the site's error page), never as JSON.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::store::StoreError;
use crate::web::error_page;

#[derive(Debug, thiserror::Error)]
pub enum DashError {
    /// Not allowed: no grant for this key, not an admin, or a form without its CSRF token.
    #[error("forbidden")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("bad request")]
    BadRequest,
    #[error("too many requests")]
    TooMany(ApiError),
    #[error("service unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl DashError {
    pub fn internal(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        DashError::Internal(e.into())
    }
}

impl From<StoreError> for DashError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(inner) => DashError::Unavailable(inner),
            other => DashError::Internal(Box::new(other)),
        }
    }
}

impl From<ApiError> for DashError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::AccessDenied(_) => DashError::Forbidden,
            ApiError::VerificationNotFound | ApiError::ImageNotFound(_) => DashError::NotFound,
            ApiError::RateLimited { .. } => DashError::TooMany(e),
            ApiError::ServiceUnavailable(inner) => DashError::Unavailable(inner),
            // What the user sent cannot be done (a bad value, a case no longer waiting).
            other if other.status().is_client_error() => DashError::BadRequest,
            other => DashError::Internal(Box::new(other)),
        }
    }
}

impl IntoResponse for DashError {
    fn into_response(self) -> Response {
        match self {
            DashError::Forbidden => error_page(
                StatusCode::FORBIDDEN,
                "Not allowed",
                "Your account may not do this or see this page. Reload the page you came \
                 from and try again, or ask an administrator for access.",
            ),
            DashError::NotFound => error_page(
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing at this address.",
            ),
            DashError::BadRequest => error_page(
                StatusCode::BAD_REQUEST,
                "Bad request",
                "The form could not be read. Go back, check it and send it again.",
            ),
            DashError::TooMany(e) => crate::portal::throttle::too_many_page(e),
            DashError::Unavailable(e) => {
                tracing::warn!(error = %crate::error::chain(&*e), "dashboard: database unavailable");
                error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service unavailable",
                    "The service cannot reach its database just now. Try again shortly.",
                )
            }
            DashError::Internal(e) => {
                tracing::error!(error = %crate::error::chain(&*e), "dashboard request failed");
                error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "An unexpected error occurred; it has been logged.",
                )
            }
        }
    }
}
