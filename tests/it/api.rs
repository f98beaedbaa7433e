//! The operator API, route by route and error by error, on both stores.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use v2client::domain::settings::parse_origin;

use v2client::domain::{KeySettings, Module, Status, VerificationId};

use crate::common::{Db, TestApp};

both_stores!(
    seed_basic_example_generates_without_a_body,
    seed_example_with_extra_data_round_trips_to_details,
    generate_accepts_an_empty_json_object_and_null_extra_data,
    generate_follows_the_keys_flow_and_ttl,
    return_url_must_be_https_and_within_allowed_origins,
    bad_bodies_get_clear_errors,
    idempotency_key_replays_and_conflicts,
    concurrent_idempotent_requests_create_one_verification,
    details_has_the_seed_shape_plus_additions,
    missing_unknown_and_revoked_keys_are_401,
    another_keys_verification_is_403_on_every_route,
    unknown_and_malformed_ids_are_404,
    past_expiry_reads_expired,
    image_routes_validate_and_answer_image_not_found,
    check_config_describes_the_key_and_instance,
    health_and_readiness,
    unknown_routes_and_methods_answer_json,
    generation_is_rate_limited_per_key,
    check_config_is_rate_limited_separately,
    request_ids_are_returned,
);

const DETAILS: &str = "/api/get-verification-details/";

fn parse_time(v: &Value) -> DateTime<Utc> {
    let text = v.as_str().expect("time is a string");
    assert!(text.ends_with('Z'), "{text} is not UTC with Z");
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

async fn seed_basic_example_generates_without_a_body(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    // The seed's basic example: POST with Content-Type and the key, no body at all.
    let r = app.generate(Some(app.key()), None).await;
    assert_eq!(r.status, StatusCode::OK);
    let body = r.json();
    let id = body["verificationId"].as_str().unwrap();
    assert!(VerificationId::parse(id).is_some(), "{id}");
    let expires = parse_time(&body["expiresAt"]);
    let expected = Utc::now() + Duration::hours(24);
    assert!((expires - expected).num_seconds().abs() < 60, "{expires}");
    assert_eq!(
        body["flow"],
        json!(["terms", "document", "liveness", "form_data"])
    );
    for m in ["terms", "document", "liveness", "form_data"] {
        assert_eq!(body["modules"][m]["enabled"], json!(true), "{m}");
    }
    assert_eq!(
        body["verifyUrl"],
        json!(format!("https://verify.test/verify?verification_id={id}"))
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("ratelimit-limit"), Some("100"));
    assert_eq!(r.header("ratelimit-remaining"), Some("99"));
    assert!(r.header("ratelimit-reset").is_some());
    // One row, owned by the key.
    assert_eq!(
        app.db
            .store
            .count_verifications(&app.key_record.id)
            .await
            .unwrap(),
        1
    );
}

async fn seed_example_with_extra_data_round_trips_to_details(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let extra = json!({
        "reference_id": "ORDER-12345",
        "user_id": "user_789",
        "department": "onboarding",
        "session_context": "mobile_app_v2",
        "nested": {"list": [1, 2, 3], "ok": true}
    });
    let id = app
        .new_verification(Some(json!({ "extra_data": extra })))
        .await;
    let r = app.get(&format!("{DETAILS}{id}"), Some(app.key())).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["extra_data"], extra);
}

async fn generate_accepts_an_empty_json_object_and_null_extra_data(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let id = app.new_verification(Some(json!({}))).await;
    let d = app
        .get(&format!("{DETAILS}{id}"), Some(app.key()))
        .await
        .json();
    assert_eq!(d["extra_data"], Value::Null);
    let id = app
        .new_verification(Some(json!({"extra_data": null, "return_url": null})))
        .await;
    let d = app
        .get(&format!("{DETAILS}{id}"), Some(app.key()))
        .await
        .json();
    assert_eq!(d["extra_data"], Value::Null);
    assert_eq!(d["return_url"], Value::Null);
}

