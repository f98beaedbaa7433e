//! `/openapi.json` describes every route the code registers.

use axum::http::StatusCode;
use serde_json::Value;

use crate::common::{Db, TestApp};

/// Every `.route("…"` path in the service's source (the engine is a separate service).
fn registered_routes() -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src"
    ))];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("backend/engine.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let mut rest = text.as_str();
            while let Some(at) = rest.find(".route(") {
                rest = &rest[at + ".route(".len()..];
                let trimmed = rest.trim_start();
                if let Some(quoted) = trimmed.strip_prefix('"') {
                    let end = quoted.find('"').unwrap();
                    out.push(quoted[..end].to_owned());
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[tokio::test]
async fn every_route_is_documented_and_the_document_is_served() {
    let Some(app) = TestApp::new(Db::Sqlite).await else {
        return;
    };
    let r = app.get("/openapi.json", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let doc: Value = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let routes = registered_routes();
    assert!(routes.len() >= 20, "found only {routes:?}");
    let missing: Vec<&String> = routes.iter().filter(|r| !paths.contains_key(*r)).collect();
    assert!(
        missing.is_empty(),
        "routes missing from openapi.json: {missing:?}"
    );
    // And nothing documented that does not exist.
    let stale: Vec<&String> = paths.keys().filter(|p| !routes.contains(p)).collect();
    assert!(stale.is_empty(), "documented but not registered: {stale:?}");
    // Every error response points at the one error shape.
    let codes = doc["components"]["schemas"]["Error"]["properties"]["code"]["enum"]
        .as_array()
        .unwrap();
    for code in [
        "INVALID_API_KEY",
        "ACCESS_DENIED",
        "INVALID_STEP",
        "RATE_LIMITED",
        "REQUEST_TIMEOUT",
        "METHOD_NOT_ALLOWED",
        "PAYLOAD_TOO_LARGE",
    ] {
        assert!(codes.contains(&Value::from(code)), "{code}");
    }
    // What every route can answer: a wrong or made-up method, and the time limits; what
    // every anonymous route that is throttled can answer: 429; every body, 413.
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            for status in ["405", "408"] {
                assert!(responses.contains_key(status), "{method} {path}: {status}");
            }
            let throttled = path.starts_with("/api/portal/")
                || path.starts_with("/generate")
                || path.starts_with("/verify")
                || path == "/api/generate-verification"
                || path == "/api/check-config";
            if throttled {
                assert!(responses.contains_key("429"), "{method} {path}: 429");
            }
            if method == "post" {
                assert!(responses.contains_key("413"), "{method} {path}: 413");
            }
        }
    }
    let limited = &doc["components"]["responses"]["RateLimited"];
    assert!(limited["headers"]["Retry-After"].is_object());
}
