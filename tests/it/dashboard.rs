//! The reviewers' dashboard over HTTP, on both stores: logging in and out, lockout,
//! CSRF, cookies, who may see what.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use v2client::dashboard::accounts::create_user;
use v2client::domain::Status;
use v2client::store::{Role, UserRecord};
use zeroize::Zeroizing;

use crate::common::{Db, Reply, TestApp};

both_stores!(
    login_sets_a_strict_cookie_and_opens_the_dashboard,
    wrong_passwords_and_unknown_accounts_answer_alike,
    five_failures_in_a_row_lock_the_account,
    forms_without_the_right_csrf_token_are_refused,
    the_login_form_is_posted_only_with_the_token_it_was_served_with,
    a_reviewer_sees_only_the_verifications_of_granted_keys,
    a_disabled_users_session_is_refused,
    logging_out_everywhere_ends_every_session,
    keys_and_users_pages_are_for_admins_only,
    admins_create_keys_and_users_from_the_dashboard,
    logins_are_bounded_in_size_and_rate,
);

const PASSWORD: &str = "a long enough password";

pub struct Dash {
    pub app: TestApp,
}

impl Dash {
    pub async fn new(db: Db) -> Option<Dash> {
        Some(Dash {
            app: TestApp::new(db).await?,
        })
    }

    pub async fn user(&self, email: &str, role: Role, grants: &[String]) -> UserRecord {
        create_user(
            self.app.db.store.as_ref(),
            email,
            role,
            Zeroizing::new(PASSWORD.to_owned()),
            grants,
        )
        .await
        .expect("create user")
    }

    pub async fn post_form(
        &self,
        path: &str,
        cookie: Option<&str>,
        fields: &[(&str, &str)],
    ) -> Reply {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let mut req =
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        self.app.send(req.body(Body::from(body)).unwrap()).await
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Reply {
        let mut req = Request::get(path);
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        self.app.send(req.body(Body::empty()).unwrap()).await
    }

    /// Show the login form and post it, with the form's token and cookie.
    pub async fn login_with(&self, email: &str, password: &str) -> Reply {
        let form = self.get("/dashboard/login", None).await;
        assert_eq!(form.status, StatusCode::OK);
        self.post_form(
            "/dashboard/login",
            Some(&cookie_of(&form)),
            &[
                ("email", email),
                ("password", password),
                ("csrf", &csrf_of(&form)),
            ],
        )
        .await
    }

    /// Log in; the `Cookie` header value for the session.
    pub async fn login(&self, email: &str) -> String {
        let r = self.login_with(email, PASSWORD).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text(&r));
        cookie_of(&r)
    }
}