async fn generate_follows_the_keys_flow_and_ttl(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let (_, key) = app
        .new_key(KeySettings {
            flow: vec![Module::Document, Module::FormData],
            ttl_seconds: 900,
            ..KeySettings::default()
        })
        .await;
    let r = app.generate(Some(key.expose()), None).await;
    assert_eq!(r.status, StatusCode::OK);
    let body = r.json();
    assert_eq!(body["flow"], json!(["document", "form_data"]));
    let modules = body["modules"].as_object().unwrap();
    assert_eq!(
        modules.keys().collect::<Vec<_>>(),
        vec!["document", "form_data"]
    );
    assert_eq!(
        body["modules"]["document"]["sides"]["id_card"],
        json!(["front", "back"])
    );
    assert_eq!(
        body["modules"]["form_data"]["fields"][0]["name"],
        "first_name"
    );
    let expires = parse_time(&body["expiresAt"]);
    assert!(
        (expires - (Utc::now() + Duration::minutes(15)))
            .num_seconds()
            .abs()
            < 60
    );
    let id = body["verificationId"].as_str().unwrap();
    let d = app
        .get(&format!("{DETAILS}{id}"), Some(key.expose()))
        .await
        .json();
    assert_eq!(
        d["status"]["progress"],
        json!({"document": "pending", "form_data": "pending"})
    );
}

async fn return_url_must_be_https_and_within_allowed_origins(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    for ok in [
        "https://your-app.com/verification-complete",
        "http://localhost:3000/done",
        "http://127.0.0.1/done?x=1",
    ] {
        let r = app
            .generate(Some(app.key()), Some(json!({ "return_url": ok })))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{ok}");
    }
    for bad in [
        json!("http://your-app.com/done"),
        json!("javascript:alert(1)"),
        json!("/relative/path"),
        json!("https://user:secret@your-app.com/"),
        json!(42),
    ] {
        let r = app
            .generate(Some(app.key()), Some(json!({ "return_url": bad })))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(r.error_code(), "INVALID_REQUEST");
    }
    let (_, key) = app
        .new_key(KeySettings {
            allowed_return_origins: vec![parse_origin("https://app.example").unwrap()],
            ..KeySettings::default()
        })
        .await;
    let r = app
        .generate(
            Some(key.expose()),
            Some(json!({"return_url": "https://app.example/back"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app
        .generate(
            Some(key.expose()),
            Some(json!({"return_url": "https://elsewhere.example/back"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "INVALID_REQUEST");
    assert!(
        r.json()["details"]
            .as_str()
            .unwrap()
            .contains("allowed origins")
    );
    // Nothing was stored for the refused requests.
    assert_eq!(
        app.db
            .store
            .count_verifications(&app.key_record.id)
            .await
            .unwrap(),
        3
    );
}

async fn bad_bodies_get_clear_errors(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let post = |ct: &'static str, body: Vec<u8>| {
        Request::builder()
            .method(Method::POST)
            .uri("/api/generate-verification")
            .header("x-sdk-key", app.key())
            .header("content-type", ct)
            .body(Body::from(body))
            .unwrap()
    };
    let r = app
        .send(post("application/json", b"{not json".to_vec()))
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::BAD_REQUEST, "INVALID_REQUEST")
    );
    let r = app.send(post("application/json", b"[1,2]".to_vec())).await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::BAD_REQUEST, "INVALID_REQUEST")
    );
    let r = app
        .send(post("application/json", br#"{"extra_data": [1]}"#.to_vec()))
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::BAD_REQUEST, "INVALID_REQUEST")
    );
    let r = app
        .send(post("text/plain", br#"{"extra_data": {}}"#.to_vec()))
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE")
    );
    // extra_data over 16 KiB, inside the 64 KiB body limit.
    let big = json!({"extra_data": {"blob": "x".repeat(20_000)}}).to_string();
    let r = app.send(post("application/json", big.into_bytes())).await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::BAD_REQUEST, "INVALID_REQUEST")
    );
    assert!(r.json()["details"].as_str().unwrap().contains("16384"));
    // A body over the route's limit.
    let huge = json!({"extra_data": {"blob": "x".repeat(100_000)}}).to_string();
    let r = app.send(post("application/json", huge.into_bytes())).await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE")
    );
    assert_eq!(
        app.db
            .store
            .count_verifications(&app.key_record.id)
            .await
            .unwrap(),
        0
    );
}

