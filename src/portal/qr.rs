//! The desktop→phone handoff: a QR code of the `/verify` link, drawn as SVG on the server
//! so the page needs no script library and no image dependency.

use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};
use serde::Deserialize;

use crate::AppState;
use crate::domain::VerificationId;
use crate::security_headers::Policy;

/// An SVG image of a QR code holding `text` (medium error correction, with the quiet zone
/// scanners need). A text too long for any QR version gives an empty SVG.
pub fn qr_svg(text: &str) -> String {
    match QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M) {
        Ok(code) => code
            .render::<svg::Color>()
            .min_dimensions(240, 240)
            .dark_color(svg::Color("#000000"))
            .light_color(svg::Color("#ffffff"))
            .quiet_zone(true)
            .build(),
        Err(_) => r#"<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>"#.to_owned(),
    }
}

#[derive(Deserialize)]
pub struct QrQuery {
    verification_id: Option<String>,
}

/// `GET /verify/qr.svg?verification_id=…`: the link of a verification that exists.
#[utoipa::path(
    get,
    path = "/verify/qr.svg",
    operation_id = "verification_qr",
    summary = "QR code of a verification's link (desktop to phone)",
    tag = "pages",
    params(("verification_id" = String, Query)),
    responses(
        (status = 200, description = "SVG", content_type = "image/svg+xml", body = String),
        (status = 404, description = "Unknown verification"),
        (status = 429, response = crate::openapi::HtmlPage),
        (status = 503, description = "The database cannot be reached"),
    ),
)]
pub async fn qr_image(State(state): State<AppState>, Query(q): Query<QrQuery>) -> Response {
    let Some(id) = q.verification_id.as_deref().and_then(VerificationId::parse) else {
        return missing();
    };
    match state.store.get_verification(&id).await {
        Ok(Some(_)) => {}
        Ok(None) => return missing(),
        Err(e) => {
            tracing::warn!(error = %crate::error::chain(&e), "qr: verification lookup failed");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    }
    svg_response(qr_svg(&state.settings.verify_url(id.as_str())))
}

/// An SVG answer that is never cached or sniffed.
pub fn svg_response(svg: String) -> Response {
    Policy::Image.with(
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("image/svg+xml"),
            )],
            svg,
        )
            .into_response(),
    )
}

fn missing() -> Response {
    Policy::Image.with((StatusCode::NOT_FOUND, "").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_is_a_qr_code() {
        let svg = qr_svg("https://verify.test/verify?verification_id=ver_0123");
        assert!(svg.contains("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.ends_with("</svg>"));
        assert!(svg.contains("<path fill=\"#000000\" d=\"M"));
        // Different text, different modules.
        assert_ne!(
            svg,
            qr_svg("https://verify.test/verify?verification_id=ver_0124")
        );
    }
}
