//! Test keys: their verifications say `test: true` everywhere, never mix with live ones,
//! are driven to any outcome by `simulate` or in the portal with the webhooks of a real
//! verification, serve placeholder images, stay out of the decision gauge and are erased
//! within 7 days.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use chrono::Duration;
use serde_json::{Value, json};
use v2client::domain::verification::now;
use v2client::domain::{KeySettings, Module};
use v2client::keys::{KeyMode, create_key_in, new_key_in};
use v2client::webhooks::WebhookSecret;
use v2client::webhooks::dispatch::dispatch_due;
use v2client::webhooks::signing::verify;

use crate::common::{Db, Reply, TestApp};
use crate::portal::{multipart, post_json, post_multipart, state};
use crate::webhooks::Receiver;

both_stores!(
    test_keys_mark_their_verifications_and_never_see_live_ones,
    each_outcome_by_simulate_sends_the_webhooks_of_a_real_verification,
    simulate_is_for_test_keys_and_checks_what_it_is_asked,
    the_portal_takes_any_image_and_the_testers_pick_decides,
    extra_data_decides_when_the_tester_picked_nothing,
    test_verifications_stay_out_of_the_gauge_and_are_erased_within_7_days,
);

async fn app(db: Db) -> Option<TestApp> {
    TestApp::with_env(db, &[("V2CLIENT_WEBHOOK_ALLOW_PRIVATE", "true")]).await
}

/// A test key with the default flow; its secret.
async fn test_key(app: &TestApp) -> String {
    let (record, secret) = create_key_in(
        app.db.store.as_ref(),
        "integration tests",
        KeySettings::default(),
        KeyMode::Test,
    )
    .await
    .unwrap();
    assert!(record.is_test());
    assert!(record.prefix.starts_with("v2c_test_"));
    assert_eq!(record.settings.retention_days, 7);
    secret.expose().to_owned()
}

async fn send_json(app: &TestApp, method: Method, path: &str, key: &str, body: Value) -> Reply {
    app.send(
        Request::builder()
            .method(method)
            .uri(path)
            .header("x-sdk-key", key)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
    )
    .await
}

async fn simulate(app: &TestApp, key: &str, id: &str, body: Value) -> Reply {
    send_json(
        app,
        Method::POST,
        &format!("/api/verifications/{id}/simulate"),
        key,
        body,
    )
    .await
}

async fn generate(app: &TestApp, key: &str, extra_data: Value) -> String {
    let r = app
        .generate(Some(key), Some(json!({"extra_data": extra_data})))
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()["verificationId"].as_str().unwrap().to_owned()
}

async fn details(app: &TestApp, key: &str, id: &str) -> Value {
    let r = app
        .get(&format!("/api/get-verification-details/{id}"), Some(key))
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()
}

async fn test_keys_mark_their_verifications_and_never_see_live_ones(db: Db) {
    let Some(app) = app(db).await else {
        return;
    };
    let test = test_key(&app).await;
    let live = app.key().to_owned();

    let made = app.generate(Some(&test), None).await;
    assert_eq!(made.status, StatusCode::OK);
    assert_eq!(made.json()["test"], json!(true));
    let test_id = made.json()["verificationId"].as_str().unwrap().to_owned();
    let live_made = app.generate(Some(&live), None).await;
    assert_eq!(live_made.json()["test"], json!(false));
    let live_id = live_made.json()["verificationId"]
        .as_str()
        .unwrap()
        .to_owned();

    assert_eq!(details(&app, &test, &test_id).await["test"], json!(true));
    assert_eq!(details(&app, &live, &live_id).await["test"], json!(false));
    let listed = app.get("/api/verifications", Some(&test)).await.json();
    let items = listed["verifications"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed}");
    assert_eq!(items[0]["verification_id"], json!(test_id));
    assert_eq!(items[0]["test"], json!(true));
    let live_list = app.get("/api/verifications", Some(&live)).await.json();
    assert!(
        live_list["verifications"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["test"] == json!(false) && v["verification_id"] != json!(test_id)),
        "{live_list}"
    );

    // Neither key reads the other mode's verification, nor its images.
    for (key, other) in [(&test, &live_id), (&live, &test_id)] {
        for path in [
            format!("/api/get-verification-details/{other}"),
            format!("/api/get-verification-image-front/{other}"),
        ] {
            let r = app.get(&path, Some(key)).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
            assert_eq!(r.error_code(), "ACCESS_DENIED");
        }
    }

    // check-config says which mode the key is in.
    let cfg = app.get("/api/check-config", Some(&test)).await.json();
    assert_eq!(cfg["key"]["mode"], json!("test"));
    assert_eq!(cfg["key"]["retention_days"], json!(7));
    let cfg = app.get("/api/check-config", Some(&live)).await.json();
    assert_eq!(cfg["key"]["mode"], json!("live"));

    // The portal state and page say so too.
    assert_eq!(state(&app, &test_id).await["test"], json!(true));
    assert_eq!(state(&app, &live_id).await["test"], json!(false));
    let page = app
        .get(&format!("/verify?verification_id={test_id}"), None)
        .await;
    let html = String::from_utf8_lossy(&page.body);
    assert!(html.contains("id=\"test-banner\""), "{html}");
    assert!(html.contains("data-test=\"1\""));
    let page = app
        .get(&format!("/verify?verification_id={live_id}"), None)
        .await;
    assert!(!String::from_utf8_lossy(&page.body).contains("test-banner"));
}

