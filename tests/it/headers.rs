//! The security headers of every kind of answer, recorded in one table: the operator API
//! (success, refusal, wrong method), the portal's JSON API, every page, the static files
//! and the SDK's assets, the QR images, `/metrics`, the health routes, the 404 fallback and
//! both kinds of 405. Any change to what a route sends shows up here as one line.

use axum::body::Body;
use axum::http::Request;
use chrono::Duration;
use v2client::domain::{KeySettings, Status};

use crate::common::{Db, Reply, TestApp};

/// The headers that decide how a browser or a cache may treat an answer.
const SECURITY_HEADERS: &[&str] = &[
    "content-type",
    "content-security-policy",
    "x-frame-options",
    "referrer-policy",
    "x-content-type-options",
    "cache-control",
    "strict-transport-security",
    "permissions-policy",
    "cross-origin-opener-policy",
    "cross-origin-resource-policy",
];

/// One line per request: method, path, status, then each security header present.
fn line(label: &str, r: &Reply) -> String {
    let mut out = format!("{label} -> {}", r.status.as_u16());
    for name in SECURITY_HEADERS {
        let values: Vec<&str> = r
            .headers
            .get_all(*name)
            .iter()
            .map(|v| v.to_str().expect("ASCII header"))
            .collect();
        if !values.is_empty() {
            out.push_str(&format!("\n    {name}: {}", values.join(" | ")));
        }
    }
    out
}

/// A request to make: method, path and extra headers.
type Sent<'a> = (&'a str, String, Vec<(&'a str, &'a str)>);

