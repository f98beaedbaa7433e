//! What a reviewer looks things up in: an attempt's image, the search by id or reference,
//! and the audit log (with its export). Every image shown and every export is itself
//! written to the audit log first.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::DashError;
use super::pages::logged_in;
use super::session::{DashboardUser, NoUser};
use super::{Nav, audit};
use crate::AppState;
use crate::audit::{Action, AuditEvent, AuditQuery};
use crate::domain::VerificationId;
use crate::domain::verification::rfc3339;
use crate::openapi::HtmlPage;
use crate::store::VerificationQuery;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(image))
        .routes(routes!(search))
        .routes(routes!(audit_log))
        .routes(routes!(audit_export))
}

type Page = Result<Response, DashError>;

/// One image an attempt kept, as the verification's key may see it (redacted by the key's
/// settings, like the API's image routes)
#[utoipa::path(
    get,
    path = "/dashboard/verifications/{id}/attempts/{attempt_id}/{role}",
    tag = "dashboard",
    params(
        ("id" = String, Path),
        ("attempt_id" = String, Path),
        ("role" = String, Path, description = "`original`, `cropped` or `selfie`"),
    ),
    responses(
        (status = 200, description = "The image", content_type = "image/jpeg"),
        (status = 303, description = "Not logged in: to the login page"),
        (status = 403, response = HtmlPage),
        (status = 404, response = HtmlPage),
    ),
)]
async fn image(
    State(state): State<AppState>,
    me: Result<DashboardUser, NoUser>,
    Path((id, attempt_id, role)): Path<(String, String, String)>,
) -> Page {
    let me = match logged_in(me) {
        Ok(me) => me,
        Err(res) => return Ok(*res),
    };
    let (v, attempts) = super::pages::visible(&state, &me, &id).await?;
    let attempt = attempts
        .iter()
        .find(|a| a.id == attempt_id && a.images.contains_key(role.as_str()))
        .ok_or(DashError::NotFound)?;
    let key = state
        .store
        .find_key(&v.key_id)
        .await?
        .ok_or(DashError::NotFound)?;
    let target = format!("{}:{role}:{}", attempt.step.as_str(), attempt.id);
    audit(&state, &me, Action::ImageViewed, Some(&v), Some(&target)).await?;
    let bytes = crate::api::images::attempt_image(&state, &key, attempt, &role)
        .await?
        .ok_or(DashError::NotFound)?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg")),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Deserialize)]
struct SearchQuery {
    q: Option<String>,
}

/// A verification found by reference.
struct Found {
    id: String,
    status: &'static str,
    created_at: String,
    reference: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard/search.html")]
struct SearchPage {
    nav: Nav,
    q: String,
    searched: bool,
    found: Vec<Found>,
}

/// Most verifications one search lists.
const SEARCH_LIMIT: u32 = 50;

/// Find a verification by its id (straight to its page) or by the operator's reference
/// (`extra_data.reference_id`), among the keys the user may see
#[utoipa::path(
    get,
    path = "/dashboard/search",
    tag = "dashboard",
    params(("q" = Option<String>, Query, description = "A verification id or a reference")),
    responses(
        (status = 200, response = HtmlPage),
        (status = 303, description = "To the verification found, or to the login page"),
        (status = 400, response = HtmlPage),
    ),
)]
async fn search(
    State(state): State<AppState>,
    me: Result<DashboardUser, NoUser>,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> Page {
    let me = match logged_in(me) {
        Ok(me) => me,
        Err(res) => return Ok(*res),
    };
    let Query(query) = query.map_err(|_| DashError::BadRequest)?;
    let q: String = query
        .q
        .unwrap_or_default()
        .trim()
        .chars()
        .take(256)
        .collect();
    if let Some(id) = VerificationId::parse(&q) {
        // Whether it exists and may be seen is the verification page's to say.
        return Ok(Redirect::to(&format!("/dashboard/verifications/{id}")).into_response());
    }
    let mut found = Vec::new();
    if !q.is_empty() {
        let query = VerificationQuery {
            key_ids: me.visible_keys(),
            reference: Some(q.clone()),
            ..VerificationQuery::all(SEARCH_LIMIT)
        };
        let now = crate::domain::verification::now();
        for v in state.store.list_verifications(&query, now).await? {
            let (status, _) = v.effective_status(now);
            found.push(Found {
                id: v.id.to_string(),
                status: status.as_str(),
                created_at: rfc3339(v.created_at),
                reference: q.clone(),
            });
        }
    }
    Ok(SearchPage {
        nav: Nav::new(&me, "search"),
        searched: !q.is_empty(),
        q,
        found,
    }
    .into_response())
}

#[derive(Deserialize)]
struct AuditParams {
    /// Only this verification's events.
    verification: Option<String>,
    /// Events older than this one (the previous page's last); read as text so that a
    /// bad value gets the dashboard's own error page.
    before: Option<String>,
}

/// One line of the audit page.
struct Line {
    seq: i64,
    at: String,
    actor: String,
    address: String,
    action: &'static str,
    verification_id: Option<String>,
    target: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard/audit.html")]
struct AuditPage {
    nav: Nav,
    verification: String,
    lines: Vec<Line>,
    /// Where the next page starts, when there is one.
    older: Option<i64>,
}

/// Events per page of the audit log.
const AUDIT_PAGE: u32 = 100;

/// The part of the audit log `me` may read: every event for an admin; a reviewer, the
/// events about the keys granted to them and their verifications.
fn audit_query(
    me: &DashboardUser,
    params: &AuditParams,
    limit: u32,
) -> Result<AuditQuery, DashError> {
    let before_seq = params
        .before
        .as_deref()
        .map(|b| b.parse::<i64>().map_err(|_| DashError::BadRequest))
        .transpose()?;
    Ok(AuditQuery {
        verification_id: params
            .verification
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned),
        key_ids: me.visible_keys(),
        before_seq,
        limit,
    })
}

/// The audit log, newest first: who viewed or decided what, from where
#[utoipa::path(
    get,
    path = "/dashboard/audit",
    tag = "dashboard",
    params(
        ("verification" = Option<String>, Query, description = "Only this verification's events"),
        ("before" = Option<i64>, Query, description = "Events older than this sequence number"),
    ),
    responses(
        (status = 200, response = HtmlPage),
        (status = 303, description = "Not logged in: to the login page"),
        (status = 400, response = HtmlPage),
    ),
)]
async fn audit_log(
    State(state): State<AppState>,
    me: Result<DashboardUser, NoUser>,
    params: Result<Query<AuditParams>, QueryRejection>,
) -> Page {
    let me = match logged_in(me) {
        Ok(me) => me,
        Err(res) => return Ok(*res),
    };
    let Query(params) = params.map_err(|_| DashError::BadRequest)?;
    let events = state
        .store
        .list_audit(&audit_query(&me, &params, AUDIT_PAGE)?)
        .await?;
    let older = (events.len() == AUDIT_PAGE as usize)
        .then(|| events.last().map(|e| e.seq))
        .flatten();
    let lines = events
        .into_iter()
        .map(|e| Line {
            seq: e.seq,
            at: rfc3339(e.at),
            actor: format!("{} {}", e.actor.kind.as_str(), e.actor.label),
            address: e.actor.address.unwrap_or_default(),
            action: e.action.as_str(),
            verification_id: e.verification_id,
            target: e.target.unwrap_or_default(),
        })
        .collect();
    Ok(AuditPage {
        nav: Nav::new(&me, "audit"),
        verification: params.verification.unwrap_or_default(),
        lines,
        older,
    }
    .into_response())
}