async fn idempotency_key_replays_and_conflicts(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let send = |idem: &'static str, body: Value| {
        Request::builder()
            .method(Method::POST)
            .uri("/api/generate-verification")
            .header("x-sdk-key", app.key())
            .header("content-type", "application/json")
            .header("idempotency-key", idem)
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let body = json!({"extra_data": {"order": 1}});
    let first = app.send(send("order-1", body.clone())).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.header("idempotent-replayed"), None);
    // Same key, same request (formatted differently): the same response, byte for byte.
    let again = app
        .send(send(
            "order-1",
            json!({"extra_data": {"order": 1}, "return_url": null}),
        ))
        .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        app.db
            .store
            .count_verifications(&app.key_record.id)
            .await
            .unwrap(),
        1
    );
    // Same key, different request: 422.
    let other = app
        .send(send("order-1", json!({"extra_data": {"order": 2}})))
        .await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(other.error_code(), "IDEMPOTENCY_CONFLICT");
    // Another key may use the same idempotency key independently.
    let (_, key2) = app.new_key(KeySettings::default()).await;
    let r = app
        .send(
            Request::builder()
                .method(Method::POST)
                .uri("/api/generate-verification")
                .header("x-sdk-key", key2.expose())
                .header("idempotency-key", "order-1")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_ne!(r.json()["verificationId"], first.json()["verificationId"]);
    // A malformed idempotency key.
    let r = app.send(send("has space", body.clone())).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "INVALID_REQUEST");
}

