//! The dashboard's pages: the review queue, a verification, keys and users (admins).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zeroize::Zeroizing;

use super::accounts::{self, AccountError};
use super::error::DashError;
use super::session::{DashboardUser, NoUser, Posted};
use super::{Nav, audit};
use crate::AppState;
use crate::audit::Action;
use crate::domain::verification::{now, rfc3339};
use crate::domain::{KeySettings, VerificationId};
use crate::openapi::HtmlPage;
use crate::store::{ApiKeyRecord, Role, UserRecord};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(queue))
        .routes(routes!(verification))
        .routes(routes!(redeliver))
        .routes(routes!(review))
        .routes(routes!(keys_page, create_key))
        .routes(routes!(revoke_key))
        .routes(routes!(rotate_qr))
        .routes(routes!(rotate_webhook_secret))
        .routes(routes!(users_page, create_user))
        .routes(routes!(disable_user))
        .routes(routes!(grant_key))
        .routes(routes!(revoke_grant))
}

type Page = Result<Response, DashError>;

pub(super) fn logged_in(me: Result<DashboardUser, NoUser>) -> Result<DashboardUser, Box<Response>> {
    me.map_err(|e| Box::new(e.into_response()))
}

// ---- Review queue ---------------------------------------------------------------------

/// One verification waiting for review, as the queue lists it.
pub(super) struct QueueItem {
    pub id: String,
    pub key_name: String,
    pub created_at: String,
    pub reasons: Vec<String>,
    pub reference: Option<String>,
    /// A test verification (made with a test key).
    pub test: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard/queue.html")]
struct QueuePage {
    nav: Nav,
    items: Vec<QueueItem>,
}

/// The review queue: verifications waiting for a decision, oldest first
#[utoipa::path(
    get,
    path = "/dashboard",
    tag = "dashboard",
    responses(
        (status = 200, response = HtmlPage),
        (status = 303, description = "Not logged in: to the login page"),
    ),
)]
async fn queue(State(state): State<AppState>, me: Result<DashboardUser, NoUser>) -> Page {
    let me = match logged_in(me) {
        Ok(me) => me,
        Err(res) => return Ok(*res),
    };
    let items = super::queue_items(&state, &me).await?;
    Ok(QueuePage {
        nav: Nav::new(&me, "queue"),
        items,
    }
    .into_response())
}

// ---- One verification -----------------------------------------------------------------

/// A row of "read from the document" next to "typed by the user".
struct Compared {
    field: String,
    document: String,
    typed: String,
    mismatch: bool,
}

struct AttemptRow {
    id: String,
    step: &'static str,
    outcome: &'static str,
    reasons: Vec<String>,
    created_at: String,
    images: Vec<String>,
}