#[derive(Deserialize)]
struct ExportParams {
    /// `csv` (the default) or `json` (one JSON object per line).
    format: Option<String>,
    verification: Option<String>,
}

/// Most events one export holds; the command line (`v2client audit export`) has no limit.
const EXPORT_LIMIT: u32 = 100_000;

/// The audit log as a file: CSV, or JSON lines
#[utoipa::path(
    get,
    path = "/dashboard/audit/export",
    tag = "dashboard",
    params(
        ("format" = Option<String>, Query, description = "`csv` (default) or `json`"),
        ("verification" = Option<String>, Query, description = "Only this verification's events"),
    ),
    responses(
        (status = 200, description = "The events, newest first", content_type = "text/csv"),
        (status = 303, description = "Not logged in: to the login page"),
        (status = 400, response = HtmlPage),
    ),
)]
async fn audit_export(
    State(state): State<AppState>,
    me: Result<DashboardUser, NoUser>,
    params: Result<Query<ExportParams>, QueryRejection>,
) -> Page {
    let me = match logged_in(me) {
        Ok(me) => me,
        Err(res) => return Ok(*res),
    };
    let Query(params) = params.map_err(|_| DashError::BadRequest)?;
    let json = match params.format.as_deref() {
        None | Some("csv") => false,
        Some("json") => true,
        Some(_) => return Err(DashError::BadRequest),
    };
    let scope = AuditParams {
        verification: params.verification,
        before: None,
    };
    let events = state
        .store
        .list_audit(&audit_query(&me, &scope, EXPORT_LIMIT)?)
        .await?;
    let mut exported = AuditEvent::new(
        &super::actor(&me.user, me.address.clone()),
        Action::AuditExported,
    );
    exported.detail = Some(serde_json::json!({"events": events.len()}));
    crate::audit::record(state.store.as_ref(), exported).await?;
    let (body, content_type, name) = if json {
        let mut out = String::new();
        for e in &events {
            out.push_str(&serde_json::to_string(e).map_err(DashError::internal)?);
            out.push('\n');
        }
        (out, "application/x-ndjson", "audit.jsonl")
    } else {
        let mut out = format!("{}\n", AuditEvent::CSV_HEADER);
        for e in &events {
            out.push_str(&e.csv_row());
            out.push('\n');
        }
        (out, "text/csv; charset=utf-8", "audit.csv")
    };
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
                    .map_err(DashError::internal)?,
            ),
        ],
        body,
    )
        .into_response())
}