async fn concurrent_idempotent_requests_create_one_verification(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let app = std::sync::Arc::new(app);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            app.send(
                Request::builder()
                    .method(Method::POST)
                    .uri("/api/generate-verification")
                    .header("x-sdk-key", app.key())
                    .header("idempotency-key", "same")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        ids.insert(r.json()["verificationId"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(
        app.db
            .store
            .count_verifications(&app.key_record.id)
            .await
            .unwrap(),
        1
    );
}

async fn details_has_the_seed_shape_plus_additions(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let id = app
        .new_verification(Some(json!({"return_url": "https://your-app.com/done"})))
        .await;
    let r = app.get(&format!("{DETAILS}{id}"), Some(app.key())).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let d = r.json();
    assert_eq!(d["verification_id"], json!(id));
    assert_eq!(d["status"]["current"], "created");
    parse_time(&d["status"]["updated_at"]);
    assert_eq!(
        d["status"]["progress"],
        json!({"document": "pending", "liveness": "pending", "form_data": "pending"})
    );
    assert!(d["results"].is_object());
    assert_eq!(d["return_url"], "https://your-app.com/done");
    assert_eq!(
        d["flow"],
        json!(["terms", "document", "liveness", "form_data"])
    );
    assert_eq!(d["attempts"], json!([]));
    let created = parse_time(&d["created_at"]);
    let expires = parse_time(&d["expires_at"]);
    assert_eq!((expires - created).num_hours(), 24);
}

async fn missing_unknown_and_revoked_keys_are_401(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let id = app.new_verification(None).await;
    let wrong_but_well_formed = v2client::domain::ApiKeySecret::generate();
    // Same display prefix as the real key, different secret: still refused.
    let same_prefix = format!("{}{}", &app.key()[..12], "A".repeat(35));
    for key in [
        None,
        Some(""),
        Some("not-a-key"),
        Some(wrong_but_well_formed.expose()),
        Some(same_prefix.as_str()),
    ] {
        let r = app.generate(key, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{key:?}");
        assert_eq!(r.error_code(), "INVALID_API_KEY");
        let r = app.get(&format!("{DETAILS}{id}"), key).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{key:?}");
        assert_eq!(r.json()["error"], "Invalid API key provided");
        let r = app.get("/api/check-config", key).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        for kind in ["front", "back", "selfie"] {
            let r = app
                .get(&format!("/api/get-verification-image-{kind}/{id}"), key)
                .await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{kind}");
            assert_eq!(r.error_code(), "INVALID_API_KEY");
        }
    }
    app.db
        .store
        .revoke_key(&app.key_record.prefix, Utc::now())
        .await
        .unwrap()
        .expect("revoked");
    let r = app.get(&format!("{DETAILS}{id}"), Some(app.key())).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.error_code(), "INVALID_API_KEY");
    let r = app.generate(Some(app.key()), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

async fn another_keys_verification_is_403_on_every_route(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let id = app.new_verification(None).await;
    let (_, other) = app.new_key(KeySettings::default()).await;
    for path in [
        format!("{DETAILS}{id}"),
        format!("/api/get-verification-image-front/{id}"),
        format!("/api/get-verification-image-back/{id}?image_type=original"),
        format!("/api/get-verification-image-selfie/{id}"),
    ] {
        let r = app.get(&path, Some(other.expose())).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(r.error_code(), "ACCESS_DENIED");
    }
}

async fn unknown_and_malformed_ids_are_404(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let unknown = VerificationId::generate();
    for id in [unknown.as_str(), "ver_abc123", "nonsense", "ver_%2E%2E"] {
        for path in [
            format!("{DETAILS}{id}"),
            format!("/api/get-verification-image-front/{id}"),
            format!("/api/get-verification-image-back/{id}"),
            format!("/api/get-verification-image-selfie/{id}"),
        ] {
            let r = app.get(&path, Some(app.key())).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(r.error_code(), "VERIFICATION_NOT_FOUND", "{path}");
        }
    }
}

async fn past_expiry_reads_expired(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let mut v = app
        .stored_verification(Status::InProgress, -Duration::hours(1))
        .await;
    let d = app
        .get(&format!("{DETAILS}{}", v.id), Some(app.key()))
        .await
        .json();
    assert_eq!(d["status"]["current"], "expired");
    assert_eq!(
        parse_time(&d["status"]["updated_at"]),
        parse_time(&d["expires_at"])
    );
    // A decided verification keeps its decision after the expiry time.
    v.id = VerificationId::generate();
    v.status = Status::Verified;
    app.db.store.create_verification(&v, None).await.unwrap();
    let d = app
        .get(&format!("{DETAILS}{}", v.id), Some(app.key()))
        .await
        .json();
    assert_eq!(d["status"]["current"], "verified");
}

async fn image_routes_validate_and_answer_image_not_found(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let id = app.new_verification(None).await;
    for side in ["front", "back"] {
        for query in ["", "?image_type=original", "?image_type=cropped"] {
            let r = app
                .get(
                    &format!("/api/get-verification-image-{side}/{id}{query}"),
                    Some(app.key()),
                )
                .await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{side}{query}");
            assert_eq!(r.error_code(), "IMAGE_NOT_FOUND");
        }
        for bad in ["foo", "ORIGINAL", ""] {
            let r = app
                .get(
                    &format!("/api/get-verification-image-{side}/{id}?image_type={bad}"),
                    Some(app.key()),
                )
                .await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{side} {bad}");
            assert_eq!(r.error_code(), "INVALID_REQUEST");
        }
    }
    let r = app
        .get(
            &format!("/api/get-verification-image-selfie/{id}"),
            Some(app.key()),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_code(), "IMAGE_NOT_FOUND");
}

async fn check_config_describes_the_key_and_instance(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let r = app.get("/api/check-config", Some(app.key())).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("ratelimit-limit"), Some("300"));
    let c = r.json();
    assert_eq!(c["ready"], true);
    assert_eq!(c["problems"], json!([]));
    let kind = match db {
        Db::Sqlite => "sqlite",
        Db::Postgres => "postgres",
    };
    assert_eq!(c["instance"]["database"]["kind"], kind);
    assert_eq!(c["instance"]["database"]["reachable"], true);
    assert_eq!(c["key"]["id"], json!(app.key_record.id));
    assert_eq!(c["key"]["prefix"], json!(app.key_record.prefix));
    assert_eq!(c["key"]["verification_ttl"], "24h");
    assert_eq!(
        c["key"]["flow"],
        json!(["terms", "document", "liveness", "form_data"])
    );
    assert_eq!(c["key"]["rate_limits"]["generate_per_minute"], 100);
    assert!(c["key"]["modules"]["document"].is_object());
    // The face models and the thresholds that will decide this key's verifications.
    let models = &c["instance"]["backend"]["face_models"];
    assert_eq!(models["name"], "faceplugin-face-recognition-js");
    assert_eq!(models["version"], "0.0.1");
    assert_eq!(
        models["sha256"]["fr_feature.onnx"],
        "87aacdfe57510db2af90c0251df680e8eec88f122ee94712121d09bcaaaf3581"
    );
    assert_eq!(
        c["key"]["face_match"],
        json!({"match": 0.45, "no_match": 0.3})
    );
    assert_eq!(c["key"]["strict_liveness"], false);
    // The key itself is never echoed.
    assert!(!String::from_utf8_lossy(&r.body).contains(app.key()));
}

async fn health_and_readiness(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let r = app.get("/healthz", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["status"], "ok");
    let r = app.get("/readyz", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["status"], "ready");
}

async fn unknown_routes_and_methods_answer_json(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let r = app.get("/api/does-not-exist", Some(app.key())).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_code(), "NOT_FOUND");
    let r = app.get("/api/generate-verification", Some(app.key())).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.error_code(), "METHOD_NOT_ALLOWED");
    let r = app
        .send(
            Request::builder()
                .method(Method::DELETE)
                .uri(format!("{DETAILS}ver_x"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.error_code(), "METHOD_NOT_ALLOWED");
    // Outside the API, a page rather than JSON.
    let r = app.get("/no-such-page", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert!(String::from_utf8_lossy(&r.body).contains("Page not found"));
}

async fn generation_is_rate_limited_per_key(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let mut settings = KeySettings::default();
    settings.rate_limits.generate_per_minute = Some(3);
    let (_, limited) = app.new_key(settings).await;
    for expected_remaining in ["2", "1", "0"] {
        let r = app.generate(Some(limited.expose()), None).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("ratelimit-limit"), Some("3"));
        assert_eq!(r.header("ratelimit-remaining"), Some(expected_remaining));
    }
    let r = app.generate(Some(limited.expose()), None).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.error_code(), "RATE_LIMITED");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry), "retry-after {retry}");
    assert_eq!(r.header("ratelimit-limit"), Some("3"));
    assert_eq!(r.header("ratelimit-remaining"), Some("0"));
    let reset: u64 = r.header("ratelimit-reset").unwrap().parse().unwrap();
    assert!(reset >= retry, "reset {reset} < retry {retry}");
    // The other key and the details route are not affected.
    assert_eq!(
        app.generate(Some(app.key()), None).await.status,
        StatusCode::OK
    );
    let id = app.new_verification(None).await;
    assert_eq!(
        app.get(&format!("{DETAILS}{id}"), Some(app.key()))
            .await
            .status,
        StatusCode::OK
    );
}

async fn check_config_is_rate_limited_separately(db: Db) {
    let Some(app) = TestApp::with_env(db, &[("V2CLIENT_CHECK_CONFIG_PER_MINUTE", "2")]).await
    else {
        return;
    };
    for _ in 0..2 {
        assert_eq!(
            app.get("/api/check-config", Some(app.key())).await.status,
            StatusCode::OK
        );
    }
    let r = app.get("/api/check-config", Some(app.key())).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.error_code(), "RATE_LIMITED");
    assert!(r.header("retry-after").is_some());
    // Generation has its own budget.
    assert_eq!(
        app.generate(Some(app.key()), None).await.status,
        StatusCode::OK
    );
}

async fn request_ids_are_returned(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let r = app.get("/healthz", None).await;
    let id = r.header("x-request-id").expect("request id").to_owned();
    assert_eq!(id.len(), 36, "{id}");
    let r = app.get("/api/nope", None).await;
    assert!(r.header("x-request-id").is_some());
    let r = app
        .send(
            Request::builder()
                .uri("/healthz")
                .header("x-request-id", "caller-chosen-1")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.header("x-request-id"), Some("caller-chosen-1"));
}
