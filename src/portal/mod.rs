//! The end-user portal: the `/verify` pages, the desktop→phone QR code, the embeddable
//! SDK's assets, the JSON step API the pages drive, and the QR entry (`/generate`).

pub mod api;
pub mod entry;
pub mod i18n;
pub mod inflight;
pub mod pages;
pub mod qr;
mod same_site;
pub mod throttle;
mod upload;
mod view;

pub use qr::qr_svg;

use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

/// The portal's page routes (`/verify`, `/verify/qr.svg`, the SDK assets, `/generate`).
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    pages::router(state).merge(entry::router(state))
}
