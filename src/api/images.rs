//! The three image routes. They authenticate, check ownership and validate `image_type`
//! in full; images themselves are stored by the portal's upload steps, so until a step
//! has an accepted image these routes answer 404 `IMAGE_NOT_FOUND`.

use axum::extract::{Path, State};
use axum::response::Response;

use crate::AppState;
use crate::auth::AuthedKey;
use crate::body::QueryPairs;
use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ImageType {
    Original,
    Cropped,
}

/// `image_type`: absent (the default image), `original` or `cropped`; anything else is 400.
fn image_type(query: &QueryPairs) -> Result<Option<ImageType>, ApiError> {
    match query.get("image_type") {
        None => Ok(None),
        Some("original") => Ok(Some(ImageType::Original)),
        Some("cropped") => Ok(Some(ImageType::Cropped)),
        Some(other) => Err(ApiError::InvalidRequest(format!(
            "image_type must be `original` or `cropped`, not `{}`",
            other.chars().take(40).collect::<String>()
        ))),
    }
}

pub async fn front(
    State(state): State<AppState>,
    AuthedKey(key): AuthedKey,
    Path(id): Path<String>,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    image_type(&query)?;
    super::owned_verification(&state, &key, &id).await?;
    Err(ApiError::ImageNotFound(
        "No accepted front image exists for this verification",
    ))
}

pub async fn back(
    State(state): State<AppState>,
    AuthedKey(key): AuthedKey,
    Path(id): Path<String>,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    image_type(&query)?;
    super::owned_verification(&state, &key, &id).await?;
    Err(ApiError::ImageNotFound(
        "No accepted back image exists for this verification",
    ))
}

pub async fn selfie(
    State(state): State<AppState>,
    AuthedKey(key): AuthedKey,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    super::owned_verification(&state, &key, &id).await?;
    Err(ApiError::ImageNotFound(
        "No accepted selfie exists: the liveness step was not completed",
    ))
}