struct EventRow {
    id: String,
    event_type: String,
    state: String,
    attempts: i64,
    created_at: String,
    deliveries: Vec<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard/verification.html")]
struct VerificationPage {
    nav: Nav,
    id: String,
    status: &'static str,
    /// Made with a test key: no check ran, the images are placeholders.
    test: bool,
    key_name: String,
    created_at: String,
    expires_at: String,
    reference: Option<String>,
    reasons: Vec<String>,
    decided_by: Option<String>,
    /// The accepted images: (label, URL).
    images: Vec<(&'static str, String)>,
    face_match: Vec<(String, String)>,
    liveness: Vec<(String, String)>,
    compared: Vec<Compared>,
    attempts: Vec<AttemptRow>,
    events: Vec<EventRow>,
    reviewable: bool,
}

/// The form fields that the machine-readable zone also carries, under its name.
const MRZ_NAMES: [(&str, &str); 4] = [
    ("first_name", "given_names"),
    ("last_name", "surname"),
    ("date_of_birth", "date_of_birth"),
    ("nationality", "nationality"),
];

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The scalar entries of a JSON object (nested objects flattened one level, `a.b`).
fn entries(v: Option<&Value>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Some(Value::Object(map)) = v else {
        return out;
    };
    for (k, v) in map {
        match v {
            Value::Object(inner) => {
                for (k2, v2) in inner {
                    if !v2.is_object() && !v2.is_array() {
                        out.push((format!("{k}.{k2}"), scalar(v2)));
                    }
                }
            }
            Value::Array(items) => out.push((
                k.clone(),
                items.iter().map(scalar).collect::<Vec<_>>().join(", "),
            )),
            other => out.push((k.clone(), scalar(other))),
        }
    }
    out
}

/// What was read from the document beside what the user typed, with the decision's
/// `DATA_MISMATCH:<field>` reasons marked.
fn compare(results: &Value, reasons: &[String]) -> Vec<Compared> {
    let mrz = results.pointer("/document/mrz");
    let form = results.get("form_data").and_then(Value::as_object);
    let mismatched = |field: &str| {
        reasons
            .iter()
            .any(|r| r.strip_prefix("DATA_MISMATCH:") == Some(field))
    };
    let mut rows = Vec::new();
    let mut seen = Vec::new();
    for (field, mrz_name) in MRZ_NAMES {
        let document = mrz.and_then(|m| m.get(mrz_name)).map(scalar);
        let typed = form.and_then(|f| f.get(field)).map(scalar);
        if document.is_none() && typed.is_none() {
            continue;
        }
        seen.push(field);
        rows.push(Compared {
            field: field.to_owned(),
            document: document.unwrap_or_default(),
            typed: typed.unwrap_or_default(),
            mismatch: mismatched(field),
        });
    }
    if let Some(m) = mrz.and_then(Value::as_object) {
        for (k, v) in m {
            if v.is_object() || MRZ_NAMES.iter().any(|(_, n)| n == k) {
                continue;
            }
            rows.push(Compared {
                field: k.clone(),
                document: scalar(v),
                typed: String::new(),
                mismatch: mismatched(k),
            });
        }
    }
    if let Some(f) = form {
        for (k, v) in f {
            if seen.contains(&k.as_str()) {
                continue;
            }
            rows.push(Compared {
                field: k.clone(),
                document: String::new(),
                typed: scalar(v),
                mismatch: mismatched(k),
            });
        }
    }
    rows
}

/// The decision's reasons, as stored.
pub(super) fn decision_reasons(results: &Value) -> Vec<String> {
    results
        .pointer("/decision/reasons")
        .and_then(Value::as_array)
        .map(|r| r.iter().map(scalar).collect())
        .unwrap_or_default()
}

/// A verification the user may see: 404 when there is none, 403 without a grant for its
/// key.
pub(super) async fn visible(
    state: &AppState,
    me: &DashboardUser,
    id: &str,
) -> Result<(crate::domain::Verification, Vec<crate::domain::Attempt>), DashError> {
    let id = VerificationId::parse(id).ok_or(DashError::NotFound)?;
    let (v, attempts) = state
        .store
        .get_verification_with_attempts(&id)
        .await?
        .ok_or(DashError::NotFound)?;
    if !me.may_see_key(&v.key_id) {
        tracing::warn!(user_id = %me.user.id, verification_id = %v.id,
            "dashboard: a verification of a key not granted was refused");
        return Err(DashError::Forbidden);
    }
    Ok((v, attempts))
}

/// One verification: status, images, checks, what was read and typed, every attempt, its
/// webhook deliveries, and the review form
#[utoipa::path(
    get,
    path = "/dashboard/verifications/{id}",
    tag = "dashboard",
    params(("id" = String, Path)),
    responses(
        (status = 200, response = HtmlPage),
        (status = 303, description = "Not logged in: to the login page"),
        (status = 403, response = HtmlPage),
        (status = 404, response = HtmlPage),
    ),
)]
async fn verification(
    State(state): State<AppState>,
    me: Result<DashboardUser, NoUser>,
    Path(id): Path<String>,
) -> Page {
    let me = match logged_in(me) {
        Ok(me) => me,
        Err(res) => return Ok(*res),
    };
    let (v, attempts) = visible(&state, &me, &id).await?;
    audit(&state, &me, Action::VerificationViewed, Some(&v), None).await?;
    let key_name = state
        .store
        .find_key(&v.key_id)
        .await?
        .map(|k| k.name)
        .unwrap_or_default();
    let (status, _) = v.effective_status(chrono::Utc::now());
    let results = v.results.to_json();
    let reasons = decision_reasons(&results);
    let base = format!("/dashboard/verifications/{}", v.id);
    let mut images = Vec::new();
    for (label, step) in [
        ("Document front", crate::domain::Step::DocumentFront),
        ("Document back", crate::domain::Step::DocumentBack),
        ("Selfie", crate::domain::Step::Liveness),
    ] {
        let accepted = attempts
            .iter()
            .rev()
            .find(|a| a.step == step && a.outcome == crate::domain::AttemptOutcome::Accepted);
        if let Some(a) = accepted {
            let role = super::display_role(a);
            if let Some(role) = role {
                images.push((label, format!("{base}/attempts/{}/{role}", a.id)));
            }
        }
    }
    let mut events = Vec::new();
    for e in state.store.list_events(Some(v.id.as_str()), 100).await? {
        let deliveries = state
            .store
            .list_deliveries(&e.id)
            .await?
            .into_iter()
            .map(|d| {
                let outcome = match (d.status_code, &d.error) {
                    (Some(code), _) => format!("HTTP {code}"),
                    (None, Some(err)) => err.clone(),
                    (None, None) => "no answer".to_owned(),
                };
                format!("{}: {outcome}", rfc3339(d.attempted_at))
            })
            .collect();
        events.push(EventRow {
            id: e.id.clone(),
            event_type: e.event_type.as_str().to_owned(),
            state: e.state.clone(),
            attempts: i64::from(e.attempts),
            created_at: rfc3339(e.created_at),
            deliveries,
        });
    }
    let attempts = attempts
        .iter()
        .map(|a| AttemptRow {
            id: a.id.clone(),
            step: a.step.as_str(),
            outcome: a.outcome.as_str(),
            reasons: a.reasons.clone(),
            created_at: rfc3339(a.created_at),
            images: super::display_role(a)
                .map(|role| vec![format!("{base}/attempts/{}/{role}", a.id)])
                .unwrap_or_default(),
        })
        .collect();
    Ok(VerificationPage {
        nav: Nav::new(&me, "queue"),
        id: v.id.to_string(),
        test: v.test,
        status: status.as_str(),
        key_name,
        created_at: rfc3339(v.created_at),
        expires_at: rfc3339(v.expires_at),
        reference: crate::store::reference_of(v.extra_data.as_ref()),
        decided_by: results
            .pointer("/decision/decided_by")
            .map(scalar)
            .filter(|s| !s.is_empty()),
        images,
        face_match: entries(results.get("face_match")),
        liveness: entries(results.get("liveness")),
        compared: compare(&results, &reasons),
        reasons,
        attempts,
        events,
        reviewable: status == crate::domain::Status::NeedsManualReview,
    }
    .into_response())
}

