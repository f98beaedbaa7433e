//! The portal's JSON API: every route and error, the whole flow with real image checks,
//! attempts, encrypted storage and the operator's image routes.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use chrono::Duration;
use image::DynamicImage;
use serde_json::{Value, json};
use v2client::domain::verification::now;
use v2client::domain::{
    DocumentType, KeySettings, Module, RedactionTarget, Status, VerificationId,
};
use v2client::imaging::{self, layout};
use v2client_testkit::synth::{self, Variant};

use v2client::faces::Thresholds;

use crate::backend::{id_card_with, id_card_with_face};
use crate::common::{Db, Reply, TestApp};
use crate::faces::{astronaut, obama, phone_replay_frames, zoom_in};

both_stores!(
    first_visit_opens_the_verification_and_describes_it,
    the_genuine_flow_ends_verified_with_images_served,
    another_persons_portrait_is_never_verified,
    a_replayed_selfie_needs_review_or_is_rejected_in_strict_mode,
    a_keys_own_thresholds_decide_its_verifications,
    a_rejected_upload_can_be_retried,
    steps_must_come_in_order,
    expired_and_unknown_verifications,
    cross_site_requests_are_refused,
    wrong_bodies_are_refused,
    running_out_of_attempts_rejects_the_verification,
    redaction_blacks_out_the_mrz,
    the_qr_entry_starts_a_verification_and_redirects,
    a_verification_left_processing_is_decided_on_the_next_read,
    a_verification_left_processing_is_decided_by_the_upkeep,
    a_stalled_verification_that_cannot_be_decided_goes_to_review,
    a_stalled_verification_past_its_expiry_is_decided_not_expired,
    personal_data_is_erased_after_the_retention_period,
);

pub(crate) const BOUNDARY: &str = "v2clienttestboundary";

pub(crate) fn multipart(fields: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, data) in fields {
        out.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        if *name == "document_type" {
            out.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            );
        } else {
            out.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{name}.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
                )
                .as_bytes(),
            );
        }
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

pub(crate) async fn post_multipart(app: &TestApp, path: &str, body: Vec<u8>) -> Reply {
    app.send(
        Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(Body::from(body))
            .unwrap(),
    )
    .await
}

pub(crate) async fn post_json(app: &TestApp, path: &str, body: Value) -> Reply {
    app.send(
        Request::builder()
            .method(Method::POST)
            .uri(path)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
    )
    .await
}

pub(crate) fn jpeg(img: &image::RgbImage) -> Vec<u8> {
    imaging::encode_jpeg(img, 92).unwrap()
}

pub(crate) fn clean_card(seed: u64) -> Vec<u8> {
    jpeg(&synth::photo(DocumentType::IdCard, 1280, 960, Variant::Clean, seed).image)
}

pub(crate) async fn state(app: &TestApp, id: &str) -> Value {
    let r = app.get(&format!("/api/portal/{id}"), None).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()
}

pub(crate) async fn submit_document(app: &TestApp, id: &str, side: &str, image: &[u8]) -> Reply {
    post_multipart(
        app,
        &format!("/api/portal/{id}/document/{side}"),
        multipart(&[("document_type", b"id_card"), ("image", image)]),
    )
    .await
}

async fn submit_liveness(app: &TestApp, id: &str, challenge: &str) -> Reply {
    submit_burst(app, id, challenge, zoom_in()).await
}

/// A burst moving closer, reversed when the challenge is `farther`.
pub(crate) async fn submit_burst(
    app: &TestApp,
    id: &str,
    challenge: &str,
    mut frames: Vec<DynamicImage>,
) -> Reply {
    if challenge == "farther" {
        frames.reverse();
    }
    let encoded: Vec<Vec<u8>> = frames.iter().map(|f| jpeg(&f.to_rgb8())).collect();
    let fields: Vec<(&str, &[u8])> = encoded.iter().map(|f| ("frames", f.as_slice())).collect();
    post_multipart(
        app,
        &format!("/api/portal/{id}/liveness"),
        multipart(&fields),
    )
    .await
}

