//! Request bodies of the portal's step routes: the verification is loaded and its step
//! checked before a byte of the body is read, and each route reads at most its own limit.
//!
//! Bodies here are generated on demand and count what the server pulled from them, so a
//! test fails if the server buffers what it should have refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use bytes::Bytes;
use chrono::Duration;
use v2client::domain::{Status, VerificationId};

use crate::common::{Db, Reply, TestApp};
use crate::portal::{BOUNDARY, multipart, to_document_front};

both_stores!(
    an_unknown_expired_or_wrong_step_answers_before_the_body_is_read,
    a_json_step_reads_at_most_64_kib,
    a_declared_length_over_the_limit_is_refused_unread,
    a_document_photo_is_cut_off_at_its_limit,
    a_liveness_burst_has_a_frame_cap_and_a_total_cap,
);

const CHUNK: usize = 64 * 1024;
const MB: usize = 1024 * 1024;

/// A body of `total` bytes, `head` first and then `fill`, produced in 64 KiB chunks only
/// as the server asks for them; the counter says how many bytes it asked for.
fn generated(head: Vec<u8>, fill: u8, total: usize) -> (Body, Arc<AtomicUsize>) {
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = pulled.clone();
    let stream = futures_util::stream::unfold(0usize, move |sent| {
        let counter = counter.clone();
        let head = head.clone();
        async move {
            if sent >= total {
                return None;
            }
            let n = CHUNK.min(total - sent);
            let mut chunk = vec![fill; n];
            if sent < head.len() {
                let take = (head.len() - sent).min(n);
                chunk[..take].copy_from_slice(&head[sent..sent + take]);
            }
            counter.fetch_add(n, Ordering::SeqCst);
            Some((Ok::<_, std::io::Error>(Bytes::from(chunk)), sent + n))
        }
    });
    (Body::from_stream(stream), pulled)
}

/// `bytes` sent in 64 KiB chunks as the server asks for them, with the same counter.
fn streamed(bytes: Vec<u8>) -> (Body, Arc<AtomicUsize>) {
    let total = bytes.len();
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = pulled.clone();
    let bytes = Bytes::from(bytes);
    let stream = futures_util::stream::unfold(0usize, move |sent| {
        let counter = counter.clone();
        let bytes = bytes.clone();
        async move {
            if sent >= total {
                return None;
            }
            let n = CHUNK.min(total - sent);
            counter.fetch_add(n, Ordering::SeqCst);
            Some((
                Ok::<_, std::io::Error>(bytes.slice(sent..sent + n)),
                sent + n,
            ))
        }
    });
    (Body::from_stream(stream), pulled)
}

/// A JSON array of 100 MB: what a flood against a JSON step looks like.
fn huge_json() -> (Body, Arc<AtomicUsize>) {
    generated(b"[0".to_vec(), b',', 100 * MB)
}

/// A multipart body whose one part (`name`) never ends: 100 MB of it.
fn huge_part(name: &str) -> (Body, Arc<AtomicUsize>) {
    let head = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"x.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n\u{ff}"
    );
    generated(head.into_bytes(), 0xD8, 100 * MB)
}

async fn post(app: &TestApp, path: &str, content_type: &str, body: Body) -> Reply {
    app.send(
        Request::builder()
            .method(Method::POST)
            .uri(path)
            .header("content-type", content_type)
            .body(body)
            .unwrap(),
    )
    .await
}

fn multipart_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

async fn an_unknown_expired_or_wrong_step_answers_before_the_body_is_read(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let unknown = VerificationId::generate();
    let expired = app
        .stored_verification(Status::InProgress, -Duration::hours(1))
        .await
        .id;
    let fresh = app.new_verification(None).await;
    let json_steps = ["terms", "form"];
    for step in json_steps {
        let (body, pulled) = huge_json();
        let r = post(
            &app,
            &format!("/api/portal/{unknown}/{step}"),
            "application/json",
            body,
        )
        .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{step}");
        assert_eq!(r.error_code(), "VERIFICATION_NOT_FOUND");
        assert!(pulled.load(Ordering::SeqCst) <= CHUNK, "{step}: body read");

        let (body, pulled) = huge_json();
        let r = post(
            &app,
            &format!("/api/portal/{expired}/{step}"),
            "application/json",
            body,
        )
        .await;
        assert_eq!(r.status, StatusCode::GONE, "{step}");
        assert_eq!(r.error_code(), "VERIFICATION_EXPIRED");
        assert!(pulled.load(Ordering::SeqCst) <= CHUNK, "{step}: body read");
    }
    // Uploads to a step that is not the current one (terms come first).
    for (path, part) in [("document/front", "image"), ("liveness", "frames")] {
        let (body, pulled) = huge_part(part);
        let r = post(
            &app,
            &format!("/api/portal/{fresh}/{path}"),
            &multipart_type(),
            body,
        )
        .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{path}");
        assert_eq!(r.error_code(), "INVALID_STEP");
        assert!(pulled.load(Ordering::SeqCst) <= CHUNK, "{path}: body read");
        let (body, pulled) = huge_part(part);
        let r = post(
            &app,
            &format!("/api/portal/{unknown}/{path}"),
            &multipart_type(),
            body,
        )
        .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert!(pulled.load(Ordering::SeqCst) <= CHUNK, "{path}: body read");
    }
}