#[derive(Deserialize)]
struct NoFields {}

/// Queue one of the verification's webhook events for delivery again
#[utoipa::path(
    post,
    path = "/dashboard/verifications/{id}/events/{event_id}/redeliver",
    tag = "dashboard",
    params(("id" = String, Path), ("event_id" = String, Path)),
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "`csrf`"),
    responses(
        (status = 413, description = "The form is too large"),
        (status = 303, description = "Queued: back to the verification"),
        (status = 403, response = HtmlPage),
        (status = 404, response = HtmlPage),
    ),
)]
async fn redeliver(
    State(state): State<AppState>,
    Path((id, event_id)): Path<(String, String)>,
    posted: Posted<NoFields>,
) -> Page {
    let me = posted.me;
    let (v, _) = visible(&state, &me, &id).await?;
    let events = state.store.list_events(Some(v.id.as_str()), 1000).await?;
    if !events.iter().any(|e| e.id == event_id) {
        return Err(DashError::NotFound);
    }
    state.store.redeliver(&event_id, now()).await?;
    audit(
        &state,
        &me,
        Action::WebhookRedelivered,
        Some(&v),
        Some(&event_id),
    )
    .await?;
    Ok(Redirect::to(&format!("/dashboard/verifications/{}#webhooks", v.id)).into_response())
}

