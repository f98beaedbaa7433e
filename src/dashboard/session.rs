//! Dashboard sessions: server-side, keyed by the SHA-256 of a random token that only the
//! user's cookie holds; a CSRF token per session, sent back in every form; idle and
//! absolute time limits; and the [`DashboardUser`] extractor that turns a request's
//! cookie into a logged-in, enabled user.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::DashError;
use crate::AppState;
use crate::domain::ids::random_bytes;
use crate::domain::verification::{earlier, later, now};
use crate::ratelimit::ClientAddr;
use crate::store::{Role, SessionRecord, UserRecord};

/// The session cookie's name.
pub const COOKIE: &str = "v2c_dashboard";
/// The cookie's path: the dashboard only, never the portal or the API.
pub const COOKIE_PATH: &str = "/dashboard";
/// A session ends after this long without a request.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// A session ends this long after login, however active.
pub const ABSOLUTE_TIMEOUT: Duration = Duration::from_secs(12 * 3600);
/// Failed logins in a row that lock an account.
pub const LOCK_AFTER: u32 = 5;
/// How long a locked account stays locked.
pub const LOCK_FOR: Duration = Duration::from_secs(15 * 60);
/// Where a request without a valid session is sent.
pub const LOGIN_PATH: &str = "/dashboard/login";

/// A new random token: 256 bits, URL-safe base64.
pub fn new_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// The stored id of the session whose cookie holds `token`.
pub fn session_id(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A session made at login: the record to store, and the token for the cookie.
pub fn new_session(
    user: &UserRecord,
    address: Option<String>,
    user_agent: Option<String>,
) -> (SessionRecord, String) {
    let token = new_token();
    let t = now();
    let record = SessionRecord {
        id: session_id(&token),
        user_id: user.id.clone(),
        csrf_token: new_token(),
        created_at: t,
        last_seen_at: t,
        expires_at: later(t, ABSOLUTE_TIMEOUT),
        address,
        user_agent: user_agent.map(|ua| ua.chars().take(256).collect()),
    };
    (record, token)
}

/// Whether `session` is still valid at `at`: before its absolute end, and used within
/// the idle limit.
pub fn is_live(session: &SessionRecord, at: DateTime<Utc>) -> bool {
    at < session.expires_at && session.last_seen_at > earlier(at, IDLE_TIMEOUT)
}

/// Whether the session cookie gets `Secure`.
///
/// Decided from the configured public base URL, which every instance has (the default is
/// `http://localhost:8080`): `Secure` unless it names this machine (`localhost`,
/// `127.0.0.1`, `[::1]`), where browsers may be served over plain HTTP in development.
/// The `Host` header is never consulted: a client chooses it, and must not be able to
/// drop the flag by naming localhost.
pub fn cookie_secure(state: &AppState) -> bool {
    !matches!(
        state.settings.public_url.host_str(),
        Some("localhost" | "127.0.0.1" | "[::1]")
    )
}

/// `Set-Cookie` for a new session.
pub fn session_cookie(state: &AppState, token: &str) -> HeaderValue {
    let secure = if cookie_secure(state) { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path={COOKIE_PATH}{secure}"
    ))
    .expect("tokens are URL-safe base64")
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie(state: &AppState) -> HeaderValue {
    let secure = if cookie_secure(state) { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}=; HttpOnly; SameSite=Strict; Path={COOKIE_PATH}; Max-Age=0{secure}"
    ))
    .expect("static cookie text")
}

/// The session token of a request's cookie, if any.
pub fn token_of(headers: &HeaderMap) -> Option<String> {
    cookie_value(headers, COOKIE)
}

/// The value of the request's cookie `name`, if any and not empty.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, value)| *n == name && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}

/// Whether two tokens are equal, in time independent of where they differ.
pub fn tokens_match(expected: &str, presented: &str) -> bool {
    let (expected, presented) = (expected.as_bytes(), presented.as_bytes());
    expected.len() == presented.len() && bool::from(expected.ct_eq(presented))
}

/// The client's address as the rate limits count it.
pub fn client_addr(state: &AppState, parts: &Parts) -> ClientAddr {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    ClientAddr::from_request(
        &parts.headers,
        peer,
        state.settings.limits.trusted_proxy_header.as_ref(),
    )
}

/// A logged-in, enabled dashboard user and their session.
#[derive(Debug, Clone)]
pub struct DashboardUser {
    pub user: UserRecord,
    pub session: SessionRecord,
    /// The client's address, for the audit log.
    pub address: Option<String>,
}

impl DashboardUser {
    pub fn is_admin(&self) -> bool {
        self.user.role == Role::Admin
    }

    /// Whether this user may see the verifications of `key_id`.
    pub fn may_see_key(&self, key_id: &str) -> bool {
        self.is_admin() || self.user.grants.iter().any(|k| k == key_id)
    }

    /// The keys whose verifications this user may see; `None`: every key.
    pub fn visible_keys(&self) -> Option<Vec<String>> {
        (!self.is_admin()).then(|| self.user.grants.clone())
    }

