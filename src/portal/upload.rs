//! Reading the portal's uploads: how much each step route reads, and multipart bodies
//! read part by part against their own caps.

use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{HeaderMap, header};
use bytes::Bytes;

use crate::AppState;
use crate::body as request_body;
use crate::error::ApiError;

/// Room for a multipart body's boundaries, part headers and small text fields.
const MULTIPART_OVERHEAD: usize = 16 * 1024;

/// Most parts a multipart body may have, whatever their names.
const MAX_PARTS: usize = 16;

/// How much each step route reads, from the settings.
#[derive(Debug, Clone, Copy)]
pub(super) struct BodyLimits {
    /// Terms and form: small JSON objects.
    pub(super) json: usize,
    /// One document photo and its `document_type`.
    pub(super) document: usize,
    /// A whole liveness burst.
    pub(super) liveness: usize,
    /// One frame of a burst.
    pub(super) frame: usize,
    /// One document photo.
    pub(super) image: usize,
}

impl BodyLimits {
    pub(super) fn of(state: &AppState) -> Self {
        let s = &state.settings;
        let image = s.backend.imaging.limits.max_bytes;
        BodyLimits {
            json: s.limits.max_json_body,
            document: image.saturating_add(MULTIPART_OVERHEAD),
            liveness: s.limits.max_liveness_body,
            frame: s.backend.imaging.frame_limits.max_bytes,
            image,
        }
    }
}

/// What a multipart body may carry under one name.
pub(super) struct PartSpec {
    pub(super) name: &'static str,
    /// Most bytes one such part may hold.
    pub(super) max_bytes: usize,
    /// Most parts of this name.
    pub(super) max_count: usize,
}

/// The parts named in `specs`, in order, each read chunk by chunk against its own cap, so
/// an oversized part is refused (413) as soon as it passes the cap. Parts of other names
/// are skipped unread; at most [`MAX_PARTS`] parts in all.
pub(super) async fn read_parts(
    request: Request,
    state: &AppState,
    specs: &[PartSpec],
) -> Result<Vec<(&'static str, Bytes)>, ApiError> {
    let mut mp = Multipart::from_request(request.map(request_body::paced), state)
        .await
        .map_err(|e| ApiError::InvalidRequest(format!("malformed multipart body: {e}")))?;
    let mut out: Vec<(&'static str, Bytes)> = Vec::new();
    let mut parts = 0;
    while let Some(mut field) = mp.next_field().await.map_err(multipart_error)? {
        parts += 1;
        if parts > MAX_PARTS {
            return Err(ApiError::InvalidRequest(format!(
                "a multipart body here has at most {MAX_PARTS} parts"
            )));
        }
        let Some(spec) = specs.iter().find(|s| Some(s.name) == field.name()) else {
            continue;
        };
        if out.iter().filter(|(n, _)| *n == spec.name).count() == spec.max_count {
            return Err(ApiError::InvalidRequest(format!(
                "send at most {} `{}` parts",
                spec.max_count, spec.name
            )));
        }
        let mut buf = bytes::BytesMut::new();
        while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
            if buf.len() + chunk.len() > spec.max_bytes {
                return Err(ApiError::PayloadTooLarge(format!(
                    "each `{}` part may hold at most {} bytes",
                    spec.name, spec.max_bytes
                )));
            }
            buf.extend_from_slice(&chunk);
        }
        out.push((spec.name, buf.freeze()));
    }
    Ok(out)
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge("the upload is larger than this route accepts".into())
    } else if request_body::is_timeout(&e) {
        ApiError::RequestTimeout
    } else {
        ApiError::InvalidRequest(format!("malformed multipart body: {}", e.body_text()))
    }
}

pub(super) fn require_multipart(headers: &HeaderMap) -> Result<(), ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.to_ascii_lowercase().starts_with("multipart/form-data") {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(
            "send multipart/form-data".into(),
        ))
    }
}

pub(super) fn field<'a>(parts: &'a [(&'static str, Bytes)], name: &str) -> Option<&'a Bytes> {
    parts.iter().find(|(n, _)| *n == name).map(|(_, b)| b)
}