pub fn text(r: &Reply) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// `name=value` of the answer's `Set-Cookie`.
pub fn cookie_of(r: &Reply) -> String {
    r.header("set-cookie")
        .expect("a Set-Cookie header")
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

/// The CSRF token in the forms of a page.
pub fn csrf_of(page: &Reply) -> String {
    let html = text(page);
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token");
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// A page's text with its form's CSRF token blanked, to compare two showings.
fn page_of(r: &Reply) -> String {
    text(r).replace(&csrf_of(r), "TOKEN")
}

fn is_login_redirect(r: &Reply) -> bool {
    r.status == StatusCode::SEE_OTHER && r.header("location") == Some("/dashboard/login")
}

async fn login_sets_a_strict_cookie_and_opens_the_dashboard(db: Db) {
    let Some(d) = Dash::new(db).await else {
        return;
    };
    d.user("Ann@Example.org", Role::Admin, &[]).await;
    // Logged out: every page sends to the login form.
    assert!(is_login_redirect(&d.get("/dashboard", None).await));
    let form = d.get("/dashboard/login", None).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(text(&form).contains("<form method=\"post\" action=\"/dashboard/login\""));

    let r = d.login_with("ann@example.org", PASSWORD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), Some("/dashboard"));
    let set = r.header("set-cookie").unwrap().to_owned();
    let attrs: Vec<&str> = set.split(';').map(str::trim).collect();
    for a in ["HttpOnly", "SameSite=Strict", "Path=/dashboard", "Secure"] {
        assert!(attrs.contains(&a), "{a} missing from {set}");
    }
    let (name, token) = attrs[0].split_once('=').unwrap();
    assert_eq!(name, "v2c_dashboard");
    assert!(token.len() >= 43, "a 256-bit token: {token}");
    // The store keeps only the token's hash.
    let session = d
        .app
        .db
        .store
        .find_session(&v2client::dashboard::session::session_id(token))
        .await
        .unwrap()
        .expect("the session is stored under the token's hash");
    assert!(d.app.db.store.find_session(token).await.unwrap().is_none());

    let cookie = attrs[0];
    let page = d.get("/dashboard", Some(cookie)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", text(&page));
    assert!(text(&page).contains("ann@example.org"));
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert!(page.header("content-security-policy").is_some());
    assert_eq!(csrf_of(&page), session.csrf_token);
    // A logged-in visit to the login form goes to the dashboard.
    assert_eq!(
        d.get("/dashboard/login", Some(cookie))
            .await
            .header("location"),
        Some("/dashboard")
    );
    // A made-up cookie is no session.
    assert!(is_login_redirect(
        &d.get("/dashboard", Some("v2c_dashboard=made-up")).await
    ));

    // On an instance served from localhost, the cookie is not `Secure`.
    let Some(local) =
        TestApp::with_env(db, &[("V2CLIENT_PUBLIC_URL", "http://localhost:8080")]).await
    else {
        return;
    };
    let local = Dash { app: local };
    local.user("ann@example.org", Role::Admin, &[]).await;
    let r = local.login_with("ann@example.org", PASSWORD).await;
    let set = r.header("set-cookie").unwrap();
    assert!(set.contains("HttpOnly") && !set.contains("Secure"), "{set}");
}

async fn wrong_passwords_and_unknown_accounts_answer_alike(db: Db) {
    let Some(d) = Dash::new(db).await else {
        return;
    };
    let ann = d.user("ann@example.org", Role::Reviewer, &[]).await;
    let wrong = d.login_with("ann@example.org", "not the password").await;
    let unknown = d.login_with("nobody@example.org", PASSWORD).await;
    for r in [&wrong, &unknown] {
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.header("set-cookie").is_none());
        assert!(text(r).contains("Wrong email or password"));
    }
    // The same page but for the address typed (and each form's own token).
    assert_eq!(
        page_of(&wrong).replace("ann@example.org", "X"),
        page_of(&unknown).replace("nobody@example.org", "X")
    );
    let stored = d.app.db.store.find_user(&ann.id).await.unwrap().unwrap();
    assert_eq!(stored.failed_logins, 1);
    // A success starts the count again.
    d.login("ann@example.org").await;
    let stored = d.app.db.store.find_user(&ann.id).await.unwrap().unwrap();
    assert_eq!(stored.failed_logins, 0);
}

async fn five_failures_in_a_row_lock_the_account(db: Db) {
    let Some(d) = Dash::new(db).await else {
        return;
    };
    let ann = d.user("ann@example.org", Role::Reviewer, &[]).await;
    let wrong = d.login_with("ann@example.org", "not the password").await;
    for _ in 0..4 {
        let r = d.login_with("ann@example.org", "not the password").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let stored = d.app.db.store.find_user(&ann.id).await.unwrap().unwrap();
    let until = stored.locked_until.expect("locked after five failures");
    let minutes = (until - chrono::Utc::now()).num_minutes();
    assert!((14..=15).contains(&minutes), "locked for {minutes} min");
    // Locked: the right password is refused, with the same answer as a wrong one.
    let locked = d.login_with("ann@example.org", PASSWORD).await;
    assert_eq!(locked.status, StatusCode::UNAUTHORIZED);
    assert!(locked.header("set-cookie").is_none());
    assert_eq!(page_of(&locked), page_of(&wrong));
}

async fn forms_without_the_right_csrf_token_are_refused(db: Db) {
    let Some(d) = Dash::new(db).await else {
        return;
    };
    d.user("ann@example.org", Role::Admin, &[]).await;
    let cookie = d.login("ann@example.org").await;
    let csrf = csrf_of(&d.get("/dashboard", Some(&cookie)).await);
    for fields in [vec![], vec![("csrf", "wrong")], vec![("csrf", "")]] {
        for path in ["/dashboard/logout", "/dashboard/logout-everywhere"] {
            let r = d.post_form(path, Some(&cookie), &fields).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{path} {fields:?}");
            assert!(text(&r).contains("<html"), "an HTML error page");
        }
        let r = d
            .post_form(
                "/dashboard/keys",
                Some(&cookie),
                &[&fields[..], &[("name", "x")]].concat(),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
    assert!(
        d.app.db.store.list_keys().await.unwrap().len() == 1,
        "no key was made"
    );
    // Still logged in; the right token logs out.
    assert_eq!(
        d.get("/dashboard", Some(&cookie)).await.status,
        StatusCode::OK
    );
    let out = d
        .post_form("/dashboard/logout", Some(&cookie), &[("csrf", &csrf)])
        .await;
    assert!(is_login_redirect(&out));
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert!(is_login_redirect(&d.get("/dashboard", Some(&cookie)).await));
    // A cross-site login post is refused, even with the form's token and cookie.
    let form = d.get("/dashboard/login", None).await;
    let req = Request::post("/dashboard/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, cookie_of(&form))
        .header("sec-fetch-site", "cross-site")
        .body(Body::from(format!(
            "email=ann%40example.org&password={}&csrf={}",
            PASSWORD.replace(' ', "+"),
            csrf_of(&form)
        )))
        .unwrap();
    assert_eq!(d.app.send(req).await.status, StatusCode::FORBIDDEN);
}

/// Login CSRF: the form carries a token that must come back with the cookie it was set in.
async fn the_login_form_is_posted_only_with_the_token_it_was_served_with(db: Db) {
    let Some(d) = Dash::new(db).await else {
        return;
    };
    d.user("ann@example.org", Role::Admin, &[]).await;
    let form = d.get("/dashboard/login", None).await;
    let set = form
        .header("set-cookie")
        .expect("the form sets its token's cookie");
    let attrs: Vec<&str> = set.split(';').map(str::trim).collect();
    for a in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/dashboard/login",
        "Secure",
    ] {
        assert!(attrs.contains(&a), "{a} missing from {set}");
    }
    let cookie = cookie_of(&form);
    let (name, token) = cookie.split_once('=').unwrap();
    assert_eq!(name, "v2c_login_csrf");
    assert!(token.len() >= 43, "a 256-bit token: {token}");
    assert_eq!(csrf_of(&form), token);
    // Each showing of the form gets its own token.
    let other = d.get("/dashboard/login", None).await;
    assert_ne!(csrf_of(&other), token);

    let post = |cookie: Option<String>, csrf: Option<String>| {
        let d = &d;
        async move {
            let mut fields = vec![("email", "ann@example.org"), ("password", PASSWORD)];
            if let Some(t) = &csrf {
                fields.push(("csrf", t.as_str()));
            }
            d.post_form("/dashboard/login", cookie.as_deref(), &fields)
                .await
        }
    };
    let refused = [
        ("no cookie, no field", post(None, None).await),
        ("no cookie", post(None, Some(token.to_owned())).await),
        ("no field", post(Some(cookie.clone()), None).await),
        (
            "another form's token",
            post(Some(cookie.clone()), Some(csrf_of(&other))).await,
        ),
        (
            "a token one character short",
            post(Some(cookie.clone()), Some(token[1..].to_owned())).await,
        ),
        (
            "the right field, another form's cookie",
            post(Some(cookie_of(&other)), Some(token.to_owned())).await,
        ),
    ];
    for (what, r) in &refused {
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{what}");
        // No session: the refused page offers a fresh form instead.
        let set = r.header("set-cookie").unwrap_or_default();
        assert!(!set.contains("v2c_dashboard="), "{what}: {set}");
        assert!(text(r).contains("This form had expired"), "{what}");
        assert_ne!(csrf_of(r), token, "{what}: a fresh token");
    }
    assert_eq!(
        d.app
            .db
            .store
            .find_user_by_email("ann@example.org")
            .await
            .unwrap()
            .unwrap()
            .failed_logins,
        0,
        "a refused post checks no password"
    );

    // A wrong password keeps the form's token: the page shown again posts with it.
    let wrong = d
        .post_form(
            "/dashboard/login",
            Some(&cookie),
            &[
                ("email", "ann@example.org"),
                ("password", "not it"),
                ("csrf", token),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(csrf_of(&wrong), token);
    // The right one logs in, and the form's cookie is removed with it.
    let ok = post(Some(cookie.clone()), Some(token.to_owned())).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", text(&ok));
    let sets: Vec<&str> = ok
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(
        sets.iter().any(|c| c.starts_with("v2c_dashboard=")),
        "{sets:?}"
    );
    assert!(
        sets.iter()
            .any(|c| c.starts_with("v2c_login_csrf=;") && c.contains("Max-Age=0")),
        "{sets:?}"
    );
}

async fn a_reviewer_sees_only_the_verifications_of_granted_keys(db: Db) {
    let Some(d) = Dash::new(db).await else {
        return;
    };
    let v = d
        .app
        .stored_verification(Status::NeedsManualReview, chrono::Duration::hours(1))
        .await;
    let path = format!("/dashboard/verifications/{}", v.id);
    let (other_key, _) = d.app.new_key(Default::default()).await;
    d.user(
        "stranger@example.org",
        Role::Reviewer,
        std::slice::from_ref(&other_key.id),
    )
    .await;
    d.user(
        "granted@example.org",
        Role::Reviewer,
        std::slice::from_ref(&d.app.key_record.id),
    )
    .await;
    d.user("admin@example.org", Role::Admin, &[]).await;

    let stranger = d.login("stranger@example.org").await;
    let r = d.get(&path, Some(&stranger)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(text(&r).contains("<html") && !text(&r).contains(v.id.as_str()));
    let image = d
        .get(&format!("{path}/attempts/att_x/original"), Some(&stranger))
        .await;
    assert_eq!(image.status, StatusCode::FORBIDDEN);

    for who in ["granted@example.org", "admin@example.org"] {
        let cookie = d.login(who).await;
        let r = d.get(&path, Some(&cookie)).await;
        assert_eq!(r.status, StatusCode::OK, "{who}: {}", text(&r));
        let html = text(&r);
        assert!(html.contains(v.id.as_str()) && html.contains("needs_manual_review"));
        assert!(
            html.contains("action=\"/dashboard/verifications/"),
            "the review form"
        );
    }
    // Unknown and malformed ids are 404 pages.
    let admin = d.login("admin@example.org").await;
    for bad in ["ver_00000000000000000000000000000000", "nonsense"] {
        let r = d
            .get(&format!("/dashboard/verifications/{bad}"), Some(&admin))
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
}

async fn a_disabled_users_session_is_refused(db: Db) {
    let Some(d) = Dash::new(db).await else {
        return;
    };
    d.user("ann@example.org", Role::Admin, &[]).await;
    let cookie = d.login("ann@example.org").await;
    assert_eq!(
        d.get("/dashboard", Some(&cookie)).await.status,
        StatusCode::OK
    );
    d.app
        .db
        .store
        .disable_user("ann@example.org", chrono::Utc::now())
        .await
        .unwrap();
    assert!(is_login_redirect(&d.get("/dashboard", Some(&cookie)).await));
    // And cannot log in again.
    let r = d.login_with("ann@example.org", PASSWORD).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

async fn logging_out_everywhere_ends_every_session(db: Db) {
    let Some(d) = Dash::new(db).await else {
        return;
    };
    d.user("ann@example.org", Role::Admin, &[]).await;
    d.user("bob@example.org", Role::Admin, &[]).await;
    let phone = d.login("ann@example.org").await;
    let desk = d.login("ann@example.org").await;
    let bob = d.login("bob@example.org").await;
    assert_ne!(phone, desk);
    let csrf = csrf_of(&d.get("/dashboard", Some(&phone)).await);
    let r = d
        .post_form(
            "/dashboard/logout-everywhere",
            Some(&phone),
            &[("csrf", &csrf)],
        )
        .await;
    assert!(is_login_redirect(&r));
    assert!(is_login_redirect(&d.get("/dashboard", Some(&phone)).await));
    assert!(is_login_redirect(&d.get("/dashboard", Some(&desk)).await));
    assert_eq!(d.get("/dashboard", Some(&bob)).await.status, StatusCode::OK);
}

async fn keys_and_users_pages_are_for_admins_only(db: Db) {
    let Some(d) = Dash::new(db).await else {
        return;
    };
    d.user("rev@example.org", Role::Reviewer, &[]).await;
    d.user("admin@example.org", Role::Admin, &[]).await;
    let rev = d.login("rev@example.org").await;
    let admin = d.login("admin@example.org").await;
    let rev_csrf = csrf_of(&d.get("/dashboard", Some(&rev)).await);
    for page in ["/dashboard/keys", "/dashboard/users"] {
        assert_eq!(
            d.get(page, Some(&rev)).await.status,
            StatusCode::FORBIDDEN,
            "{page}"
        );
        assert_eq!(
            d.get(page, Some(&admin)).await.status,
            StatusCode::OK,
            "{page}"
        );
        assert!(is_login_redirect(&d.get(page, None).await));
    }
    // The menu shows admins' pages to admins only.
    assert!(!text(&d.get("/dashboard", Some(&rev)).await).contains("/dashboard/keys"));
    assert!(text(&d.get("/dashboard", Some(&admin)).await).contains("/dashboard/keys"));
    // Reviewers' forms to admins' routes are refused, with a valid token too.
    let key_id = d.app.key_record.id.clone();
    for (path, fields) in [
        ("/dashboard/keys".to_owned(), vec![("name", "sneaky")]),
        (format!("/dashboard/keys/{key_id}/revoke"), vec![]),
        (
            "/dashboard/users".to_owned(),
            vec![
                ("email", "x@example.org"),
                ("role", "admin"),
                ("password", PASSWORD),
            ],
        ),
    ] {
        let all = [&[("csrf", rev_csrf.as_str())][..], &fields[..]].concat();
        let r = d.post_form(&path, Some(&rev), &all).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(d.app.db.store.list_keys().await.unwrap().len(), 1);
    assert!(
        d.app
            .db
            .store
            .find_key(&key_id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    assert_eq!(d.app.db.store.list_users().await.unwrap().len(), 2);
}

async fn admins_create_keys_and_users_from_the_dashboard(db: Db) {
    let Some(d) = Dash::new(db).await else {
        return;
    };
    d.user("admin@example.org", Role::Admin, &[]).await;
    let admin = d.login("admin@example.org").await;
    let csrf = csrf_of(&d.get("/dashboard/keys", Some(&admin)).await);

    let made = d
        .post_form(
            "/dashboard/keys",
            Some(&admin),
            &[("csrf", &csrf), ("name", "Shop")],
        )
        .await;
    assert_eq!(made.status, StatusCode::OK, "{}", text(&made));
    let html = text(&made);
    let at = html.find("v2c_").expect("the new key is shown once");
    let secret = &html[at..at + 47];
    let keys = d.app.db.store.list_keys().await.unwrap();
    let shop = keys.iter().find(|k| k.name == "Shop").expect("stored");
    assert!(secret.starts_with(&shop.prefix));
    // The key works on the API, and is never shown again.
    assert_eq!(
        d.app.generate(Some(secret), None).await.status,
        StatusCode::OK
    );
    assert!(!text(&d.get("/dashboard/keys", Some(&admin)).await).contains(secret));

    let r = d
        .post_form(
            &format!("/dashboard/keys/{}/rotate-qr", shop.id),
            Some(&admin),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let rotated = d.app.db.store.find_key(&shop.id).await.unwrap().unwrap();
    assert_ne!(rotated.qr_token, shop.qr_token);
    let r = d
        .post_form(
            &format!("/dashboard/keys/{}/revoke", shop.id),
            Some(&admin),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        d.app.generate(Some(secret), None).await.status,
        StatusCode::UNAUTHORIZED
    );

    // A reviewer made on the users page can log in and sees the key granted.
    let key_id = d.app.key_record.id.clone();
    let r = d
        .post_form(
            "/dashboard/users",
            Some(&admin),
            &[
                ("csrf", &csrf),
                ("email", "New@Example.org"),
                ("role", "reviewer"),
                ("password", PASSWORD),
                ("grant", &key_id),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", text(&r));
    let new = d
        .app
        .db
        .store
        .find_user_by_email("new@example.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (new.role, new.grants.clone()),
        (Role::Reviewer, vec![key_id])
    );
    d.login("new@example.org").await;
    // A short password is refused with a message.
    let r = d
        .post_form(
            "/dashboard/users",
            Some(&admin),
            &[
                ("csrf", &csrf),
                ("email", "b@example.org"),
                ("role", "admin"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(text(&r).contains("at least 12"));
    // Disabling from the page ends the user's sessions.
    let newcomer = d.login("new@example.org").await;
    let r = d
        .post_form(
            &format!("/dashboard/users/{}/disable", new.id),
            Some(&admin),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(is_login_redirect(
        &d.get("/dashboard", Some(&newcomer)).await
    ));
}

async fn logins_are_bounded_in_size_and_rate(db: Db) {
    let Some(d) = Dash::new(db).await else {
        return;
    };
    // A body over the dashboard's form limit is refused unread.
    let huge = "x".repeat(v2client::dashboard::MAX_FORM_BYTES + 1);
    let r = d.login_with("ann@example.org", &huge).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    // One address may try 20 logins a minute (unknown accounts here, so no lockout
    // interferes); the next is refused before any password is checked.
    for i in 0..20 {
        let r = d
            .login_with(&format!("nobody{i}@example.org"), PASSWORD)
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let r = d.login_with("nobody@example.org", PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.header("retry-after").is_some());
}