/// A test key sending webhooks to `url`; its API key and webhook secret.
async fn hooked_test_key(app: &TestApp, url: &str) -> (String, WebhookSecret) {
    let key = test_key(app).await;
    let record = app
        .db
        .store
        .list_keys()
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.is_test())
        .unwrap();
    let secret = crate::webhooks::hook(app, &record.id, url).await;
    (key, secret)
}

async fn each_outcome_by_simulate_sends_the_webhooks_of_a_real_verification(db: Db) {
    let Some(app) = app(db).await else {
        return;
    };
    let (rx, url) = Receiver::start(None).await;
    let (key, secret) = hooked_test_key(&app, &url).await;
    let cases = [
        ("verified", json!([]), vec![], "verification.completed"),
        (
            "needs_manual_review",
            json!([]),
            vec!["FACE_MATCH_UNCERTAIN"],
            "verification.completed",
        ),
        (
            "rejected",
            json!(["DOCUMENT_EXPIRED", "DATA_MISMATCH:last_name"]),
            vec!["DOCUMENT_EXPIRED", "DATA_MISMATCH:last_name"],
            "verification.completed",
        ),
        ("expired", json!([]), vec![], "verification.expired"),
    ];
    for (n, (outcome, reasons, want_reasons, last_event)) in cases.into_iter().enumerate() {
        let extra = json!({"order": format!("ORDER-{n}")});
        let id = generate(&app, &key, extra.clone()).await;
        let r = simulate(
            &app,
            &key,
            &id,
            json!({"outcome": outcome, "reasons": reasons}),
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{outcome}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let d = r.json();
        assert_eq!(d["status"]["current"], json!(outcome), "{d}");
        assert_eq!(d["test"], json!(true));
        assert_eq!(
            details(&app, &key, &id).await["status"]["current"],
            json!(outcome)
        );

        if outcome == "expired" {
            assert!(d["attempts"].as_array().unwrap().is_empty(), "{d}");
        } else {
            assert_eq!(d["results"]["decision"]["status"], json!(outcome));
            assert_eq!(d["results"]["decision"]["reasons"], json!(want_reasons));
            // Every step was taken, each attempt marked simulated; the form has values.
            let attempts = d["attempts"].as_array().unwrap();
            let steps: Vec<&str> = attempts
                .iter()
                .map(|a| a["step"].as_str().unwrap())
                .collect();
            assert!(steps.contains(&"document_front"), "{steps:?}");
            assert!(
                steps.contains(&"liveness") && steps.contains(&"form_data"),
                "{steps:?}"
            );
            for a in attempts {
                assert_eq!(a["status"], json!("accepted"), "{a}");
                assert_eq!(a["metrics"]["simulated"], json!(true), "{a}");
            }
            assert_eq!(
                d["results"]["form_data"]["last_name"],
                json!("Person"),
                "{d}"
            );
            assert_eq!(
                d["status"]["progress"]["liveness"],
                json!("completed"),
                "{d}"
            );
        }

        // The same events as a real verification, signed, in order, with extra_data and
        // `test: true`.
        dispatch_due(&app.state, now()).await.unwrap();
        let hits: Vec<(axum::http::HeaderMap, String)> =
            rx.hits.lock().unwrap().drain(..).collect();
        let mut events = Vec::new();
        for (headers, body) in &hits {
            let h = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_owned();
            verify(
                &secret,
                &h("webhook-id"),
                h("webhook-timestamp").parse().unwrap(),
                body,
                &h("webhook-signature"),
                now().timestamp(),
                300,
            )
            .expect("signed with the key's secret");
            let v: Value = serde_json::from_str(body).unwrap();
            assert_eq!(v["data"]["verification_id"], json!(id));
            assert_eq!(v["data"]["extra_data"], extra, "{v}");
            assert_eq!(v["data"]["test"], json!(true), "{v}");
            events.push(v);
        }
        events.sort_by_key(|v| v["data"]["sequence"].as_i64().unwrap());
        let types: Vec<&str> = events.iter().map(|v| v["type"].as_str().unwrap()).collect();
        assert_eq!(types, vec!["verification.started", last_event], "{outcome}");
        let last = events.last().unwrap();
        assert_eq!(last["data"]["status"], json!(outcome));
        if last_event == "verification.completed" {
            assert_eq!(last["data"]["decision"]["status"], json!(outcome));
            assert_eq!(last["data"]["decision"]["reasons"], json!(want_reasons));
        }

        // Images: labelled placeholders, for each side taken and the selfie.
        let image = |path: String| {
            let app = &app;
            let key = key.clone();
            async move { app.get(&path, Some(&key)).await }
        };
        let front = image(format!("/api/get-verification-image-front/{id}")).await;
        let selfie = image(format!("/api/get-verification-image-selfie/{id}")).await;
        if outcome == "expired" {
            assert_eq!(front.status, StatusCode::NOT_FOUND);
            assert_eq!(front.error_code(), "IMAGE_NOT_FOUND");
        } else {
            let original = image(format!(
                "/api/get-verification-image-front/{id}?image_type=original"
            ))
            .await;
            for r in [&front, &selfie, &original] {
                assert_eq!(r.status, StatusCode::OK);
                assert_eq!(r.header("content-type"), Some("image/jpeg"));
                let img = image::load_from_memory(&r.body).expect("a JPEG");
                assert!(img.width() >= 400 && img.height() >= 200);
            }
            assert_ne!(front.body, selfie.body, "each placeholder says what it is");
            assert_ne!(front.body, original.body);
        }

        // A decided (or expired) verification cannot be simulated again.
        let again = simulate(&app, &key, &id, json!({"outcome": "verified"})).await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{outcome}");
        assert_eq!(again.error_code(), "INVALID_STATE");
    }
}

async fn simulate_is_for_test_keys_and_checks_what_it_is_asked(db: Db) {
    let Some(app) = app(db).await else {
        return;
    };
    let live = app.key().to_owned();
    let live_id = generate(&app, &live, json!({})).await;
    let r = simulate(&app, &live, &live_id, json!({"outcome": "verified"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.error_code(), "ACCESS_DENIED");
    assert_eq!(
        details(&app, &live, &live_id).await["status"]["current"],
        json!("created"),
        "untouched"
    );

    let test = test_key(&app).await;
    let id = generate(&app, &test, json!({})).await;
    // Another key's verification, live or test, is not this key's to simulate.
    let r = simulate(&app, &test, &live_id, json!({"outcome": "verified"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    for bad in [
        json!({"outcome": "approved"}),
        json!({"outcome": "verified", "reasons": ["FACE_MISMATCH"]}),
        json!({"outcome": "rejected", "reasons": [""]}),
        json!({"outcome": "rejected", "reasons": ["A".repeat(101)]}),
        json!({"outcome": "rejected", "reasons": (0..11).map(|i| format!("R{i}")).collect::<Vec<_>>()}),
        json!({"outcome": "verified", "extra": 1}),
        json!({}),
    ] {
        let r = simulate(&app, &test, &id, bad.clone()).await;
        assert!(
            r.status == StatusCode::BAD_REQUEST || r.status == StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            r.status
        );
        assert!(r.json()["error"].is_string(), "{bad}");
    }
    assert_eq!(
        details(&app, &test, &id).await["status"]["current"],
        json!("created"),
        "a refused request changes nothing"
    );
    let r = simulate(&app, &test, "ver_unknown", json!({"outcome": "verified"})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // A test key's extra_data.test_outcome must name an outcome.
    let r = app
        .generate(
            Some(&test),
            Some(json!({"extra_data": {"test_outcome": "maybe"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // A live key's is only data.
    let r = app
        .generate(
            Some(&live),
            Some(json!({"extra_data": {"test_outcome": "maybe"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

/// Take every step of a test verification in the portal with bytes that are no image;
/// the form carries `pick` (when given).
async fn through_the_portal(app: &TestApp, id: &str, pick: Option<&str>) {
    let base = format!("/api/portal/{id}");
    assert_eq!(state(app, id).await["current_step"], json!("terms"));
    let r = post_json(app, &format!("{base}/terms"), json!({"accepted": true})).await;
    assert_eq!(r.status, StatusCode::OK);
    for side in ["front", "back"] {
        let r = post_multipart(
            app,
            &format!("{base}/document/{side}"),
            multipart(&[
                ("document_type", b"id_card"),
                ("image", b"not an image at all"),
            ]),
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.json()["status"], json!("accepted"));
    }
    let r = post_multipart(
        app,
        &format!("{base}/liveness"),
        multipart(&[("frames", b"one"), ("frames", b"two")]),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let mut form = json!({
        "first_name": "Ada",
        "last_name": "Lovelace",
        "date_of_birth": "1990-12-10",
    });
    if let Some(p) = pick {
        form["test_outcome"] = json!(p);
    }
    let r = post_json(app, &format!("{base}/form"), form).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json()["next_step"], json!("done"));
}

async fn the_portal_takes_any_image_and_the_testers_pick_decides(db: Db) {
    let Some(app) = app(db).await else {
        return;
    };
    let key = test_key(&app).await;
    let id = generate(&app, &key, json!({"test_outcome": "verified"})).await;
    // A pick that is no outcome is refused, and counts as no attempt.
    let r = post_json(
        &app,
        &format!("/api/portal/{id}/terms"),
        json!({"accepted": true}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = post_multipart(
        &app,
        &format!("/api/portal/{id}/document/front"),
        multipart(&[
            ("document_type", b"id_card"),
            ("image", b"x"),
            ("test_outcome", b"approved"),
        ]),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // The pick is one short part: one over 32 bytes is refused as too large.
    let r = post_multipart(
        &app,
        &format!("/api/portal/{id}/document/front"),
        multipart(&[
            ("document_type", b"id_card"),
            ("image", b"x"),
            ("test_outcome", &[b'v'; 33]),
        ]),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        state(&app, &id).await["current_step"],
        json!("document_front")
    );

    let other = generate(&app, &key, json!({"test_outcome": "verified"})).await;
    through_the_portal(&app, &other, Some("rejected")).await;
    let d = details(&app, &key, &other).await;
    // The tester's pick wins over extra_data.
    assert_eq!(d["status"]["current"], json!("rejected"), "{d}");
    assert_eq!(
        d["results"]["decision"]["reasons"],
        json!(["FACE_MISMATCH"])
    );
    assert_eq!(d["results"]["form_data"]["last_name"], json!("Lovelace"));
    for a in d["attempts"].as_array().unwrap() {
        assert_eq!(a["metrics"]["simulated"], json!(true), "{a}");
    }
    // No image was kept: only placeholders are served.
    let front = app
        .get(
            &format!("/api/get-verification-image-back/{other}"),
            Some(&key),
        )
        .await;
    assert_eq!(front.status, StatusCode::OK);
    assert_ne!(front.body, b"not an image at all".to_vec());
    image::load_from_memory(&front.body).expect("a placeholder JPEG");
}

async fn extra_data_decides_when_the_tester_picked_nothing(db: Db) {
    let Some(app) = app(db).await else {
        return;
    };
    let key = test_key(&app).await;
    for (magic, want) in [
        (
            json!({"test_outcome": "needs_manual_review"}),
            "needs_manual_review",
        ),
        (json!({"test_outcome": "expired"}), "expired"),
        (json!({}), "verified"),
    ] {
        let id = generate(&app, &key, magic.clone()).await;
        through_the_portal(&app, &id, None).await;
        let d = details(&app, &key, &id).await;
        assert_eq!(d["status"]["current"], json!(want), "{magic}: {d}");
        assert_eq!(state(&app, &id).await["status"], json!(want));
    }
}

async fn test_verifications_stay_out_of_the_gauge_and_are_erased_within_7_days(db: Db) {
    let Some(app) = app(db).await else {
        return;
    };
    // A test key whose settings were later set to keep data 30 days: still 7 at most.
    let (mut record, secret) = new_key_in("long", KeySettings::default(), KeyMode::Test);
    record.settings.retention_days = 30;
    record.settings.flow = vec![Module::Terms];
    app.db.store.insert_key(&record).await.unwrap();
    let key = secret.expose().to_owned();
    let id = generate(&app, &key, json!({})).await;
    let r = simulate(&app, &key, &id, json!({"outcome": "verified"})).await;
    assert_eq!(r.status, StatusCode::OK);
    // A live verification decided at the same time, kept its key's 90 days.
    let live = app
        .stored_verification(v2client::domain::Status::Verified, Duration::hours(1))
        .await;

    let counts = app.db.store.count_by_status().await.unwrap();
    assert!(
        counts
            .iter()
            .all(|(status, n)| status != "verified" || *n == 1),
        "only the live verification counts: {counts:?}"
    );
    assert!(
        counts
            .iter()
            .any(|(status, n)| status == "verified" && *n == 1),
        "{counts:?}"
    );

    let erasable = |days: i64| {
        let store = app.db.store.clone();
        async move {
            store
                .erasable(now() + Duration::days(days), 100)
                .await
                .unwrap()
                .into_iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
        }
    };
    assert!(!erasable(6).await.contains(&id), "kept 7 days");
    let due = erasable(8).await;
    assert!(due.contains(&id), "erased after 7 days, not 30: {due:?}");
    assert!(
        !due.contains(&live.id.to_string()),
        "a live one keeps its 90 days"
    );
}