#[derive(Deserialize)]
struct ReviewForm {
    #[serde(default)]
    decision: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    note: String,
}

/// Decide a verification waiting for review: approve or reject, with a reason
#[utoipa::path(
    post,
    path = "/dashboard/verifications/{id}/review",
    tag = "dashboard",
    params(("id" = String, Path)),
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "`csrf`, `decision` (`verified` or `rejected`), `reason`, `note`"),
    responses(
        (status = 413, description = "The form is too large"),
        (status = 303, description = "Decided: back to the verification"),
        (status = 400, response = HtmlPage),
        (status = 403, response = HtmlPage),
        (status = 404, response = HtmlPage),
    ),
)]
async fn review(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted<ReviewForm>,
) -> Page {
    let Posted { me, form } = posted;
    let (v, _) = visible(&state, &me, &id).await?;
    let decision = match form.decision.as_str() {
        "verified" => crate::domain::Status::Verified,
        "rejected" => crate::domain::Status::Rejected,
        _ => return Err(DashError::BadRequest),
    };
    let note = Some(form.note.trim().to_owned()).filter(|n| !n.is_empty());
    let review = crate::domain::lifecycle::Review {
        decision,
        reason: form.reason.trim().to_owned(),
        note,
        reviewer: me.user.email.clone(),
    };
    let by = super::actor(&me.user, me.address.clone());
    let decided = crate::workflow::operator::review(state.store.as_ref(), v, review, &by).await?;
    Ok(Redirect::to(&format!("/dashboard/verifications/{}", decided.id)).into_response())
}

// ---- Keys (admins) ----------------------------------------------------------------------

struct KeyRow {
    id: String,
    name: String,
    prefix: String,
    revoked: bool,
    created_at: String,
    webhook_url: Option<String>,
    qr_url: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard/keys.html")]
struct KeysPage {
    nav: Nav,
    keys: Vec<KeyRow>,
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard/secret.html")]
struct SecretPage {
    nav: Nav,
    title: &'static str,
    what: String,
    secrets: Vec<(&'static str, String)>,
}

fn key_row(state: &AppState, k: ApiKeyRecord) -> KeyRow {
    KeyRow {
        qr_url: k.qr_token.as_ref().map(|t| {
            let mut url = state
                .settings
                .public_url
                .join("generate")
                .expect("static path");
            url.query_pairs_mut().append_pair("token", t);
            url.to_string()
        }),
        revoked: k.revoked_at.is_some(),
        created_at: rfc3339(k.created_at),
        webhook_url: k.webhook.map(|w| w.url),
        id: k.id,
        name: k.name,
        prefix: k.prefix,
    }
}

/// API keys (admins only)
#[utoipa::path(
    get,
    path = "/dashboard/keys",
    tag = "dashboard",
    responses(
        (status = 200, response = HtmlPage),
        (status = 303, description = "Not logged in: to the login page"),
        (status = 403, response = HtmlPage),
    ),
)]
async fn keys_page(State(state): State<AppState>, me: Result<DashboardUser, NoUser>) -> Page {
    let me = match logged_in(me) {
        Ok(me) => me,
        Err(res) => return Ok(*res),
    };
    me.require_admin()?;
    let keys = state
        .store
        .list_keys()
        .await?
        .into_iter()
        .map(|k| key_row(&state, k))
        .collect();
    Ok(KeysPage {
        nav: Nav::new(&me, "keys"),
        keys,
    }
    .into_response())
}

#[derive(Deserialize)]
struct NewKeyForm {
    name: String,
    #[serde(default)]
    webhook_url: String,
}

/// Create an API key; the key (and its webhook secret) are shown once
#[utoipa::path(
    post,
    path = "/dashboard/keys",
    tag = "dashboard",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "`csrf`, `name`, `webhook_url` (optional)"),
    responses(
        (status = 413, description = "The form is too large"),
        (status = 200, response = HtmlPage),
        (status = 400, response = HtmlPage),
        (status = 403, response = HtmlPage),
    ),
)]
async fn create_key(State(state): State<AppState>, posted: Posted<NewKeyForm>) -> Page {
    let Posted { me, form } = posted;
    me.require_admin()?;
    let name = form.name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(DashError::BadRequest);
    }
    let webhook = Some(form.webhook_url.trim())
        .filter(|u| !u.is_empty())
        .map(|u| crate::keys::new_webhook(u, state.settings.webhooks.allow_private))
        .transpose()
        .map_err(|_| DashError::BadRequest)?;
    let (mut record, secret) = crate::keys::new_key(name, KeySettings::default());
    record.webhook = webhook;
    state.store.insert_key(&record).await?;
    audit(&state, &me, Action::KeyCreated, None, Some(&record.id)).await?;
    let mut secrets = vec![("API key", secret.expose().to_owned())];
    if let Some(w) = &record.webhook {
        secrets.push(("Webhook signing secret", w.secret.expose().to_owned()));
    }
    Ok(SecretPage {
        nav: Nav::new(&me, "keys"),
        title: "Key created",
        what: format!("{} ({})", record.name, record.id),
        secrets,
    }
    .into_response())
}

