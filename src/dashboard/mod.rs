//! The reviewers' dashboard at `/dashboard`: server-rendered pages for the people who
//! review verifications (reviewers, who see the keys granted to them) and run the
//! instance (admins). Accounts and sessions are its own (`store::AccountStore`), apart
//! from operators' API keys; every answer is a page, never JSON.

pub mod accounts;
pub mod cli;
pub mod error;
mod login;
mod pages;
mod records;
pub mod session;

use axum::http::{HeaderValue, header};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use session::DashboardUser;

use crate::AppState;
use crate::audit::{self, Action, Actor, ActorKind, AuditEvent};
use crate::security_headers::{self, Policy};
use crate::store::{UserRecord, VerificationQuery};

/// The dashboard's routes. Pages carry the site's page headers and are never cached
/// (they show personal data).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login::login_form, login::login))
        .routes(routes!(login::logout))
        .routes(routes!(login::logout_everywhere))
        .merge(pages::router())
        .merge(records::router())
        // Every dashboard form is a few fields: anything larger is refused unread (413).
        .layer(axum::extract::DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(security_headers::layer(Policy::SitePage))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}

/// The largest form body the dashboard reads.
pub const MAX_FORM_BYTES: usize = 16 * 1024;

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

/// The audit log's name for a dashboard user.
pub fn actor(user: &UserRecord, address: Option<String>) -> Actor {
    Actor {
        kind: ActorKind::User,
        id: user.id.clone(),
        label: user.email.clone(),
        address,
    }
}

/// Record a login attempt in the audit log: who (when the account exists), from where,
/// and why it failed.
async fn audit_login(
    state: &AppState,
    user: Option<&UserRecord>,
    address: Option<String>,
    failure: Option<&str>,
) -> Result<(), error::DashError> {
    let actor = match user {
        Some(u) => actor(u, address),
        None => Actor {
            kind: ActorKind::User,
            id: String::new(),
            label: "unknown account".to_owned(),
            address,
        },
    };
    let event = match failure {
        Some(reason) => AuditEvent::new(&actor, Action::LoginFailed)
            .detail(serde_json::json!({ "reason": reason })),
        None => AuditEvent::new(&actor, Action::LoginSucceeded),
    };
    audit::record(state.store.as_ref(), event).await?;
    Ok(())
}

/// Record what a dashboard user did or saw. What cannot be logged does not happen: a
/// failure here fails the request.
async fn audit(
    state: &AppState,
    me: &DashboardUser,
    action: Action,
    on: Option<&crate::domain::Verification>,
    target: Option<&str>,
) -> Result<(), error::DashError> {
    let mut event = AuditEvent::new(&actor(&me.user, me.address.clone()), action);
    if let Some(v) = on {
        event = event.on(v);
    }
    if let Some(t) = target {
        event = event.target(t);
    }
    audit::record(state.store.as_ref(), event).await?;
    Ok(())
}

/// The image of an attempt a reviewer looks at first: the straightened crop of a document
/// side when there is one, else what was sent; the selfie of a liveness check.
fn display_role(a: &crate::domain::Attempt) -> Option<&'static str> {
    ["cropped", "selfie", "original"]
        .into_iter()
        .find(|role| a.images.contains_key(*role))
}

/// Most verifications the review queue shows at once.
const QUEUE_LENGTH: u32 = 200;

/// The verifications waiting for review that `me` may see, oldest first.
async fn queue_items(
    state: &AppState,
    me: &DashboardUser,
) -> Result<Vec<pages::QueueItem>, error::DashError> {
    let query = VerificationQuery {
        key_ids: me.visible_keys(),
        status: Some(crate::domain::Status::NeedsManualReview),
        oldest_first: true,
        ..VerificationQuery::all(QUEUE_LENGTH)
    };
    let found = state
        .store
        .list_verifications(&query, crate::domain::verification::now())
        .await?;
    let keys = state.store.list_keys().await?;
    Ok(found
        .into_iter()
        .map(|v| pages::QueueItem {
            key_name: keys
                .iter()
                .find(|k| k.id == v.key_id)
                .map_or_else(|| v.key_id.clone(), |k| k.name.clone()),
            created_at: crate::domain::verification::rfc3339(v.created_at),
            reasons: pages::decision_reasons(&v.results.to_json()),
            reference: crate::store::reference_of(v.extra_data.as_ref()),
            test: v.test,
            id: v.id.to_string(),
        })
        .collect())
}