async fn a_json_step_reads_at_most_64_kib(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let id = app.new_verification(None).await;
    // 100 MB of JSON for the current step: refused once past 64 KiB.
    let (body, pulled) = huge_json();
    let r = post(
        &app,
        &format!("/api/portal/{id}/terms"),
        "application/json",
        body,
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.error_code(), "PAYLOAD_TOO_LARGE");
    let read = pulled.load(Ordering::SeqCst);
    assert!(read <= 64 * 1024 + CHUNK, "read {read} bytes");
    // Just over and just under the limit, padding included.
    let over = format!("{}{}", " ".repeat(64 * 1024), r#"{"accepted": true}"#);
    let (body, _) = streamed(over.into_bytes());
    let r = post(
        &app,
        &format!("/api/portal/{id}/terms"),
        "application/json",
        body,
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let under = format!("{}{}", " ".repeat(60 * 1024), r#"{"accepted": true}"#);
    let (body, _) = streamed(under.into_bytes());
    let r = post(
        &app,
        &format!("/api/portal/{id}/terms"),
        "application/json",
        body,
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    // The form step has the same limit.
    let (body, pulled) = huge_json();
    let r = post(
        &app,
        &format!("/api/portal/{id}/form"),
        "application/json",
        body,
    )
    .await;
    // The form is not the current step yet: refused before reading.
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(pulled.load(Ordering::SeqCst) <= CHUNK);
}

async fn a_declared_length_over_the_limit_is_refused_unread(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let id = app.new_verification(None).await;
    let (body, pulled) = huge_json();
    let r = app
        .send(
            Request::builder()
                .method(Method::POST)
                .uri(format!("/api/portal/{id}/terms"))
                .header("content-type", "application/json")
                .header("content-length", (100 * MB).to_string())
                .body(body)
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(pulled.load(Ordering::SeqCst), 0, "nothing should be read");
    to_document_front(&app, &id).await;
    let (body, pulled) = huge_part("image");
    let r = app
        .send(
            Request::builder()
                .method(Method::POST)
                .uri(format!("/api/portal/{id}/document/front"))
                .header("content-type", multipart_type())
                .header("content-length", (100 * MB).to_string())
                .body(body)
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.error_code(), "PAYLOAD_TOO_LARGE");
    assert_eq!(pulled.load(Ordering::SeqCst), 0, "nothing should be read");
}

async fn a_document_photo_is_cut_off_at_its_limit(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let id = app.new_verification(None).await;
    to_document_front(&app, &id).await;
    let (body, pulled) = huge_part("image");
    let r = post(
        &app,
        &format!("/api/portal/{id}/document/front"),
        &multipart_type(),
        body,
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let read = pulled.load(Ordering::SeqCst);
    assert!(read <= 15 * MB + 2 * CHUNK, "read {read} bytes");
    assert!(read >= 15 * MB, "refused before the photo's limit: {read}");
    // Nothing was counted as an attempt.
    let s = crate::portal::state(&app, &id).await;
    assert_eq!(s["attempts_left"]["document_front"], 5);
}

async fn a_liveness_burst_has_a_frame_cap_and_a_total_cap(db: Db) {
    let Some(app) = TestApp::new(db).await else {
        return;
    };
    let (_, key) = app
        .new_key(v2client::domain::KeySettings {
            flow: vec![v2client::domain::Module::Liveness],
            ..Default::default()
        })
        .await;
    let id = app.generate(Some(key.expose()), None).await.json()["verificationId"]
        .as_str()
        .unwrap()
        .to_owned();
    // A flow of liveness only: the burst is the first step.
    let path = format!("/api/portal/{id}/liveness");
    // One endless frame: refused once it passes the 4 MiB frame cap.
    let (body, pulled) = huge_part("frames");
    let r = post(&app, &path, &multipart_type(), body).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.error_code(), "PAYLOAD_TOO_LARGE");
    let read = pulled.load(Ordering::SeqCst);
    assert!(read <= 4 * MB + 2 * CHUNK, "read {read} bytes");
    // Five frames each under the frame cap, 19.5 MB together: over the 16 MiB total.
    let frame = vec![0xABu8; 3_900_000];
    let fields: Vec<(&str, &[u8])> = (0..5).map(|_| ("frames", frame.as_slice())).collect();
    let (body, pulled) = streamed(multipart(&fields));
    let r = post(&app, &path, &multipart_type(), body).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    let read = pulled.load(Ordering::SeqCst);
    assert!(read <= 16 * MB + 2 * CHUNK, "read {read} bytes");
    // Nine small frames: refused at the ninth, before it is read.
    let small = vec![0xABu8; 1000];
    let fields: Vec<(&str, &[u8])> = (0..9).map(|_| ("frames", small.as_slice())).collect();
    let r = post(
        &app,
        &path,
        &multipart_type(),
        Body::from(multipart(&fields)),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "INVALID_REQUEST");
    let s = crate::portal::state(&app, &id).await;
    assert_eq!(s["attempts_left"]["liveness"], 5, "no attempt was used");
}
