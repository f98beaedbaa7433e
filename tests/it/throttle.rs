//! Throttles for anonymous traffic and time limits on requests: per client address and
//! per verification on the portal, per address and per key on the QR entry (never the
//! API's quota), bounded limiter memory, and `408` for bodies and answers that take too
//! long.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use bytes::Bytes;
use futures_util::StreamExt;
use v2client::domain::VerificationId;

use crate::common::{Db, Reply, TestApp};
use crate::portal::{BOUNDARY, to_document_front};

both_stores!(
    the_portal_counts_each_client_address,
    a_trusted_proxy_header_is_used_only_when_configured,
    the_portal_counts_each_verification,
    the_qr_entry_never_spends_the_api_quota,
    the_qr_entry_counts_each_client_address,
    limiter_memory_stays_bounded,
    a_body_that_stalls_is_answered_408,
    an_answer_that_takes_too_long_is_408,
    two_instances_share_one_budget_through_the_database,
);

/// A GET as if from `peer` (`192.0.2.1`, `[2001:db8::1]`) over a real connection.
fn from(peer: &str, path: &str) -> Request<Body> {
    let mut req = Request::builder().uri(path).body(Body::empty()).unwrap();
    let addr: SocketAddr = format!("{peer}:40000").parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(addr));
    req
}

fn assert_limited_json(r: &Reply, subject: &str) {
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.error_code(), "RATE_LIMITED");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(r.header("ratelimit-limit").is_some());
    assert_eq!(r.header("ratelimit-remaining"), Some("0"));
    assert!(
        r.json()["details"].as_str().unwrap().contains(subject),
        "{}",
        r.json()
    );
}