/// Revoke an API key
#[utoipa::path(
    post,
    path = "/dashboard/keys/{id}/revoke",
    tag = "dashboard",
    params(("id" = String, Path)),
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "`csrf`"),
    responses(
        (status = 413, description = "The form is too large"),
        (status = 303, description = "Revoked: back to the keys"),
        (status = 403, response = HtmlPage),
        (status = 404, response = HtmlPage),
    ),
)]
async fn revoke_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted<NoFields>,
) -> Page {
    posted.me.require_admin()?;
    let k = state
        .store
        .revoke_key(&id, now())
        .await?
        .ok_or(DashError::NotFound)?;
    audit(&state, &posted.me, Action::KeyRevoked, None, Some(&k.id)).await?;
    Ok(Redirect::to("/dashboard/keys").into_response())
}

/// Give an API key a new QR token (the old one stops working)
#[utoipa::path(
    post,
    path = "/dashboard/keys/{id}/rotate-qr",
    tag = "dashboard",
    params(("id" = String, Path)),
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "`csrf`"),
    responses(
        (status = 413, description = "The form is too large"),
        (status = 303, description = "Rotated: back to the keys"),
        (status = 403, response = HtmlPage),
        (status = 404, response = HtmlPage),
    ),
)]
async fn rotate_qr(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted<NoFields>,
) -> Page {
    posted.me.require_admin()?;
    let k = state
        .store
        .rotate_qr_token(&id, &crate::keys::new_qr_token())
        .await?
        .ok_or(DashError::NotFound)?;
    audit(
        &state,
        &posted.me,
        Action::KeyRotated,
        None,
        Some(&format!("{} qr_token", k.id)),
    )
    .await?;
    Ok(Redirect::to("/dashboard/keys").into_response())
}

/// New webhook signing secret for an API key (shown once; the old one keeps signing
/// for a day)
#[utoipa::path(
    post,
    path = "/dashboard/keys/{id}/rotate-webhook-secret",
    tag = "dashboard",
    params(("id" = String, Path)),
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "`csrf`"),
    responses(
        (status = 413, description = "The form is too large"),
        (status = 200, response = HtmlPage),
        (status = 403, response = HtmlPage),
        (status = 404, response = HtmlPage),
    ),
)]
async fn rotate_webhook_secret(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted<NoFields>,
) -> Page {
    let me = posted.me;
    me.require_admin()?;
    let key = state
        .store
        .find_key(&id)
        .await?
        .ok_or(DashError::NotFound)?;
    let old = key.webhook.as_ref().ok_or(DashError::NotFound)?;
    let rotated = crate::keys::rotated_webhook(old, crate::keys::WEBHOOK_SECRET_GRACE);
    state.store.set_webhook(&key.id, Some(&rotated)).await?;
    audit(
        &state,
        &me,
        Action::KeyRotated,
        None,
        Some(&format!("{} webhook_secret", key.id)),
    )
    .await?;
    Ok(SecretPage {
        nav: Nav::new(&me, "keys"),
        title: "Webhook secret rotated",
        what: format!(
            "{} ({}); the previous secret also signs until {}",
            key.name,
            key.id,
            rotated.old_until.map(rfc3339).unwrap_or_default()
        ),
        secrets: vec![("Webhook signing secret", rotated.secret.expose().to_owned())],
    }
    .into_response())
}

