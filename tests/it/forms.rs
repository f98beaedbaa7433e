//! The form step takes only the fields the key asked for, each value and the whole form
//! bounded; nothing that was not validated is stored.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use v2client::domain::Module;

use crate::common::{Db, TestApp};
use crate::portal::post_json;

both_stores!(
    unknown_fields_are_refused_naming_a_few,
    a_flood_of_fields_is_refused_by_size,
    values_must_be_short_strings,
    only_validated_values_are_stored,
);

/// A verification whose only step is the form (first name, last name, date of birth).
async fn form_only(app: &TestApp) -> (String, String) {
    let (id, key) = app.verification_with_flow(vec![Module::FormData]).await;
    (id, key.expose().to_owned())
}

async fn details(app: &TestApp, key: &str, id: &str) -> Value {
    app.get(&format!("/api/get-verification-details/{id}"), Some(key))
        .await
        .json()
}

async fn unknown_fields_are_refused_naming_a_few(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let (id, key) = form_only(&app).await;
    let mut values = Map::new();
    values.insert("first_name".into(), json!("Ada"));
    values.insert("last_name".into(), json!("Lovelace"));
    values.insert("date_of_birth".into(), json!("1985-12-10"));
    for i in 0..300 {
        values.insert(format!("extra_{i:05}_{}", "y".repeat(100)), json!("v"));
    }
    let r = post_json(
        &app,
        &format!("/api/portal/{id}/form"),
        Value::Object(values),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "INVALID_REQUEST");
    let text = r.json()["details"].as_str().unwrap().to_owned();
    assert!(text.len() < 400, "details stay short: {} bytes", text.len());
    assert_eq!(text.matches("extra_").count(), 3, "{text}");
    assert!(text.contains("297 more"), "{text}");
    assert!(
        text.contains("first_name, last_name, date_of_birth"),
        "{text}"
    );
    // No attempt was used and nothing was stored.
    let d = details(&app, &key, &id).await;
    assert_eq!(d["attempts"], json!([]));
    assert!(d["results"].get("form_data").is_none(), "{d}");
    let s = crate::portal::state(&app, &id).await;
    assert_eq!(s["attempts_left"]["form_data"], 5);
}

async fn a_flood_of_fields_is_refused_by_size(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let (id, key) = form_only(&app).await;
    // 300 000 made-up keys: 5 MB of JSON.
    let mut body = String::from("{");
    for i in 0..300_000 {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&format!("\"k{i}\":1"));
    }
    body.push('}');
    let r = app
        .send(
            axum::http::Request::builder()
                .method("POST")
                .uri(format!("/api/portal/{id}/form"))
                .header("content-type", "application/json")
                .body(axum::body::Body::from(body))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.error_code(), "PAYLOAD_TOO_LARGE");
    let d = details(&app, &key, &id).await;
    assert_eq!(d["attempts"], json!([]));
}

async fn values_must_be_short_strings(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let (id, key) = form_only(&app).await;
    let r = post_json(
        &app,
        &format!("/api/portal/{id}/form"),
        json!({
            "first_name": "A".repeat(201),
            "last_name": {"nested": ["not", "a", "string"]},
            "date_of_birth": 19851210,
        }),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let body = r.json();
    assert_eq!(body["status"], "rejected");
    assert_eq!(
        body["reasons"],
        json!([
            "first_name:FIELD_INVALID",
            "last_name:FIELD_INVALID",
            "date_of_birth:FIELD_INVALID"
        ])
    );
    // The rejected attempt keeps the field names and reasons, never the values.
    let d = details(&app, &key, &id).await;
    let attempt = &d["attempts"][0];
    assert_eq!(
        attempt["metrics"],
        json!({"fields": ["date_of_birth", "first_name", "last_name"]})
    );
    assert!(!d.to_string().contains("AAAA"), "{d}");
    assert!(!d.to_string().contains("nested"), "{d}");
    // 200 characters is fine.
    let r = post_json(
        &app,
        &format!("/api/portal/{id}/form"),
        json!({"first_name": "A".repeat(200), "last_name": "L", "date_of_birth": "1985-12-10"}),
    )
    .await;
    assert_eq!(r.json()["status"], "accepted", "{}", r.json());
}

async fn only_validated_values_are_stored(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let (id, key) = form_only(&app).await;
    let r = post_json(
        &app,
        &format!("/api/portal/{id}/form"),
        json!({"first_name": "  Ada ", "last_name": "Lovelace", "date_of_birth": "1985-12-10"}),
    )
    .await;
    assert_eq!(r.json()["status"], "accepted", "{}", r.json());
    let d = details(&app, &key, &id).await;
    assert_eq!(
        d["results"]["form_data"],
        json!({"first_name": "Ada", "last_name": "Lovelace", "date_of_birth": "1985-12-10"})
    );
}
