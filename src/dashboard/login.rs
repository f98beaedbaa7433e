//! Logging in and out of the dashboard.
//!
//! A failed login says the same whatever went wrong (no such account, wrong password,
//! locked, disabled), and takes as long, so the page cannot tell which addresses have
//! accounts. Failures are counted per account (five in a row lock it for fifteen minutes)
//! and, with every attempt, per client address.
//!
//! The login form carries its own CSRF token before any session exists (a double submit):
//! showing the form sets a random token in a cookie scoped to the login path and in a
//! hidden field; a post whose field does not match its cookie is refused. With the
//! `Sec-Fetch-Site` / `Origin` check this keeps another site from logging a browser into
//! an account of its choosing.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::accounts::{normalise_email, verify_password};
use super::error::DashError;
use super::session::{
    self, DashboardUser, LOCK_AFTER, LOCK_FOR, NoUser, Posted, clear_cookie, client_addr,
    cookie_secure, cookie_value, new_session, new_token, session_cookie, tokens_match,
};
use crate::AppState;
use crate::domain::verification::{later, now};
use crate::openapi::HtmlPage;

#[derive(Template, WebTemplate)]
#[template(path = "dashboard/login.html")]
struct LoginPage {
    email: String,
    failed: bool,
    /// The form posted was not the one served (expired, or from elsewhere).
    stale: bool,
    csrf: String,
}

/// What the login page says above the form.
#[derive(Clone, Copy, PartialEq)]
enum Notice {
    None,
    Failed,
    Stale,
}

/// The cookie that holds the login form's CSRF token, scoped to the login path.
pub const LOGIN_CSRF_COOKIE: &str = "v2c_login_csrf";

/// `Set-Cookie` for the login form's token; `None` removes it.
fn login_csrf_cookie(state: &AppState, token: Option<&str>) -> HeaderValue {
    let secure = if cookie_secure(state) { "; Secure" } else { "" };
    let (value, age) = match token {
        Some(t) => (t, 3600),
        None => ("", 0),
    };
    HeaderValue::from_str(&format!(
        "{LOGIN_CSRF_COOKIE}={value}; HttpOnly; SameSite=Strict; Path={}; Max-Age={age}{secure}",
        session::LOGIN_PATH
    ))
    .expect("tokens are URL-safe base64")
}

/// The login page. Its form carries `token` when the browser already holds it in the
/// cookie (a failed login shown again), else a fresh token, set in the cookie.
fn login_page(
    state: &AppState,
    status: StatusCode,
    email: String,
    notice: Notice,
    token: Option<String>,
) -> Response {
    let (csrf, cookie) = match token {
        Some(kept) => (kept, None),
        None => {
            let fresh = new_token();
            let cookie = login_csrf_cookie(state, Some(&fresh));
            (fresh, Some(cookie))
        }
    };
    let mut res = (
        status,
        LoginPage {
            email,
            failed: notice == Notice::Failed,
            stale: notice == Notice::Stale,
            csrf,
        },
    )
        .into_response();
    if let Some(cookie) = cookie {
        res.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    res
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
pub(super) async fn login_form(
    State(state): State<AppState>,
    me: Result<DashboardUser, NoUser>,
) -> Response {
    if me.is_ok() {
        return Redirect::to("/dashboard").into_response();
    }
    login_page(&state, StatusCode::OK, String::new(), Notice::None, None)
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

/// Log in
#[utoipa::path(
    post,
    path = "/dashboard/login",
    tag = "dashboard",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "`email`, `password`, `csrf` (the token the form was served with, \
            which must match the `v2c_login_csrf` cookie set with it)"),
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
    let client = client_addr(&state, &parts);
    state
        .limits
        .dashboard_login(&client)
        .await
        .inspect_err(|_| {
            tracing::warn!(address = %client.key(), "dashboard login refused: too many attempts from this address");
        })?;
    if !same_site(&state, &parts.headers) {
        tracing::warn!(address = %client.key(), "dashboard login refused: posted from another site");
        return Err(DashError::Forbidden);
    }
    let cookie = cookie_value(&parts.headers, LOGIN_CSRF_COOKIE);
    if !cookie.is_some_and(|c| tokens_match(&c, &form.csrf)) {
        tracing::warn!(address = %client.key(), "dashboard login refused: form token missing or not the one served");
        return Ok(login_page(
            &state,
            StatusCode::FORBIDDEN,
            String::new(),
            Notice::Stale,
            None,
        ));
    }
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
        return Ok(login_page(
            &state,
            StatusCode::UNAUTHORIZED,
            email.unwrap_or_default(),
            Notice::Failed,
            Some(form.csrf),
        ));
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
    res.headers_mut()
        .append(header::SET_COOKIE, login_csrf_cookie(&state, None));
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