/// Terms, both sides of an id card whose portrait is `portrait`, the liveness burst of the
/// test face and the form; returns the details.
async fn complete_flow_with_portrait(
    app: &TestApp,
    key: &str,
    id: &str,
    portrait: &DynamicImage,
) -> Value {
    let challenge = state(app, id).await["liveness_challenge"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = post_json(
        app,
        &format!("/api/portal/{id}/terms"),
        json!({"accepted": true}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = submit_document(app, id, "front", &jpeg(&id_card_with(portrait))).await;
    assert_eq!(r.json()["status"], "accepted", "{}", r.json());
    let r = submit_document(app, id, "back", &clean_card(32)).await;
    assert_eq!(r.json()["status"], "accepted", "{}", r.json());
    let r = submit_liveness(app, id, &challenge).await;
    assert_eq!(r.json()["status"], "accepted", "{}", r.json());
    let r = post_json(
        app,
        &format!("/api/portal/{id}/form"),
        json!({"first_name": "Anna Maria", "last_name": "Eriksson", "date_of_birth": "1974-08-12"}),
    )
    .await;
    assert_eq!(r.json()["status"], "accepted", "{}", r.json());
    app.get(&format!("/api/get-verification-details/{id}"), Some(key))
        .await
        .json()
}

async fn a_replayed_selfie_needs_review_or_is_rejected_in_strict_mode(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let (_, strict) = app
        .new_key(KeySettings {
            flow: vec![Module::Document, Module::Liveness],
            strict_liveness: true,
            ..KeySettings::default()
        })
        .await;
    let (_, lenient) = app
        .new_key(KeySettings {
            flow: vec![Module::Document, Module::Liveness],
            ..KeySettings::default()
        })
        .await;
    for (key, outcome) in [(lenient, "needs_manual_review"), (strict, "rejected")] {
        let id = app.generate(Some(key.expose()), None).await.json()["verificationId"]
            .as_str()
            .unwrap()
            .to_owned();
        let challenge = state(&app, &id).await["liveness_challenge"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = submit_document(&app, &id, "front", &jpeg(&id_card_with_face())).await;
        assert_eq!(r.json()["status"], "accepted", "{}", r.json());
        let r = submit_document(&app, &id, "back", &clean_card(33)).await;
        assert_eq!(r.json()["status"], "accepted", "{}", r.json());
        // The movement passes, so the step is accepted; the flag goes to the decision.
        let r = submit_burst(&app, &id, &challenge, phone_replay_frames()).await;
        assert_eq!(r.json()["status"], "accepted", "{}", r.json());
        let d = app
            .get(
                &format!("/api/get-verification-details/{id}"),
                Some(key.expose()),
            )
            .await
            .json();
        assert_eq!(d["status"]["current"], outcome, "{d}");
        assert!(
            d["results"]["decision"]["reasons"]
                .as_array()
                .unwrap()
                .contains(&json!("LIVENESS_SPOOF_SUSPECTED")),
            "{d}"
        );
        let passive = &d["results"]["liveness"]["metrics"]["passive"];
        assert_eq!(passive["spoof_suspected"], true, "{passive}");
    }
}

async fn another_persons_portrait_is_never_verified(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let id = app.new_verification(None).await;
    let d = complete_flow_with_portrait(&app, app.key(), &id, &obama()).await;
    assert_eq!(d["status"]["current"], "rejected", "{d}");
    assert_eq!(d["results"]["face_match"]["decision"], "no_match", "{d}");
    assert_eq!(
        d["results"]["decision"]["reasons"],
        json!(["FACE_MISMATCH"])
    );
}

async fn a_keys_own_thresholds_decide_its_verifications(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    // A key that wants near-identical faces before it trusts a match: the same person
    // then needs a person's look.
    let (_, key) = app
        .new_key(KeySettings {
            face_match: Some(Thresholds {
                matched: 0.999,
                no_match: 0.1,
            }),
            ..KeySettings::default()
        })
        .await;
    let id = app.generate(Some(key.expose()), None).await.json()["verificationId"]
        .as_str()
        .unwrap()
        .to_owned();
    let _ = state(&app, &id).await;
    let d = complete_flow_with_portrait(&app, key.expose(), &id, &astronaut()).await;
    assert_eq!(d["status"]["current"], "needs_manual_review", "{d}");
    assert_eq!(
        d["results"]["decision"]["reasons"],
        json!(["FACE_MATCH_UNCERTAIN"])
    );
    assert_eq!(d["results"]["face_match"]["thresholds"]["match"], 0.999);
}

async fn first_visit_opens_the_verification_and_describes_it(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let id = app
        .new_verification(Some(json!({"return_url": "https://app.example/done"})))
        .await;
    let s = state(&app, &id).await;
    assert_eq!(s["status"], "in_progress");
    assert_eq!(s["current_step"], "terms");
    assert_eq!(s["document_sides"], json!(["front", "back"]));
    assert_eq!(
        s["form_fields"][0],
        json!({"name": "first_name", "type": "text", "required": true})
    );
    assert_eq!(s["attempts_left"]["document_front"], 5);
    assert!(["closer", "farther"].contains(&s["liveness_challenge"].as_str().unwrap()));
    assert_eq!(s["return_url"], "https://app.example/done");
    assert_eq!(s["last_rejection"], Value::Null);
    let d = app
        .get(
            &format!("/api/get-verification-details/{id}"),
            Some(app.key()),
        )
        .await
        .json();
    assert_eq!(d["status"]["current"], "in_progress");
}

async fn the_genuine_flow_ends_verified_with_images_served(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let id = app
        .new_verification(Some(json!({"extra_data": {"order": 7}})))
        .await;
    let challenge = state(&app, &id).await["liveness_challenge"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = post_json(
        &app,
        &format!("/api/portal/{id}/terms"),
        json!({"accepted": true}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["next_step"], "document_front");

    let r = submit_document(&app, &id, "front", &jpeg(&id_card_with_face())).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let body = r.json();
    assert_eq!(body["status"], "accepted", "{body}");
    assert_eq!(body["next_step"], "document_back");
    assert!(body["attempt_id"].as_str().unwrap().starts_with("att_"));

    let r = submit_document(&app, &id, "back", &clean_card(31)).await;
    assert_eq!(r.json()["status"], "accepted");
    assert_eq!(r.json()["next_step"], "liveness");

    let r = submit_liveness(&app, &id, &challenge).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["status"], "accepted", "{}", r.json());
    assert_eq!(r.json()["next_step"], "form_data");

    let r = post_json(
        &app,
        &format!("/api/portal/{id}/form"),
        json!({"first_name": "Anna Maria", "last_name": "Eriksson", "date_of_birth": "1974-08-12"}),
    )
    .await;
    assert_eq!(r.json()["status"], "accepted", "{}", r.json());
    assert_eq!(r.json()["next_step"], "done");

    // The selfie is the person on the document: every check passed, so verified.
    let d = app
        .get(
            &format!("/api/get-verification-details/{id}"),
            Some(app.key()),
        )
        .await
        .json();
    assert_eq!(d["status"]["current"], "verified", "{d}");
    assert_eq!(
        d["status"]["progress"],
        json!({"document": "completed", "liveness": "completed", "form_data": "completed"})
    );
    assert_eq!(d["results"]["form_data"]["last_name"], "Eriksson");
    assert_eq!(d["results"]["document"]["document_type"], "id_card");
    let face_match = &d["results"]["face_match"];
    assert_eq!(face_match["status"], "performed", "{face_match}");
    assert_eq!(face_match["decision"], "match");
    assert!(
        face_match["similarity"].as_f64().unwrap()
            >= face_match["thresholds"]["match"].as_f64().unwrap()
    );
    assert_eq!(
        face_match["model"]["name"],
        "faceplugin-face-recognition-js"
    );
    assert_eq!(
        d["results"]["decision"],
        json!({"status": "verified", "reasons": []})
    );
    let passive = &d["results"]["liveness"]["metrics"]["passive"];
    assert_eq!(passive["spoof_suspected"], false, "{passive}");
    assert_eq!(d["attempts"].as_array().unwrap().len(), 4);
    assert_eq!(state(&app, &id).await["current_step"], "done");

    // The operator's image routes serve the accepted images as JPEG.
    let mut served = Vec::new();
    for (path, expect_aspect) in [
        (
            format!("/api/get-verification-image-front/{id}"),
            Some(85.60 / 53.98),
        ),
        (
            format!("/api/get-verification-image-front/{id}?image_type=cropped"),
            Some(85.60 / 53.98),
        ),
        (
            format!("/api/get-verification-image-front/{id}?image_type=original"),
            Some(1.4),
        ),
        (
            format!("/api/get-verification-image-back/{id}"),
            Some(85.60 / 53.98),
        ),
        (
            format!("/api/get-verification-image-selfie/{id}"),
            Some(1.0),
        ),
    ] {
        let r = app.get(&path, Some(app.key())).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.header("content-type"), Some("image/jpeg"));
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.header("cache-control"), Some("no-store"));
        let img = image::load_from_memory(&r.body).unwrap();
        let aspect = f64::from(img.width()) / f64::from(img.height());
        if let Some(want) = expect_aspect {
            assert!((aspect / want - 1.0).abs() < 0.04, "{path}: {aspect}");
        }
        assert!(r.body.starts_with(&[0xFF, 0xD8, 0xFF]));
        served.push(r.body.clone());
    }
    // Every stored file is sealed (our header), and no run of any served image's bytes
    // (its JPEG signature included) appears in any of them.
    let blobs = app.db.settings.data_dir.join("blobs");
    let mut files = 0;
    for entry in walk(&blobs) {
        let data = std::fs::read(&entry).unwrap();
        files += 1;
        assert!(data.starts_with(b"V2CB"), "{entry:?} is not sealed");
        for plain in &served {
            for at in [0, plain.len() / 2] {
                let run = &plain[at..at + 32];
                assert!(
                    !data.windows(32).any(|w| w == run),
                    "{entry:?} holds image bytes"
                );
            }
        }
    }
    // front original + crop, back original + crop, selfie.
    assert_eq!(files, 5);
    // Further submissions are refused.
    let r = post_json(
        &app,
        &format!("/api/portal/{id}/terms"),
        json!({"accepted": true}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.error_code(), "INVALID_STEP");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

pub(crate) async fn to_document_front(app: &TestApp, id: &str) {
    let r = post_json(
        app,
        &format!("/api/portal/{id}/terms"),
        json!({"accepted": true}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
}

async fn a_rejected_upload_can_be_retried(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let (_, key) = app
        .new_key(KeySettings {
            flow: vec![Module::Terms, Module::Document],
            document_types: vec![DocumentType::IdCard],
            ..KeySettings::default()
        })
        .await;
    let r = app.generate(Some(key.expose()), None).await;
    let id = r.json()["verificationId"].as_str().unwrap().to_owned();
    to_document_front(&app, &id).await;
    let blurry = jpeg(&synth::photo(DocumentType::IdCard, 1280, 960, Variant::Blurred, 3).image);
    let r = submit_document(&app, &id, "front", &blurry).await;
    let body = r.json();
    assert_eq!(body["status"], "rejected");
    assert!(
        body["reasons"]
            .as_array()
            .unwrap()
            .contains(&json!("IMAGE_BLURRY")),
        "{body}"
    );
    assert_eq!(body["attempts_left"], 4);
    assert_eq!(body["next_step"], "document_front");
    let s = state(&app, &id).await;
    assert_eq!(s["last_rejection"]["step"], "document_front");
    assert_eq!(s["attempts_left"]["document_front"], 4);
    let r = submit_document(&app, &id, "front", &jpeg(&id_card_with_face())).await;
    assert_eq!(r.json()["status"], "accepted", "{}", r.json());
    let r = submit_document(&app, &id, "back", &clean_card(5)).await;
    assert_eq!(r.json()["next_step"], "done");
    let d = app
        .get(
            &format!("/api/get-verification-details/{id}"),
            Some(key.expose()),
        )
        .await
        .json();
    // No face comparison is needed without a selfie: every step passed.
    assert_eq!(d["status"]["current"], "verified", "{d}");
    let attempts = d["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3);
    assert_eq!(attempts[0]["status"], "rejected");
    assert!(attempts[0]["metrics"]["metrics"]["quality"]["sharpness"].is_number());
}

async fn steps_must_come_in_order(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let id = app.new_verification(None).await;
    let r = submit_document(&app, &id, "front", &clean_card(1)).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.error_code(), "INVALID_STEP");
    to_document_front(&app, &id).await;
    let r = post_json(
        &app,
        &format!("/api/portal/{id}/terms"),
        json!({"accepted": true}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "terms twice");
    let r = post_json(
        &app,
        &format!("/api/portal/{id}/form"),
        json!({"first_name": "A"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = post_json(
        &app,
        &format!("/api/portal/{id}/terms"),
        json!({"accepted": false}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = app
        .get(&format!("/api/portal/{id}/document/side"), None)
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
}

async fn expired_and_unknown_verifications(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let v = app
        .stored_verification(Status::Created, -Duration::hours(1))
        .await;
    let s = state(&app, v.id.as_str()).await;
    assert_eq!(s["status"], "expired");
    let r = post_json(
        &app,
        &format!("/api/portal/{}/terms", v.id),
        json!({"accepted": true}),
    )
    .await;
    assert_eq!(r.status, StatusCode::GONE);
    assert_eq!(r.error_code(), "VERIFICATION_EXPIRED");
    for id in [
        VerificationId::generate().to_string(),
        "nonsense".to_string(),
    ] {
        let r = app.get(&format!("/api/portal/{id}"), None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(r.error_code(), "VERIFICATION_NOT_FOUND");
        let r = post_json(
            &app,
            &format!("/api/portal/{id}/terms"),
            json!({"accepted": true}),
        )
        .await;
        assert_eq!(r.error_code(), "VERIFICATION_NOT_FOUND");
    }
}

async fn cross_site_requests_are_refused(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let id = app.new_verification(None).await;
    let send = |header: &'static str, value: &'static str| {
        Request::builder()
            .method(Method::POST)
            .uri(format!("/api/portal/{id}/terms"))
            .header("content-type", "application/json")
            .header(header, value)
            .body(Body::from(r#"{"accepted": true}"#))
            .unwrap()
    };
    for (h, v) in [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
    ] {
        let r = app.send(send(h, v)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{h}: {v}");
        assert_eq!(r.error_code(), "ACCESS_DENIED");
    }
    // The instance's own origin (V2CLIENT_PUBLIC_URL) is fine.
    let r = app.send(send("origin", "https://verify.test")).await;
    assert_eq!(r.status, StatusCode::OK);
}

async fn wrong_bodies_are_refused(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("small.toml");
    std::fs::write(&cfg, "[imaging.limits]\nmax_bytes = 100000\n").unwrap();
    let cfg = cfg.display().to_string();
    let Some(app) = TestApp::with_env(db, &[("V2CLIENT_CONFIG", cfg.as_str())]).await else {
        return;
    };
    let id = app.new_verification(None).await;
    to_document_front(&app, &id).await;
    // JSON where multipart is expected.
    let r = post_json(&app, &format!("/api/portal/{id}/document/front"), json!({})).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(r.error_code(), "UNSUPPORTED_MEDIA_TYPE");
    // Not an image.
    let r = submit_document(&app, &id, "front", b"GIF89a not really").await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Over the body limit (8 × 100 000 bytes plus form overhead).
    let r = submit_document(&app, &id, "front", &vec![0xAB; 1_000_000]).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.error_code(), "PAYLOAD_TOO_LARGE");
    // Missing image, unknown document type.
    let r = post_multipart(
        &app,
        &format!("/api/portal/{id}/document/front"),
        multipart(&[("document_type", b"id_card")]),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = post_multipart(
        &app,
        &format!("/api/portal/{id}/document/front"),
        multipart(&[("document_type", b"library_card"), ("image", b"x")]),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "INVALID_REQUEST");
    // None of these used an attempt.
    assert_eq!(state(&app, &id).await["attempts_left"]["document_front"], 5);
}

async fn running_out_of_attempts_rejects_the_verification(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let (_, key) = app
        .new_key(KeySettings {
            flow: vec![Module::FormData],
            max_attempts: 2,
            ..KeySettings::default()
        })
        .await;
    let id = app.generate(Some(key.expose()), None).await.json()["verificationId"]
        .as_str()
        .unwrap()
        .to_owned();
    let bad = json!({"first_name": "Ada", "last_name": "", "date_of_birth": "2999-01-01"});
    let r = post_json(&app, &format!("/api/portal/{id}/form"), bad.clone()).await;
    let body = r.json();
    assert_eq!(body["status"], "rejected");
    assert_eq!(
        body["reasons"],
        json!(["last_name:FIELD_REQUIRED", "date_of_birth:FIELD_INVALID"])
    );
    assert_eq!(body["attempts_left"], 1);
    let r = post_json(&app, &format!("/api/portal/{id}/form"), bad).await;
    assert_eq!(r.json()["attempts_left"], 0);
    assert_eq!(r.json()["next_step"], "done");
    let d = app
        .get(
            &format!("/api/get-verification-details/{id}"),
            Some(key.expose()),
        )
        .await
        .json();
    assert_eq!(d["status"]["current"], "rejected");
    assert_eq!(d["status"]["progress"]["form_data"], "failed");
    let good = json!({"first_name": "Ada", "last_name": "L", "date_of_birth": "1985-12-10"});
    let r = post_json(&app, &format!("/api/portal/{id}/form"), good).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
}

async fn redaction_blacks_out_the_mrz(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let (_, key) = app
        .new_key(KeySettings {
            flow: vec![Module::Document],
            document_types: vec![DocumentType::Passport],
            redact: vec![RedactionTarget::Mrz],
            ..KeySettings::default()
        })
        .await;
    let (_, plain_key) = app
        .new_key(KeySettings {
            flow: vec![Module::Document],
            document_types: vec![DocumentType::Passport],
            ..KeySettings::default()
        })
        .await;
    let id = app.generate(Some(key.expose()), None).await.json()["verificationId"]
        .as_str()
        .unwrap()
        .to_owned();
    // A passport page with the test face in its portrait box.
    let page = {
        let (mut face, lay) = synth::document_face(DocumentType::Passport, 1000, 2);
        let region = lay.region(RedactionTarget::Portrait).unwrap();
        let (w, h) = (f64::from(face.width()), f64::from(face.height()));
        let photo = crate::faces::astronaut().resize_to_fill(
            (region.w * w) as u32,
            (region.h * h) as u32,
            image::imageops::FilterType::Triangle,
        );
        image::imageops::overlay(
            &mut face,
            &photo.to_rgb8(),
            (region.x * w) as i64,
            (region.y * h) as i64,
        );
        let mut table = image::RgbImage::from_pixel(1400, 1100, image::Rgb([40, 44, 52]));
        image::imageops::overlay(&mut table, &face, 200, 200);
        table
    };
    let r = post_multipart(
        &app,
        &format!("/api/portal/{id}/document/front"),
        multipart(&[("document_type", b"passport"), ("image", &jpeg(&page))]),
    )
    .await;
    assert_eq!(r.json()["status"], "accepted", "{}", r.json());
    let r = app
        .get(
            &format!("/api/get-verification-image-front/{id}"),
            Some(key.expose()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let img = image::load_from_memory(&r.body).unwrap().to_luma8();
    // Where the zone is printed on the generated page: every character cell of it.
    let lay = layout(DocumentType::Passport);
    let g = v2client_testkit::mrz::ZoneGeometry::of(DocumentType::Passport);
    let first_top = g.last_baseline_mm - g.line_pitch_mm - g.cap_mm;
    let mrz = v2client::imaging::RelRect::new(
        g.left_mm / lay.width_mm,
        first_top / lay.height_mm,
        44.0 * g.char_pitch_mm / lay.width_mm,
        (g.last_baseline_mm - first_top) / lay.height_mm,
    );
    let (w, h) = (f64::from(img.width()), f64::from(img.height()));
    // The inside of the printed zone (a small margin for JPEG edges) is solid black.
    let (x0, x1) = ((mrz.x * w) as u32 + 4, ((mrz.x + mrz.w) * w) as u32 - 4);
    let (y0, y1) = ((mrz.y * h) as u32 + 4, ((mrz.y + mrz.h) * h) as u32 - 4);
    let mut max = 0u8;
    for y in y0..y1 {
        for x in x0..x1 {
            max = max.max(img.get_pixel(x, y).0[0]);
        }
    }
    assert!(max < 24, "the MRZ band is not solid: brightest pixel {max}");
    // Another key cannot read it at all.
    let r = app
        .get(
            &format!("/api/get-verification-image-front/{id}"),
            Some(plain_key.expose()),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

async fn the_qr_entry_starts_a_verification_and_redirects(db: Db) {
    // In-process requests all come from one unknown address: its QR quota is raised here
    // (tests/it/throttle.rs tests it).
    let env = [
        ("V2CLIENT_QR_PER_KEY_PER_MINUTE", "2"),
        ("V2CLIENT_QR_PER_CLIENT_PER_MINUTE", "1000"),
    ];
    let Some(app) = TestApp::with_env(db, &env).await else {
        return;
    };
    let mut settings = KeySettings::default();
    settings.rate_limits.generate_per_minute = Some(2);
    let (record, secret) = app.new_key(settings).await;
    let token = record.qr_token.clone().expect("keys get a QR token");
    let r = app.get(&format!("/generate?token={token}"), None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let location = r.header("location").unwrap().to_owned();
    let prefix = "https://verify.test/verify?verification_id=";
    assert!(location.starts_with(prefix), "{location}");
    let id = VerificationId::parse(&location[prefix.len()..]).expect("an id");
    let v = app.db.store.get_verification(&id).await.unwrap().unwrap();
    assert_eq!(v.key_id, record.id);
    // Counted against the QR entry's own quota for the key.
    assert_eq!(
        app.get(&format!("/generate?token={token}"), None)
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    let r = app.get(&format!("/generate?token={token}"), None).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.header("retry-after").is_some());
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    // The key's API quota (2 a minute) was not spent by the QR entry.
    for _ in 0..2 {
        assert_eq!(
            app.generate(Some(secret.expose()), None).await.status,
            StatusCode::OK
        );
    }
    // The printable QR code of the entry link.
    let r = app
        .get(&format!("/generate/qr.svg?token={token}"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("image/svg+xml"));
    assert!(String::from_utf8_lossy(&r.body).contains("<svg"));
    assert_eq!(
        app.get("/generate/qr.svg?token=qr_nope", None).await.status,
        StatusCode::NOT_FOUND
    );
    // Unknown, rotated and revoked tokens get a page, not a verification.
    for bad in ["", "qr_nope", "%3Cscript%3E"] {
        let r = app.get(&format!("/generate?token={bad}"), None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{bad}");
        assert!(String::from_utf8_lossy(&r.body).contains("not valid"));
    }
    let rotated = app
        .db
        .store
        .rotate_qr_token(
            &app.key_record.prefix,
            "qr_0123456789abcdef0123456789abcdef",
        )
        .await
        .unwrap()
        .unwrap();
    let old = app.key_record.qr_token.clone().unwrap();
    assert_eq!(
        app.get(&format!("/generate?token={old}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let new = rotated.qr_token.unwrap();
    assert_eq!(
        app.get(&format!("/generate?token={new}"), None)
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    app.db
        .store
        .revoke_key(&app.key_record.id, now())
        .await
        .unwrap();
    assert_eq!(
        app.get(&format!("/generate?token={new}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

async fn a_verification_left_processing_is_decided_on_the_next_read(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let (id, _key) = app.verification_with_flow(vec![Module::Terms]).await;
    let vid = VerificationId::parse(&id).unwrap();
    // As if the process stopped after the last step was written but before the decision.
    let mut v = app.db.store.get_verification(&vid).await.unwrap().unwrap();
    v.status = Status::Processing;
    v.portal.terms_accepted_at = Some(now());
    assert!(
        app.db
            .store
            .update_verification(&v, None, &[])
            .await
            .unwrap()
    );
    let s = state(&app, &id).await;
    assert_eq!(s["status"], "verified", "{s}");
    assert_eq!(s["current_step"], "done");
}

/// A terms-only verification, stored as if the process stopped after its last step was
/// written but before the decision.
async fn left_processing(app: &TestApp, settings: KeySettings) -> VerificationId {
    let (_, key) = app.new_key(settings).await;
    let id = app.generate(Some(key.expose()), None).await.json()["verificationId"]
        .as_str()
        .unwrap()
        .to_owned();
    let vid = VerificationId::parse(&id).unwrap();
    let mut v = app.db.store.get_verification(&vid).await.unwrap().unwrap();
    v.status = Status::Processing;
    v.portal.terms_accepted_at = Some(now());
    v.updated_at = now();
    assert!(
        app.db
            .store
            .update_verification(&v, None, &[])
            .await
            .unwrap()
    );
    vid
}

async fn stored_status(app: &TestApp, id: &VerificationId) -> v2client::domain::Verification {
    app.db.store.get_verification(id).await.unwrap().unwrap()
}

async fn a_verification_left_processing_is_decided_by_the_upkeep(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let terms_only = KeySettings {
        flow: vec![Module::Terms],
        ..KeySettings::default()
    };
    let id = left_processing(&app, terms_only).await;
    // A decision may still be under way: not yet.
    assert_eq!(
        v2client::settle_stalled(&app.state, now()).await.unwrap(),
        0
    );
    assert_eq!(stored_status(&app, &id).await.status, Status::Processing);
    // Past the bound, the upkeep decides it as the portal would have; no page was opened.
    let later = now() + Duration::minutes(3);
    assert_eq!(
        v2client::settle_stalled(&app.state, later).await.unwrap(),
        1
    );
    let v = stored_status(&app, &id).await;
    let results = v.results.to_json();
    assert_eq!(v.status, Status::Verified, "{results}");
    assert_eq!(results["decision"]["status"], "verified");
    assert_eq!(
        v2client::settle_stalled(&app.state, later).await.unwrap(),
        0
    );
}

async fn a_stalled_verification_that_cannot_be_decided_goes_to_review(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let id = left_processing(
        &app,
        KeySettings {
            flow: vec![Module::Document, Module::Liveness],
            document_types: vec![DocumentType::Passport],
            ..KeySettings::default()
        },
    )
    .await;
    // Its accepted images are unreadable (a damaged disk, a lost key): the face
    // comparison, and so the decision, cannot run.
    for (step, role) in [("document_front", "original"), ("liveness", "selfie")] {
        let blob = format!("{id}/att_{step}/{role}");
        let path = app.db.settings.data_dir.join("blobs").join(&blob);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"not a sealed image").unwrap();
        app.db
            .store
            .insert_attempt(&v2client::domain::Attempt {
                id: format!("att_{step}"),
                verification_id: id.clone(),
                step: step.parse().unwrap(),
                outcome: v2client::domain::AttemptOutcome::Accepted,
                reasons: vec![],
                metrics: v2client::domain::AttemptMetrics::Other(json!({})),
                images: [(role.to_owned(), blob)].into(),
                content_hash: None,
                created_at: now(),
            })
            .await
            .unwrap();
    }
    let later = now() + Duration::minutes(3);
    assert_eq!(
        v2client::settle_stalled(&app.state, later).await.unwrap(),
        1
    );
    let v = stored_status(&app, &id).await;
    assert_eq!(v.status, Status::NeedsManualReview);
    assert_eq!(
        v.results.to_json()["decision"],
        json!({"status": "needs_manual_review", "reasons": ["PROCESSING_STALLED"]})
    );
    assert_eq!(
        v2client::settle_stalled(&app.state, later).await.unwrap(),
        0
    );
}

async fn a_stalled_verification_past_its_expiry_is_decided_not_expired(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    // Every step was in before the expiry; the decision never came (stored two hours ago).
    let v = app
        .stored_verification(Status::Processing, -Duration::hours(1))
        .await;
    let details = format!("/api/get-verification-details/{}", v.id);
    let d = app.get(&details, Some(app.key())).await.json();
    assert_eq!(d["status"]["current"], "processing", "owed a decision: {d}");
    // The upkeep decides it before its expiry sweep could take it.
    v2client::upkeep_round(&app.state).await;
    let stored = stored_status(&app, &v.id).await;
    assert!(
        stored.status.is_final() && stored.status != Status::Expired,
        "{stored:?}"
    );
    let d = app.get(&details, Some(app.key())).await.json();
    assert_eq!(d["status"]["current"], stored.status.as_str());
}

async fn personal_data_is_erased_after_the_retention_period(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let (_, key) = app
        .new_key(KeySettings {
            flow: vec![Module::Document, Module::FormData],
            document_types: vec![DocumentType::DrivingLicence],
            retention_days: 30,
            ..KeySettings::default()
        })
        .await;
    let id = app
        .generate(
            Some(key.expose()),
            Some(json!({"extra_data": {"user": "u-1"}})),
        )
        .await
        .json()["verificationId"]
        .as_str()
        .unwrap()
        .to_owned();
    for side in ["front", "back"] {
        let r = post_multipart(
            &app,
            &format!("/api/portal/{id}/document/{side}"),
            multipart(&[
                ("document_type", b"driving_licence"),
                ("image", &clean_card(40)),
            ]),
        )
        .await;
        assert_eq!(r.json()["status"], "accepted", "{}", r.json());
    }
    let r = post_json(
        &app,
        &format!("/api/portal/{id}/form"),
        json!({"first_name": "Ada", "last_name": "Lovelace", "date_of_birth": "1985-12-10"}),
    )
    .await;
    assert_eq!(r.json()["next_step"], "done");
    let details = format!("/api/get-verification-details/{id}");
    let front = format!("/api/get-verification-image-front/{id}");
    assert_eq!(
        app.get(&front, Some(key.expose())).await.status,
        StatusCode::OK
    );
    // Not yet: the period runs from the decision.
    assert_eq!(
        v2client::erase_expired_data(&app.state, now() + Duration::days(29))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        v2client::erase_expired_data(&app.state, now() + Duration::days(31))
            .await
            .unwrap(),
        1
    );
    let d = app.get(&details, Some(key.expose())).await.json();
    assert_eq!(d["status"]["current"], "verified", "the outcome is kept");
    assert!(d["results"]["erased_at"].is_string(), "{d}");
    assert_eq!(d["results"]["decision"]["status"], "verified");
    assert!(d["results"].get("form_data").is_none());
    assert_eq!(d["extra_data"], Value::Null);
    assert_eq!(
        d["attempts"].as_array().unwrap().len(),
        3,
        "the audit trail stays"
    );
    let r = app.get(&front, Some(key.expose())).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_code(), "IMAGE_NOT_FOUND");
    assert!(
        walk(&app.db.settings.data_dir.join("blobs")).is_empty(),
        "every image file is gone"
    );
    assert_eq!(
        v2client::erase_expired_data(&app.state, now() + Duration::days(60))
            .await
            .unwrap(),
        0,
        "once"
    );
}
