//! `/openapi.json` is a valid OpenAPI 3.1 document and describes exactly the routes the
//! app serves.

use std::collections::{BTreeMap, BTreeSet};

use axum::Router;
use axum::http::StatusCode;
use serde_json::Value;

use crate::common::{Db, TestApp};

/// The methods an OpenAPI 3.1 path item can describe, as axum names them in its router.
const METHODS: [&str; 9] = [
    "get", "head", "delete", "options", "patch", "post", "put", "trace", "connect",
];

/// Every (path, method) the router dispatches to a handler, read from the router itself.
///
/// axum has no API to list routes; its `Debug` output shows them: the path router's
/// `routes` (each a `MethodRouter` whose method fields are `None` or an endpoint) and its
/// `node` (route id → path). The counts asserted by the caller fail loudly if a new axum
/// prints them differently.
fn served_routes(router: &Router) -> BTreeSet<(String, String)> {
    let text = format!("{router:?}");
    let path_router = text
        .split_once("fallback_router:")
        .expect("Router's Debug shows its fallback router")
        .0;
    let (routes, node) = path_router
        .split_once("node: Node { paths: {")
        .expect("the path router's Debug shows its node's paths");
    let mut paths = BTreeMap::new();
    for entry in node.split("RouteId(").skip(1) {
        let (id, rest) = entry.split_once("): \"").expect("id: \"path\"");
        let path = rest.split_once('"').expect("a quoted path").0;
        paths.insert(id.to_owned(), path.to_owned());
    }
    let mut out = BTreeSet::new();
    for entry in routes.split("RouteId(").skip(1) {
        let (id, endpoint) = entry.split_once("): ").expect("id: endpoint");
        assert!(
            endpoint.starts_with("MethodRouter("),
            "route {:?} is a service, not handlers: {endpoint:.80}",
            paths.get(id)
        );
        let path = &paths[id];
        for method in METHODS {
            let field = format!(" {method}: ");
            let value = endpoint
                .split_once(&field)
                .unwrap_or_else(|| panic!("{path}: no `{method}` in {endpoint:.200}"))
                .1;
            if !value.starts_with("None") {
                out.insert((path.clone(), method.to_owned()));
            }
        }
    }
    assert_eq!(
        paths.len(),
        routes.matches("RouteId(").count(),
        "every route has a path"
    );
    out
}

/// Every (path, method) the document describes.
fn documented_routes(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if METHODS.contains(&method.as_str()) {
                out.insert((path.clone(), method.clone()));
            }
        }
    }
    out
}

async fn served_document(app: &TestApp) -> Value {
    let r = app.get("/openapi.json", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("application/json"));
    r.json()
}

#[tokio::test]
async fn the_document_describes_exactly_the_served_routes() {
    let Some(app) = TestApp::new(Db::Sqlite).await else {
        return;
    };
    let doc = served_document(&app).await;
    let served = served_routes(&app.router);
    assert!(served.len() >= 20, "found only {served:?}");
    // The reading of the router is not vacuous: routes of every area are in it.
    for (path, method) in [
        ("/api/generate-verification", "post"),
        ("/api/portal/{verification_id}/document/{side}", "post"),
        ("/verify", "get"),
        ("/static/{file}", "get"),
        ("/metrics", "get"),
        ("/openapi.json", "get"),
    ] {
        assert!(
            served.contains(&(path.to_owned(), method.to_owned())),
            "{method} {path} not read from the router: {served:?}"
        );
    }
    let documented = documented_routes(&doc);
    let missing: Vec<_> = served.difference(&documented).collect();
    assert!(missing.is_empty(), "served but not documented: {missing:?}");
    let stale: Vec<_> = documented.difference(&served).collect();
    assert!(stale.is_empty(), "documented but not served: {stale:?}");
}

#[tokio::test]
async fn an_undocumented_route_is_seen() {
    let Some(app) = TestApp::new(Db::Sqlite).await else {
        return;
    };
    // The check above must be able to fail: a route added beside the documented ones
    // (here, a second method on a documented path and a new path) shows up.
    let router = app
        .router
        .clone()
        .route("/undocumented", axum::routing::put(|| async {}));
    let served = served_routes(&router);
    assert!(served.contains(&("/undocumented".to_owned(), "put".to_owned())));
    let doc = served_document(&app).await;
    assert!(!documented_routes(&doc).contains(&("/undocumented".to_owned(), "put".to_owned())));
}

/// Every Schema Object of the document (`components.schemas` and every inline `schema`),
/// with where it is.
fn schema_objects<'a>(value: &'a Value, at: String, out: &mut Vec<(String, &'a Value)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let here = format!("{at}/{key}");
                if key == "schema" {
                    out.push((here.clone(), child));
                } else if at == "/components/schemas" {
                    out.push((here.clone(), child));
                    continue;
                }
                schema_objects(child, here, out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                schema_objects(child, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_valid_openapi_3_1() {
    let Some(app) = TestApp::new(Db::Sqlite).await else {
        return;
    };
    let doc = served_document(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");

    // The OpenAPI Initiative's schema of 3.1 documents (see tests/fixtures/README.md).
    let schema: Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/openapi-3.1.schema.json"
    )))
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the OpenAPI schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "not a valid OpenAPI 3.1 document: {errors:#?}"
    );

    // That schema leaves Schema Objects to the JSON Schema dialect: check each against
    // the draft 2020-12 meta-schema.
    let mut schemas = Vec::new();
    schema_objects(&doc, String::new(), &mut schemas);
    assert!(schemas.len() > 30, "found only {} schemas", schemas.len());
    for (at, schema) in &schemas {
        let mut with_dialect = (*schema).clone();
        if let Value::Object(map) = &mut with_dialect {
            map.insert(
                "$schema".into(),
                "https://json-schema.org/draft/2020-12/schema".into(),
            );
        }
        if let Err(e) = jsonschema::meta::validate(&with_dialect) {
            panic!("{at}: not a JSON Schema: {e}");
        }
    }

    // Every `$ref` points at something the document has.
    let text = doc.to_string();
    for reference in text.split("\"$ref\":\"").skip(1) {
        let target = reference.split_once('"').unwrap().0;
        let pointer = target.strip_prefix('#').expect("a local reference");
        assert!(doc.pointer(pointer).is_some(), "dangling $ref {target}");
    }

    // Operation ids are unique (OpenAPI requires it; generators name functions by them).
    let mut ids = BTreeSet::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            if let Some(id) = op["operationId"].as_str() {
                assert!(ids.insert(id.to_owned()), "operationId {id} twice");
            }
        }
    }
}

#[tokio::test]
async fn every_route_is_documented_and_the_document_is_served() {
    let Some(app) = TestApp::new(Db::Sqlite).await else {
        return;
    };
    let doc = served_document(&app).await;
    let paths = doc["paths"].as_object().unwrap();
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
