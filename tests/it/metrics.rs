//! `GET /metrics`: Prometheus text, behind a bearer token.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};

use crate::common::{Db, TestApp};

both_stores!(
    metrics_count_requests_and_verifications_behind_a_token,
    nothing_a_client_sends_adds_a_series,
);

async fn metrics_count_requests_and_verifications_behind_a_token(db: Db) {
    let Some(app) = TestApp::with_env(db, &[("V2CLIENT_METRICS_TOKEN", "scrape-me")]).await else {
        return;
    };
    app.new_verification(None).await;
    app.new_verification(None).await;
    let scrape = |token: Option<&'static str>| {
        let mut req = Request::builder().uri("/metrics");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        req.body(Body::empty()).unwrap()
    };
    assert_eq!(
        app.send(scrape(None)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.send(scrape(Some("wrong"))).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = app.send(scrape(Some("scrape-me"))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    assert!(
        text.contains(
            "v2client_http_requests_total{method=\"POST\",route=\"/api/generate-verification\",status=\"2xx\"} 2"
        ),
        "{text}"
    );
    assert!(text.contains(
        "v2client_http_request_duration_seconds_count{route=\"/api/generate-verification\"} 2"
    ));
    assert!(
        text.contains("v2client_verifications{status=\"created\"} 2"),
        "{text}"
    );
    assert!(text.contains("v2client_webhook_outbox_depth 0"));
    assert!(text.contains("# TYPE v2client_backend_step_duration_seconds histogram"));
    assert!(
        text.contains("v2client_decode_memory_bytes{kind=\"capacity\"} 536870912"),
        "{text}"
    );
    // Without a token configured the route does not exist.
    let Some(closed) = TestApp::new(db).await else {
        return;
    };
    assert_eq!(
        closed.send(scrape(Some("scrape-me"))).await.status,
        StatusCode::NOT_FOUND
    );
}

fn scrape() -> Request<Body> {
    Request::builder()
        .uri("/metrics")
        .header("authorization", "Bearer scrape-me")
        .body(Body::empty())
        .unwrap()
}

/// The request-counter lines of a scrape.
fn request_series(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("v2client_http_requests_total{"))
        .map(|l| l.rsplit_once(' ').unwrap().0.to_owned())
        .collect()
}

async fn nothing_a_client_sends_adds_a_series(db: Db) {
    let Some(app) = TestApp::with_env(db, &[("V2CLIENT_METRICS_TOKEN", "scrape-me")]).await else {
        return;
    };
    let id = app.new_verification(None).await;
    // Every label set the requests below can produce, once, except the PUTs.
    app.get(&format!("/api/portal/{id}"), None).await;
    app.get(&format!("/api/portal/ver_{:040}", 0), None).await;
    app.get("/nowhere", None).await;
    app.get("/healthz", None).await;
    app.send(scrape()).await;
    let before = request_series(&String::from_utf8_lossy(&app.send(scrape()).await.body));
    // Made-up methods of 30 KB: refused in the error shape, never counted.
    for i in 0..200 {
        let method = format!("{}{i}", "X".repeat(30 * 1024));
        let r = app
            .send(
                Request::builder()
                    .method(Method::from_bytes(method.as_bytes()).unwrap())
                    .uri(format!("/api/portal/{id}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.error_code(), "METHOD_NOT_ALLOWED");
    }
    // A standard method a route does not take: the error shape too, on pages as well.
    for path in ["/verify?verification_id=x", &format!("/api/portal/{id}")] {
        let r = app
            .send(
                Request::builder()
                    .method(Method::PUT)
                    .uri(path)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert_eq!(r.error_code(), "METHOD_NOT_ALLOWED");
    }
    // Made-up paths, query strings and request ids, and every status of one route.
    for i in 0..100 {
        let long = "q".repeat(4000);
        let r = app
            .send(
                Request::builder()
                    .uri(format!("/made-up/{i}/{long}?{long}={i}"))
                    .header("x-request-id", format!("{}{i}", "r".repeat(30 * 1024)))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let rid = r.header("x-request-id").unwrap();
        assert!(
            rid.len() <= 64,
            "a long request id was kept: {} bytes",
            rid.len()
        );
        app.get(&format!("/api/portal/ver_{i:040}"), None).await;
    }
    // A short, plain request id is the caller's to keep.
    let r = app
        .send(
            Request::builder()
                .uri("/healthz")
                .header("x-request-id", "trace-42.a:b_c")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.header("x-request-id"), Some("trace-42.a:b_c"));

    let after_text = String::from_utf8_lossy(&app.send(scrape()).await.body).into_owned();
    let after = request_series(&after_text);
    let new: Vec<&String> = after.iter().filter(|s| !before.contains(s)).collect();
    // Only the two routes probed with PUT are new.
    assert_eq!(new.len(), 2, "new series: {new:#?}");
    assert!(new.iter().all(|s| s.contains("method=\"PUT\"")), "{new:#?}");
    for line in after_text.lines() {
        assert!(line.len() < 300, "a long metrics line: {}", &line[..300]);
    }
    assert!(
        after_text.contains(
            "v2client_http_requests_total{method=\"GET\",route=\"(unmatched)\",status=\"4xx\"} 101"
        ),
        "{after_text}"
    );
}