// ---- Users (admins) ---------------------------------------------------------------------

struct UserRow {
    id: String,
    email: String,
    role: &'static str,
    disabled: bool,
    locked: bool,
    created_at: String,
    grants: Vec<(String, String)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard/users.html")]
struct UsersPage {
    nav: Nav,
    users: Vec<UserRow>,
    /// (id, name) of every key, for the grant forms.
    keys: Vec<(String, String)>,
    message: Option<String>,
}

async fn users_view(state: &AppState, me: &DashboardUser, message: Option<String>) -> Page {
    let keys: Vec<(String, String)> = state
        .store
        .list_keys()
        .await?
        .into_iter()
        .filter(|k| k.revoked_at.is_none())
        .map(|k| (k.id, k.name))
        .collect();
    let name_of = |id: &str| {
        keys.iter()
            .find(|(k, _)| k == id)
            .map_or_else(|| id.to_owned(), |(_, n)| n.clone())
    };
    let t = now();
    let users = state
        .store
        .list_users()
        .await?
        .into_iter()
        .map(|u: UserRecord| UserRow {
            grants: u.grants.iter().map(|g| (g.clone(), name_of(g))).collect(),
            disabled: u.disabled_at.is_some(),
            locked: u.locked_until.is_some_and(|l| l > t),
            created_at: rfc3339(u.created_at),
            role: u.role.as_str(),
            id: u.id,
            email: u.email,
        })
        .collect();
    let status = if message.is_some() {
        axum::http::StatusCode::BAD_REQUEST
    } else {
        axum::http::StatusCode::OK
    };
    Ok((
        status,
        UsersPage {
            nav: Nav::new(me, "users"),
            users,
            keys,
            message,
        },
    )
        .into_response())
}

/// Dashboard users (admins only)
#[utoipa::path(
    get,
    path = "/dashboard/users",
    tag = "dashboard",
    responses(
        (status = 200, response = HtmlPage),
        (status = 303, description = "Not logged in: to the login page"),
        (status = 403, response = HtmlPage),
    ),
)]
async fn users_page(State(state): State<AppState>, me: Result<DashboardUser, NoUser>) -> Page {
    let me = match logged_in(me) {
        Ok(me) => me,
        Err(res) => return Ok(*res),
    };
    me.require_admin()?;
    users_view(&state, &me, None).await
}

#[derive(Deserialize)]
struct NewUserForm {
    email: String,
    role: String,
    password: String,
    #[serde(default)]
    grant: String,
}

/// Create a dashboard user
#[utoipa::path(
    post,
    path = "/dashboard/users",
    tag = "dashboard",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "`csrf`, `email`, `role`, `password`, `grant` (a key id, optional)"),
    responses(
        (status = 413, description = "The form is too large"),
        (status = 303, description = "Created: back to the users"),
        (status = 400, response = HtmlPage),
        (status = 403, response = HtmlPage),
    ),
)]
async fn create_user(State(state): State<AppState>, posted: Posted<NewUserForm>) -> Page {
    let Posted { me, form } = posted;
    me.require_admin()?;
    let role: Role = form.role.parse().map_err(|_| DashError::BadRequest)?;
    let grants: Vec<String> = Some(form.grant)
        .filter(|g| !g.is_empty())
        .into_iter()
        .collect();
    let password = Zeroizing::new(form.password);
    match accounts::create_user(state.store.as_ref(), &form.email, role, password, &grants).await {
        Ok(user) => {
            audit(&state, &me, Action::UserCreated, None, Some(&user.id)).await?;
            Ok(Redirect::to("/dashboard/users").into_response())
        }
        Err(AccountError::Store(e)) => Err(e.into()),
        Err(e) => users_view(&state, &me, Some(e.to_string())).await,
    }
}

/// The user with this id, for an admin's change.
async fn user_by_id(state: &AppState, id: &str) -> Result<UserRecord, DashError> {
    state.store.find_user(id).await?.ok_or(DashError::NotFound)
}

