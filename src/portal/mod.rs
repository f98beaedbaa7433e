//! The end-user portal: the `/verify` pages, the desktop→phone QR code and the embeddable
//! SDK's assets. The JSON step API the pages drive lives beside them.

pub mod i18n;
pub mod pages;
pub mod qr;

pub use qr::qr_svg;

use axum::Router;

use crate::AppState;

/// The portal's page routes (`/verify`, `/verify/qr.svg`, the SDK assets).
pub fn router() -> Router<AppState> {
    pages::router()
}
