//! Logging in and out of the dashboard.
//!
//! A failed login says the same whatever went wrong (no such account, wrong password,
//! locked, disabled), and takes as long, so the page cannot tell which addresses have
//! accounts. Failures are counted per account (five in a row lock it for fifteen minutes)
//! and, with every attempt, per client address.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::accounts::{normalise_email, verify_password};
use super::error::DashError;
use super::session::{
    self, DashboardUser, LOCK_AFTER, LOCK_FOR, NoUser, Posted, clear_cookie, client_addr,
    new_session, session_cookie,
};
use crate::AppState;
use crate::domain::verification::{later, now};
use crate::openapi::HtmlPage;

#[derive(Template, WebTemplate)]
#[template(path = "dashboard/login.html")]
struct LoginPage {
    email: String,
    failed: bool,
}

/// The dashboard's login form
#[utoipa::path(
    get,
    path = "/dashboard/login",
    tag = "dashboard",
    responses(
        (status = 200, response = HtmlPage),
        (status = 303, description = "Already logged in: to the review queue"),
    ),
)]
pub(super) async fn login_form(me: Result<DashboardUser, NoUser>) -> Response {
    if me.is_ok() {
        return Redirect::to("/dashboard").into_response();
    }
    LoginPage {
        email: String::new(),
        failed: false,
    }
    .into_response()
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// Log in
#[utoipa::path(
    post,
    path = "/dashboard/login",
    tag = "dashboard",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "`email`, `password`"),
    responses(
        (status = 413, description = "The form is too large"),
        (status = 303, description = "Logged in: the session cookie is set"),
        (status = 401, response = HtmlPage),
        (status = 403, response = HtmlPage),
        (status = 429, response = HtmlPage),
    ),
)]
pub(super) async fn login(
    State(state): State<AppState>,
    parts: Parts,
    Form(form): Form<LoginForm>,
) -> Result<Response, DashError> {
    if !same_site(&state, &parts.headers) {
        return Err(DashError::Forbidden);
    }
    let client = client_addr(&state, &parts);
    state
        .limits
        .dashboard_login(&client)
        .await
        .inspect_err(|_| {
            tracing::warn!(address = %client.key(), "dashboard login refused: too many attempts from this address");
        })?;
    let password = Zeroizing::new(form.password);
    let email = normalise_email(&form.email).ok();
    let user = match &email {
        Some(e) => state.store.find_user_by_email(e).await?,
        None => None,
    };
    // Always one password check, so that every failure takes as long.
    let password_ok =
        verify_password(password, user.as_ref().map(|u| u.password_hash.clone())).await;
    let t = now();
    let address = client.0.map(|a| a.to_string());
    let refused = match &user {
        None => Some("unknown_account"),
        Some(u) if u.disabled_at.is_some() => Some("disabled"),
        Some(u) if u.locked_until.is_some_and(|until| until > t) => Some("locked"),
        Some(_) if !password_ok => Some("wrong_password"),
        Some(_) => None,
    };
    if let Some(reason) = refused {
        let mut locked_now = false;
        if let (Some(u), "wrong_password") = (&user, reason) {
            let until = later(t, LOCK_FOR);
            locked_now = state
                .store
                .record_login_failure(&u.id, LOCK_AFTER, until)
                .await?
                .is_some();
        }
        tracing::warn!(
            user_id = user.as_ref().map(|u| u.id.as_str()),
            address = address.as_deref(),
            reason,
            "dashboard login failed"
        );
        if locked_now {
            tracing::warn!(
                user_id = user.as_ref().map(|u| u.id.as_str()),
                "dashboard account locked after {LOCK_AFTER} failed logins in a row"
            );
        }
        super::audit_login(&state, user.as_ref(), address.clone(), Some(reason)).await?;
        let page = LoginPage {
            email: email.unwrap_or_default(),
            failed: true,
        };
        return Ok((StatusCode::UNAUTHORIZED, page).into_response());
    }
    let user = user.expect("refused above when missing");
    state.store.record_login_success(&user.id).await?;
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (record, token) = new_session(&user, address.clone(), user_agent);
    state.store.insert_session(&record).await?;
    tracing::info!(user_id = %user.id, address = address.as_deref(), "dashboard login");
    super::audit_login(&state, Some(&user), address, None).await?;
    let mut res = Redirect::to("/dashboard").into_response();
    *res.status_mut() = StatusCode::SEE_OTHER;
    res.headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&state, &token));
    Ok(res)
}

/// Refuse cross-site posts of the login form (login CSRF): browsers say where a request
/// comes from with `Sec-Fetch-Site` and `Origin`.
fn same_site(state: &AppState, headers: &HeaderMap) -> bool {
    let site_ok = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_none_or(|s| matches!(s, "same-origin" | "none"));
    let origin_ok = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|o| o == state.settings.public_url.origin().ascii_serialization());
    site_ok && origin_ok
}

#[derive(Deserialize)]
pub(super) struct NoFields {}

/// Log out
#[utoipa::path(
    post,
    path = "/dashboard/logout",
    tag = "dashboard",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "`csrf`"),
    responses(
        (status = 413, description = "The form is too large"),
        (status = 303, description = "Logged out: to the login page"),
        (status = 403, response = HtmlPage),
    ),
)]
pub(super) async fn logout(
    State(state): State<AppState>,
    posted: Posted<NoFields>,
) -> Result<Response, DashError> {
    state.store.delete_session(&posted.me.session.id).await?;
    super::audit(&state, &posted.me, crate::audit::Action::Logout, None, None).await?;
    tracing::info!(user_id = %posted.me.user.id, "dashboard logout");
    Ok(logged_out(&state))
}

/// Log out everywhere: every session of this user ends
#[utoipa::path(
    post,
    path = "/dashboard/logout-everywhere",
    tag = "dashboard",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "`csrf`"),
    responses(
        (status = 413, description = "The form is too large"),
        (status = 303, description = "Every session ended: to the login page"),
        (status = 403, response = HtmlPage),
    ),
)]
pub(super) async fn logout_everywhere(
    State(state): State<AppState>,
    posted: Posted<NoFields>,
) -> Result<Response, DashError> {
    let n = state.store.delete_user_sessions(&posted.me.user.id).await?;
    tracing::info!(user_id = %posted.me.user.id, sessions = n, "dashboard logout everywhere");
    super::audit(
        &state,
        &posted.me,
        crate::audit::Action::Logout,
        None,
        Some("every session"),
    )
    .await?;
    Ok(logged_out(&state))
}

fn logged_out(state: &AppState) -> Response {
    let mut res = Redirect::to(session::LOGIN_PATH).into_response();
    *res.status_mut() = StatusCode::SEE_OTHER;
    res.headers_mut()
        .insert(header::SET_COOKIE, clear_cookie(state));
    res
}