async fn send(app: &TestApp, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    app.send(req.body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn every_kind_of_answer_carries_its_security_headers() {
    let app = TestApp::with_env(Db::Sqlite, &[("V2CLIENT_METRICS_TOKEN", "scrape-me")])
        .await
        .expect("SQLite always runs");
    let plain = TestApp::new(Db::Sqlite).await.expect("SQLite always runs");
    let key = app.key().to_owned();
    let id = app.new_verification(None).await;
    let expired = app
        .stored_verification(Status::InProgress, Duration::hours(-1))
        .await
        .id;
    let done = app
        .stored_verification(Status::Verified, Duration::hours(1))
        .await
        .id;
    let (_, framer) = app
        .new_key(KeySettings {
            allowed_return_origins: vec!["https://shop.example".into()],
            ..KeySettings::default()
        })
        .await;
    let framed = app.generate(Some(framer.expose()), None).await.json()["verificationId"]
        .as_str()
        .unwrap()
        .to_owned();
    let qr_token = app
        .key_record
        .qr_token
        .clone()
        .expect("a key has a QR token");

    let requests: Vec<Sent> = vec![
        // The operator API.
        ("GET", "/api/check-config".into(), vec![("x-sdk-key", &key)]),
        (
            "GET",
            format!("/api/get-verification-details/{id}"),
            vec![("x-sdk-key", &key)],
        ),
        ("GET", format!("/api/get-verification-details/{id}"), vec![]),
        (
            "GET",
            format!("/api/get-verification-image-front/{id}"),
            vec![("x-sdk-key", &key)],
        ),
        ("DELETE", "/api/check-config".into(), vec![]),
        // The portal's JSON API.
        ("GET", format!("/api/portal/{id}"), vec![]),
        ("GET", "/api/portal/ver_nope".into(), vec![]),
        ("PUT", format!("/api/portal/{id}"), vec![]),
        (
            "POST",
            format!("/api/portal/{id}/terms"),
            vec![("origin", "https://evil.example")],
        ),
        // The portal's pages.
        ("GET", format!("/verify?verification_id={id}"), vec![]),
        ("GET", "/verify".into(), vec![]),
        ("GET", format!("/verify?verification_id={expired}"), vec![]),
        ("GET", format!("/verify?verification_id={done}"), vec![]),
        (
            "GET",
            format!("/verify?verification_id={id}&embed=1"),
            vec![],
        ),
        (
            "GET",
            format!("/verify?verification_id={framed}&embed=1"),
            vec![],
        ),
        ("POST", "/verify".into(), vec![]),
        // Images.
        (
            "GET",
            format!("/verify/qr.svg?verification_id={id}"),
            vec![],
        ),
        (
            "GET",
            "/verify/qr.svg?verification_id=ver_nope".into(),
            vec![],
        ),
        ("GET", format!("/generate/qr.svg?token={qr_token}"), vec![]),
        ("GET", "/generate/qr.svg?token=qr_nope".into(), vec![]),
        // The QR entry.
        ("GET", "/generate?token=qr_nope".into(), vec![]),
        // The site's own page and static files; the SDK's assets.
        ("GET", "/".into(), vec![]),
        ("GET", "/static/app.css".into(), vec![]),
        ("GET", "/static/portal.js".into(), vec![]),
        ("GET", "/static/nope.css".into(), vec![]),
        ("GET", "/verification-sdk.js".into(), vec![]),
        ("GET", "/modal.css".into(), vec![]),
        // Operations.
        ("GET", "/metrics".into(), vec![]),
        (
            "GET",
            "/metrics".into(),
            vec![("authorization", "Bearer scrape-me")],
        ),
        ("GET", "/healthz".into(), vec![]),
        ("GET", "/readyz".into(), vec![]),
        ("GET", "/openapi.json".into(), vec![]),
        // Fallbacks and refused methods.
        ("GET", "/nope".into(), vec![]),
        ("GET", "/api/nope".into(), vec![]),
        ("POST", "/healthz".into(), vec![]),
        ("POST", "/".into(), vec![]),
        ("PROPFIND", "/".into(), vec![]),
    ];
    let mut table = Vec::new();
    for (method, path, headers) in &requests {
        let r = send(&app, method, path, headers).await;
        let label = format!(
            "{method} {}",
            anonymise(
                path,
                &[
                    &id,
                    &expired.to_string(),
                    &done.to_string(),
                    &framed,
                    &qr_token
                ]
            )
        );
        table.push(line(&label, &r));
    }
    // Without a metrics token, /metrics is not there at all.
    table.push(line(
        "GET /metrics (no token set)",
        &plain.get("/metrics", None).await,
    ));
    let table = table.join("\n");
    assert_eq!(table, EXPECTED.trim(), "actual:\n{table}");
}

/// Paths with the test's ids replaced, so that the table is the same on every run.
fn anonymise(path: &str, ids: &[&str]) -> String {
    let mut out = path.to_owned();
    for (i, id) in ids.iter().enumerate() {
        out = out.replace(id, &format!("<id{i}>"));
    }
    out
}

const EXPECTED: &str = r#"
GET /api/check-config -> 200
    content-type: application/json
    x-content-type-options: nosniff
    cache-control: no-store
GET /api/get-verification-details/<id0> -> 200
    content-type: application/json
    x-content-type-options: nosniff
    cache-control: no-store
GET /api/get-verification-details/<id0> -> 401
    content-type: application/json
    x-content-type-options: nosniff
    cache-control: no-store
GET /api/get-verification-image-front/<id0> -> 404
    content-type: application/json
    x-content-type-options: nosniff
    cache-control: no-store
DELETE /api/check-config -> 405
    content-type: application/json
    x-content-type-options: nosniff
    cache-control: no-store
GET /api/portal/<id0> -> 200
    content-type: application/json
    referrer-policy: no-referrer
    x-content-type-options: nosniff
    cache-control: no-store
GET /api/portal/ver_nope -> 404
    content-type: application/json
    referrer-policy: no-referrer
    x-content-type-options: nosniff
    cache-control: no-store
PUT /api/portal/<id0> -> 405
    content-type: application/json
    referrer-policy: no-referrer
    x-content-type-options: nosniff
    cache-control: no-store
POST /api/portal/<id0>/terms -> 403
    content-type: application/json
    referrer-policy: no-referrer
    x-content-type-options: nosniff
    cache-control: no-store
GET /verify?verification_id=<id0> -> 200
    content-type: text/html; charset=utf-8
    content-security-policy: default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'
    x-frame-options: DENY
    referrer-policy: no-referrer
    x-content-type-options: nosniff
    cache-control: no-store
GET /verify -> 404
    content-type: text/html; charset=utf-8
    content-security-policy: default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'
    x-frame-options: DENY
    referrer-policy: no-referrer
    x-content-type-options: nosniff
    cache-control: no-store
GET /verify?verification_id=<id1> -> 410
    content-type: text/html; charset=utf-8
    content-security-policy: default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'
    x-frame-options: DENY
    referrer-policy: no-referrer
    x-content-type-options: nosniff
    cache-control: no-store
GET /verify?verification_id=<id2> -> 200
    content-type: text/html; charset=utf-8
    content-security-policy: default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'
    x-frame-options: DENY
    referrer-policy: no-referrer
    x-content-type-options: nosniff
    cache-control: no-store
GET /verify?verification_id=<id0>&embed=1 -> 200
    content-type: text/html; charset=utf-8
    content-security-policy: default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'
    x-frame-options: DENY
    referrer-policy: no-referrer
    x-content-type-options: nosniff
    cache-control: no-store
GET /verify?verification_id=<id3>&embed=1 -> 200
    content-type: text/html; charset=utf-8
    content-security-policy: default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors https://shop.example
    referrer-policy: no-referrer
    x-content-type-options: nosniff
    cache-control: no-store
POST /verify -> 405
    content-type: application/json
    x-content-type-options: nosniff
GET /verify/qr.svg?verification_id=<id0> -> 200
    content-type: image/svg+xml
    x-content-type-options: nosniff
    cache-control: no-store
GET /verify/qr.svg?verification_id=ver_nope -> 404
    content-type: text/plain; charset=utf-8
    x-content-type-options: nosniff
    cache-control: no-store
GET /generate/qr.svg?token=<id4> -> 200
    content-type: image/svg+xml
    x-content-type-options: nosniff
    cache-control: no-store
GET /generate/qr.svg?token=qr_nope -> 404
GET /generate?token=qr_nope -> 404
    content-type: text/html; charset=utf-8
    content-security-policy: default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'
    referrer-policy: no-referrer
    x-content-type-options: nosniff
GET / -> 200
    content-type: text/html; charset=utf-8
    content-security-policy: default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'
    referrer-policy: no-referrer
    x-content-type-options: nosniff
GET /static/app.css -> 200
    content-type: text/css; charset=utf-8
    content-security-policy: default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'
    referrer-policy: no-referrer
    x-content-type-options: nosniff
    cache-control: public, max-age=3600
GET /static/portal.js -> 200
    content-type: text/javascript; charset=utf-8
    content-security-policy: default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'
    referrer-policy: no-referrer
    x-content-type-options: nosniff
    cache-control: public, max-age=3600
GET /static/nope.css -> 404
    content-type: text/html; charset=utf-8
    content-security-policy: default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'
    referrer-policy: no-referrer
    x-content-type-options: nosniff
GET /verification-sdk.js -> 200
    content-type: text/javascript; charset=utf-8
    x-content-type-options: nosniff
    cache-control: public, max-age=300
GET /modal.css -> 200
    content-type: text/css; charset=utf-8
    x-content-type-options: nosniff
    cache-control: public, max-age=300
GET /metrics -> 401
    content-type: text/plain; charset=utf-8
GET /metrics -> 200
    content-type: text/plain; version=0.0.4
GET /healthz -> 200
    content-type: application/json
GET /readyz -> 200
    content-type: application/json
GET /openapi.json -> 200
    content-type: application/json
GET /nope -> 404
    content-type: text/html; charset=utf-8
    content-security-policy: default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'
    referrer-policy: no-referrer
    x-content-type-options: nosniff
GET /api/nope -> 404
    content-type: application/json
    x-content-type-options: nosniff
POST /healthz -> 405
    content-type: application/json
    x-content-type-options: nosniff
POST / -> 405
    content-type: application/json
    x-content-type-options: nosniff
PROPFIND / -> 405
    content-type: application/json
    x-content-type-options: nosniff
GET /metrics (no token set) -> 404
    content-type: text/html; charset=utf-8
    content-security-policy: default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'
    referrer-policy: no-referrer
    x-content-type-options: nosniff
"#;
