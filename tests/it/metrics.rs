//! `GET /metrics`: Prometheus text, behind a bearer token.

use axum::body::Body;
use axum::http::{Request, StatusCode};

use crate::common::{Db, TestApp};

both_stores!(metrics_count_requests_and_verifications_behind_a_token);

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
            "v2client_http_requests_total{method=\"POST\",route=\"/api/generate-verification\",status=\"200\"} 2"
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