async fn the_portal_counts_each_client_address(db: Db) {
    let env = [("V2CLIENT_PORTAL_PER_CLIENT_PER_MINUTE", "5")];
    let Some(app) = TestApp::with_env(db, &env).await else {
        return;
    };
    let id = app.new_verification(None).await;
    let path = format!("/api/portal/{id}");
    for _ in 0..5 {
        assert_eq!(
            app.send(from("192.0.2.1", &path)).await.status,
            StatusCode::OK
        );
    }
    let r = app.send(from("192.0.2.1", &path)).await;
    assert_limited_json(&r, "this client address");
    // Every portal route shares the client's quota, unknown ids included.
    let r = app
        .send(from(
            "192.0.2.1",
            &format!("/api/portal/{}", VerificationId::generate()),
        ))
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // The page answers with a page.
    let r = app
        .send(from("192.0.2.1", &format!("/verify?verification_id={id}")))
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(r.header("retry-after").is_some());
    // Another address has its own quota.
    assert_eq!(
        app.send(from("192.0.2.2", &path)).await.status,
        StatusCode::OK
    );
    // IPv6 clients count by their /64.
    for i in 0..5 {
        let peer = format!("[2001:db8:1:2::{i:x}]");
        assert_eq!(app.send(from(&peer, &path)).await.status, StatusCode::OK);
    }
    let r = app.send(from("[2001:db8:1:2:ffff::1]", &path)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let r = app.send(from("[2001:db8:1:3::1]", &path)).await;
    assert_eq!(r.status, StatusCode::OK);
}

async fn a_trusted_proxy_header_is_used_only_when_configured(db: Db) {
    let forwarded = |client: &str, path: &str| {
        let mut req = from("10.0.0.1", path);
        req.headers_mut().insert(
            "x-forwarded-for",
            format!("{client}, 10.0.0.1").parse().unwrap(),
        );
        req
    };
    // Not configured: the header is the client's own words and is ignored.
    let env = [("V2CLIENT_PORTAL_PER_CLIENT_PER_MINUTE", "3")];
    let Some(app) = TestApp::with_env(db, &env).await else {
        return;
    };
    let id = app.new_verification(None).await;
    let path = format!("/api/portal/{id}");
    for i in 0..3 {
        let r = app.send(forwarded(&format!("198.51.100.{i}"), &path)).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let r = app.send(forwarded("198.51.100.99", &path)).await;
    assert_eq!(
        r.status,
        StatusCode::TOO_MANY_REQUESTS,
        "one peer, one quota"
    );

    // Configured: the last address of the header (the proxy's own entry) counts.
    let env = [
        ("V2CLIENT_PORTAL_PER_CLIENT_PER_MINUTE", "3"),
        ("V2CLIENT_TRUSTED_PROXY_HEADER", "X-Real-IP"),
    ];
    let Some(app) = TestApp::with_env(db, &env).await else {
        return;
    };
    let id = app.new_verification(None).await;
    let path = format!("/api/portal/{id}");
    let real = |client: &str| {
        let mut req = from("10.0.0.1", &path);
        req.headers_mut()
            .insert("x-real-ip", client.parse().unwrap());
        req
    };
    for _ in 0..3 {
        assert_eq!(app.send(real("203.0.113.5")).await.status, StatusCode::OK);
    }
    assert_eq!(
        app.send(real("203.0.113.5")).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(app.send(real("203.0.113.6")).await.status, StatusCode::OK);
}

async fn the_portal_counts_each_verification(db: Db) {
    let env = [("V2CLIENT_PORTAL_PER_VERIFICATION_PER_MINUTE", "4")];
    let Some(app) = TestApp::with_env(db, &env).await else {
        return;
    };
    let id = app.new_verification(None).await;
    let other = app.new_verification(None).await;
    // From four addresses: the verification's quota, not the clients', runs out.
    for i in 0..4 {
        let r = app
            .send(from(&format!("192.0.2.{i}"), &format!("/api/portal/{id}")))
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let r = app
        .send(from("192.0.2.50", &format!("/api/portal/{id}")))
        .await;
    assert_limited_json(&r, "this verification");
    let r = app
        .send(from("192.0.2.51", &format!("/verify?verification_id={id}")))
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let r = app
        .send(from("192.0.2.50", &format!("/api/portal/{other}")))
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

async fn the_qr_entry_never_spends_the_api_quota(db: Db) {
    // The default quotas: 100 generations a minute through the API, 60 a minute from the
    // key's QR code.
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let token = app.key_record.qr_token.clone().unwrap();
    let (mut redirected, mut limited) = (0, 0);
    for i in 0..110 {
        let r = app
            .send(from(
                &format!("192.0.2.{}", i % 100),
                &format!("/generate?token={token}"),
            ))
            .await;
        match r.status {
            StatusCode::SEE_OTHER => redirected += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(r.header("retry-after").is_some());
                limited += 1
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((redirected, limited), (60, 50));
    let r = app.generate(Some(app.key()), None).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.header("ratelimit-remaining"), Some("99"), "untouched");
}

async fn the_qr_entry_counts_each_client_address(db: Db) {
    let env = [("V2CLIENT_QR_PER_CLIENT_PER_MINUTE", "3")];
    let Some(app) = TestApp::with_env(db, &env).await else {
        return;
    };
    let token = app.key_record.qr_token.clone().unwrap();
    for _ in 0..3 {
        let r = app
            .send(from("192.0.2.9", &format!("/generate?token={token}")))
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
    }
    for path in [
        format!("/generate?token={token}"),
        format!("/generate/qr.svg?token={token}"),
        "/generate?token=qr_nope".to_owned(),
    ] {
        let r = app.send(from("192.0.2.9", &path)).await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{path}");
        assert!(r.header("retry-after").is_some());
    }
    // Its own bucket: the same address still reaches the portal.
    let id = app.new_verification(None).await;
    let r = app
        .send(from("192.0.2.9", &format!("/api/portal/{id}")))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app
        .send(from("192.0.2.10", &format!("/generate?token={token}")))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
}

async fn limiter_memory_stays_bounded(db: Db) {
    let env = [("V2CLIENT_RATE_LIMIT_MAX_TRACKED", "50")];
    let Some(app) = TestApp::with_env(db, &env).await else {
        return;
    };
    for i in 0..2000u32 {
        let peer = std::net::Ipv4Addr::from(0x0A00_0000 + i).to_string();
        let id = VerificationId::generate();
        app.send(from(&peer, &format!("/api/portal/{id}"))).await;
        app.send(from(&peer, "/generate?token=qr_nope")).await;
    }
    // Three buckets were used (portal client, portal verification, QR client).
    let tracked = app.state.limits.tracked_keys();
    assert!(tracked <= 150, "tracked {tracked}");
}

/// A body that sends `first` and then nothing, ever.
fn stalled(first: impl Into<Bytes>) -> Body {
    let first = first.into();
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(first) })
        .chain(futures_util::stream::pending());
    Body::from_stream(stream)
}

async fn a_body_that_stalls_is_answered_408(db: Db) {
    let env = [("V2CLIENT_BODY_READ_TIMEOUT", "1s")];
    let Some(app) = TestApp::with_env(db, &env).await else {
        return;
    };
    let id = app.new_verification(None).await;
    let started = std::time::Instant::now();
    let r = app
        .send(
            Request::builder()
                .method(Method::POST)
                .uri(format!("/api/portal/{id}/terms"))
                .header("content-type", "application/json")
                .body(stalled(&b"{\"accepted\""[..]))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::REQUEST_TIMEOUT);
    assert_eq!(r.error_code(), "REQUEST_TIMEOUT");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    to_document_front(&app, &id).await;
    let head = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\n\r\n\u{ff}\u{d8}"
    );
    let r = app
        .send(
            Request::builder()
                .method(Method::POST)
                .uri(format!("/api/portal/{id}/document/front"))
                .header(
                    "content-type",
                    format!("multipart/form-data; boundary={BOUNDARY}"),
                )
                .body(stalled(head.into_bytes()))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::REQUEST_TIMEOUT);
    assert_eq!(r.error_code(), "REQUEST_TIMEOUT");
    // The operator API's JSON body too.
    let r = app
        .send(
            Request::builder()
                .method(Method::POST)
                .uri("/api/generate-verification")
                .header("x-sdk-key", app.key())
                .header("content-type", "application/json")
                .body(stalled(&b"{"[..]))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::REQUEST_TIMEOUT);
}

async fn an_answer_that_takes_too_long_is_408(db: Db) {
    let env = [("V2CLIENT_REQUEST_TIMEOUT", "1s")];
    let Some(mut app) = TestApp::with_env(db, &env).await else {
        return;
    };
    // A backend that never answers a document check.
    app.state = app.state.with_backend(Arc::new(crate::concurrency::Stuck(
        app.state.backend.clone(),
    )));
    app.router = v2client::app(app.state.clone());
    let id = app.new_verification(None).await;
    to_document_front(&app, &id).await;
    let r = crate::portal::submit_document(&app, &id, "front", &crate::portal::clean_card(3)).await;
    assert_eq!(r.status, StatusCode::REQUEST_TIMEOUT);
    assert_eq!(r.error_code(), "REQUEST_TIMEOUT");
    // The claim on the step was released with the dropped handler.
    assert_eq!(app.state.in_flight.len(), 0);
    let s = crate::portal::state(&app, &id).await;
    assert_eq!(
        s["attempts_left"]["document_front"], 5,
        "nothing was written"
    );
}

/// Two instances on one database: with the shared limiter a key's quota holds across
/// both; with the default in-process limiter each instance counts its own.
async fn two_instances_share_one_budget_through_the_database(db: Db) {
    let Some(first) = TestApp::with_env(db, &[("V2CLIENT_RATE_LIMIT_STORE", "database")]).await
    else {
        return;
    };
    let second = v2client::AppState::new(first.db.settings.clone(), first.db.store.clone())
        .expect("second instance");
    let second = v2client::app(second);
    let mut settings = v2client::domain::KeySettings::default();
    settings.rate_limits.generate_per_minute = Some(4);
    let (_, key) = first.new_key(settings.clone()).await;
    let generate = |router: &axum::Router| {
        let router = router.clone();
        let key = key.expose().to_owned();
        async move {
            let req = Request::builder()
                .method(Method::POST)
                .uri("/api/generate-verification")
                .header("x-sdk-key", key)
                .body(Body::empty())
                .unwrap();
            Reply::collect(&router, req).await
        }
    };
    let mut statuses = Vec::new();
    for i in 0..6 {
        let r = generate(if i % 2 == 0 { &first.router } else { &second }).await;
        statuses.push(r.status.as_u16());
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            assert!(r.header("retry-after").is_some());
            assert_eq!(r.error_code(), "RATE_LIMITED");
        }
    }
    assert_eq!(statuses, [200, 200, 200, 200, 429, 429]);

    // The in-process default: each instance allows the whole quota.
    let Some(local) = TestApp::new(db).await else {
        return;
    };
    let other = v2client::app(
        v2client::AppState::new(local.db.settings.clone(), local.db.store.clone()).unwrap(),
    );
    let (_, key) = local.new_key(settings).await;
    let mut ok = 0;
    for i in 0..10 {
        let router = if i % 2 == 0 { &local.router } else { &other };
        let req = Request::builder()
            .method(Method::POST)
            .uri("/api/generate-verification")
            .header("x-sdk-key", key.expose())
            .body(Body::empty())
            .unwrap();
        if Reply::collect(router, req).await.status == StatusCode::OK {
            ok += 1;
        }
    }
    assert_eq!(ok, 8, "4 per instance");
}