/// Disable a dashboard user (their sessions end)
#[utoipa::path(
    post,
    path = "/dashboard/users/{id}/disable",
    tag = "dashboard",
    params(("id" = String, Path)),
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "`csrf`"),
    responses(
        (status = 413, description = "The form is too large"),
        (status = 303, description = "Disabled: back to the users"),
        (status = 403, response = HtmlPage),
        (status = 404, response = HtmlPage),
    ),
)]
async fn disable_user(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted<NoFields>,
) -> Page {
    posted.me.require_admin()?;
    let user = user_by_id(&state, &id).await?;
    state.store.disable_user(&user.email, now()).await?;
    audit(
        &state,
        &posted.me,
        Action::UserDisabled,
        None,
        Some(&user.id),
    )
    .await?;
    Ok(Redirect::to("/dashboard/users").into_response())
}

#[derive(Deserialize)]
struct GrantForm {
    key: String,
}

/// Let a user see the verifications of a key
#[utoipa::path(
    post,
    path = "/dashboard/users/{id}/grants",
    tag = "dashboard",
    params(("id" = String, Path)),
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "`csrf`, `key` (an API key id)"),
    responses(
        (status = 413, description = "The form is too large"),
        (status = 303, description = "Granted: back to the users"),
        (status = 403, response = HtmlPage),
        (status = 404, response = HtmlPage),
    ),
)]
async fn grant_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted<GrantForm>,
) -> Page {
    let Posted { me, form } = posted;
    me.require_admin()?;
    let user = user_by_id(&state, &id).await?;
    let key = state
        .store
        .find_key(&form.key)
        .await?
        .ok_or(DashError::NotFound)?;
    state.store.grant_key(&user.id, &key.id, now()).await?;
    audit(
        &state,
        &me,
        Action::UserGranted,
        None,
        Some(&format!("{} {}", user.id, key.id)),
    )
    .await?;
    Ok(Redirect::to("/dashboard/users").into_response())
}

/// Take a grant back
#[utoipa::path(
    post,
    path = "/dashboard/users/{id}/grants/{key_id}/revoke",
    tag = "dashboard",
    params(("id" = String, Path), ("key_id" = String, Path)),
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "`csrf`"),
    responses(
        (status = 413, description = "The form is too large"),
        (status = 303, description = "Revoked: back to the users"),
        (status = 403, response = HtmlPage),
        (status = 404, response = HtmlPage),
    ),
)]
async fn revoke_grant(
    State(state): State<AppState>,
    Path((id, key_id)): Path<(String, String)>,
    posted: Posted<NoFields>,
) -> Page {
    posted.me.require_admin()?;
    let user = user_by_id(&state, &id).await?;
    if !state.store.revoke_grant(&user.id, &key_id).await? {
        return Err(DashError::NotFound);
    }
    audit(
        &state,
        &posted.me,
        Action::UserGranted,
        None,
        Some(&format!("{} {key_id} revoked", user.id)),
    )
    .await?;
    Ok(Redirect::to("/dashboard/users").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn read_and_typed_values_are_paired_and_mismatches_marked() {
        let results = json!({
            "document": {"mrz": {"surname": "ERIKSSON", "given_names": "ANNA MARIA",
                "document_number": "L898902C3", "checks": {"composite": true}}},
            "form_data": {"first_name": "Anna", "last_name": "Eriksson", "city": "Oslo"},
        });
        let rows = compare(&results, &["DATA_MISMATCH:first_name".to_owned()]);
        let first = rows.iter().find(|r| r.field == "first_name").unwrap();
        assert_eq!(
            (first.document.as_str(), first.typed.as_str()),
            ("ANNA MARIA", "Anna")
        );
        assert!(first.mismatch);
        assert!(
            !rows
                .iter()
                .find(|r| r.field == "last_name")
                .unwrap()
                .mismatch
        );
        assert!(
            rows.iter()
                .any(|r| r.field == "document_number" && r.typed.is_empty())
        );
        assert!(
            rows.iter()
                .any(|r| r.field == "city" && r.document.is_empty())
        );
        assert!(!rows.iter().any(|r| r.field == "checks"));
    }
}