    /// Refuse anyone but an admin.
    pub fn require_admin(&self) -> Result<(), DashError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(DashError::Forbidden)
        }
    }

    /// Whether `presented` is this session's CSRF token (constant time).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        tokens_match(&self.session.csrf_token, presented)
    }
}

/// Why there is no dashboard user: no valid session (sent to the login page), or the
/// store failed.
pub enum NoUser {
    LoggedOut,
    Failed(DashError),
}

impl IntoResponse for NoUser {
    fn into_response(self) -> Response {
        match self {
            NoUser::LoggedOut => Redirect::to(LOGIN_PATH).into_response(),
            NoUser::Failed(e) => e.into_response(),
        }
    }
}

impl<S> FromRequestParts<S> for DashboardUser
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = NoUser;

    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, NoUser> {
        if let Some(user) = parts.extensions.get::<DashboardUser>() {
            return Ok(user.clone());
        }
        let state = AppState::from_ref(s);
        let token = token_of(&parts.headers).ok_or(NoUser::LoggedOut)?;
        let id = session_id(&token);
        let store = state.store.as_ref();
        let failed = |e: crate::store::StoreError| NoUser::Failed(e.into());
        let session = store
            .find_session(&id)
            .await
            .map_err(failed)?
            .ok_or(NoUser::LoggedOut)?;
        let t = now();
        if !is_live(&session, t) {
            store.delete_session(&id).await.map_err(failed)?;
            return Err(NoUser::LoggedOut);
        }
        let Some(user) = store.find_user(&session.user_id).await.map_err(failed)? else {
            return Err(NoUser::LoggedOut);
        };
        if user.disabled_at.is_some() {
            store.delete_user_sessions(&user.id).await.map_err(failed)?;
            return Err(NoUser::LoggedOut);
        }
        if !store.touch_session(&id, t).await.map_err(failed)? {
            return Err(NoUser::LoggedOut);
        }
        let address = client_addr(&state, parts).0.map(|a| a.to_string());
        let me = DashboardUser {
            user,
            session,
            address,
        };
        parts.extensions.insert(me.clone());
        Ok(me)
    }
}

/// A form posted by a logged-in user, its CSRF token checked: a token missing or wrong
/// answers `403` before the handler runs. The form's own fields are read from the same
/// body (the token's field, `csrf`, is ignored there).
pub struct Posted<T> {
    pub me: DashboardUser,
    pub form: T,
}

/// The name of the CSRF token's field in every form.
pub const CSRF_FIELD: &str = "csrf";

impl<S, T> FromRequest<S> for Posted<T>
where
    S: Send + Sync,
    AppState: FromRef<S>,
    T: serde::de::DeserializeOwned,
{
    type Rejection = Response;

    async fn from_request(req: Request, s: &S) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let me = DashboardUser::from_request_parts(&mut parts, s)
            .await
            .map_err(IntoResponse::into_response)?;
        let req = Request::from_parts(parts, body);
        let bytes = axum::body::Bytes::from_request(req, s)
            .await
            .map_err(|_| DashError::BadRequest.into_response())?;
        let token = url::form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == CSRF_FIELD)
            .map(|(_, v)| v.into_owned());
        match token {
            Some(t) if me.csrf_matches(&t) => {}
            _ => {
                tracing::warn!(user_id = %me.user.id, "dashboard form refused: CSRF token missing or wrong");
                return Err(DashError::Forbidden.into_response());
            }
        }
        let form = serde_urlencoded::from_bytes(&bytes)
            .map_err(|_| DashError::BadRequest.into_response())?;
        Ok(Posted { me, form })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(last_seen_ago: i64, expires_in: i64) -> SessionRecord {
        let t = now();
        SessionRecord {
            id: "x".into(),
            user_id: "u".into(),
            csrf_token: "c".into(),
            created_at: t - chrono::Duration::hours(1),
            last_seen_at: t - chrono::Duration::seconds(last_seen_ago),
            expires_at: t + chrono::Duration::seconds(expires_in),
            address: None,
            user_agent: None,
        }
    }

    #[test]
    fn sessions_end_when_idle_or_past_their_end() {
        let t = now();
        assert!(is_live(&session(60, 3600), t));
        assert!(!is_live(&session(31 * 60, 3600), t), "idle too long");
        assert!(!is_live(&session(60, -1), t), "past its absolute end");
    }

    #[test]
    fn the_cookie_is_read_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; v2c_dashboard=tok; b=2"),
        );
        assert_eq!(token_of(&h).as_deref(), Some("tok"));
        h.insert(header::COOKIE, HeaderValue::from_static("v2c_dashboard="));
        assert_eq!(token_of(&h), None);
    }

    #[test]
    fn session_ids_are_hashes_of_the_token() {
        let id = session_id("token");
        assert_eq!(id.len(), 64);
        assert_ne!(id, "token");
        assert_eq!(id, session_id("token"));
    }
}
